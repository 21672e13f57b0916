import { describe, expect, it } from 'vitest';
import { testCommand, testGrants, type TestOptions } from '../../../src/commands/test.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import type { GlobalOptions } from '../../../src/ports.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { UsageError } from '../../../src/errors.js';
import { JOURNAL_VERSION, type RotationJournal } from '../../../src/domain/rotation.js';
import { fakeWorld, runCli, type FakeWorld } from '../../support/run-cli.js';
import { captureOptions, EXAMPLE_SECRET, leaks, seedConnection } from './helpers.js';

interface JsonCheck {
  id: string;
  title: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}
interface JsonResult {
  name: string;
  ok: boolean;
  identity: { account: string; arn: string; userId: string } | null;
  checks: JsonCheck[];
  cause: string | null;
  fix: string | null;
  rotation: { phase: string; since: string; oldKeyLastUsed: unknown } | null;
  lastUsed: { at: string | null; service: string | null; region: string | null; warning: string | null } | null;
  lastUsedUnknown: string | null;
}

const JSON_KEYS = ['name', 'ok', 'identity', 'checks', 'cause', 'fix', 'rotation', 'lastUsed', 'lastUsedUnknown'];

/** A lifecycle waiting after delivery: the connection holds the new key, the old one is still in use. */
function rotationJournal(newAccessKeyId: string): RotationJournal {
  return {
    version: JOURNAL_VERSION,
    connection: 'prod',
    phase: 'delivered',
    mode: 'lifecycle',
    startedAt: '2026-11-27T07:00:00.000Z',
    updatedAt: '2026-11-27T08:00:00.000Z',
    userName: 'datablast',
    oldAccessKeyId: 'AKIAOLDKEYOLDKEYOLDK',
    keysBefore: ['AKIAOLDKEYOLDKEYOLDK'],
    newAccessKeyId,
    keepOld: false,
    deliveredAt: '2026-11-27T08:00:00.000Z',
    oldKeyLastUsed: {
      at: '2026-11-26T08:00:00.000Z',
      service: 's3',
      region: 'eu-west-1',
      checkedAt: '2026-11-27T09:00:00.000Z',
    },
  };
}

const statusOf = (result: JsonResult) => Object.fromEntries(result.checks.map((c) => [c.id, c.status]));
const detailOf = (result: JsonResult, id: string) => result.checks.find((c) => c.id === id)!.detail;

async function testJson(world: FakeWorld, argv: string[]) {
  const run = await runCli(['test', ...argv, '--json'], world);
  return { ...run, json: JSON.parse(run.stdout) as JsonResult };
}

const GLOBALS: GlobalOptions = defaultGlobals({ json: true });

/** A world whose STS answers carry a Date header 1.2 s off: the clock item passes. */
function world(): FakeWorld {
  const w = fakeWorld();
  w.aws.clockSkewMs = 1_200;
  return w;
}

describe('test: argv → options', () => {
  it.each<[string[], TestOptions]>([
    [['prod'], { name: 'prod', all: false, admin: false, lastUsed: true }],
    [['AWS Production'], { name: 'AWS Production', all: false, admin: false, lastUsed: true }],
    [['--all'], { all: true, admin: false, lastUsed: true }],
    [[], { all: false, admin: false, lastUsed: true }],
    [
      ['prod', '--service', 's3', '--service', 'LAMBDA', '--service', 's3'],
      { name: 'prod', all: false, admin: false, lastUsed: true, services: ['s3', 'lambda'] },
    ],
    [['prod', '--admin', '--last-used'], { name: 'prod', all: false, admin: true, lastUsed: true }],
    [['prod', '--no-last-used'], { name: 'prod', all: false, admin: false, lastUsed: false }],
  ])('parses %j', async (argv, expected) => {
    expect(await captureOptions(testCommand, argv)).toEqual(expected);
  });

  it.each([
    [['prod', '--all'], /NAME or --all, not both/],
    [['prod', '--service', 'ec2'], /--service: unknown service "ec2"/],
    [[' prod'], /starts or ends with a space/],
  ])('refuses %j with a usage error', async (argv, message) => {
    await expect(captureOptions(testCommand, argv)).rejects.toThrow(UsageError);
    await expect(captureOptions(testCommand, argv)).rejects.toThrow(message);
  });
});

