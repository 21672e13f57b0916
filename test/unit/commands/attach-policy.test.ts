import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeWorld, runCli, type FakeWorld } from '../../support/run-cli.js';
import { sdkError } from '../../fakes/fake-aws.js';
import { bucketPolicy, selfRotationPolicy } from '../../../src/domain/policies.js';

const S3 = 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess';
const RDS = 'arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess';
const LAMBDA = 'arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess';
const CHANGES = ['iam:attachUserPolicy', 'iam:putUserPolicy', 'iam:createUser', 'iam:tagUser'];

function worldWithUser(path?: string): FakeWorld {
  const world = fakeWorld();
  world.aws.seedUser('dbx', { tags: { 'managed-by': 'datablast-aws' } });
  if (path) world.aws.users.get('dbx')!.path = path;
  return world;
}

function policyFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dbaws-policy-')), 'policy.json');
  writeFileSync(file, text);
  return file;
}

describe('attach-policy', () => {
  it('attaches the read-only policy of each service', async () => {
    const world = worldWithUser();
    const { exitCode, stdout } = await runCli(
      ['attach-policy', 'dbx', '--service', 's3', '--service', 'rds', '--service', 'lambda', '--json'],
      world,
    );
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      userName: 'dbx',
      attached: [S3, RDS, LAMBDA],
      alreadyAttached: [],
      inline: [],
      alreadyInline: [],
      detached: [],
      deletedInline: [],
      extra: [],
      inlineCharacters: 0,
    });
    expect(world.aws.users.get('dbx')!.attached.map((p) => p.policyArn)).toEqual([S3, RDS, LAMBDA]);
  });

  it('reports what is already attached and changes nothing on a second run', async () => {
    const world = worldWithUser();
    const argv = ['attach-policy', 'dbx', '--service', 's3', '--bucket', 'exports', '--self-rotation', '--json'];
    expect((await runCli(argv, world)).exitCode).toBe(0);
    const before = world.aws.calls.length;
    const { exitCode, stdout } = await runCli(argv, world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      attached: [],
      alreadyAttached: [S3],
      inline: [],
      alreadyInline: ['datablast-s3-buckets', 'datablast-self-rotation'],
    });
    expect(world.aws.calls.slice(before).filter((c) => CHANGES.includes(c))).toEqual([]);
  });

  it('says in human text what was attached and what was there already', async () => {
    const world = worldWithUser();
    await runCli(['attach-policy', 'dbx', '--service', 's3'], world);
    const { stdout } = await runCli(['attach-policy', 'dbx', '--service', 's3', '--service', 'rds'], world);
    expect(stdout).toContain(`attached ${RDS}`);
    expect(stdout).toContain(`already attached ${S3}`);
  });

  it('writes the generated bucket policy, narrowed by --prefix', async () => {
    const world = worldWithUser();
    const { exitCode, stdout } = await runCli(
      ['attach-policy', 'dbx', '--bucket', 'exports', '--bucket', 'archive', '--prefix', 'daily/', '--json'],
      world,
    );
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).inline).toEqual(['datablast-s3-buckets']);
    expect(JSON.parse(world.aws.users.get('dbx')!.inline.get('datablast-s3-buckets')!)).toEqual(
      bucketPolicy(['archive', 'exports'], 'daily/'),
    );
  });

  it('replaces the bucket policy when the buckets change', async () => {
    const world = worldWithUser();
    await runCli(['attach-policy', 'dbx', '--bucket', 'exports'], world);
    const { stdout } = await runCli(['attach-policy', 'dbx', '--bucket', 'archive', '--json'], world);
    expect(JSON.parse(stdout).inline).toEqual(['datablast-s3-buckets']);
    expect(JSON.parse(world.aws.users.get('dbx')!.inline.get('datablast-s3-buckets')!)).toEqual(
      bucketPolicy(['archive']),
    );
  });

  it("writes the self-rotation policy for the user's own ARN, path included", async () => {
    const world = worldWithUser('/integrations/');
    expect((await runCli(['attach-policy', 'dbx', '--self-rotation'], world)).exitCode).toBe(0);
    expect(JSON.parse(world.aws.users.get('dbx')!.inline.get('datablast-self-rotation')!)).toEqual(
      selfRotationPolicy('/integrations/'),
    );
  });

  it('writes a custom policy from a file', async () => {
    const world = worldWithUser();
    const doc = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'athena:GetQueryResults', Resource: '*' }],
    };
    const file = policyFile(JSON.stringify(doc, null, 2));
    const { exitCode, stdout } = await runCli(
      ['attach-policy', 'dbx', '--policy-file', file, '--policy-name', 'datablast-athena', '--json'],
      world,
    );
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).inline).toEqual(['datablast-athena']);
    expect(JSON.parse(world.aws.users.get('dbx')!.inline.get('datablast-athena')!)).toEqual(doc);
  });

  it('attaches a policy by ARN', async () => {
    const world = worldWithUser();
    const arn = 'arn:aws:iam::123456789012:policy/team/DatablastExtra';
    const { exitCode, stdout } = await runCli(['attach-policy', 'dbx', '--policy-arn', arn, '--json'], world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).attached).toEqual([arn]);
  });

  it('rejects bad input with exit 2 before any call', async () => {
    const file = policyFile('{"Version":"2012-10-17"}');
    for (const [argv, words] of [
      [['--service', 'ec2'], 's3|rds|lambda'],
      [['--policy-arn', 'AmazonS3ReadOnlyAccess'], 'not an IAM managed policy ARN'],
      [['--bucket', 'Bad_Bucket'], 'not a valid S3 bucket name'],
      [['--prefix', 'daily/'], '--prefix needs --bucket'],
      [['--bucket', 'ok-bucket', '--prefix', 'a*'], 'wildcard'],
      [['--policy-file', file], '--policy-file needs --policy-name'],
      [['--policy-name', 'x'], '--policy-name needs --policy-file'],
      [['--policy-file', file, '--policy-name', 'x'], '"Statement" is missing'],
      [['--policy-file', '/nonexistent/p.json', '--policy-name', 'x'], 'no such file'],
      [[], 'nothing to attach'],
    ] as const) {
      const world = worldWithUser();
      const { exitCode, stderr } = await runCli(['attach-policy', 'dbx', ...argv], world);
      expect(exitCode, argv.join(' ')).toBe(2);
      expect(stderr).toContain(words);
      expect(world.aws.calls).toEqual([]);
    }
  });

  it('refuses more than ten managed policies before attaching any (exit 2)', async () => {
    const world = worldWithUser();
    for (let i = 0; i < 9; i += 1)
      world.aws.users.get('dbx')!.attached.push({ policyArn: `arn:aws:iam::aws:policy/P${i}`, policyName: `P${i}` });
    const { exitCode, stderr } = await runCli(
      ['attach-policy', 'dbx', '--service', 's3', '--service', 'rds', '--self-rotation'],
      world,
    );
    expect(exitCode).toBe(2);
    expect(stderr).toContain('11 managed policies');
    expect(stderr).toContain('Nothing was changed');
    expect(world.aws.calls.filter((c) => CHANGES.includes(c))).toEqual([]);
    expect(world.aws.users.get('dbx')!.attached).toHaveLength(9);
  });

  it('counts policies already attached once against the quota', async () => {
    const world = worldWithUser();
    for (let i = 0; i < 9; i += 1)
      world.aws.users.get('dbx')!.attached.push({ policyArn: `arn:aws:iam::aws:policy/P${i}`, policyName: `P${i}` });
    world.aws.users.get('dbx')!.attached.push({ policyArn: S3, policyName: 'AmazonS3ReadOnlyAccess' });
    expect((await runCli(['attach-policy', 'dbx', '--service', 's3'], world)).exitCode).toBe(0);
  });

  it('refuses inline policies beyond 2,048 characters in all, before writing any (exit 2)', async () => {
    const world = worldWithUser();
    world.aws.users.get('dbx')!.inline.set(
      'existing',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${'x'.repeat(1800)}/*` }],
      }),
    );
    const { exitCode, stderr } = await runCli(
      ['attach-policy', 'dbx', '--bucket', 'exports', '--self-rotation'],
      world,
    );
    expect(exitCode).toBe(2);
    expect(stderr).toContain('characters of inline policy');
    expect(stderr).toContain('2048');
    expect(world.aws.calls).not.toContain('iam:putUserPolicy');
    expect([...world.aws.users.get('dbx')!.inline.keys()]).toEqual(['existing']);
  });

  it('exits 5 pointing to create-user when the user does not exist', async () => {
    const world = fakeWorld();
    const { exitCode, stderr } = await runCli(['attach-policy', 'nobody', '--service', 's3'], world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('IAM user nobody does not exist');
    expect(stderr).toContain('datablast-aws create-user nobody');
  });

  it('exits 5 naming the permission the admin lacks', async () => {
    const world = worldWithUser();
    world.aws.failNext(
      'attachUserPolicy',
      sdkError(
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/admin is not authorized to perform: iam:AttachUserPolicy on resource: user dbx',
        403,
      ),
    );
    const { exitCode, stderr } = await runCli(['attach-policy', 'dbx', '--service', 's3'], world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('iam:AttachUserPolicy');
  });

  it('refuses the root user before reading or changing anything (exit 2)', async () => {
    const world = worldWithUser();
    world.aws.adminArn = 'arn:aws:iam::123456789012:root';
    const { exitCode, stderr } = await runCli(['attach-policy', 'dbx', '--service', 's3'], world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('root user');
    expect(world.aws.calls).toEqual(['sts:getCallerIdentity']);
  });

  it('reports grants beyond what was asked, and --exact removes only the ones datablast-aws manages', async () => {
    const world = worldWithUser();
    const OTHER = 'arn:aws:iam::123456789012:policy/TeamAudit';
    await runCli(
      ['attach-policy', 'dbx', '--service', 's3', '--service', 'rds', '--policy-arn', OTHER, '--bucket', 'exports'],
      world,
    );
    const reported = await runCli(['attach-policy', 'dbx', '--service', 's3', '--json'], world);
    expect(reported.exitCode).toBe(0);
    expect(JSON.parse(reported.stdout).extra).toEqual([RDS, OTHER, 'datablast-s3-buckets']);
    const human = await runCli(['attach-policy', 'dbx', '--service', 's3'], world);
    expect(human.stdout).toContain(`also holds ${RDS} (not asked for; --exact removes it)`);
    expect(human.stdout).toContain(`also holds ${OTHER} (not asked for; left as it is)`);

    const exact = await runCli(['attach-policy', 'dbx', '--service', 's3', '--exact', '--json'], world);
    expect(exact.exitCode, exact.stderr).toBe(0);
    expect(JSON.parse(exact.stdout)).toMatchObject({
      detached: [RDS],
      deletedInline: ['datablast-s3-buckets'],
      extra: [OTHER],
    });
    expect(world.aws.users.get('dbx')!.attached.map((p) => p.policyArn)).toEqual([S3, OTHER]);
    expect([...world.aws.users.get('dbx')!.inline.keys()]).toEqual([]);
  });

  it("refuses a policy file beyond IAM's size limit, and never echoes a non-JSON file", async () => {
    const world = worldWithUser();
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-policy-'));
    const big = join(dir, 'big.json');
    writeFileSync(big, ' '.repeat(20_000));
    const tooBig = await runCli(['attach-policy', 'dbx', '--policy-file', big, '--policy-name', 'x'], world);
    expect(tooBig.exitCode).toBe(2);
    expect(tooBig.stderr).toContain('more than 10240 bytes');
    const zero = await runCli(['attach-policy', 'dbx', '--policy-file', '/dev/zero', '--policy-name', 'x'], world);
    expect(zero.exitCode).toBe(2);
    const secretish = join(dir, 'creds.txt');
    writeFileSync(secretish, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n');
    const notJson = await runCli(['attach-policy', 'dbx', '--policy-file', secretish, '--policy-name', 'x'], world);
    expect(notJson.exitCode).toBe(2);
    expect(notJson.stderr).toContain('is not valid JSON');
    expect(notJson.stderr).not.toContain('wJalr');
    expect(world.aws.calls).not.toContain('iam:putUserPolicy');
  });
});
