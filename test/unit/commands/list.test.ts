import { describe, expect, it } from 'vitest';
import { listCommand } from '../../../src/commands/list.js';
import { MemorySecretStore } from '../../fakes/memory-secret-store.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, leaks, seedConnection } from './helpers.js';

const DAY = 86_400_000;

/** Counts calls so a test can prove list reads the secret store once and never a secret. */
class CountingSecretStore extends MemorySecretStore {
  gets = 0;
  lists = 0;
  override async get(account: string) {
    this.gets += 1;
    return super.get(account);
  }
  override async list() {
    this.lists += 1;
    return super.list();
  }
  readAlls = 0;
  override async readAll() {
    this.readAlls += 1;
    return super.readAll();
  }
}

describe('list', () => {
  it('parses --wide and no other option of its own', async () => {
    expect(await captureOptions(listCommand, [])).toEqual({});
    expect(await captureOptions(listCommand, ['--wide'])).toEqual({ wide: true });
  });

  it('prints a helpful line on stderr and nothing on stdout when there are no connections', async () => {
    const result = await runCli(['list']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('No connections yet');
    expect(result.stderr).toContain('add-connection');
  });

  it('prints [] under --json when there are no connections', async () => {
    const result = await runCli(['list', '--json']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('[]\n');
  });

  it('prints tab-separated rows without a header when piped, key ids masked', async () => {
    const world = fakeWorld();
    const a = await seedConnection(world, 'AWS Production', { lastTestedAt: '2026-11-27T08:00:00.000Z' });
    const b = await seedConnection(world, 'staging', {
      keyCreatedAt: '2026-11-18T12:00:00.000Z',
      lastRotatedAt: '2026-11-18T12:00:00.000Z',
      accountId: undefined,
    });
    const result = await runCli(['list', '--no-color'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `AWS Production\tAKIA************${a.accessKeyId.slice(-4)}\t123456789012\teu-west-1\t≥0\t2026-11-27\tnever\tok\n` +
        `staging\tAKIA************${b.accessKeyId.slice(-4)}\t-\teu-west-1\t10\tnever\t2026-11-18\tok\n`,
    );
    expect(result.stderr).toBe('');
    expect(leaks(result, a.secretAccessKey)).toEqual([]);
  });

  it('fits 80 columns on a terminal: fewer, narrower columns, a long name and status cut', async () => {
    const world = fakeWorld();
    const a = await seedConnection(world, 'prod');
    await seedConnection(world, 'Datablast production account for the nightly S3 exports (EU)', {
      region: 'ap-southeast-2',
    });
    await world.secrets.delete('Datablast production account for the nightly S3 exports (EU)');
    const result = await runCli(['list', '--no-color'], world, { tty: true });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KEY\s+REGION\s+AGE\s+TESTED\s+STATUS$/);
    expect(lines[2]).toMatch(new RegExp(`^prod\\s+AKIA…${a.accessKeyId.slice(-4)}\\s+eu-west-1\\s+≥0\\s+never\\s+ok$`));
    expect(lines[1]).toMatch(/^Datablast production.*…\s+AKIA…\w{4}\s+ap-southeast-2\s/);
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(80);
  });

  it('prints every column with --wide on a terminal', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const result = await runCli(['list', '--wide', '--no-color'], world, { tty: true });
    const [header, row] = result.stdout.split('\n');
    expect(header).toMatch(
      /^NAME\s+ACCESS KEY ID\s+ACCOUNT\s+REGION\s+AGE \(DAYS\)\s+LAST TESTED\s+LAST ROTATED\s+STATUS$/,
    );
    expect(row).toMatch(/^prod\s+AKIA\*{12}\w{4}\s+123456789012\s+eu-west-1\s+≥0\s+never\s+never\s+ok$/);
  });

  it('prints the full key ids, age and status under --json', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { keyCreatedAt: '2026-08-01T00:00:00.000Z', description: 'BI' });
    const result = await runCli(['list', '--json'], world);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        name: 'prod',
        accessKeyId: pair.accessKeyId,
        accountId: '123456789012',
        arn: 'arn:aws:iam::123456789012:user/datablast',
        userName: 'datablast',
        region: 'eu-west-1',
        description: 'BI',
        createdAt: '2026-11-28T12:00:00.000Z',
        keyCreatedAt: '2026-08-01T00:00:00.000Z',
        lastTestedAt: null,
        lastRotatedAt: null,
        keyAgeDays: 119,
        keyAgeKnown: true,
        status: 'key older than 90 days',
        storedAccessKeyId: null,
        lastTestRejectedAt: null,
        rotation: null,
      },
    ]);
  });

  it('warns on stderr about a key older than 90 days', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'AWS Production', {
      keyCreatedAt: new Date(world.clock.now().getTime() - 91 * DAY).toISOString(),
    });
    await seedConnection(world, 'young', {
      keyCreatedAt: new Date(world.clock.now().getTime() - 90 * DAY).toISOString(),
    });
    const result = await runCli(['list', '--no-color'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(
      'warning: the key of "AWS Production" is 91 days old; rotate it: datablast-aws rotate \'AWS Production\'\n',
    );
    expect(result.stdout).toContain('key older than 90 days');
  });

  it('counts the age from when the connection was added when the key date is unknown', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod', { createdAt: new Date(world.clock.now().getTime() - 100 * DAY).toISOString() });
    const result = await runCli(['list', '--no-color'], world);
    expect(result.stdout).toContain('\t≥100\t');
    expect(result.stderr).toContain('is at least 100 days old');
  });

  it('reports a connection whose secret is missing (exit 3), reading the whole store once and no entry on its own', async () => {
    const secrets = new CountingSecretStore();
    const world = fakeWorld({ secrets });
    await seedConnection(world, 'a');
    await seedConnection(world, 'b');
    secrets.entries.delete('b');
    const result = await runCli(['list', '--json'], world);
    expect(JSON.parse(result.stdout).map((e: { status: string }) => e.status)).toEqual(['ok', 'secret missing']);
    expect(result.exitCode).toBe(3);
    expect(secrets.readAlls).toBe(1);
    expect(secrets.lists).toBe(0);
    expect(secrets.gets).toBe(0);
  });

  it('says "change in progress" (exit 0) for a missing secret while another process holds the connection\'s lock', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'a');
    world.secrets.entries.delete('a');
    const held = await runCli(['list', '--json'], world);
    expect(JSON.parse(held.stdout)[0].status).toBe('secret missing');
    expect(held.exitCode).toBe(3);
    world.locks.held.add('a');
    const changing = await runCli(['list', '--json'], world);
    expect(JSON.parse(changing.stdout)[0].status).toBe('change in progress');
    expect(changing.exitCode).toBe(0);
  });

  it('leaves out a connection removed while it was listed, and warns of no orphan added meanwhile', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'kept');
    await seedConnection(world, 'gone');
    await seedConnection(world, 'new');
    const snapshot = (await world.connections.list()).filter((c) => c.name !== 'new');
    // The listing was read first; then remove finished (secret and metadata) and add-connection finished too.
    world.connections.list = async () => snapshot;
    world.secrets.entries.delete('gone');
    await world.connections.delete('gone');
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).map((e: { name: string }) => e.name)).toEqual(['kept']);
    expect(result.stderr).toBe('');
  });

  it('says the status is unknown, never ok, and exits 6 when the secret store cannot be read (locked keychain, wrong passphrase, damaged file)', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.failNext('readAll');
    const result = await runCli(['list', '--no-color'], world);
    expect(result.exitCode).toBe(6);
    expect(result.stdout).toMatch(/^prod\t.*\tunknown: secret store unavailable\n$/);
    expect(result.stderr).toContain('warning: could not read the secret store');
    expect(result.stderr).toContain('the status of every connection is unknown');
  });

  it('says unknown when one entry cannot be read, though the store lists it', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.damaged.add('prod');
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode).toBe(6);
    expect(JSON.parse(result.stdout)[0].status).toBe('unknown: secret unreadable');
    expect(result.stderr).toContain('the entry for "prod" is damaged');
  });

  it('flags a stored key that is not the one the metadata names (an interrupted add-connection --force), exit 3', async () => {
    const world = fakeWorld();
    const k1 = await seedConnection(world, 'prod');
    const k2 = world.aws.issueKey('datablast', 0);
    await world.secrets.set('prod', k2);
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode).toBe(3);
    const [entry] = JSON.parse(result.stdout);
    expect(entry).toMatchObject({
      accessKeyId: k1.accessKeyId,
      storedAccessKeyId: k2.accessKeyId,
      status: 'stored key differs',
    });
    expect(result.stderr).toContain('the secret store holds key AKIA');
    expect(leaks(result, k2.secretAccessKey)).toEqual([]);
  });

  it('says "rejected at last test" and exits 4 when the last test of this key saw AWS reject it', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { lastTestedAt: '2026-11-01T00:00:00.000Z' });
    await world.connections.put({
      ...(await world.connections.get('prod'))!,
      lastTestRejectedAt: '2026-11-20T00:00:00.000Z',
      lastTestRejectedKeyId: pair.accessKeyId,
    });
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout)[0]).toMatchObject({
      status: 'rejected at last test',
      lastTestRejectedAt: '2026-11-20T00:00:00.000Z',
    });
    expect(result.stderr).toContain('datablast-aws test prod');
  });

  it('forgets a rejection of an earlier key, and one a later passing test overruled', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'rotated', {
      lastTestRejectedAt: '2026-11-20T00:00:00.000Z',
      lastTestRejectedKeyId: 'AKIAOLDOLDOLDOLDOLD2',
    });
    const pair = await seedConnection(world, 'retested', { lastTestedAt: '2026-11-21T00:00:00.000Z' });
    await world.connections.put({
      ...(await world.connections.get('retested'))!,
      lastTestRejectedAt: '2026-11-20T00:00:00.000Z',
      lastTestRejectedKeyId: pair.accessKeyId,
    });
    const result = await runCli(['list', '--json'], world);
    expect(JSON.parse(result.stdout).map((e: { status: string }) => e.status)).toEqual(['ok', 'ok']);
    expect(result.exitCode).toBe(0);
  });

  it('says "rotation interrupted" and exits 8 while a rotation journal exists', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    await seedConnection(world, 'other');
    await world.journals.of('prod').write({
      version: 1,
      connection: 'prod',
      phase: 'created',
      startedAt: world.clock.now().toISOString(),
      updatedAt: world.clock.now().toISOString(),
      userName: 'datablast',
      oldAccessKeyId: pair.accessKeyId,
      newAccessKeyId: 'AKIANEWNEWNEWNEWNEW2',
      keysBefore: [pair.accessKeyId],
      keepOld: false,
    });
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode).toBe(8);
    expect(JSON.parse(result.stdout).map((e: { status: string }) => e.status)).toEqual(['ok', 'rotation interrupted']);
    expect(result.stderr).toContain('datablast-aws rotate prod');
  });

  it('says "rotation in progress", exit 0, while a live process holds the rotation lock beside the journal', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    await world.journals.of('prod').write({
      version: 1,
      connection: 'prod',
      phase: 'creating',
      startedAt: world.clock.now().toISOString(),
      updatedAt: world.clock.now().toISOString(),
      userName: 'datablast',
      oldAccessKeyId: pair.accessKeyId,
      keysBefore: [pair.accessKeyId],
      keepOld: false,
    });
    world.locks.held.add('prod');
    const result = await runCli(['list', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)[0].status).toBe('rotation in progress');
    world.locks.held.delete('prod');
    expect(JSON.parse((await runCli(['list', '--json'], world)).stdout)[0].status).toBe('rotation interrupted');
  });

  it('makes no AWS call', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    await runCli(['list'], world);
    expect(world.aws.calls).toEqual([]);
  });
});