describe('test NAME over a working key', () => {
  it("makes two AWS requests (STS, the key's last use), prints the checklist and records the test time", async () => {
    const w = world();
    const pair = await seedConnection(w, 'AWS Production', { keyCreatedAt: '2026-11-16T09:00:00.000Z' });
    w.aws.lastUsed.set(pair.accessKeyId, {
      lastUsedDate: '2026-11-27T10:00:00.000Z',
      serviceName: 's3',
      region: 'eu-west-1',
    });
    const run = await runCli(['test', 'AWS Production', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:getAccessKeyLastUsed']);
    expect(run.stdout).toBe(
      [
        'Connection "AWS Production": ok as arn:aws:iam::123456789012:user/datablast',
        '✓ No extra spaces or characters in the credentials',
        `    AKIA************${pair.accessKeyId.slice(-4)}: a well-formed key id and a 40-character secret, no spaces or stray characters`,
        '✓ Network connectivity to AWS',
        '    AWS STS answered in eu-west-1',
        '✓ Access Key ID and Secret Access Key are correct',
        '    AWS accepted the key as arn:aws:iam::123456789012:user/datablast',
        '✓ The key is active, not expired or rotated',
        '    active: AWS accepted it',
        '✓ The system clock is correct',
        "    within 1 s of AWS's time",
        '✓ Correct region, and the service is available there',
        '    eu-west-1: STS answered there',
        '– The IAM user has the required permissions',
        '    not checked — no service to probe: add --service s3|rds|lambda (sts:GetCallerIdentity needs no permission)',
        '– No IP restrictions block this machine',
        '    not checked — no service was probed, and policies never deny sts:GetCallerIdentity; add --service to check',
        '',
        'key age: 12 days (created 2026-11-16)',
        'last used: 2026-11-27 (s3 in eu-west-1)',
        '',
      ].join('\n'),
    );
    expect(run.stderr).toBe('');
    expect((await w.connections.get('AWS Production'))!.lastTestedAt).toBe(w.clock.now().toISOString());
    expect(leaks(run, pair.secretAccessKey)).toEqual([]);
  });

  it('prints exactly the documented JSON keys', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(0);
    expect(Object.keys(json)).toEqual(JSON_KEYS);
    expect(json).toMatchObject({
      name: 'prod',
      ok: true,
      identity: {
        account: '123456789012',
        arn: 'arn:aws:iam::123456789012:user/datablast',
        userId: 'AIDADATABLASTXXXXXXXX',
      },
      cause: null,
      fix: null,
    });
    expect(Object.keys(json.identity!)).toEqual(['account', 'arn', 'userId']);
    expect(json.checks.map((c) => c.id)).toEqual([
      'format',
      'network',
      'credentials',
      'key-status',
      'clock',
      'region',
      'permissions',
      'ip-restriction',
    ]);
    for (const check of json.checks) expect(Object.keys(check)).toEqual(['id', 'title', 'status', 'detail']);
  });

  it('colours the marks only when colour is on', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    const plain = await runCli(['test', 'prod', '--no-color'], w);
    expect(plain.stdout).not.toMatch(/\u001b\[/);
    const coloured = await runCli(['test', 'prod'], { ...w, env: { FORCE_COLOR: '1' } });
    expect(coloured.stdout).toContain('\u001b[32m✓\u001b[39m');
  });

  it('warns in the hygiene lines about a key past 90 days', async () => {
    const w = world();
    await seedConnection(w, 'prod', { keyCreatedAt: '2026-08-01T00:00:00.000Z' });
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(
      'key age: 119 days (created 2026-08-01), past the 90-day rotation period: rotate it with `datablast-aws rotate prod`',
    );
  });

  it('reports a clock more than 5 minutes off as a failure (exit 4), though the call succeeded', async () => {
    const w = world();
    w.aws.clockSkewMs = 10 * 60_000;
    await seedConnection(w, 'prod');
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(4);
    expect(json.ok).toBe(false);
    expect(json.identity).not.toBeNull();
    expect(statusOf(json)).toMatchObject({ credentials: 'pass', clock: 'fail' });
    expect(json.cause).toBe("this machine's clock is 10 min behind AWS's time, more than the 5 minutes AWS allows");
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:getAccessKeyLastUsed']);
    expect((await w.connections.get('prod'))!.lastTestedAt).toBeUndefined();
  });
});

describe('test NAME over a key AWS rejects', () => {
  it('names a wrong secret (exit 4) with cause and fix, after one call', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    const wrong = `${pair.secretAccessKey.slice(0, 39)}Z`;
    await w.secrets.set('prod', { ...pair, secretAccessKey: wrong });
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(4);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity']);
    expect(run.stdout).toContain(
      '✗ Access Key ID and Secret Access Key are correct\n    the secret access key does not match the key id (SignatureDoesNotMatch)\n',
    );
    expect(run.stdout).toMatch(
      /\ncause: the secret access key of the access key does not match its access key id \(SignatureDoesNotMatch\) on sts:GetCallerIdentity\nfix: {3}The secret was mistyped/,
    );
    expect(leaks(run, wrong)).toEqual([]);
    expect((await w.connections.get('prod'))!.lastTestedAt).toBeUndefined();
  });

  it('asks the global endpoint once after an unknown key id, and without --admin says key status was not fully checkable', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    await w.secrets.set('prod', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: EXAMPLE_SECRET });
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(4);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'sts-global:getCallerIdentity']);
    expect(statusOf(json)).toMatchObject({
      format: 'pass',
      network: 'pass',
      credentials: 'fail',
      'key-status': 'skip',
      region: 'skip',
      permissions: 'skip',
    });
    expect(detailOf(json, 'key-status')).toMatch(/not fully checkable without admin credentials/);
    expect(json.fix).toContain('datablast-aws test prod --admin --profile ADMIN');
  });

  it('never uses admin credentials without --admin', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    w.aws.keys.get(pair.accessKeyId)!.status = 'Inactive';
    await runCli(['test', 'prod'], w);
    expect(w.aws.calls.filter((c) => c.startsWith('iam:'))).toEqual([]);
  });

  it('tells an inactive key with --admin (moto accepts inactive keys, so only fakes cover this)', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    w.aws.keys.get(pair.accessKeyId)!.status = 'Inactive';
    const { exitCode, json } = await testJson(w, ['prod', '--admin']);
    expect(exitCode).toBe(4);
    expect(statusOf(json)).toMatchObject({ credentials: 'skip', 'key-status': 'fail' });
    expect(detailOf(json, 'key-status')).toBe(
      `AKIA************${pair.accessKeyId.slice(-4)} of user datablast is inactive in IAM (deactivated)`,
    );
    expect(w.aws.calls).toContain('iam:listAccessKeys');
  });

  it('tells a key rotated elsewhere with --admin: IAM holds another key for the user', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    const other = w.aws.issueKey('datablast', 0);
    w.aws.keys.delete(pair.accessKeyId);
    const { exitCode, json } = await testJson(w, ['prod', '--admin']);
    expect(exitCode).toBe(4);
    expect(detailOf(json, 'key-status')).toMatch(
      new RegExp(
        `^rotated elsewhere: IAM now holds AKIA\\*{12}${other.accessKeyId.slice(-4)} \\(active, created 2026-11-28\\) for user datablast`,
      ),
    );
    expect(json.fix).toContain('datablast-aws add-connection prod --force');
  });

  it('tells a deleted key with --admin', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    w.aws.keys.delete(pair.accessKeyId);
    const { json } = await testJson(w, ['prod', '--admin']);
    expect(detailOf(json, 'key-status')).toBe('deleted: user datablast holds no access keys any more');
  });

  it('says why key status was not checked when --admin finds no admin credentials', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    w.aws.keys.delete(pair.accessKeyId);
    w.aws.adminArn = undefined;
    const { exitCode, json } = await testJson(w, ['prod', '--admin']);
    expect(exitCode).toBe(4);
    expect(detailOf(json, 'key-status')).toMatch(
      /^not checked — the admin credentials could not list the keys of datablast: no admin credentials found/,
    );
  });

  it('finds an opt-in region not enabled for the account (exit 5)', async () => {
    const w = world();
    await seedConnection(w, 'prod', { region: 'me-south-1' });
    w.aws.disabledRegions.add('me-south-1');
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(5);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'sts-global:getCallerIdentity', 'iam:getAccessKeyLastUsed']);
    expect(statusOf(json)).toMatchObject({ credentials: 'pass', region: 'fail' });
    expect(json.cause).toMatch(/^me-south-1 is an opt-in region that is not enabled for this account/);
  });

  it('tests another region with --region', async () => {
    const w = world();
    await seedConnection(w, 'prod', { region: 'me-south-1' });
    w.aws.disabledRegions.add('me-south-1');
    const { exitCode, json } = await testJson(w, ['prod', '--region', 'us-east-1']);
    expect(exitCode).toBe(0);
    expect(detailOf(json, 'region')).toBe('us-east-1: STS answered there');
  });

  it('reports an unreachable AWS as a network failure (exit 5)', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    w.aws.failNext(
      'getCallerIdentity',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
        code: 'ECONNREFUSED',
        address: '10.0.0.1',
        port: 443,
      }),
    );
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(5);
    expect(detailOf(json, 'network')).toBe(
      'TCP: could not connect to 10.0.0.1:443 (ECONNREFUSED) for sts:GetCallerIdentity',
    );
    expect(detailOf(json, 'credentials')).toBe('not checked — AWS could not be reached');
  });
});

