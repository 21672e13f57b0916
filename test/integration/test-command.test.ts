import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAwsProxy } from '../../scripts/lib/real-parts.mjs';
import { BUCKET_POLICY_NAME, bucketPolicy, SELF_ROTATION_ACTIONS } from '../../src/domain/policies.js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { runBin, tempConfigDir, type ProcessResult } from '../support/cli-process.js';

/**
 * `datablast-aws test` as a user runs it: the built binary, the encrypted-file secret store, and moto
 * with signature checking on (moto also evaluates IAM policies then). What moto cannot do (a skewed
 * Date header, an opt-in region, a failing proxy) comes from small local servers that answer as AWS
 * or a proxy would.
 */

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

let moto: Moto;
let admin: Key;
let worker: Key;
let deleted: Key;
let powerless: Key;
let bucketOnly: Key;
/** A user with the self-rotation policy: may read its own key's last use. */
let rotator: Key;

const PASSPHRASE = 'correct horse battery staple';
const SETUP_CREDENTIALS = {
  accessKeyId: 'AKIAADMINADMINADMIN2',
  secretAccessKey: 'dummydummydummydummydummydummydummydummy',
};

beforeAll(async () => {
  moto = await startMoto();
  const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: SETUP_CREDENTIALS });
  const user = async (name: string, policies: string[]): Promise<Key> => {
    await iam.send(new CreateUserCommand({ UserName: name }));
    for (const arn of policies) await iam.send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: arn }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  };
  admin = await user('admin', ['arn:aws:iam::aws:policy/AdministratorAccess']);
  worker = await user('datablast', ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess']);
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'datablast' }));
  deleted = { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  await iam.send(new DeleteAccessKeyCommand({ UserName: 'datablast', AccessKeyId: deleted.accessKeyId }));
  powerless = await user('powerless', []);
  bucketOnly = await user('bucket-reader', []);
  rotator = await user('rotator', []);
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'rotator',
      PolicyName: 'self-rotation',
      // moto evaluates IAM actions against Resource "*" only (its access_control.py): the self-rotation
      // policy's actions, without its ${aws:username} ARN.
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: [...SELF_ROTATION_ACTIONS], Resource: '*' }],
      }),
    }),
  );
  // The inline policy `attach-policy --bucket reports --prefix daily/` writes: no s3:ListAllMyBuckets.
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'bucket-reader',
      PolicyName: BUCKET_POLICY_NAME,
      PolicyDocument: JSON.stringify(bucketPolicy(['reports'], 'daily/')),
    }),
  );
  const s3 = new S3Client({
    endpoint: moto.url,
    region: 'us-east-1',
    credentials: SETUP_CREDENTIALS,
    forcePathStyle: true,
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'reports' }));
  iam.destroy();
  s3.destroy();
  await moto.enforceAuth(0);
});

afterAll(async () => {
  await moto?.stop();
});

/** A private config dir with the file store, pointed at `endpoint`. */
function setup(endpoint: string | undefined, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    DATABLAST_AWS_CONFIG_DIR: tempConfigDir('dbaws-test-'),
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: PASSPHRASE,
    ...extra,
  };
  if (endpoint) env.AWS_ENDPOINT_URL = endpoint;
  return {
    env,
    /** Stores a key without calling AWS, so that bad keys can be stored too. */
    async add(name: string, key: Key, region = 'us-east-1'): Promise<void> {
      const added = await runBin(
        ['add-connection', name, '--access-key-id', key.accessKeyId, '--secret-stdin', '--no-test', '--region', region],
        { env, stdin: key.secretAccessKey },
      );
      expect(added.stderr).not.toContain('error');
      expect(added.exitCode).toBe(0);
    },
    /** Records buckets in a connection's metadata, as create-user and init do for a bucket-scoped user. */
    setBuckets(name: string, buckets: string[]): void {
      const file = join(env.DATABLAST_AWS_CONFIG_DIR!, 'config.json');
      const text = readFileSync(file, 'utf8');
      writeFileSync(
        file,
        text.replace(
          `"name": ${JSON.stringify(name)},`,
          `"name": ${JSON.stringify(name)}, "buckets": ${JSON.stringify(buckets)},`,
        ),
      );
      expect(readFileSync(file, 'utf8')).not.toBe(text);
    },
    test: (args: string[], more: Record<string, string> = {}) =>
      runBin(['test', ...args], { env: { ...env, ...more } }),
  };
}

