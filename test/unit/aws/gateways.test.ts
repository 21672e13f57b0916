import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createTcpServer } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import type { Context, GlobalOptions } from '../../../src/ports.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import { AwsError, ConfigError } from '../../../src/errors.js';
import { bufferedIO, type BufferedIO } from '../../../src/ui/io.js';
import { sdkAws } from '../../../src/aws/gateways.js';
import {
  CALL_DEADLINE_MS,
  CONNECT_TIMEOUT_MS,
  MAX_ATTEMPTS,
  proxyFor,
  resolveEndpoint,
  resolveRegion,
} from '../../../src/aws/clients.js';
import { FixedClock } from '../../fakes/fixed-clock.js';
import { freePort } from '../../support/moto.js';
import { rejection } from '../../support/rejection.js';

const KEY = { accessKeyId: 'AKIACONNECTIONKEY234', secretAccessKey: 'connectionSecretconnectionSecretconnecti' };

function globals(overrides: Partial<GlobalOptions> = {}): GlobalOptions {
  return defaultGlobals({ ...overrides });
}

function world(
  env: Record<string, string | undefined>,
  overrides: Partial<GlobalOptions> = {},
  clock = new FixedClock(),
): { ctx: Context; io: BufferedIO; clock: FixedClock } {
  const io = bufferedIO();
  const ctx = createContext(globals(overrides), { io, env, clock });
  return { ctx, io, clock };
}

function sdkError(name: string, status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(
    new Error(name),
    { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId: 'rid' } },
    extra,
  );
}