describe('a young key', () => {
  it('is retried with backoff while IAM spreads it, saying so, then accepted', async () => {
    const w = world();
    w.aws.seedUser('datablast');
    const pair = w.aws.issueKey('datablast', 3);
    await w.secrets.set('prod', pair);
    await w.connections.put({
      name: 'prod',
      accessKeyId: pair.accessKeyId,
      userName: 'datablast',
      region: 'eu-west-1',
      createdAt: w.clock.now().toISOString(),
      keyCreatedAt: new Date(w.clock.now().getTime() - 10_000).toISOString(),
    });
    const { exitCode, json, stderr } = await testJson(w, ['prod']);
    expect(exitCode).toBe(0);
    expect(w.aws.calls).toEqual([
      'sts:getCallerIdentity',
      'sts:getCallerIdentity',
      'sts:getCallerIdentity',
      'sts:getCallerIdentity',
      'iam:getAccessKeyLastUsed',
    ]);
    expect(w.clock.sleeps).toEqual([1000, 2000, 4000]);
    expect(stderr).toMatch(
      /prod: AWS does not accept AKIA\*{12}\w{4} yet \(InvalidClientTokenId\); the key is 10 s old and IAM takes a few seconds to spread a new key: retrying for up to 30 s/,
    );
    expect(stderr).toMatch(
      /prod: still rejected after 3 attempts \(InvalidClientTokenId\); next try in 4 s, giving up in 27 s/,
    );
    expect(detailOf(json, 'credentials')).toMatch(
      /\(on attempt 4, after 7 s: a new key takes a few seconds to reach every AWS region\)$/,
    );
  });

  it('is called bad after at most 30 s of retries (not 2 minutes), showing progress and a repair that never prints the secret', async () => {
    const w = world();
    w.aws.seedUser('datablast');
    const pair = w.aws.issueKey('datablast', 1_000);
    await w.secrets.set('prod', pair);
    await w.connections.put({
      name: 'prod',
      accessKeyId: pair.accessKeyId,
      userName: 'datablast',
      region: 'us-east-1',
      createdAt: w.clock.now().toISOString(),
      keyCreatedAt: new Date(w.clock.now().getTime() - 30_000).toISOString(),
    });
    const { exitCode, json, stderr } = await testJson(w, ['prod']);
    expect(exitCode).toBe(4);
    expect(w.clock.sleeps.reduce((a, b) => a + b, 0)).toBe(30_000);
    expect(Math.max(...w.clock.sleeps)).toBe(5_000);
    expect(stderr.split('\n').filter((l) => l.includes('still rejected')).length).toBe(w.clock.sleeps.length - 1);
    expect(detailOf(json, 'credentials')).toMatch(/still rejected after \d+ attempts over 30 s/);
    expect(json.fix).toContain(
      '`datablast-aws remove prod`, then `datablast-aws create-user datablast --create-key --connection prod --region us-east-1 --profile ADMIN`',
    );
    expect(json.fix).not.toContain('aws iam create-access-key');
  });

  it('is retried only until it is two minutes old', async () => {
    const w = world();
    w.aws.seedUser('datablast');
    const pair = w.aws.issueKey('datablast', 1_000);
    await w.secrets.set('prod', pair);
    await w.connections.put({
      name: 'prod',
      accessKeyId: pair.accessKeyId,
      userName: 'datablast',
      region: 'us-east-1',
      createdAt: w.clock.now().toISOString(),
      keyCreatedAt: new Date(w.clock.now().getTime() - 110_000).toISOString(),
    });
    const { exitCode } = await testJson(w, ['prod']);
    expect(exitCode).toBe(4);
    expect(w.clock.sleeps.reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('is not retried when its creation date is unknown or old', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod', { region: 'us-east-1' });
    await w.secrets.set('prod', { ...pair, secretAccessKey: EXAMPLE_SECRET });
    await runCli(['test', 'prod'], w);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity']);
    expect(w.clock.sleeps).toEqual([]);
  });
});

describe('service probes', () => {
  it("probes the services asked for and the connection's buckets", async () => {
    const w = world();
    w.aws.buckets.add('reports');
    w.aws.bucketRegions.set('reports', 'eu-west-1');
    await seedConnection(w, 'prod', { services: ['s3'], buckets: ['reports'] });
    const { exitCode, json } = await testJson(w, [
      'prod',
      '--service',
      's3',
      '--service',
      'rds',
      '--service',
      'lambda',
    ]);
    expect(exitCode).toBe(0);
    expect(w.aws.calls).toEqual([
      'sts:getCallerIdentity',
      'iam:getAccessKeyLastUsed',
      's3:listBuckets',
      'rds:describeDbInstances',
      'lambda:listFunctions',
      's3:bucketRegion',
    ]);
    expect(detailOf(json, 'permissions')).toBe(
      'allowed: s3:ListAllMyBuckets (1 bucket), rds:DescribeDBInstances (0 DB instances), lambda:ListFunctions (0 functions), s3:GetBucketLocation on reports (eu-west-1)',
    );
    expect(detailOf(json, 'region')).toBe('eu-west-1: STS answered there, and bucket reports is there');
    expect(statusOf(json)).toMatchObject({ permissions: 'pass', 'ip-restriction': 'pass' });
  });

  it('tests a bucket-scoped connection by its buckets, never s3:ListAllMyBuckets (which its policy does not grant)', async () => {
    const w = world();
    w.aws.buckets.add('reports');
    w.aws.bucketRegions.set('reports', 'eu-west-1');
    w.aws.deniedActions.set('s3:ListAllMyBuckets', 'Access Denied');
    await seedConnection(w, 'prod', { services: [], buckets: ['reports'] });
    for (const argv of [['prod'], ['prod', '--service', 's3']]) {
      w.aws.calls.length = 0;
      const { exitCode, json } = await testJson(w, argv);
      expect(exitCode).toBe(0);
      expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:getAccessKeyLastUsed', 's3:bucketRegion']);
      expect(statusOf(json)).toMatchObject({ permissions: 'pass', region: 'pass' });
      expect(detailOf(json, 'permissions')).toBe('allowed: s3:GetBucketLocation on reports (eu-west-1)');
    }
  });

  it("fails the region item for a bucket outside the connection's region, naming both", async () => {
    const w = world();
    w.aws.buckets.add('reports');
    w.aws.bucketRegions.set('reports', 'ap-south-1');
    await seedConnection(w, 'prod', { buckets: ['reports'] });
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(5);
    expect(statusOf(json)).toMatchObject({ region: 'fail', permissions: 'pass' });
    expect(json.cause).toBe("the bucket reports is in ap-south-1, but the connection's region is eu-west-1");
    expect(json.fix).toContain('--region ap-south-1');
  });

  it("testGrants probes what init just granted: each bucket's location and a listing under the prefix", async () => {
    const w = world();
    w.aws.buckets.add('reports');
    w.aws.bucketRegions.set('reports', 'eu-west-1');
    await seedConnection(w, 'prod');
    const ctx = createContext(GLOBALS, {
      io: bufferedIO(),
      env: {},
      clock: w.clock,
      secrets: async () => w.secrets,
      connections: async () => w.connections,
      aws: async () => w.aws,
    });
    const report = await testGrants(ctx, 'prod', { services: [], buckets: ['reports'], prefix: 'daily/' });
    expect(report.ok).toBe(true);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 's3:bucketRegion', 's3:listObjects']);
    expect(report.checks.find((c) => c.id === 'permissions')!.detail).toBe(
      'allowed: s3:GetBucketLocation on reports (eu-west-1), s3:ListBucket on reports/daily/ (0 buckets)',
    );
    w.aws.deniedActions.set('s3:ListBucket on reports/daily/', 'Access Denied');
    const denied = await testGrants(ctx, 'prod', { services: [], buckets: ['reports'], prefix: 'daily/' });
    expect(denied.exitCode).toBe(5);
    expect(denied.fix).toContain('`datablast-aws attach-policy datablast --bucket reports --prefix daily/`');
  });

  it('defaults to the services the connection was onboarded with', async () => {
    const w = world();
    await seedConnection(w, 'prod', { services: ['lambda', 'unknown-thing'] });
    await testJson(w, ['prod']);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:getAccessKeyLastUsed', 'lambda:listFunctions']);
  });

  it('fails permissions on a denial, naming the action (exit 5)', async () => {
    const w = world();
    w.aws.deniedActions.set('s3:ListAllMyBuckets', 'Access Denied');
    await seedConnection(w, 'prod');
    const run = await runCli(['test', 'prod', '--service', 's3', '--no-color'], w);
    expect(run.exitCode).toBe(5);
    expect(run.stdout).toContain('✗ The IAM user has the required permissions\n    denied: s3:ListAllMyBuckets\n');
    expect(run.stdout).toContain('\ncause: AWS denied s3:ListAllMyBuckets\n');
    expect(run.stdout).toContain(
      '– No IP restrictions block this machine\n    not checked — no explicit deny was returned',
    );
  });

  it('fails IP restrictions on an explicit deny with a source-IP condition', async () => {
    const w = world();
    w.aws.deniedActions.set(
      'rds:DescribeDBInstances',
      'User: arn:aws:iam::123456789012:user/datablast is not authorized to perform: rds:DescribeDBInstances with an explicit deny in an identity-based policy (condition aws:SourceIp)',
    );
    await seedConnection(w, 'prod');
    const { exitCode, json } = await testJson(w, ['prod', '--service', 'rds']);
    expect(exitCode).toBe(5);
    expect(statusOf(json)).toMatchObject({ permissions: 'skip', 'ip-restriction': 'fail' });
    expect(json.fix).toContain('aws:SourceIp');
  });

  it('reports a configured bucket that does not exist', async () => {
    const w = world();
    await seedConnection(w, 'prod', { buckets: ['gone'] });
    const { exitCode, json } = await testJson(w, ['prod', '--service', 's3']);
    expect(exitCode).toBe(5);
    expect(detailOf(json, 'permissions')).toBe('denied: s3:GetBucketLocation on gone (NoSuchBucket)');
  });

  it('does not probe with a key AWS rejects', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    await w.secrets.set('prod', { ...pair, secretAccessKey: EXAMPLE_SECRET });
    await testJson(w, ['prod', '--service', 's3']);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity']);
  });
});