function json(result: ProcessResult) {
  return JSON.parse(result.stdout) as {
    name: string;
    ok: boolean;
    identity: { arn: string } | null;
    checks: Array<{ id: string; status: string; detail: string }>;
    cause: string | null;
    fix: string | null;
  };
}
const status = (result: ProcessResult) => Object.fromEntries(json(result).checks.map((c) => [c.id, c.status]));
const detail = (result: ProcessResult, id: string) => json(result).checks.find((c) => c.id === id)!.detail;

function noSecrets(result: ProcessResult, ...keys: Key[]): void {
  for (const key of keys) {
    expect(result.stdout).not.toContain(key.secretAccessKey);
    expect(result.stderr).not.toContain(key.secretAccessKey);
  }
}

describe('test against moto with signature checking on', () => {
  it("passes a working key with two AWS requests: STS, then the key's last use (exactly one with --no-last-used)", async () => {
    const cli = setup(moto.url);
    await cli.add('AWS Production', worker, 'eu-west-1');
    const only = await cli.test(['AWS Production', '--no-last-used', '--no-color', '--debug']);
    expect(only.exitCode).toBe(0);
    expect(only.stderr.match(/^aws: \w+ \w+ http/gm)).toEqual(['aws: sts GetCallerIdentity http']);
    const result = await cli.test(['AWS Production', '--no-color', '--debug']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr.match(/^aws: \w+ \w+ http/gm)).toEqual([
      'aws: sts GetCallerIdentity http',
      'aws: iam GetAccessKeyLastUsed http',
    ]);
    // This user has no self-rotation policy: AWS denies the last use, which fails nothing.
    expect(result.stdout).toMatch(/\nlast use unknown: not permitted \(iam:GetAccessKeyLastUsed: AccessDenied\)\n$/);
    expect(result.stderr).toMatch(/^aws: sts GetCallerIdentity http 200 request-id \S+ \(1 attempt, \d+ ms\)$/m);
    expect(result.stdout).toMatch(
      /^Connection "AWS Production": ok as arn:aws:iam::123456789012:user\/datablast\n✓ No extra spaces/,
    );
    expect(result.stdout).toMatch(/✓ The system clock is correct\n {4}within \d+ (ms|s) of AWS's time\n/);
    noSecrets(result, worker);
    const listed = await runBin(['list', '--json'], { env: cli.env });
    expect(JSON.parse(listed.stdout)[0].lastTestedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("prints the key's last use as moto records it, for a user with the self-rotation policy (text and JSON)", async () => {
    const cli = setup(moto.url);
    await cli.add('rot', rotator, 'eu-west-1');
    const result = await cli.test(['rot', '--no-color']);
    expect(result.exitCode).toBe(0);
    // moto records each signed request as the key's last use, GetAccessKeyLastUsed itself included (signed by
    // the key: so does AWS, hours later): today, by iam, in the connection's region.
    expect(result.stdout).toMatch(/\nlast used: \d{4}-\d\d-\d\d \(iam in eu-west-1\)\n$/);
    const tested = await cli.test(['rot', '--json']);
    expect(JSON.parse(tested.stdout)).toMatchObject({
      ok: true,
      rotation: null,
      lastUsed: { service: 'iam', region: 'eu-west-1', warning: null },
      lastUsedUnknown: null,
    });
    noSecrets(result, rotator);
    noSecrets(tested, rotator);
  });

  it('names a wrong secret: SignatureDoesNotMatch, exit 4', async () => {
    const cli = setup(moto.url);
    const wrong = {
      accessKeyId: worker.accessKeyId,
      secretAccessKey: `${worker.secretAccessKey.slice(0, 39)}${worker.secretAccessKey.endsWith('A') ? 'B' : 'A'}`,
    };
    await cli.add('prod', wrong);
    const result = await cli.test(['prod', '--json']);
    expect(result.exitCode).toBe(4);
    expect(status(result)).toMatchObject({
      format: 'pass',
      network: 'pass',
      credentials: 'fail',
      'key-status': 'pass',
    });
    expect(detail(result, 'credentials')).toBe(
      'the secret access key does not match the key id (SignatureDoesNotMatch)',
    );
    expect(json(result).fix).toContain('datablast-aws add-connection prod --force');
    noSecrets(result, wrong, worker);
  });

  it('names an unknown key id: InvalidClientTokenId, exit 4; the global endpoint refuses it too', async () => {
    const cli = setup(moto.url);
    await cli.add(
      'prod',
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: worker.secretAccessKey },
      'eu-west-1',
    );
    const result = await cli.test(['prod', '--json', '--debug']);
    expect(result.exitCode).toBe(4);
    expect(detail(result, 'credentials')).toBe('AWS does not recognise the access key id (InvalidClientTokenId)');
    expect(detail(result, 'region')).toBe(
      'not checked — the global STS endpoint refuses the key too (InvalidClientTokenId), so the region is not the cause',
    );
    expect(result.stderr.match(/^aws: sts GetCallerIdentity http 403/gm)).toHaveLength(2);
  });

  it('rejects a deleted key (exit 4); without --admin key status is not fully checkable', async () => {
    const cli = setup(moto.url);
    await cli.add('prod', deleted);
    const result = await cli.test(['prod', '--json']);
    expect(result.exitCode).toBe(4);
    expect(status(result)).toMatchObject({ credentials: 'fail', 'key-status': 'skip' });
    expect(detail(result, 'key-status')).toMatch(/not fully checkable without admin credentials/);
  });

  it('with --admin, tells a key rotated elsewhere from a deleted one', async () => {
    const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: admin });
    const adminEnv = { AWS_ACCESS_KEY_ID: admin.accessKeyId, AWS_SECRET_ACCESS_KEY: admin.secretAccessKey };
    const cli = setup(moto.url);
    for (const user of ['rotated', 'emptied']) {
      await iam.send(new CreateUserCommand({ UserName: user }));
      const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
      // Added with a test, so the connection knows its user, as connections made by init and create-user do.
      const added = await runBin(
        ['add-connection', user, '--access-key-id', AccessKey!.AccessKeyId!, '--secret-stdin'],
        { env: cli.env, stdin: AccessKey!.SecretAccessKey! },
      );
      expect(added.exitCode).toBe(0);
      if (user === 'rotated') await iam.send(new CreateAccessKeyCommand({ UserName: user }));
      await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: AccessKey!.AccessKeyId! }));
    }
    iam.destroy();

    const rotated = await cli.test(['rotated', '--json', '--admin'], adminEnv);
    expect(rotated.exitCode).toBe(4);
    expect(status(rotated)).toMatchObject({ credentials: 'skip', 'key-status': 'fail' });
    expect(detail(rotated, 'key-status')).toMatch(
      /^rotated elsewhere: IAM now holds AKIA\*{12}\w{4} \(active, created \d{4}-\d\d-\d\d\) for user rotated, not AKIA\*{12}\w{4}$/,
    );
    const emptied = await cli.test(['emptied', '--json', '--admin'], adminEnv);
    expect(emptied.exitCode).toBe(4);
    expect(detail(emptied, 'key-status')).toBe('deleted: user emptied holds no access keys any more');
    noSecrets(emptied, admin);
  });

  it('fails permissions for a user without S3 rights probed for s3, naming s3:ListAllMyBuckets (exit 5)', async () => {
    const cli = setup(moto.url);
    await cli.add('prod', powerless);
    const result = await cli.test(['prod', '--service', 's3', '--json']);
    expect(result.exitCode).toBe(5);
    expect(status(result)).toMatchObject({ credentials: 'pass', permissions: 'fail', 'ip-restriction': 'skip' });
    expect(detail(result, 'permissions')).toBe('denied: s3:ListAllMyBuckets');
    expect(json(result).cause).toBe('AWS denied s3:ListAllMyBuckets');
    expect(json(result).fix).toContain(
      'Grant s3:ListAllMyBuckets to user powerless: `datablast-aws attach-policy powerless --service s3`',
    );
  });

  it('passes S3 for a user with S3 read rights, and names rds:DescribeDBInstances as AWS words the denial', async () => {
    const cli = setup(moto.url);
    await cli.add('prod', worker);
    const s3 = await cli.test(['prod', '--service', 's3', '--json']);
    expect(s3.exitCode).toBe(0);
    expect(detail(s3, 'permissions')).toBe('allowed: s3:ListAllMyBuckets (1 bucket)');
    const rds = await cli.test(['prod', '--service', 'rds', '--json']);
    expect(rds.exitCode).toBe(5);
    expect(json(rds).cause).toBe('AWS denied rds:DescribeDBInstances');
  });

  it('tests a bucket-scoped connection by its bucket: plain test and --service s3 pass without s3:ListAllMyBuckets', async () => {
    const cli = setup(moto.url);
    await cli.add('reports', bucketOnly, 'us-east-1');
    cli.setBuckets('reports', ['reports']);
    for (const args of [['reports'], ['reports', '--service', 's3']]) {
      const result = await cli.test([...args, '--json', '--debug']);
      expect(result.exitCode).toBe(0);
      // The last use and the probes are asked at once: their log lines come in either order.
      expect(result.stderr.match(/^aws: \w+ \w+ http/gm)?.sort()).toEqual([
        'aws: iam GetAccessKeyLastUsed http',
        'aws: s3 GetBucketLocation http',
        'aws: sts GetCallerIdentity http',
      ]);
      expect(detail(result, 'permissions')).toBe('allowed: s3:GetBucketLocation on reports (us-east-1)');
      expect(detail(result, 'region')).toBe('us-east-1: STS answered there, and bucket reports is there');
    }
  });

  it("fails the region item when the bucket is outside the connection's region (exit 5)", async () => {
    const cli = setup(moto.url);
    await cli.add('reports', bucketOnly, 'eu-west-1');
    cli.setBuckets('reports', ['reports']);
    const result = await cli.test(['reports', '--json']);
    expect(result.exitCode).toBe(5);
    expect(json(result).cause).toBe("the bucket reports is in us-east-1, but the connection's region is eu-west-1");
  });

  it('never prints "ok as" for an answer that is not AWS\'s: an HTML 200 to GetCallerIdentity (exit 5)', async () => {
    const proxy = await startAwsProxy(moto.url);
    proxy.intercept = (r) =>
      r.action === 'GetCallerIdentity'
        ? { status: 200, body: '<html><body>Welcome to the hotel wifi</body></html>', contentType: 'text/html' }
        : undefined;
    try {
      const cli = setup(proxy.url);
      await cli.add('prod', worker);
      const result = await cli.test(['prod', '--no-color']);
      expect(result.exitCode).toBe(5);
      expect(result.stdout).not.toContain('ok as');
      expect(result.stdout).toContain(
        'not AWS: something other than AWS answered sts:GetCallerIdentity (HTTP 200, text/html)',
      );
      expect(result.stdout).toMatch(/captive portal/);
      expect(result.stdout + result.stderr).not.toContain('hotel wifi');
    } finally {
      await proxy.stop();
    }
  });

  it('reports a malformed stored secret without calling AWS (exit 2)', async () => {
    const cli = setup(moto.url);
    const run = await runBin(
      ['add-connection', 'prod', '--access-key-id', worker.accessKeyId, '--secret-stdin', '--no-test'],
      { env: cli.env, stdin: `${worker.secretAccessKey}\n` },
    );
    expect(run.exitCode).toBe(0);
    // add-connection trims what it stores; write a bad secret through the file store as an older version might have.
    const { openSecretStore } = await import('../../src/store/secret-store.js');
    const store = await openSecretStore(cli.env, cli.env.DATABLAST_AWS_CONFIG_DIR!);
    await store.set('prod', { accessKeyId: worker.accessKeyId, secretAccessKey: ` ${worker.secretAccessKey}` });
    const result = await cli.test(['prod', '--json', '--debug']);
    expect(result.exitCode).toBe(2);
    expect(detail(result, 'format')).toBe('secret access key: the secret access key starts or ends with whitespace');
    expect(result.stderr).not.toMatch(/^aws: /m);
    noSecrets(result, worker);
  });

  it('tests every connection with --all and exits with the most urgent failure', async () => {
    const cli = setup(moto.url);
    await cli.add('a-working', worker);
    await cli.add('b-deleted', deleted);
    await cli.add('c-powerless', powerless);
    const result = await runBin(['test', '--all', '--service', 's3', '--json'], { env: cli.env });
    expect(result.exitCode).toBe(4);
    expect((JSON.parse(result.stdout) as Array<{ name: string; ok: boolean }>).map((r) => [r.name, r.ok])).toEqual([
      ['a-working', true],
      ['b-deleted', false],
      ['c-powerless', false],
    ]);
  });
});

