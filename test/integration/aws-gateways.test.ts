import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aws, Context, GlobalOptions } from '../../src/ports.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';
import { AwsError, CredentialsRejectedError } from '../../src/errors.js';
import { bufferedIO, type BufferedIO } from '../../src/ui/io.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { rejection } from '../support/rejection.js';
import { startAwsProxy, type AwsProxy } from '../../scripts/lib/real-parts.mjs';
import { sdkAws } from '../../src/aws/gateways.js';
import { CALL_DEADLINE_MS } from '../../src/aws/clients.js';

let moto: Moto;

/** Dummy admin credentials: moto accepts any key while signature checking is off. */
const DUMMY_ADMIN = {
  AWS_ACCESS_KEY_ID: 'AKIAADMINADMINADMIN2',
  AWS_SECRET_ACCESS_KEY: 'dummydummydummydummydummydummydummydummy',
};

function world(
  env: Record<string, string | undefined> = {},
  globals: Partial<GlobalOptions> = {},
): { ctx: Context; io: BufferedIO; aws: () => Promise<Aws> } {
  const io = bufferedIO();
  const ctx = createContext(defaultGlobals({ ...globals }), {
    io,
    env: { AWS_ENDPOINT_URL: moto.url, ...DUMMY_ADMIN, ...env },
  });
  return { ctx, io, aws: () => ctx.aws() };
}

