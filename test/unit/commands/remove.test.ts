import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { journalStore } from '../../../src/store/journal.js';
import { JOURNAL_VERSION, pendingAccount } from '../../../src/domain/rotation.js';
import { removeCommand, type RemoveOptions } from '../../../src/commands/remove.js';
import { sdkError } from '../../fakes/fake-aws.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, leaks, seedConnection } from './helpers.js';

describe('remove: argv → options', () => {
  it.each<[string[], RemoveOptions]>([
    [['prod'], { name: 'prod', deleteKey: false, admin: false, yes: false }],
    [['prod', '--delete-key'], { name: 'prod', deleteKey: true, admin: false, yes: false }],
    [
      ['AWS Production', '--delete-key', '--admin', '-y'],
      { name: 'AWS Production', deleteKey: true, admin: true, yes: true },
    ],
    [['--yes', 'prod'], { name: 'prod', deleteKey: false, admin: false, yes: true }],
  ])('%j', async (argv, expected) => {
    expect(await captureOptions(removeCommand, argv)).toEqual(expected);
  });
});

describe('remove', () => {
  it('refuses while a rotation of the connection is interrupted, so its new key is not forgotten', async () => {
    const world = fakeWorld();
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-remove-'));
    (world.connections as { dir: string }).dir = dir;
    const pair = await seedConnection(world, 'prod');
    const now = world.clock.now().toISOString();
    await journalStore(dir, 'prod').write({
      version: JOURNAL_VERSION,
      connection: 'prod',
      phase: 'created',
      startedAt: now,
      updatedAt: now,
      userName: 'datablast',
      oldAccessKeyId: pair.accessKeyId,
      keysBefore: [pair.accessKeyId],
      newAccessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      keepOld: false,
    });
    await world.secrets.set(pendingAccount('prod'), {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    });
    const result = await runCli(['remove', 'prod', '--yes'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('a rotation of "prod" was interrupted (created)');
    expect(result.stderr).toContain('datablast-aws rotate prod');
    expect(world.secrets.entries.size).toBe(2);
    expect(world.connections.entries.has('prod')).toBe(true);
  });

  it('also drops a pending rotation entry left without a journal', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    await world.secrets.set(pendingAccount('prod'), {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    });
    const result = await runCli(['remove', 'prod', '--yes'], world);
    expect(result.exitCode).toBe(0);
    expect(world.secrets.entries.size).toBe(0);
  });

  it('deletes the secret and the metadata, keeps the key in AWS and says so', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['remove', '--yes', 'prod', '--no-color'], world);
    expect(result.exitCode).toBe(0);
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
    expect(world.aws.calls).toEqual([]);
    expect(world.aws.keys.has(pair.accessKeyId)).toBe(true);
    expect(result.stdout).toBe(
      `✓ Removed connection "prod" and its secret.\nThe access key AKIA************${pair.accessKeyId.slice(-4)} still exists in AWS; deactivate or delete it if nothing else uses it.\n`,
    );
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
  });

  it('prints what it did under --json', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['remove', '--yes', 'prod', '--json'], world);
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'prod',
      accessKeyId: pair.accessKeyId,
      metadataAccessKeyId: null,
      secretDeleted: true,
      key: 'kept',
    });
  });

  it('with --delete-key deletes the key in AWS with its own key, first', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(world.aws.calls).toEqual(['iam:deleteAccessKey']);
    expect(world.aws.keys.has(pair.accessKeyId)).toBe(false);
    expect(JSON.parse(result.stdout)).toMatchObject({ key: 'deleted', secretDeleted: true });
    expect(world.connections.entries.size).toBe(0);
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
  });

  it('learns the user from STS when the metadata has none', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { userName: undefined });
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key'], world);
    expect(result.exitCode).toBe(0);
    expect(world.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:deleteAccessKey']);
    expect(world.aws.keys.has(pair.accessKeyId)).toBe(false);
  });

  it('with --admin signs the deletion with admin credentials, needing no stored secret', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    world.secrets.entries.clear();
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key', '--admin', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(world.aws.keys.has(pair.accessKeyId)).toBe(false);
    expect(JSON.parse(result.stdout)).toMatchObject({ key: 'deleted', secretDeleted: false });
  });

  it('exits 3 without --admin when no secret is stored to sign the deletion', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.entries.clear();
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('--admin');
    expect(world.connections.entries.size).toBe(1);
  });

  it('reports a key AWS no longer has as already gone, and removes the connection', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    world.aws.keys.delete(pair.accessKeyId);
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key', '--admin', '--no-color'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('was already gone from AWS');
    expect(world.connections.entries.size).toBe(0);
  });

  it("keeps everything and suggests --admin when AWS rejects the connection's own key", async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    world.aws.keys.get(pair.accessKeyId)!.status = 'Inactive';
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key'], world);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('nothing was removed');
    expect(result.stderr).toContain('--admin');
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(2);
  });

  it('keeps everything and points at the self-rotation policy when IAM denies the deletion', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.aws.failNext(
      'deleteAccessKey',
      sdkError('AccessDenied', 'User is not authorized to perform: iam:DeleteAccessKey', 403),
    );
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key'], world);
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('attach-policy datablast --self-rotation');
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(2);
  });

  it('keeps the metadata and says how to finish when the secret store fails after the key was deleted', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.failNext('delete');
    const result = await runCli(['remove', '--yes', 'prod', '--delete-key'], world);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain('the access key was already deleted in AWS');
    expect(result.stderr).toContain('without --delete-key');
    expect(world.connections.entries.size).toBe(1);
  });

  it('asks for confirmation on a terminal; declining exits 130 and removes nothing', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.prompter.answer('Remove connection "prod"', false);
    const result = await runCli(['remove', 'prod'], world, { tty: true });
    expect(result.exitCode).toBe(130);
    world.prompter.assertDone();
    expect(world.connections.entries.size).toBe(1);
  });

  it('names the key deletion in the confirmation question', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.prompter.answer('and delete access key AKIA', true);
    const result = await runCli(['remove', 'prod', '--delete-key'], world, { tty: true });
    expect(result.exitCode).toBe(0);
    world.prompter.assertDone();
  });

  it('does not ask with --yes', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const result = await runCli(['remove', 'prod', '--yes'], world, { tty: true });
    expect(result.exitCode).toBe(0);
    expect(world.prompter.asked).toEqual([]);
  });

  it.each([
    [['remove', 'prod'], {}],
    [['remove', 'prod', '--delete-key', '--no-input'], { tty: true }],
  ])(
    'refuses (exit 2) without a terminal or under --no-input unless --yes, removing nothing: %j',
    async (argv, options) => {
      const world = fakeWorld();
      const pair = await seedConnection(world, 'prod');
      const result = await runCli(argv, world, options);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain('remove needs --yes');
      expect(result.stderr).toContain('--yes`');
      expect(world.connections.entries.has('prod')).toBe(true);
      expect(world.secrets.entries.has('prod')).toBe(true);
      expect(world.aws.keys.has(pair.accessKeyId)).toBe(true);
      expect(world.prompter.asked).toEqual([]);
    },
  );

  it("deletes the stored pair's key when the metadata names another (an interrupted add-connection --force)", async () => {
    const world = fakeWorld();
    const k1 = await seedConnection(world, 'prod');
    world.aws.seedUser('other');
    const k2 = world.aws.issueKey('other', 0);
    await world.secrets.set('prod', k2);
    const result = await runCli(['remove', 'prod', '--delete-key', '--yes', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(world.aws.keys.has(k2.accessKeyId)).toBe(false);
    expect(world.aws.keys.has(k1.accessKeyId)).toBe(true);
    expect(JSON.parse(result.stdout)).toMatchObject({
      accessKeyId: k2.accessKeyId,
      metadataAccessKeyId: k1.accessKeyId,
      key: 'deleted',
      secretDeleted: true,
    });
    expect(result.stderr).toContain('it was not touched');
    expect(leaks(result, k2.secretAccessKey)).toEqual([]);
  });

  it('refuses --admin when the metadata and the store disagree, removing nothing', async () => {
    const world = fakeWorld();
    const k1 = await seedConnection(world, 'prod');
    const k2 = world.aws.issueKey('datablast', 0);
    await world.secrets.set('prod', k2);
    const result = await runCli(['remove', 'prod', '--delete-key', '--admin', '--yes'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('without --admin');
    expect(world.aws.keys.has(k1.accessKeyId) && world.aws.keys.has(k2.accessKeyId)).toBe(true);
    expect(world.secrets.entries.get('prod')).toEqual(k2);
  });

  it('exits 3 for an unknown connection', async () => {
    const result = await runCli(['remove', 'nope'], fakeWorld());
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('datablast-aws list');
  });
});