describe('test when AWS cannot be reached', () => {
  it('diagnoses a stopped endpoint within seconds (TCP, exit 5)', async () => {
    const stopped = await startMoto();
    await stopped.stop();
    const cli = setup(stopped.url);
    await cli.add('prod', worker);
    const result = await cli.test(['prod', '--json']);
    expect(result.exitCode).toBe(5);
    expect(status(result)).toMatchObject({ format: 'pass', network: 'fail', credentials: 'skip' });
    expect(detail(result, 'network')).toBe(
      `TCP: could not connect to ${stopped.url.replace('http://', '')} (ECONNREFUSED) for sts:GetCallerIdentity`,
    );
    expect(result.ms).toBeLessThan(10_000);
    console.info(`stopped endpoint diagnosed in ${result.ms} ms (whole process)`);
  });

  it('diagnoses a name that does not resolve (DNS, exit 5)', async () => {
    const cli = setup('http://sts.datablast-test.invalid:5000');
    await cli.add('prod', worker);
    const result = await cli.test(['prod', '--json']);
    expect(result.exitCode).toBe(5);
    expect(detail(result, 'network')).toBe(
      'DNS: could not resolve sts.datablast-test.invalid (DNS, ENOTFOUND) for sts:GetCallerIdentity',
    );
    expect(result.ms).toBeLessThan(10_000);
  });
});