describe('loading the SDK', () => {
  it('happens only through await import() inside src/aws, so list and credential-process never load it', () => {
    const files = (readdirSync('src', { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join('src', f));
    const staticImports = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(
          (line) =>
            /^import\s+(?!type\b)[^'"]*from\s+['"]@(aws-sdk|smithy)\//.test(line) ||
            /^import\s+['"]@(aws-sdk|smithy)\//.test(line),
        )
        .map((line) => `${file}: ${line}`),
    );
    expect(staticImports).toEqual([]);
    const dynamicOutsideAws = files.filter(
      (file) =>
        !file.startsWith(join('src', 'aws')) && /import\(\s*['"]@(aws-sdk|smithy)\//.test(readFileSync(file, 'utf8')),
    );
    expect(dynamicOutsideAws).toEqual([]);
  });
});

describe('resolveRegion', () => {
  it.each([
    [
      { region: 'eu-north-1' },
      'ap-south-1',
      { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ca-central-1' },
      'eu-north-1',
    ],
    [{}, 'ap-south-1', { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ca-central-1' }, 'ap-south-1'],
    [{}, undefined, { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ca-central-1' }, 'us-west-2'],
    [{}, undefined, { AWS_REGION: '', AWS_DEFAULT_REGION: 'ca-central-1' }, 'ca-central-1'],
    [{}, undefined, {}, 'us-east-1'],
  ])('--region %o, connection %s, env %o → %s', (flags, connection, env, expected) => {
    expect(resolveRegion({ globals: globals(flags), env }, connection)).toBe(expected);
  });
});

describe('resolveEndpoint', () => {
  const generic = 'http://generic:1';
  it.each([
    [
      'the flag beats the per-service variable',
      { endpointUrl: 'http://flag:1' },
      { AWS_ENDPOINT_URL: generic, AWS_ENDPOINT_URL_STS: 'http://sts:1' },
      'sts',
      'http://flag:1',
    ],
    [
      'the per-service variable beats the generic one',
      { endpointUrl: generic },
      { AWS_ENDPOINT_URL: generic, AWS_ENDPOINT_URL_STS: 'http://sts:1' },
      'sts',
      'http://sts:1',
    ],
    [
      'the per-service variable of another service does not apply',
      { endpointUrl: generic },
      { AWS_ENDPOINT_URL: generic, AWS_ENDPOINT_URL_STS: 'http://sts:1' },
      'iam',
      generic,
    ],
    ['AWS_ENDPOINT_URL_IAM applies to IAM', {}, { AWS_ENDPOINT_URL_IAM: 'http://iam:1' }, 'iam', 'http://iam:1'],
    ['the generic variable alone (globals not merged yet)', {}, { AWS_ENDPOINT_URL: generic }, 'iam', generic],
    [
      'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS drops the variables',
      {},
      { AWS_ENDPOINT_URL: generic, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      'iam',
      undefined,
    ],
    ['nothing set: the SDK default', {}, {}, 'sts', undefined],
  ] as const)('%s', (_name, flags, env, service, expected) => {
    expect(resolveEndpoint({ globals: globals(flags), env }, service)).toBe(expected);
  });
});

describe('proxyFor', () => {
  it('uses HTTPS_PROXY for https endpoints unless NO_PROXY lists the host', () => {
    expect(proxyFor({ HTTPS_PROXY: 'http://p:3128' }, 'https://sts.us-east-1.amazonaws.com')).toBe('http://p:3128');
    expect(proxyFor({ https_proxy: 'http://p:3128' }, 'https://iam.amazonaws.com')).toBe('http://p:3128');
    expect(
      proxyFor({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'localhost,.amazonaws.com' }, 'https://iam.amazonaws.com'),
    ).toBeUndefined();
    expect(proxyFor({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: '*' }, 'https://iam.amazonaws.com')).toBeUndefined();
    expect(proxyFor({ HTTPS_PROXY: 'http://p:3128' }, 'http://127.0.0.1:5000')).toBeUndefined();
    expect(proxyFor({}, 'https://iam.amazonaws.com')).toBeUndefined();
  });
});

describe('the IAM gateway over a mocked SDK client', () => {
  const iamMock = mockClient(IAMClient);
  beforeEach(() => iamMock.reset());
  afterAll(() => iamMock.restore());

  const session = async (clock = new FixedClock()) =>
    (
      await sdkAws(
        world({ AWS_ACCESS_KEY_ID: 'AKIAADMINADMINADMIN2', AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) }, {}, clock).ctx,
      ).admin()
    ).iam;

  it('follows ListAccessKeys, ListAttachedUserPolicies and ListUserPolicies across pages', async () => {
    iamMock
      .on(ListAccessKeysCommand, { UserName: 'u', Marker: undefined })
      .resolves({
        AccessKeyMetadata: [{ AccessKeyId: 'AKIA1', Status: 'Active', CreateDate: new Date('2026-01-01T00:00:00Z') }],
        IsTruncated: true,
        Marker: 'm1',
      })
      .on(ListAccessKeysCommand, { UserName: 'u', Marker: 'm1' })
      .resolves({ AccessKeyMetadata: [{ AccessKeyId: 'AKIA2', Status: 'Inactive' }], IsTruncated: false });
    iamMock
      .on(ListAttachedUserPoliciesCommand, { Marker: undefined })
      .resolves({
        AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/A', PolicyName: 'A' }],
        IsTruncated: true,
        Marker: 'p1',
      })
      .on(ListAttachedUserPoliciesCommand, { Marker: 'p1' })
      .resolves({ AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/B' }], IsTruncated: false });
    iamMock
      .on(ListUserPoliciesCommand, { Marker: undefined })
      .resolves({ PolicyNames: ['one'], IsTruncated: true, Marker: 'i1' })
      .on(ListUserPoliciesCommand, { Marker: 'i1' })
      .resolves({ PolicyNames: ['two'], IsTruncated: true, Marker: 'i2' })
      .on(ListUserPoliciesCommand, { Marker: 'i2' })
      .resolves({ PolicyNames: ['three'], IsTruncated: false });
    const iam = await session();
    expect(await iam.listAccessKeys('u')).toEqual([
      { accessKeyId: 'AKIA1', status: 'Active', createDate: '2026-01-01T00:00:00.000Z' },
      { accessKeyId: 'AKIA2', status: 'Inactive', createDate: undefined },
    ]);
    expect(await iam.listAttachedUserPolicies('u')).toEqual([
      { policyArn: 'arn:aws:iam::aws:policy/A', policyName: 'A' },
      { policyArn: 'arn:aws:iam::aws:policy/B', policyName: 'B' },
    ]);
    expect(await iam.listUserPolicies('u')).toEqual(['one', 'two', 'three']);
    expect(iamMock.commandCalls(ListUserPoliciesCommand)).toHaveLength(3);
  });

  it('reads a missing user or inline policy as undefined, and decodes policy documents', async () => {
    iamMock.on(GetUserCommand).rejects(sdkError('NoSuchEntityException', 404, { Code: 'NoSuchEntity' }));
    iamMock
      .on(GetUserPolicyCommand, { PolicyName: 'missing' })
      .rejects(sdkError('NoSuchEntityException', 404, { Code: 'NoSuchEntity' }));
    iamMock.on(GetUserPolicyCommand, { PolicyName: 'p' }).resolves({
      UserName: 'u',
      PolicyName: 'p',
      PolicyDocument: encodeURIComponent('{"Resource":"arn:aws:s3:::a b+c/*"}'),
    });
    const iam = await session();
    expect(await iam.getUser('ghost')).toBeUndefined();
    expect(await iam.getUserPolicy('u', 'missing')).toBeUndefined();
    expect(await iam.getUserPolicy('u', 'p')).toBe('{"Resource":"arn:aws:s3:::a b+c/*"}');
  });

  it('reports a key never used as unknown, not "N/A"', async () => {
    iamMock
      .on(GetAccessKeyLastUsedCommand)
      .resolves({ UserName: 'u', AccessKeyLastUsed: { ServiceName: 'N/A', Region: 'N/A', LastUsedDate: undefined } });
    expect(await (await session()).getAccessKeyLastUsed('AKIA1')).toEqual({
      lastUsedDate: undefined,
      serviceName: undefined,
      region: undefined,
    });
  });

  it('translates every SDK error with the action in IAM terms', async () => {
    iamMock.on(ListAccessKeysCommand).rejects(
      sdkError('AccessDenied', 403, {
        message: 'User: arn:aws:iam::1:user/x is not authorized to perform: iam:ListAccessKeys on resource: user u',
      }),
    );
    const error = await rejection((await session()).listAccessKeys('u'));
    expect(error).toBeInstanceOf(AwsError);
    expect(error.message).toContain('iam:ListAccessKeys');
    expect(error.diagnosis).toBe('permissions');
  });

  it('retries CreateAccessKey after throttling, which created nothing', async () => {
    iamMock
      .on(CreateAccessKeyCommand)
      .rejectsOnce(sdkError('Throttling', 400, { Code: 'Throttling' }))
      .resolves({
        AccessKey: {
          UserName: 'u',
          AccessKeyId: 'AKIANEWKEY',
          SecretAccessKey: 's'.repeat(40),
          Status: 'Active',
          CreateDate: new Date('2026-02-02T00:00:00Z'),
        },
      });
    const clock = new FixedClock();
    const key = await (await session(clock)).createAccessKey('u');
    expect(key).toEqual({
      accessKeyId: 'AKIANEWKEY',
      secretAccessKey: 's'.repeat(40),
      createDate: '2026-02-02T00:00:00.000Z',
    });
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(2);
    expect(clock.sleeps).toHaveLength(1);
  });

  it('never retries CreateAccessKey after a failure that may have created the key', async () => {
    const reset = Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
    iamMock.on(CreateAccessKeyCommand).rejects(reset);
    const error = await rejection((await session()).createAccessKey('u'));
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ECONNRESET', diagnosis: 'network' });
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(1);
  });
});

/** A stand-in for the STS and IAM query APIs on loopback, recording what it was sent. */
interface FakeEndpoint {
  url: string;
  requests: Array<{ action: string; authorization: string; host: string }>;
  /** Milliseconds to add to the Date header, to play a skewed clock. */
  skewMs: number;
  /** When set, the HTTP status and body of every answer. */
  fail?: { status: number; body: string };
  /** When true, accept requests and never answer. */
  silent: boolean;
  close(): Promise<void>;
}

async function fakeEndpoint(): Promise<FakeEndpoint> {
  const state: FakeEndpoint = { url: '', requests: [], skewMs: 0, silent: false, close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const action = new URLSearchParams(body).get('Action') ?? '';
      state.requests.push({
        action,
        authorization: String(req.headers.authorization ?? ''),
        host: String(req.headers.host ?? ''),
      });
      if (state.silent) return;
      res.setHeader('Date', new Date(Date.now() + state.skewMs).toUTCString());
      res.setHeader('Content-Type', 'text/xml');
      res.setHeader('x-amzn-RequestId', 'req-fake-1');
      if (state.fail) {
        res.statusCode = state.fail.status;
        res.end(state.fail.body);
        return;
      }
      res.end(answer(action));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

function answer(action: string): string {
  if (action === 'GetCallerIdentity') {
    return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/fake</Arn><UserId>AIDAFAKEFAKEFAKEFAKE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>req-fake-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
  }
  if (action === 'ListUserPolicies') {
    return `<ListUserPoliciesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUserPoliciesResult><PolicyNames><member>p</member></PolicyNames><IsTruncated>false</IsTruncated></ListUserPoliciesResult><ResponseMetadata><RequestId>req-fake-1</RequestId></ResponseMetadata></ListUserPoliciesResponse>`;
  }
  return `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unexpected ${action}</Message></Error><RequestId>req-fake-1</RequestId></ErrorResponse>`;
}

const credentialScope = (authorization: string) =>
  /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(authorization)?.slice(1) ?? [];

describe('the gateways over real HTTP to a local endpoint', () => {
  let a: FakeEndpoint;
  let b: FakeEndpoint;
  const saved = { ...process.env };

  beforeAll(async () => {
    a = await fakeEndpoint();
    b = await fakeEndpoint();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });
  beforeEach(() => {
    a.requests.length = 0;
    b.requests.length = 0;
    a.skewMs = 0;
    a.fail = undefined;
    a.silent = false;
  });
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('measures the clock skew the SDK would silently correct', async () => {
    a.skewMs = 10 * 60 * 1000;
    const { ctx } = world({ AWS_ENDPOINT_URL: a.url });
    const identity = await (await sdkAws(ctx).as(KEY)).sts.getCallerIdentity();
    expect(identity.arn).toBe('arn:aws:iam::123456789012:user/fake');
    expect(identity.clockSkewMs).toBeGreaterThan(10 * 60 * 1000 - 2_000);
    expect(identity.clockSkewMs).toBeLessThan(10 * 60 * 1000 + 2_000);
  });

  it('reports a clock behind the server as a negative skew', async () => {
    a.skewMs = -7 * 60 * 1000;
    const { ctx } = world({ AWS_ENDPOINT_URL: a.url });
    const identity = await (await sdkAws(ctx).as(KEY)).sts.getCallerIdentity();
    expect(identity.clockSkewMs).toBeLessThan(-7 * 60 * 1000 + 2_000);
  });

  it('signs as() with exactly the given key, whatever AWS_ACCESS_KEY_ID and AWS_PROFILE say', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAFROMPROCESSENV22';
    process.env.AWS_SECRET_ACCESS_KEY = 'e'.repeat(40);
    process.env.AWS_PROFILE = 'someone-else';
    const { ctx } = world({
      AWS_ENDPOINT_URL: a.url,
      AWS_ACCESS_KEY_ID: 'AKIAFROMCONTEXTENV22',
      AWS_SECRET_ACCESS_KEY: 'c'.repeat(40),
      AWS_PROFILE: 'someone-else',
    });
    await (await sdkAws(ctx).as(KEY)).sts.getCallerIdentity();
    expect(credentialScope(a.requests[0]!.authorization)[0]).toBe(KEY.accessKeyId);
  });

  it('signs in the region of --region, else the connection, else AWS_REGION', async () => {
    const cases: Array<[Partial<GlobalOptions>, string | undefined, Record<string, string>, string]> = [
      [{ region: 'eu-north-1' }, 'ap-south-1', { AWS_REGION: 'us-west-2' }, 'eu-north-1'],
      [{}, 'ap-south-1', { AWS_REGION: 'us-west-2' }, 'ap-south-1'],
      [{}, undefined, { AWS_REGION: 'us-west-2' }, 'us-west-2'],
      [{}, undefined, { AWS_DEFAULT_REGION: 'ca-central-1' }, 'ca-central-1'],
      [{}, undefined, {}, 'us-east-1'],
    ];
    for (const [flags, connectionRegion, env, expected] of cases) {
      a.requests.length = 0;
      const { ctx } = world({ AWS_ENDPOINT_URL: a.url, ...env }, flags);
      await (await sdkAws(ctx).as(KEY, connectionRegion)).sts.getCallerIdentity();
      expect(credentialScope(a.requests[0]!.authorization).slice(1)).toEqual([expected, 'sts']);
    }
  });

  it('sends STS to AWS_ENDPOINT_URL_STS and IAM to AWS_ENDPOINT_URL; the flag sends both to itself', async () => {
    const { ctx } = world({ AWS_ENDPOINT_URL: a.url, AWS_ENDPOINT_URL_STS: b.url });
    const session = await sdkAws(ctx).as(KEY);
    await session.sts.getCallerIdentity();
    expect(await session.iam.listUserPolicies('u')).toEqual(['p']);
    expect(b.requests.map((r) => r.action)).toEqual(['GetCallerIdentity']);
    expect(a.requests.map((r) => r.action)).toEqual(['ListUserPolicies']);

    a.requests.length = 0;
    b.requests.length = 0;
    const flagged = world({ AWS_ENDPOINT_URL: b.url, AWS_ENDPOINT_URL_STS: b.url }, { endpointUrl: a.url });
    await (await sdkAws(flagged.ctx).as(KEY)).sts.getCallerIdentity();
    expect(a.requests.map((r) => r.action)).toEqual(['GetCallerIdentity']);
    expect(b.requests).toEqual([]);
  });

  it('signs admin calls with a profile of the shared credentials file named by the context', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'datablast-aws-profile-'));
    writeFileSync(
      join(dir, 'credentials'),
      '[ops]\naws_access_key_id = AKIAPROFILEOPSKEY222\naws_secret_access_key = pppppppppppppppppppppppppppppppppppppppp\n',
    );
    writeFileSync(join(dir, 'config'), '[profile ops]\nregion = eu-west-3\n');
    const { ctx } = world(
      {
        AWS_ENDPOINT_URL: a.url,
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
        AWS_CONFIG_FILE: join(dir, 'config'),
        AWS_ACCESS_KEY_ID: 'AKIAFROMCONTEXTENV22',
        AWS_SECRET_ACCESS_KEY: 'c'.repeat(40),
      },
      { profile: 'ops' },
    );
    await (await sdkAws(ctx).admin()).sts.getCallerIdentity();
    expect(credentialScope(a.requests[0]!.authorization)[0]).toBe('AKIAPROFILEOPSKEY222');
  });

  it('says how to provide admin credentials when the chain finds none (exit 3)', async () => {
    for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
    // Keep the chain off the instance metadata address: this machine is no EC2 instance.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const dir = mkdtempSync(join(tmpdir(), 'datablast-aws-none-'));
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
    process.env.AWS_CONFIG_FILE = join(dir, 'config');
    const { ctx } = world({
      AWS_ENDPOINT_URL: a.url,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_CONFIG_FILE: join(dir, 'config'),
    });
    const error = await rejection((await sdkAws(ctx).admin()).iam.createUser('x', { tags: {} }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.exitCode).toBe(3);
    for (const way of ['--profile', 'AWS_PROFILE', 'aws configure', 'aws sso login']) expect(error.hint).toContain(way);
    expect(a.requests).toEqual([]);

    const named = world(
      {
        AWS_ENDPOINT_URL: a.url,
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
        AWS_CONFIG_FILE: join(dir, 'config'),
      },
      { profile: 'nosuch' },
    );
    const missing = await rejection((await sdkAws(named.ctx).admin()).sts.getCallerIdentity());
    expect(missing).toMatchObject({ exitCode: 3 });
    expect(missing.message).toContain('nosuch');
  });

  it('logs failed calls under --debug with status, code and request id', async () => {
    a.fail = {
      status: 403,
      body: '<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>nope</Message></Error><RequestId>req-fake-1</RequestId></ErrorResponse>',
    };
    const { ctx, io } = world({ AWS_ENDPOINT_URL: a.url }, { debug: true });
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    expect(error).toMatchObject({ exitCode: 4, awsCode: 'SignatureDoesNotMatch', requestId: 'req-fake-1' });
    expect(io.stderr).toMatch(
      /aws: sts GetCallerIdentity http 403 request-id req-fake-1 \(1 attempt, \d+ ms\) SignatureDoesNotMatch/,
    );
    expect(io.stderr).not.toContain(KEY.secretAccessKey);
  });

  it('retries a 503 and then reports the service failure', async () => {
    a.fail = {
      status: 503,
      body: '<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>busy</Message></Error><RequestId>r</RequestId></ErrorResponse>',
    };
    const { ctx } = world({ AWS_ENDPOINT_URL: a.url });
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ServiceUnavailable', diagnosis: 'region' });
    expect(a.requests).toHaveLength(3);
  });

  it('gives up on a server that never answers within the call deadline', async () => {
    a.silent = true;
    const { ctx } = world({ AWS_ENDPOINT_URL: a.url });
    const started = Date.now();
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ exitCode: 5, diagnosis: 'network' });
    expect(elapsed).toBeLessThan(CALL_DEADLINE_MS + 1_500);
    console.info(`silent server reported after ${elapsed} ms (${error.awsCode})`);
  }, 30_000);
});

describe('HTTPS_PROXY', () => {
  let proxy: Server;
  let proxyUrl: string;
  const connects: string[] = [];
  let tunnelTo: number | undefined;

  beforeAll(async () => {
    proxy = createServer((_req, res) => {
      res.statusCode = 405;
      res.end();
    });
    proxy.on('connect', (req: IncomingMessage, socket) => {
      connects.push(String(req.url));
      const auth = req.headers['proxy-authorization'];
      if (auth !== `Basic ${Buffer.from('user:pa:ss').toString('base64')}`) {
        socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n');
        return;
      }
      // Tunnel to a local plain-TCP server instead of the real host, so nothing leaves the machine.
      const upstream = netConnect(tunnelTo!, '127.0.0.1');
      upstream.on('connect', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('reports a proxy that wants authentication (407) as a network failure naming the proxy', async () => {
    const { ctx } = world({ HTTPS_PROXY: proxyUrl });
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ProxyAuthenticationRequired', diagnosis: 'network' });
    expect(error.message).toContain(proxyUrl);
    expect(connects.at(-1)).toBe('sts.us-east-1.amazonaws.com:443');
  });

  it('reports a proxy that is not running as the proxy failing, not AWS', async () => {
    const port = await freePort();
    const { ctx } = world({ HTTPS_PROXY: `http://user:secret-pw@127.0.0.1:${port}` });
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ECONNREFUSED', diagnosis: 'network' });
    expect(error.message).toContain(`the proxy http://127.0.0.1:${port} failed`);
    expect(error.message).not.toContain('secret-pw');
    expect(error.hint).toContain('HTTPS_PROXY');
  });

  it('tunnels through the proxy with its credentials, and names a TLS failure at the far end', async () => {
    // The far end speaks plain TCP, not TLS: the handshake through the tunnel fails, which proves the tunnel.
    const plain = createTcpServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const address = plain.address();
    tunnelTo = typeof address === 'object' && address ? address.port : 0;
    try {
      const { ctx } = world({ HTTPS_PROXY: proxyUrl.replace('http://', 'http://user:pa%3Ass@') });
      const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
      expect(error).toMatchObject({ exitCode: 5, diagnosis: 'network' });
      expect(error.message).toMatch(/TLS connection/);
      expect(connects.at(-1)).toBe('sts.us-east-1.amazonaws.com:443');
    } finally {
      plain.close();
    }
  });

  it('gives up on a proxy that accepts the connection but never answers CONNECT, within the connect bound', async () => {
    const silent = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const { ctx } = world({ HTTPS_PROXY: `http://127.0.0.1:${port}` });
      const started = Date.now();
      const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
      const elapsed = Date.now() - started;
      expect(error).toMatchObject({ exitCode: 5, diagnosis: 'network' });
      expect(error.message).toContain(`the proxy http://127.0.0.1:${port} failed`);
      expect(elapsed).toBeLessThan(CONNECT_TIMEOUT_MS * MAX_ATTEMPTS + 2_000);
      console.info(`silent proxy reported after ${elapsed} ms (${error.awsCode})`);
    } finally {
      silent.close();
    }
  }, 20_000);

  it('goes direct to hosts listed in NO_PROXY', async () => {
    const before = connects.length;
    const port = await freePort();
    const { ctx } = world({
      HTTPS_PROXY: proxyUrl,
      NO_PROXY: '127.0.0.1',
      AWS_ENDPOINT_URL: `https://127.0.0.1:${port}`,
    });
    const error = await rejection((await sdkAws(ctx).as(KEY)).sts.getCallerIdentity());
    expect(error).toMatchObject({ awsCode: 'ECONNREFUSED' });
    expect(error.message).not.toContain('proxy');
    expect(connects.length).toBe(before);
  });
});
