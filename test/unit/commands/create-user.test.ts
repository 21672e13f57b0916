import { describe, expect, it } from 'vitest';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { sdkError } from '../../fakes/fake-aws.js';

const CHANGES = [
  'iam:createUser',
  'iam:tagUser',
  'iam:createAccessKey',
  'iam:deleteAccessKey',
  'iam:updateAccessKey',
  'iam:attachUserPolicy',
  'iam:putUserPolicy',
];
const changesIn = (calls: string[]) => calls.filter((c) => CHANGES.includes(c));

describe('create-user', () => {
  it('creates the user tagged managed-by=datablast-aws and says who the admin is on stderr', async () => {
    const { exitCode, stdout, stderr, world } = await runCli([
      'create-user',
      'datablast-integration',
      '--tag',
      'team=data',
      '--json',
    ]);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      userName: 'datablast-integration',
      arn: 'arn:aws:iam::123456789012:user/datablast-integration',
      created: true,
      managed: true,
    });
    expect(world.aws.users.get('datablast-integration')!.tags).toEqual({ 'managed-by': 'datablast-aws', team: 'data' });
    expect(stderr).toContain('123456789012');
    expect(stderr).toContain('arn:aws:iam::123456789012:user/admin');
    // The whoami check comes before any change.
    expect(world.aws.calls[0]).toBe('sts:getCallerIdentity');
  });

  it('creates the user under --path', async () => {
    const { exitCode, stdout, world } = await runCli(['create-user', 'dbx', '--path', '/integrations/', '--json']);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).arn).toBe('arn:aws:iam::123456789012:user/integrations/dbx');
    expect(world.aws.users.get('dbx')!.path).toBe('/integrations/');
  });

  it('reports an existing user of ours as created: false with exit 0, changing nothing', async () => {
    const world = fakeWorld();
    world.aws.seedUser('dbx', { tags: { 'managed-by': 'datablast-aws' } });
    const { exitCode, stdout } = await runCli(['create-user', 'dbx', '--json'], world);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ userName: 'dbx', created: false, managed: true });
    expect(changesIn(world.aws.calls)).toEqual([]);
  });

  it('adds a new --tag to an existing user of ours', async () => {
    const world = fakeWorld();
    world.aws.seedUser('dbx', { tags: { 'managed-by': 'datablast-aws', team: 'old' } });
    const { exitCode } = await runCli(['create-user', 'dbx', '--tag', 'team=data'], world);
    expect(exitCode).toBe(0);
    expect(world.aws.users.get('dbx')!.tags.team).toBe('data');
  });

  it('leaves a user it did not create as it is, and says so', async () => {
    const world = fakeWorld();
    world.aws.seedUser('someone', { tags: { owner: 'ops' } });
    const { exitCode, stdout, stderr } = await runCli(
      ['create-user', 'someone', '--tag', 'team=data', '--json'],
      world,
    );
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ created: false, managed: false });
    expect(stderr).toContain('not created by datablast-aws');
    expect(world.aws.users.get('someone')!.tags).toEqual({ owner: 'ops' });
    expect(changesIn(world.aws.calls)).toEqual([]);
  });

  it('prints a human line for a new and for an existing user', async () => {
    const world = fakeWorld();
    expect((await runCli(['create-user', 'dbx'], world)).stdout).toContain('created IAM user dbx');
    expect((await runCli(['create-user', 'dbx'], world)).stdout).toContain(
      'IAM user dbx (arn:aws:iam::123456789012:user/dbx) already exists',
    );
  });

  it('creates the key straight into the secret store, never printing the secret', async () => {
    const world = fakeWorld();
    const { exitCode, stdout, stderr } = await runCli(
      [
        'create-user',
        'dbx',
        '--create-key',
        '--connection',
        'AWS Production',
        '--region',
        'eu-west-1',
        '--description',
        'nightly sync',
        '--json',
      ],
      world,
    );
    expect(exitCode).toBe(0);
    const [key] = world.aws.keysOf('dbx');
    expect(key).toBeDefined();
    expect(world.secrets.entries.get('AWS Production')).toEqual({
      accessKeyId: key!.accessKeyId,
      secretAccessKey: key!.secretAccessKey,
    });
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ userName: 'dbx', created: true, keyCreated: true });
    expect(result.connection).toMatchObject({
      name: 'AWS Production',
      accessKeyId: key!.accessKeyId,
      userName: 'dbx',
      region: 'eu-west-1',
      description: 'nightly sync',
      accountId: '123456789012',
    });
    expect(world.connections.entries.get('AWS Production')!.lastTestedAt).toBeDefined();
    // The console keeps a key's description as a tag on the user, keyed by the key id.
    expect(world.aws.users.get('dbx')!.tags[key!.accessKeyId]).toBe('nightly sync');
    expect(stdout + stderr).not.toContain(key!.secretAccessKey);
  });

  it('waits for a new key to propagate before saving it', async () => {
    const world = fakeWorld();
    world.aws.propagationDelayCalls = 3;
    const { exitCode, stderr } = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world);
    expect(exitCode).toBe(0);
    expect(world.clock.sleeps.length).toBeGreaterThanOrEqual(3);
    expect(world.secrets.entries.get('c')).toBeDefined();
    expect(stderr).toContain('waiting for AWS to accept the new key');
  });

  it('does not create another key when the connection already holds a working key of the user', async () => {
    const world = fakeWorld();
    expect((await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world)).exitCode).toBe(0);
    const again = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c', '--json'], world);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, keyCreated: false, connection: { name: 'c' } });
    expect(again.stderr).toContain('already set up');
    expect(world.aws.keysOf('dbx')).toHaveLength(1);
  });

  it('refuses a connection name that holds a key of another user, before any change (exit 3)', async () => {
    const world = fakeWorld();
    await runCli(['create-user', 'other', '--create-key', '--connection', 'c'], world);
    const calls = world.aws.calls.length;
    const { exitCode, stderr } = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world);
    expect(exitCode).toBe(3);
    expect(stderr).toContain('holds a key of arn:aws:iam::123456789012:user/other');
    expect(changesIn(world.aws.calls.slice(calls))).toEqual([]);
    expect(world.aws.users.has('dbx')).toBe(false);
  });

  it('stops with exit 5 when the user already holds two keys, deleting none', async () => {
    const world = fakeWorld();
    world.aws.seedUser('dbx', { withKey: true, tags: { 'managed-by': 'datablast-aws' } });
    world.aws.issueKey('dbx');
    const { exitCode, stderr } = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('already holds two access keys');
    for (const key of world.aws.keysOf('dbx')) expect(stderr).toContain(key.accessKeyId);
    expect(stderr).toContain('never deletes a key');
    expect(world.aws.keysOf('dbx')).toHaveLength(2);
    expect(world.aws.calls).not.toContain('iam:createAccessKey');
    expect(world.aws.calls).not.toContain('iam:deleteAccessKey');
    expect(world.connections.entries.size).toBe(0);
  });

  it('deletes the new key again when saving it fails, and says so', async () => {
    const world = fakeWorld();
    world.secrets.failNext('set');
    const { exitCode, stderr } = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world);
    expect(exitCode).toBe(6);
    expect(world.aws.calls).toContain('iam:createAccessKey');
    expect(world.aws.keysOf('dbx')).toEqual([]);
    expect(stderr).toContain('deleting the new key');
    expect(world.connections.entries.size).toBe(0);
  });

  it('names the key to delete by hand when deleting it fails too', async () => {
    const world = fakeWorld();
    world.secrets.failNext('set');
    world.aws.failNext(
      'deleteAccessKey',
      sdkError(
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/admin is not authorized to perform: iam:DeleteAccessKey',
        403,
      ),
    );
    const { exitCode, stderr } = await runCli(['create-user', 'dbx', '--create-key', '--connection', 'c'], world);
    expect(exitCode).toBe(6);
    const [key] = world.aws.keysOf('dbx');
    expect(stderr).toContain(`aws iam delete-access-key --user-name dbx --access-key-id ${key!.accessKeyId}`);
  });

  it('refuses the root user before any change (exit 2)', async () => {
    const world = fakeWorld();
    world.aws.adminArn = 'arn:aws:iam::123456789012:root';
    const { exitCode, stderr } = await runCli(['create-user', 'dbx'], world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('refusing to work as the root user of account 123456789012');
    expect(world.aws.calls).toEqual(['sts:getCallerIdentity']);
  });

  it('exits 5 naming the permission when the admin may not create users', async () => {
    const world = fakeWorld();
    world.aws.failNext(
      'createUser',
      sdkError(
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/admin is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/dbx',
        403,
      ),
    );
    const { exitCode, stderr } = await runCli(['create-user', 'dbx'], world);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('iam:CreateUser');
  });

  it('checks its input before any call', async () => {
    for (const [argv, words] of [
      [['create-user', 'data blast'], 'IAM user name'],
      [['create-user', 'dbx', '--path', 'nope'], 'path'],
      [['create-user', 'dbx', '--tag', 'novalue'], 'key=value'],
      [['create-user', 'dbx', '--create-key'], '--connection'],
      [['create-user', 'dbx', '--connection', 'c'], 'needs --create-key'],
      [['create-user', 'dbx', '--create-key', '--connection', 'c', '--region', 'Europe'], 'region'],
      [['create-user', 'dbx', '--create-key', '--connection', 'c', '--description', 'a;b'], 'description'],
    ] as const) {
      const world = fakeWorld();
      const { exitCode, stderr } = await runCli([...argv], world);
      expect(exitCode, argv.join(' ')).toBe(2);
      expect(stderr).toContain(words);
      expect(world.aws.calls).toEqual([]);
    }
  });
});