/** A tiny STS: answers GetCallerIdentity as AWS would, with a Date header `skewMs` off, rejecting keys signed for `disabledRegion`. */
async function fakeSts(options: {
  skewMs?: number;
  disabledRegion?: string;
}): Promise<{ url: string; regions: string[]; close(): Promise<void> }> {
  const regions: string[] = [];
  const server: Server = createHttpServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/sts\//.exec(req.headers.authorization ?? '')?.[1] ?? '?';
      regions.push(region);
      res.setHeader('Date', new Date(Date.now() + (options.skewMs ?? 0)).toUTCString());
      res.setHeader('Content-Type', 'text/xml');
      if (region === options.disabledRegion) {
        res.statusCode = 403;
        res.end(
          '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>' +
            '<Message>The security token included in the request is invalid.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>',
        );
        return;
      }
      res.end(
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
          '<Arn>arn:aws:iam::123456789012:user/datablast</Arn><UserId>AIDAEXAMPLEEXAMPLE12</UserId><Account>123456789012</Account>' +
          '</GetCallerIdentityResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    regions,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('test against local servers for what moto cannot show', () => {
  it('reports a clock 10 minutes off as a failure (exit 4) although the call succeeded', async () => {
    const sts = await fakeSts({ skewMs: -10 * 60_000 });
    try {
      const cli = setup(sts.url);
      await cli.add('prod', worker);
      const result = await cli.test(['prod', '--json']);
      expect(result.exitCode).toBe(4);
      expect(status(result)).toMatchObject({ credentials: 'pass', clock: 'fail' });
      expect(detail(result, 'clock')).toMatch(
        /^this machine's clock is (9 min 5\d s|10 min( \d s)?) ahead of AWS's; the AWS SDK corrected for it silently, other tools will fail$/,
      );
      expect(json(result).fix).toContain('NTP');
    } finally {
      await sts.close();
    }
  });

  it('finds an opt-in region: rejected when signed for it, accepted on the global endpoint (exit 5)', async () => {
    const sts = await fakeSts({ disabledRegion: 'me-south-1' });
    try {
      const cli = setup(sts.url);
      await cli.add('prod', worker, 'me-south-1');
      // This server answers STS only: the key's last use (IAM) is not what this test is about.
      const result = await cli.test(['prod', '--json', '--no-last-used']);
      expect(result.exitCode).toBe(5);
      expect(sts.regions).toEqual(['me-south-1', 'us-east-1']);
      expect(status(result)).toMatchObject({ credentials: 'pass', 'key-status': 'pass', region: 'fail' });
      expect(json(result).cause).toBe(
        'me-south-1 is an opt-in region that is not enabled for this account: the key works on the global STS endpoint but not there (InvalidClientTokenId)',
      );
    } finally {
      await sts.close();
    }
  });

  it('names a proxy that is not running (exit 5, within seconds)', async () => {
    const port = await freePort();
    const cli = setup(undefined, { HTTPS_PROXY: `http://user:hunter2hunter2@127.0.0.1:${port}` });
    await cli.add('prod', worker, 'eu-west-1');
    const result = await cli.test(['prod', '--json']);
    expect(result.exitCode).toBe(5);
    expect(detail(result, 'network')).toBe(
      `proxy: the proxy http://127.0.0.1:${port} failed (ECONNREFUSED) for sts:GetCallerIdentity`,
    );
    expect(json(result).fix).toContain('HTTPS_PROXY');
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    expect(result.ms).toBeLessThan(10_000);
  });

  it('names a proxy that asks for authentication (HTTP 407)', async () => {
    const proxy: TcpServer = createTcpServer((socket) => {
      socket.once('data', () =>
        socket.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n',
        ),
      );
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as { port: number }).port;
    try {
      const cli = setup(undefined, { HTTPS_PROXY: `http://127.0.0.1:${port}` });
      await cli.add('prod', worker, 'eu-west-1');
      const result = await cli.test(['prod', '--json']);
      expect(result.exitCode).toBe(5);
      expect(detail(result, 'network')).toBe(
        `proxy: the proxy http://127.0.0.1:${port} asks for authentication (HTTP 407) for sts:GetCallerIdentity`,
      );
      expect(json(result).fix).toContain('http://USER:PASSWORD@HOST:PORT');
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