beforeAll(async () => {
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

describe('the IAM and STS gateways against moto, signature checking off', () => {
  it('creates, reads and tags a user; an unknown user is undefined', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    const created = await iam.createUser('alice', { tags: { 'managed-by': 'datablast-aws' } });
    expect(created).toMatchObject({ userName: 'alice', path: '/', tags: { 'managed-by': 'datablast-aws' } });
    expect(created.arn).toMatch(/^arn:aws:iam::\d{12}:user\/alice$/);
    expect(created.createDate).toMatch(/^\d{4}-\d\d-\d\dT/);
    await iam.tagUser('alice', { team: 'data' });
    expect((await iam.getUser('alice'))?.tags).toEqual({ 'managed-by': 'datablast-aws', team: 'data' });
    expect(await iam.getUser('nobody')).toBeUndefined();
    const again = await rejection(iam.createUser('alice', { tags: {} }));
    expect(again).toBeInstanceOf(AwsError);
    expect(again.awsCode).toBe('EntityAlreadyExists');
  });

  it('creates, lists, deactivates, reports and deletes access keys; a third key hits the limit', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('bob', { tags: {} });
    const first = await iam.createAccessKey('bob');
    expect(first.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(first.secretAccessKey).toHaveLength(40);
    const second = await iam.createAccessKey('bob');
    const limit = await rejection(iam.createAccessKey('bob'));
    expect(limit).toMatchObject({ exitCode: 5, awsCode: 'LimitExceeded', diagnosis: 'key-status' });
    expect(limit.message).toContain('iam:CreateAccessKey');

    await iam.updateAccessKey('bob', first.accessKeyId, 'Inactive');
    const keys = await iam.listAccessKeys('bob');
    expect(keys.map((k) => [k.accessKeyId, k.status]).sort()).toEqual(
      [
        [first.accessKeyId, 'Inactive'],
        [second.accessKeyId, 'Active'],
      ].sort(),
    );
    expect(keys[0]!.createDate).toMatch(/^\d{4}-/);

    const lastUsed = await iam.getAccessKeyLastUsed(second.accessKeyId);
    expect(lastUsed).toHaveProperty('lastUsedDate');
    expect(lastUsed.serviceName).not.toBe('N/A');

    await iam.deleteAccessKey('bob', first.accessKeyId);
    expect((await iam.listAccessKeys('bob')).map((k) => k.accessKeyId)).toEqual([second.accessKeyId]);
    const gone = await rejection(iam.deleteAccessKey('bob', first.accessKeyId));
    expect(gone).toMatchObject({ exitCode: 5, awsCode: 'NoSuchEntity' });
    expect(gone.message).toContain('iam:DeleteAccessKey');
  });

  it('attaches managed policies and round-trips an inline policy document', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('carol', { tags: {} });
    await iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/ReadOnlyAccess');
    await iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess');
    expect(
      (await iam.listAttachedUserPolicies('carol')).sort((a, b) => a.policyName.localeCompare(b.policyName)),
    ).toEqual([
      { policyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', policyName: 'AmazonS3ReadOnlyAccess' },
      { policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess', policyName: 'ReadOnlyAccess' },
    ]);
    const document = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::my bucket+100%/*'] }],
    });
    await iam.putUserPolicy('carol', 'datablast-s3', document);
    expect(await iam.listUserPolicies('carol')).toEqual(['datablast-s3']);
    expect(JSON.parse((await iam.getUserPolicy('carol', 'datablast-s3'))!)).toEqual(JSON.parse(document));
    expect(await iam.getUserPolicy('carol', 'nope')).toBeUndefined();
    const unknownPolicy = await rejection(iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/DoesNotExist'));
    expect(unknownPolicy).toMatchObject({ exitCode: 5, diagnosis: 'permissions' });
  });

  it('signs as a connection key: STS answers with that user, and the clock skew is measured', async () => {
    await moto.reset();
    const aws = await world().aws();
    const { iam } = await aws.admin();
    const user = await iam.createUser('dave', { tags: {} });
    const key = await iam.createAccessKey('dave');
    const identity = await (await aws.as(key, 'eu-west-1')).sts.getCallerIdentity();
    expect(identity.arn).toBe(user.arn);
    expect(identity.account).toMatch(/^\d{12}$/);
    expect(identity.userId).toBeTruthy();
    expect(typeof identity.clockSkewMs).toBe('number');
    expect(Math.abs(identity.clockSkewMs!)).toBeLessThan(5_000);
  });

  it('logs each call under --debug without the secret it returned', async () => {
    await moto.reset();
    const { aws, io } = world({}, { debug: true });
    const { iam } = await (await aws()).admin();
    await iam.createUser('erin', { tags: {} });
    const key = await iam.createAccessKey('erin');
    expect(io.stderr).toMatch(/aws: iam CreateUser http 200 request-id \S+ \(1 attempt, \d+ ms\)/);
    expect(io.stderr).toMatch(/aws: iam CreateAccessKey http 200/);
    expect(io.stderr).not.toContain(key.secretAccessKey);
    expect(io.stderr).not.toContain(DUMMY_ADMIN.AWS_SECRET_ACCESS_KEY);
    expect(io.stdout).toBe('');
  });

  it('stays silent on stderr without --debug', async () => {
    await moto.reset();
    const { aws, io } = world();
    const { iam, sts } = await (await aws()).admin();
    await iam.createUser('frank', { tags: {} });
    await sts.getCallerIdentity();
    expect(io.stderr).toBe('');
  });

  it('fails fast with a network diagnosis when nothing listens on the endpoint', async () => {
    const port = await freePort();
    const { aws } = world({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const session = await (
      await aws()
    ).as({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    const started = Date.now();
    const error = await rejection(session.sts.getCallerIdentity());
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(AwsError);
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ECONNREFUSED', diagnosis: 'network' });
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(elapsed).toBeLessThan(10_000);
    console.info(`network failure (connection refused, 3 attempts) reported in ${elapsed} ms`);
  });
});

describe('the gateways against moto with signature checking on', () => {
  let good: AccessKeyPair;
  let deleted: AccessKeyPair;
  let powerless: AccessKeyPair;
  let adminKey: AccessKeyPair;
  let userArn: string;

  beforeAll(async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('admin', { tags: {} });
    await iam.attachUserPolicy('admin', 'arn:aws:iam::aws:policy/AdministratorAccess');
    adminKey = await iam.createAccessKey('admin');
    userArn = (await iam.createUser('worker', { tags: {} })).arn;
    good = await iam.createAccessKey('worker');
    deleted = await iam.createAccessKey('worker');
    await iam.deleteAccessKey('worker', deleted.accessKeyId);
    await iam.createUser('powerless', { tags: {} });
    powerless = await iam.createAccessKey('powerless');
    await moto.enforceAuth(0);
  });

  afterAll(async () => {
    // Later files get their own moto; this only keeps a failed run from confusing a re-run in watch mode.
    await moto.reset();
  });

  it('accepts the right key', async () => {
    const identity = await (await (await world().aws()).as(good)).sts.getCallerIdentity();
    expect(identity.arn).toBe(userArn);
  });

  it('rejects a wrong secret with exit 4 (SignatureDoesNotMatch)', async () => {
    // Change the last character to another one (a fixed 'X' would match a secret that already ends in X).
    const wrong = {
      accessKeyId: good.accessKeyId,
      secretAccessKey: `${good.secretAccessKey.slice(0, 39)}${good.secretAccessKey.endsWith('X') ? 'Y' : 'X'}`,
    };
    const error = await rejection((await (await world().aws()).as(wrong)).sts.getCallerIdentity());
    expect(error).toBeInstanceOf(CredentialsRejectedError);
    expect(error).toMatchObject({ exitCode: 4, awsCode: 'SignatureDoesNotMatch', diagnosis: 'credentials' });
    expect(error.message).not.toContain(good.secretAccessKey);
  });

  it('rejects an unknown key id with exit 4 (InvalidClientTokenId)', async () => {
    const error = await rejection(
      (
        await (await world().aws()).as({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: good.secretAccessKey })
      ).sts.getCallerIdentity(),
    );
    expect(error).toMatchObject({ exitCode: 4, awsCode: 'InvalidClientTokenId', diagnosis: 'credentials' });
  });

  it('rejects a deleted key with exit 4', async () => {
    const error = await rejection((await (await world().aws()).as(deleted)).sts.getCallerIdentity());
    expect(error).toBeInstanceOf(CredentialsRejectedError);
    expect(error.exitCode).toBe(4);
  });

  it('refuses iam:CreateUser to a user without IAM rights with exit 5, naming the action', async () => {
    const error = await rejection((await (await world().aws()).as(powerless)).iam.createUser('intruder', { tags: {} }));
    expect(error).toBeInstanceOf(AwsError);
    expect(error).toMatchObject({ exitCode: 5, diagnosis: 'permissions' });
    expect(error.message).toContain('iam:CreateUser');
  });

  it('lets the admin chain sign with credentials from the environment', async () => {
    const { aws } = world({ AWS_ACCESS_KEY_ID: adminKey.accessKeyId, AWS_SECRET_ACCESS_KEY: adminKey.secretAccessKey });
    const { iam, sts } = await (await aws()).admin();
    expect((await sts.getCallerIdentity()).arn).toMatch(/:user\/admin$/);
    expect((await iam.createUser('newcomer', { tags: {} })).userName).toBe('newcomer');
  });

  it('rejects the dummy admin credentials as the admin, with exit 4', async () => {
    const error = await rejection((await (await world().aws()).admin()).iam.getUser('worker'));
    expect(error).toMatchObject({ exitCode: 4, diagnosis: 'credentials' });
    expect(error.message).toContain('the admin credentials');
    expect(error.hint).toContain('--profile');
  });
});

describe('only an AWS answer counts (a rewriting proxy in front of moto)', () => {
  let proxy: AwsProxy;
  const HTML = '<!DOCTYPE html><html><body>Please log in to the guest network</body></html>';
  const html = (status = 200) => ({ status, body: HTML, contentType: 'text/html; charset=utf-8' });

  beforeAll(async () => {
    await moto.reset();
    await moto.disableAuth();
    proxy = await startAwsProxy(moto.url);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  const viaProxy = () => world({ AWS_ENDPOINT_URL: proxy.url });

  it('refuses an HTML 200 to UpdateAccessKey and DeleteAccessKey: exit 5, naming status and content type, never the body', async () => {
    proxy.intercept = () => undefined;
    const { iam } = await (await viaProxy().aws()).admin();
    await iam.createUser('grace', { tags: {} });
    const key = await iam.createAccessKey('grace');
    proxy.intercept = (r) => (['UpdateAccessKey', 'DeleteAccessKey'].includes(r.action) ? html() : undefined);
    for (const retire of [
      () => iam.updateAccessKey('grace', key.accessKeyId, 'Inactive'),
      () => iam.deleteAccessKey('grace', key.accessKeyId),
    ]) {
      const error = await rejection(retire());
      expect(error).toBeInstanceOf(AwsError);
      expect(error).toMatchObject({ exitCode: 5, awsCode: 'NotAwsResponse', diagnosis: 'network' });
      expect(error.message).toMatch(
        /^something other than AWS answered iam:(Update|Delete)AccessKey \(HTTP 200, text\/html/,
      );
      expect(error.message).not.toContain('guest network');
      expect(error.hint).toMatch(/captive portal.*proxy.*--endpoint-url/);
    }
    proxy.intercept = () => undefined;
    expect(await iam.listAccessKeys('grace')).toMatchObject([{ accessKeyId: key.accessKeyId, status: 'Active' }]);
  });

  it('does not call a key retired until ListAccessKeys confirms it', async () => {
    proxy.intercept = () => undefined;
    const { iam } = await (await viaProxy().aws()).admin();
    await iam.createUser('heidi', { tags: {} });
    const key = await iam.createAccessKey('heidi');
    // A well-formed AWS answer that did nothing: only reading the key back tells.
    proxy.intercept = (r) =>
      r.action === 'DeleteAccessKey'
        ? {
            status: 200,
            body: '<DeleteAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></DeleteAccessKeyResponse>',
          }
        : undefined;
    const ctx = world({ AWS_ENDPOINT_URL: proxy.url }, {}).ctx;
    const clock = { now: () => new Date(), sleep: async () => undefined };
    const { iam: fast } = await sdkAws({ ...ctx, clock }).admin();
    const error = await rejection(fast.deleteAccessKey('heidi', key.accessKeyId));
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'NotConfirmed', diagnosis: 'key-status' });
    expect(error.message).toContain('still listed as active');
    proxy.intercept = () => undefined;
    await iam.deleteAccessKey('heidi', key.accessKeyId);
    expect(proxy.requests.slice(-2).map((r) => r.action)).toEqual(['DeleteAccessKey', 'ListAccessKeys']);
  });

  it('never takes an empty identity from STS for an answer', async () => {
    proxy.intercept = (r) =>
      r.action === 'GetCallerIdentity'
        ? {
            status: 200,
            body: '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn></Arn><UserId></UserId><Account></Account></GetCallerIdentityResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
          }
        : undefined;
    const error = await rejection((await (await viaProxy().aws()).admin()).sts.getCallerIdentity());
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'NotAwsResponse', diagnosis: 'network' });
    proxy.intercept = (r) => (r.action === 'GetCallerIdentity' ? html() : undefined);
    const page = await rejection((await (await viaProxy().aws()).admin()).sts.getCallerIdentity());
    expect(page).toMatchObject({ exitCode: 5, awsCode: 'NotAwsResponse' });
  });

  it('says an HTML 403 or a 307 is not AWS, not missing permissions', async () => {
    for (const answer of [html(403), { ...html(307), body: '' }]) {
      proxy.intercept = () => answer;
      const error = await rejection((await (await viaProxy().aws()).admin()).iam.listUserPolicies('x'));
      expect(error).toMatchObject({ exitCode: 5, awsCode: 'NotAwsResponse', diagnosis: 'network' });
      expect(error.message).toContain(`(HTTP ${answer.status}, text/html`);
    }
  });
});

describe('bounded answers', () => {
  let server: Server;
  let url: string;
  let mode: 'endless' | 'trickle' = 'endless';

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const timer = setInterval(
          () => {
            if (mode === 'endless') while (res.write(chunk));
            else res.write('a');
          },
          mode === 'endless' ? 1 : 200,
        );
        res.on('close', () => clearInterval(timer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('stops reading an endless body at the size cap: exit 5, our message, memory bounded', async () => {
    mode = 'endless';
    const before = process.memoryUsage().rss;
    const started = Date.now();
    const error = await rejection(
      (await (await world({ AWS_ENDPOINT_URL: url }).aws()).admin()).sts.getCallerIdentity(),
    );
    const elapsed = Date.now() - started;
    const grown = process.memoryUsage().rss - before;
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ResponseTooLarge', diagnosis: 'network' });
    expect(error.message).toMatch(/^the answer to sts:GetCallerIdentity was larger than any AWS answer to it/);
    expect(elapsed).toBeLessThan(5_000);
    expect(grown).toBeLessThan(200 * 1024 * 1024);
    console.info(`endless body refused after ${elapsed} ms, rss +${Math.round(grown / 1024 / 1024)} MiB`);
  });

  it('enforces the call deadline over a body that never ends', async () => {
    mode = 'trickle';
    const started = Date.now();
    const error = await rejection(
      (await (await world({ AWS_ENDPOINT_URL: url }).aws()).admin()).sts.getCallerIdentity(),
    );
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ exitCode: 5, diagnosis: 'network' });
    expect(error.message).toContain('sts:GetCallerIdentity');
    expect(elapsed).toBeLessThan(CALL_DEADLINE_MS + 1_500);
    console.info(`trickling body cut after ${elapsed} ms (${error.awsCode})`);
  }, 30_000);
});