describe('last used and rotation state', () => {
  it('--no-last-used makes exactly one AWS request (STS)', async () => {
    const w = world();
    await seedConnection(w, 'prod', { keyCreatedAt: '2026-11-16T09:00:00.000Z' });
    const { exitCode, json } = await testJson(w, ['prod', '--no-last-used']);
    expect(exitCode).toBe(0);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity']);
    expect(json).toMatchObject({ rotation: null, lastUsed: null, lastUsedUnknown: null });
  });

  it('reports a key never used, in text and JSON', async () => {
    const w = world();
    await seedConnection(w, 'prod', { keyCreatedAt: '2026-11-16T09:00:00.000Z' });
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:getAccessKeyLastUsed']);
    expect(run.stdout).toMatch(
      /\nkey age: 12 days \(created 2026-11-16\)\nlast used: never, as far as IAM knows: AWS shows no use of this key in the 12 days since it was created\n$/,
    );
    const { json } = await testJson(w, ['prod']);
    expect(json.lastUsed).toEqual({
      at: null,
      service: null,
      region: null,
      warning: 'AWS shows no use of this key in the 12 days since it was created',
    });
  });

  it('reports a key unused for more than 90 days, with when, which service and which region', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod', { keyCreatedAt: '2026-01-16T09:00:00.000Z' });
    w.aws.lastUsed.set(pair.accessKeyId, {
      lastUsedDate: '2026-08-01T10:00:00.000Z',
      serviceName: 's3',
      region: 'eu-west-1',
    });
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(
      'last used: 2026-08-01 (s3 in eu-west-1): this key was last used 119 days ago (more than 90): if nothing needs it, remove it\n',
    );
    const { json } = await testJson(w, ['prod']);
    expect(json.lastUsed).toEqual({
      at: '2026-08-01T10:00:00.000Z',
      service: 's3',
      region: 'eu-west-1',
      warning: 'this key was last used 119 days ago (more than 90): if nothing needs it, remove it',
    });
  });

  it('says "last use unknown: not permitted" when IAM denies it, and does not fail the test', async () => {
    const w = world();
    w.aws.deniedActions.set(
      'iam:GetAccessKeyLastUsed',
      'User: x is not authorized to perform: iam:GetAccessKeyLastUsed',
    );
    await seedConnection(w, 'prod');
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('last use unknown: not permitted (iam:GetAccessKeyLastUsed: AccessDenied)\n');
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(0);
    expect(json).toMatchObject({
      ok: true,
      lastUsed: null,
      lastUsedUnknown: 'not permitted (iam:GetAccessKeyLastUsed: AccessDenied)',
    });
  });

  it('asks nothing of IAM for a key AWS rejects', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    await w.secrets.set('prod', { ...pair, secretAccessKey: EXAMPLE_SECRET });
    const { exitCode, json } = await testJson(w, ['prod']);
    expect(exitCode).toBe(4);
    expect(w.aws.calls.filter((c) => c.startsWith('iam:'))).toEqual([]);
    expect(json.lastUsedUnknown).toBe('the key does not work and no admin credentials were given');
  });

  it("prints the rotation under way from its journal: phase, since when, the old key's last use", async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    await w.journals.of('prod').write(rotationJournal(pair.accessKeyId));
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(
      '\nrotation delivered since 2026-11-27, old key last used 2026-11-26 by s3 in eu-west-1\n',
    );
    const { json } = await testJson(w, ['prod']);
    expect(json.rotation).toMatchObject({
      phase: 'delivered',
      since: '2026-11-27T08:00:00.000Z',
      oldKeyLastUsed: { at: '2026-11-26T08:00:00.000Z', service: 's3', region: 'eu-west-1' },
    });
  });

  it("takes the key's age from IAM under --admin when the metadata lacks it", async () => {
    const w = world();
    await seedConnection(w, 'prod');
    const run = await runCli(['test', 'prod', '--admin', '--no-color'], w);
    expect(run.exitCode).toBe(0);
    expect(w.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:listAccessKeys', 'iam:getAccessKeyLastUsed']);
    expect(run.stdout).toContain('key age: 0 days (created 2026-11-28)');
  });
});

