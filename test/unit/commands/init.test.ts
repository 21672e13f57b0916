import { describe, expect, it } from 'vitest';
import { fakeWorld, runCli, type FakeWorld } from '../../support/run-cli.js';
import { CANCEL } from '../../fakes/scripted-prompter.js';
import { sdkError } from '../../fakes/fake-aws.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bucketPolicy } from '../../../src/domain/policies.js';

const S3 = 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess';
const RDS = 'arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess';
const CHANGES = [
  'iam:createUser',
  'iam:tagUser',
  'iam:createAccessKey',
  'iam:deleteAccessKey',
  'iam:attachUserPolicy',
  'iam:putUserPolicy',
];
const changesIn = (calls: string[]) => calls.filter((c) => CHANGES.includes(c));
const CI_FLAGS = [
  'init',
  '--no-input',
  '--user',
  'dbx',
  '--service',
  's3',
  '--connection',
  'AWS Production',
  '--region',
  'eu-west-1',
];

/** The wizard's questions answered the way a person would, up to (not including) the confirmation. */
function answerEverything(world: FakeWorld): FakeWorld {
  world.prompter
    .answer('Name of the IAM user', '')
    .answer('What may Datablast read', ['s3', 'rds'])
    .answer('Name for the connection', 'AWS Production')
    .answer('AWS region', 'eu-west-1');
  return world;
}

function expectNothingChanged(world: FakeWorld): void {
  expect(changesIn(world.aws.calls)).toEqual([]);
  expect(world.aws.users.size).toBe(0);
  expect(world.connections.entries.size).toBe(0);
  expect(world.secrets.entries.size).toBe(0);
}