describe('the stored key and the stores', () => {
  it('fails a malformed stored secret locally, with exit 2 and no AWS call', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    await w.secrets.set('prod', { ...pair, secretAccessKey: `${pair.secretAccessKey}\n` });
    const run = await runCli(['test', 'prod', '--no-color'], w);
    expect(run.exitCode).toBe(2);
    expect(w.aws.calls).toEqual([]);
    expect(run.stdout).toContain(
      '✗ No extra spaces or characters in the credentials\n    secret access key: the secret access key starts or ends with whitespace\n',
    );
    expect(leaks(run, pair.secretAccessKey)).toEqual([]);
  });

  it('exits 3 for an unknown connection, suggesting a near name', async () => {
    const w = world();
    await seedConnection(w, 'Prod');
    const run = await runCli(['test', 'prod'], w);
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('error: no connection named "prod"');
    expect(run.stderr).toContain('Did you mean "Prod"?');
  });

  it('exits 3 when the secret is missing', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    w.secrets.entries.clear();
    const run = await runCli(['test', 'prod'], w);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('no secret is stored for connection');
  });

  it('exits 6 when the secret store fails', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    w.secrets.failNext('get');
    expect((await runCli(['test', 'prod'], w)).exitCode).toBe(6);
  });

  it('asks which connection on a terminal, and refuses to guess without one', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    await seedConnection(w, 'staging', { userName: 'other' });
    w.prompter.answer('Which connection?', 'staging');
    const run = await runCli(['test', '--no-color'], w, { tty: true });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Connection "staging": ok/);
    w.prompter.assertDone();
    const piped = await runCli(['test'], w);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toContain('which connection? give its NAME, or --all');
  });
});