describe('init with flags (CI)', () => {
  it('goes from nothing to a tested connection', async () => {
    const world = fakeWorld();
    const { exitCode, stdout, stderr } = await runCli([...CI_FLAGS, '--json'], world);
    expect(exitCode, stderr).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      account: '123456789012',
      adminArn: 'arn:aws:iam::123456789012:user/admin',
      userName: 'dbx',
      userCreated: true,
      services: ['s3'],
      selfRotation: true,
      attached: [S3],
      inline: ['datablast-self-rotation'],
      keyCreated: true,
      alreadySetUp: false,
      connection: { name: 'AWS Production', userName: 'dbx', region: 'eu-west-1', accountId: '123456789012' },
    });
    const [key] = world.aws.keysOf('dbx');
    expect(world.secrets.entries.get('AWS Production')).toEqual({
      accessKeyId: key!.accessKeyId,
      secretAccessKey: key!.secretAccessKey,
    });
    expect(world.connections.entries.get('AWS Production')!.services).toEqual(['s3']);
    expect(stdout + stderr).not.toContain(key!.secretAccessKey);
    // Progress for each AWS step goes to stderr.
    for (const line of [
      'checking who you are',
      'creating IAM user dbx',
      'attaching AmazonS3ReadOnlyAccess',
      'writing inline policy datablast-self-rotation',
      'creating an access key',
    ])
      expect(stderr).toContain(line);
    expect(stderr).toContain('self-rotation: on (the default; --no-self-rotation to change it)');
  });

  it('converges on a second run: no second user, policy, key or connection', async () => {
    const world = fakeWorld();
    expect((await runCli(CI_FLAGS, world)).exitCode).toBe(0);
    const before = world.aws.calls.length;
    const { exitCode, stdout } = await runCli([...CI_FLAGS, '--json'], world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      userCreated: false,
      attached: [],
      alreadyAttached: [S3],
      inline: [],
      alreadyInline: ['datablast-self-rotation'],
      keyCreated: false,
      alreadySetUp: true,
    });
    expect(changesIn(world.aws.calls.slice(before))).toEqual([]);
    expect(world.aws.keysOf('dbx')).toHaveLength(1);
    expect(world.connections.entries.size).toBe(1);
    expect((await runCli(CI_FLAGS, world)).stdout).toContain('already set up');
  });

  it('adds only what is missing when re-run with another service', async () => {
    const world = fakeWorld();
    await runCli(CI_FLAGS, world);
    const { exitCode, stdout } = await runCli([...CI_FLAGS, '--service', 'rds', '--json'], world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      attached: [RDS],
      alreadyAttached: [S3],
      keyCreated: false,
      alreadySetUp: false,
    });
    expect(world.aws.keysOf('dbx')).toHaveLength(1);
  });

  it('grants only named buckets, and no self-rotation with --no-self-rotation', async () => {
    const world = fakeWorld();
    // init's final test probes the granted bucket's location: it exists.
    world.aws.buckets.add('exports');
    const { exitCode } = await runCli(
      [
        'init',
        '--no-input',
        '--user',
        'dbx',
        '--bucket',
        'exports',
        '--prefix',
        'daily/',
        '--no-self-rotation',
        '--connection',
        'c',
      ],
      world,
    );
    expect(exitCode).toBe(0);
    const user = world.aws.users.get('dbx')!;
    expect(user.attached).toEqual([]);
    expect([...user.inline.keys()]).toEqual(['datablast-s3-buckets']);
    expect(JSON.parse(user.inline.get('datablast-s3-buckets')!)).toEqual(bucketPolicy(['exports'], 'daily/'));
    expect(world.connections.entries.get('c')!.buckets).toEqual(['exports']);
  });

  it('uses the default user name and region under --no-input and says so', async () => {
    const world = fakeWorld();
    const { exitCode, stderr } = await runCli(['init', '--no-input', '--service', 's3', '--connection', 'c'], world);
    expect(exitCode).toBe(0);
    expect(world.aws.users.has('datablast-integration')).toBe(true);
    expect(world.connections.entries.get('c')!.region).toBe('us-east-1');
    expect(stderr).toContain('IAM user: datablast-integration (the default; --user to change it)');
  });

  it.each([
    [['init', '--no-input', '--user', 'dbx', '--connection', 'c'], '--service'],
    [['init', '--no-input', '--user', 'dbx', '--service', 's3'], '--connection'],
  ])('names the missing flag under --no-input before any call: %j', async (argv, flag) => {
    const world = fakeWorld();
    const { exitCode, stderr } = await runCli(argv, world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain(`missing ${flag}`);
    expect(world.aws.calls).toEqual([]);
  });

  it('names every missing flag at once under --no-input', async () => {
    const world = fakeWorld();
    const { exitCode, stderr } = await runCli(['init', '--no-input'], world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('missing --service');
    expect(stderr).toContain('and --connection NAME');
    expect(world.aws.calls).toEqual([]);
  });

  it('reports grants beyond what was asked on a re-run with fewer services, and --exact removes them', async () => {
    const world = fakeWorld();
    await runCli([...CI_FLAGS, '--service', 'rds'], world);
    const fewer = await runCli([...CI_FLAGS, '--json'], world);
    expect(fewer.exitCode, fewer.stderr).toBe(0);
    expect(JSON.parse(fewer.stdout)).toMatchObject({ alreadySetUp: true, extra: [RDS] });
    expect(fewer.stderr).toContain('also holds AmazonRDSReadOnlyAccess, which this run did not ask for; add --exact');
    const human = await runCli(CI_FLAGS, world);
    expect(human.stdout).toContain('also holds  AmazonRDSReadOnlyAccess');
    const exact = await runCli([...CI_FLAGS, '--exact', '--json'], world);
    expect(exact.exitCode, exact.stderr).toBe(0);
    expect(JSON.parse(exact.stdout)).toMatchObject({ detached: [RDS], extra: [] });
    expect(world.aws.users.get('dbx')!.attached.map((p) => p.policyArn)).toEqual([S3]);
  });

  it('prints the plan under --dry-run and changes nothing, bucket scope included', async () => {
    const world = fakeWorld();
    const argv = [
      'init',
      '--no-input',
      '--user',
      'dbx',
      '--bucket',
      'exports',
      '--prefix',
      'daily/',
      '--connection',
      'c',
      '--dry-run',
    ];
    const { exitCode, stdout } = await runCli(argv, world);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('dry run, nothing changed');
    expect(stdout).toContain('create IAM user dbx');
    expect(stdout).toContain('write inline policy datablast-s3-buckets: list and read s3://exports/daily/*');
    expectNothingChanged(world);
    expect(JSON.parse((await runCli([...argv, '--json'], world)).stdout)).toMatchObject({ dryRun: true });
  });

  it('ends by testing the connection with probes of what it granted', async () => {
    const world = fakeWorld();
    const { exitCode, stdout } = await runCli([...CI_FLAGS, '--service', 'rds', '--json'], world);
    expect(exitCode).toBe(0);
    expect(world.aws.calls).toContain('s3:listBuckets');
    expect(world.aws.calls).toContain('rds:describeDbInstances');
    expect(JSON.parse(stdout).test).toMatchObject({ ok: true });
  });

  it("takes the region of a new connection from AWS_DEFAULT_REGION, then the admin profile's", async () => {
    const world = fakeWorld();
    world.env.AWS_DEFAULT_REGION = 'eu-central-1';
    await runCli(['init', '--no-input', '--user', 'dbx', '--service', 's3', '--connection', 'a'], world);
    expect(world.connections.entries.get('a')!.region).toBe('eu-central-1');
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-awsconfig-'));
    writeFileSync(join(dir, 'config'), '[default]\nregion = us-west-2\n[profile admin]\nregion = ap-northeast-1\n');
    const other = fakeWorld();
    other.env.AWS_CONFIG_FILE = join(dir, 'config');
    other.env.AWS_PROFILE = 'admin';
    await runCli(['init', '--no-input', '--user', 'dbx', '--service', 's3', '--connection', 'b'], other);
    expect(other.connections.entries.get('b')!.region).toBe('ap-northeast-1');
  });

  it('treats a non-terminal stdin as --no-input', async () => {
    const world = fakeWorld();
    const { exitCode, stderr } = await runCli(['init', '--user', 'dbx', '--service', 's3'], world, { tty: false });
    expect(exitCode).toBe(2);
    expect(stderr).toContain('missing --connection');
  });

  it('refuses the root user before any question or change (exit 2)', async () => {
    const world = fakeWorld();
    world.aws.adminArn = 'arn:aws:iam::123456789012:root';
    const { exitCode, stderr } = await runCli(['init'], world, { tty: true });
    expect(exitCode).toBe(2);
    expect(stderr).toContain('root user');
    expect(world.prompter.asked).toEqual([]);
    expectNothingChanged(world);
  });

  it('stops before any change when the existing user already holds two keys (exit 5)', async () => {
    const world = fakeWorld();
    world.aws.seedUser('dbx', { withKey: true, tags: { 'managed-by': 'datablast-aws' } });
    world.aws.issueKey('dbx');
    const { exitCode, stderr } = await runCli(CI_FLAGS, world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('already holds two access keys');
    expect(changesIn(world.aws.calls)).toEqual([]);
    expect(world.aws.keysOf('dbx')).toHaveLength(2);
  });

  it('stops before any change when the policies would exceed the quota (exit 2)', async () => {
    const world = fakeWorld();
    world.aws.seedUser('dbx', { tags: { 'managed-by': 'datablast-aws' } });
    for (let i = 0; i < 10; i += 1)
      world.aws.users.get('dbx')!.attached.push({ policyArn: `arn:aws:iam::aws:policy/P${i}`, policyName: `P${i}` });
    const { exitCode, stderr } = await runCli(CI_FLAGS, world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('11 managed policies');
    expect(changesIn(world.aws.calls)).toEqual([]);
  });

  it('stops before any change when the connection holds a key of another user (exit 3)', async () => {
    const world = fakeWorld();
    await runCli(['create-user', 'other', '--create-key', '--connection', 'AWS Production'], world);
    const before = world.aws.calls.length;
    const { exitCode, stderr } = await runCli(CI_FLAGS, world);
    expect(exitCode).toBe(3);
    expect(stderr).toContain('not of user dbx');
    expect(changesIn(world.aws.calls.slice(before))).toEqual([]);
    expect(world.aws.users.has('dbx')).toBe(false);
  });

  it('exits 5 naming the permission when the admin may not create users, leaving nothing made', async () => {
    const world = fakeWorld();
    world.aws.failNext(
      'createUser',
      sdkError(
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/admin is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/dbx',
        403,
      ),
    );
    const { exitCode, stderr } = await runCli(CI_FLAGS, world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('iam:CreateUser');
    expect(world.aws.users.size).toBe(0);
    expect(world.aws.calls).not.toContain('iam:createAccessKey');
    expect(world.connections.entries.size).toBe(0);
  });

  it('checks the secret store before any change: exit 6 with no user, policy or key made', async () => {
    const world = fakeWorld();
    world.secrets.failNext('set');
    const { exitCode, stderr } = await runCli(CI_FLAGS, world);
    expect(exitCode).toBe(6);
    expect(stderr).toContain('secret store');
    expectNothingChanged(world);
  });

  it('finishes on a re-run after saving the key failed, with no key left whose secret nobody holds', async () => {
    const world = fakeWorld();
    const set = world.secrets.set.bind(world.secrets);
    let failed = false;
    world.secrets.set = async (account, pair) => {
      if (account === 'AWS Production' && !failed) {
        failed = true;
        world.secrets.failNext('set');
      }
      return set(account, pair);
    };
    expect((await runCli(CI_FLAGS, world)).exitCode).toBe(6);
    expect(world.aws.keysOf('dbx')).toEqual([]);
    expect(world.aws.users.get('dbx')!.attached).toHaveLength(1);
    const { exitCode, stdout } = await runCli([...CI_FLAGS, '--json'], world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ userCreated: false, keyCreated: true });
    expect(world.aws.keysOf('dbx')).toHaveLength(1);
  });
});

describe('init, the wizard', () => {
  it("asks every question in the guide's order, confirms, and sets everything up", async () => {
    const world = answerEverything(fakeWorld());
    world.prompter.answer('Go ahead?', true);
    const { exitCode, stdout, stderr } = await runCli(['init'], world, { tty: true });
    expect(exitCode, stderr).toBe(0);
    world.prompter.assertDone();
    expect(world.aws.users.get('datablast-integration')!.attached.map((p) => p.policyArn)).toEqual([S3, RDS]);
    expect([...world.aws.users.get('datablast-integration')!.inline.keys()]).toEqual(['datablast-self-rotation']);
    // Five answers for a first setup; self-rotation is on without a question.
    expect(world.prompter.asked).toHaveLength(5);
    expect(stderr).toContain('self-rotation: on (the default; --no-self-rotation to change it)');
    expect(world.connections.entries.get('AWS Production')).toMatchObject({
      region: 'eu-west-1',
      userName: 'datablast-integration',
    });
    // The plan is shown before the confirmation.
    expect(stderr).toContain('About to change account 123456789012');
    expect(stderr).toContain('create IAM user datablast-integration');
    // The summary names next steps: test, rotate, credential_process / export-profile.
    for (const words of [
      "datablast-aws test 'AWS Production'",
      "datablast-aws rotate 'AWS Production'",
      'export-profile',
      'credential_process = datablast-aws credential-process',
    ])
      expect(stdout).toContain(words);
  });

  it('asks for bucket names and a prefix when "only buckets I name" is chosen', async () => {
    const world = fakeWorld();
    // init's final test probes the granted buckets' locations: they exist.
    for (const bucket of ['exports', 'archive']) world.aws.buckets.add(bucket);
    world.prompter
      .answer('Name of the IAM user', 'dbx')
      .answer('What may Datablast read', ['buckets'])
      .answer('Bucket names', 'exports, archive')
      .answer('key prefix', 'daily/')
      .answer('Name for the connection', 'c')
      .answer('AWS region', '')
      .answer('Go ahead?', true);
    const { exitCode, stderr } = await runCli(['init', '--no-self-rotation'], world, { tty: true });
    // The plan shows what the bucket policy reaches.
    expect(stderr).toContain('list and read s3://archive/daily/*, s3://exports/daily/*');
    expect(exitCode, stderr).toBe(0);
    world.prompter.assertDone();
    const user = world.aws.users.get('dbx')!;
    expect(JSON.parse(user.inline.get('datablast-s3-buckets')!)).toEqual(
      bucketPolicy(['archive', 'exports'], 'daily/'),
    );
    expect(user.inline.has('datablast-self-rotation')).toBe(false);
    expect(world.connections.entries.get('c')).toMatchObject({ region: 'us-east-1', buckets: ['exports', 'archive'] });
    expect(world.connections.entries.get('c')!.description).toBeUndefined();
  });

  it('asks again when no service is chosen', async () => {
    const world = fakeWorld();
    world.prompter
      .answer('Name of the IAM user', 'dbx')
      .answer('What may Datablast read', [])
      .answer('What may Datablast read', ['lambda'])
      .answer('Name for the connection', 'c')
      .answer('AWS region', 'us-west-2')
      .answer('Go ahead?', true);
    const { exitCode, stderr } = await runCli(['init'], world, { tty: true });
    expect(exitCode, stderr).toBe(0);
    world.prompter.assertDone();
    // Refused inside the prompt (which stays open), not after it was drawn as answered.
    expect(world.prompter.rejected).toEqual(['choose at least one (Space selects)']);
  });

  it('asks only what the flags did not answer, and --yes skips the confirmation', async () => {
    const world = fakeWorld();
    world.prompter.answer('Name for the connection', 'c');
    const { exitCode, stderr } = await runCli(
      [
        'init',
        '--user',
        'dbx',
        '--service',
        's3',
        '--self-rotation',
        '--region',
        'eu-west-1',
        '--description',
        'x',
        '--yes',
      ],
      world,
      { tty: true },
    );
    expect(exitCode, stderr).toBe(0);
    world.prompter.assertDone();
  });

  it('on a re-run asks only what is unknown, with what is attached preselected, and no confirmation', async () => {
    const world = fakeWorld();
    await runCli(CI_FLAGS, world);
    world.prompter.answer('What may Datablast read', ['s3']);
    const { exitCode, stdout, stderr } = await runCli(['init'], world, { tty: true });
    expect(exitCode, stderr).toBe(0);
    world.prompter.assertDone();
    expect(world.prompter.offered[0]!.filter((c) => c.checked).map((c) => c.value)).toEqual(['s3']);
    expect(stderr).toContain('IAM user: dbx (of connection AWS Production');
    expect(stdout).toContain('already set up');
  });

  it.each(['Name of the IAM user', 'What may Datablast read', 'Name for the connection', 'AWS region', 'Go ahead?'])(
    'exits 130 with nothing made when cancelled at "%s"',
    async (at) => {
      const world = fakeWorld();
      const script: Array<[string, unknown]> = [
        ['Name of the IAM user', 'dbx'],
        ['What may Datablast read', ['s3']],
        ['Name for the connection', 'c'],
        ['AWS region', 'eu-west-1'],
        ['Go ahead?', true],
      ];
      for (const [match, answer] of script) {
        world.prompter.answer(match, match === at ? CANCEL : (answer as string));
        if (match === at) break;
      }
      const { exitCode } = await runCli(['init'], world, { tty: true });
      expect(exitCode).toBe(130);
      world.prompter.assertDone();
      expectNothingChanged(world);
    },
  );

  it('exits 130 with nothing changed when the confirmation is declined', async () => {
    const world = answerEverything(fakeWorld());
    world.prompter.answer('Go ahead?', false);
    const { exitCode, stderr } = await runCli(['init'], world, { tty: true });
    expect(exitCode).toBe(130);
    expect(stderr).toContain('nothing was changed');
    expectNothingChanged(world);
  });
});