describe('test --all', () => {
  it('tests every connection and exits with the most urgent failure', async () => {
    const w = world();
    await seedConnection(w, 'a-ok');
    const bad = await seedConnection(w, 'b-rejected', { userName: 'bob' });
    await w.secrets.set('b-rejected', { ...bad, secretAccessKey: EXAMPLE_SECRET });
    await seedConnection(w, 'c-denied', { userName: 'carol', services: ['s3'] });
    w.aws.deniedActions.set('s3:ListAllMyBuckets', 'Access Denied');
    await seedConnection(w, 'd-no-secret', { userName: 'dave' });
    w.secrets.entries.delete('d-no-secret');
    const run = await runCli(['test', '--all', '--json'], w);
    expect(run.exitCode).toBe(4);
    const json = JSON.parse(run.stdout) as JsonResult[];
    expect(json.map((r) => [r.name, r.ok])).toEqual([
      ['a-ok', true],
      ['b-rejected', false],
      ['c-denied', false],
      ['d-no-secret', false],
    ]);
    expect(json[3]).toMatchObject({
      identity: null,
      cause: 'no secret is stored for connection "d-no-secret" in the secret store',
    });
    expect(json[3]!.checks.every((c) => c.status === 'skip')).toBe(true);
    for (const r of json) expect(Object.keys(r)).toEqual(JSON_KEYS);
  });

  it('exits 5 when the worst is a denial, and summarises in text', async () => {
    const w = world();
    await seedConnection(w, 'a');
    await seedConnection(w, 'b', { services: ['rds'] });
    w.aws.deniedActions.set('rds:DescribeDBInstances', 'denied');
    const run = await runCli(['test', '--all', '--no-color'], w);
    expect(run.exitCode).toBe(5);
    expect(run.stdout).toMatch(/\n2 connections: 1 ok, 1 failing \(b\)\n$/);
  });

  it('exits 0 with a note when there are no connections', async () => {
    const run = await runCli(['test', '--all'], world());
    expect(run).toMatchObject({ exitCode: 0, stdout: '' });
    expect(run.stderr).toContain('No connections yet');
  });
});
