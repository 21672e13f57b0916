import { describe, expect, it } from 'vitest';
import { showCommand } from '../../../src/commands/show.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, leaks, seedConnection } from './helpers.js';

describe('show', () => {
  it.each([
    [['prod'], { name: 'prod' }],
    [['AWS Production'], { name: 'AWS Production' }],
  ])('parses %j', async (argv, expected) => {
    expect(await captureOptions(showCommand, argv)).toEqual(expected);
  });

  it('prints every field, the key id masked, colour off', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'AWS Production', {
      description: 'BI warehouse',
      services: ['s3', 'rds'],
      buckets: ['reports'],
      keyCreatedAt: '2026-11-18T00:00:00.000Z',
      lastTestedAt: '2026-11-27T08:00:00.000Z',
    });
    const result = await runCli(['show', 'AWS Production', '--no-color'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      [
        'name            AWS Production',
        `access key id   AKIA************${pair.accessKeyId.slice(-4)}`,
        'account         123456789012',
        'user            datablast',
        'arn             arn:aws:iam::123456789012:user/datablast',
        'region          eu-west-1',
        'description     BI warehouse',
        'services        s3, rds',
        'buckets         reports',
        'added           2026-11-28',
        'key created     2026-11-18',
        'key age (days)  10',
        'last tested     2026-11-27',
        'last rotated    never',
        'status          ok',
        '',
      ].join('\n'),
    );
    expect(result.stdout).not.toContain(pair.accessKeyId);
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
  });

  it('prints the full key id, services and status under --json', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { services: ['lambda'] });
    const json = JSON.parse((await runCli(['show', 'prod', '--json'], world)).stdout);
    expect(json).toMatchObject({
      name: 'prod',
      accessKeyId: pair.accessKeyId,
      services: ['lambda'],
      buckets: [],
      status: 'ok',
      keyAgeKnown: false,
      lastRotatedAt: null,
    });
  });

  it('does not echo a 10 kB name back whole: it is cut after the longest name a connection can have', async () => {
    const world = fakeWorld();
    const long = 'x'.repeat(10_240);
    const result = await runCli(['show', long], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`no connection named "${'x'.repeat(64)}…"`);
    expect(result.stderr.length).toBeLessThan(400);
  });

  it('says when the secret is missing, exit 3', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.entries.clear();
    const result = await runCli(['show', 'prod', '--no-color'], world);
    expect(result.stdout).toContain('status          secret missing');
    expect(result.exitCode).toBe(3);
  });

  it('reads its own entry only, never the list of every entry, and prints no secret', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    await seedConnection(world, 'other');
    world.secrets.failNext('list');
    const result = await runCli(['show', 'prod', '--json'], world);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout).status).toBe('ok');
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
  });

  it('says the status is unknown, never ok, and exits 6 when its secret cannot be read', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.failNext('get');
    const result = await runCli(['show', 'prod', '--json'], world);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain('could not read the secret store');
    expect(JSON.parse(result.stdout).status).toBe('unknown: secret store unavailable');
  });

  it('flags a stored key that differs from the metadata, showing both masked, exit 3', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const k2 = world.aws.issueKey('datablast', 0);
    await world.secrets.set('prod', k2);
    const result = await runCli(['show', 'prod', '--no-color'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toContain(`stored key id   AKIA************${k2.accessKeyId.slice(-4)}`);
    expect(result.stdout).toContain('status          stored key differs');
    expect(leaks(result, k2.secretAccessKey)).toEqual([]);
  });

  it('says "rejected at last test" after a test AWS rejected, exit 4', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    await world.connections.put({
      ...(await world.connections.get('prod'))!,
      lastTestRejectedAt: world.clock.now().toISOString(),
      lastTestRejectedKeyId: pair.accessKeyId,
    });
    const result = await runCli(['show', 'prod', '--json'], world);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout).status).toBe('rejected at last test');
  });

  it('learns a rejection from `test` (a wrong secret), and forgets it when a later test passes', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { keyCreatedAt: '2026-01-01T00:00:00.000Z' });
    world.aws.keys.get(pair.accessKeyId)!.secretAccessKey = 'x'.repeat(40);
    expect((await runCli(['test', 'prod'], world)).exitCode).toBe(4);
    const after = await runCli(['show', 'prod', '--json'], world);
    expect(JSON.parse(after.stdout).status).toBe('rejected at last test');
    expect(after.exitCode).toBe(4);
    world.aws.keys.get(pair.accessKeyId)!.secretAccessKey = pair.secretAccessKey;
    expect((await runCli(['test', 'prod'], world)).exitCode).toBe(0);
    const fixed = await runCli(['show', 'prod', '--json'], world);
    expect(JSON.parse(fixed.stdout).status).toBe('key older than 90 days');
    expect(fixed.exitCode).toBe(0);
  });

  it('exits 3 for an unknown connection, pointing at list', async () => {
    const result = await runCli(['show', 'nope'], fakeWorld());
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'error: no connection named "nope"\n`datablast-aws list` shows the connections; `datablast-aws add-connection NAME` adds one.\n',
    );
  });

  it('suggests the stored name that differs only in case', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'AWS Production');
    const result = await runCli(['show', 'aws production'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('Did you mean "AWS Production"?');
  });

  it('exits 2 with the usage line when the name is missing', async () => {
    const result = await runCli(['show'], fakeWorld());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("missing required argument 'name'");
  });
});

describe('show --last-used', () => {
  it('parses --last-used', async () => {
    expect(await captureOptions(showCommand, ['prod', '--last-used'])).toEqual({ name: 'prod', lastUsed: true });
  });

  it('calls no AWS API without it, and prints no last use', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const text = await runCli(['show', 'prod', '--no-color'], world);
    const json = JSON.parse((await runCli(['show', 'prod', '--json'], world)).stdout);
    expect(world.aws.calls).toEqual([]);
    expect(text.stdout).not.toContain('last used');
    expect(json).not.toHaveProperty('lastUsed');
  });

  it('prints when, by which service, in which region, with one IAM call signed by the key', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { keyCreatedAt: '2026-11-18T00:00:00.000Z' });
    world.aws.lastUsed.set(pair.accessKeyId, {
      lastUsedDate: '2026-11-27T10:00:00.000Z',
      serviceName: 's3',
      region: 'eu-west-1',
    });
    const text = await runCli(['show', 'prod', '--last-used', '--no-color'], world);
    expect(text.exitCode).toBe(0);
    expect(world.aws.calls).toEqual(['iam:getAccessKeyLastUsed']);
    expect(text.stdout).toMatch(/\nstatus {10}ok\nkey last used {3}2026-11-27T10:00:00.000Z by s3 in eu-west-1\n$/);
    expect(text.stderr).toBe('');
    const json = JSON.parse((await runCli(['show', 'prod', '--last-used', '--json'], world)).stdout);
    expect(json.lastUsed).toEqual({
      at: '2026-11-27T10:00:00.000Z',
      service: 's3',
      region: 'eu-west-1',
      warning: null,
    });
    expect(leaks(text, pair.secretAccessKey)).toEqual([]);
  });

  it('reports a key unused for more than 90 days, in text and JSON, without failing', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod', { keyCreatedAt: '2026-01-10T00:00:00.000Z' });
    world.aws.lastUsed.set(pair.accessKeyId, {
      lastUsedDate: '2026-08-01T10:00:00.000Z',
      serviceName: 'sts',
      region: 'us-east-1',
    });
    const text = await runCli(['show', 'prod', '--last-used', '--no-color'], world);
    expect(text.stdout).toMatch(
      /\nkey last used {3}2026-08-01T10:00:00.000Z by sts in us-east-1\n! this key was last used 119 days ago \(more than 90\): if nothing needs it, remove it\n$/,
    );
    const json = JSON.parse((await runCli(['show', 'prod', '--last-used', '--json'], world)).stdout);
    expect(json.lastUsed.warning).toBe(
      'this key was last used 119 days ago (more than 90): if nothing needs it, remove it',
    );
  });

  it('reports a key never used, counting the days since it was created', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod', { keyCreatedAt: '2026-11-18T00:00:00.000Z' });
    const text = await runCli(['show', 'prod', '--last-used', '--no-color'], world);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(
      /\nkey last used {3}never \(as far as AWS shows\)\n! AWS shows no use of this key in the 10 days since it was created\n$/,
    );
    const json = JSON.parse((await runCli(['show', 'prod', '--last-used', '--json'], world)).stdout);
    expect(json.lastUsed).toEqual({
      at: null,
      service: null,
      region: null,
      warning: 'AWS shows no use of this key in the 10 days since it was created',
    });
  });

  it('says the last use is unknown when AWS denies it, and still exits 0', async () => {
    const world = fakeWorld();
    world.aws.deniedActions.set(
      'iam:GetAccessKeyLastUsed',
      'User: x is not authorized to perform: iam:GetAccessKeyLastUsed',
    );
    await seedConnection(world, 'prod');
    const text = await runCli(['show', 'prod', '--last-used', '--no-color'], world);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/\nkey last used {3}unknown\n$/);
    expect(text.stderr).toBe(
      "warning: could not read the key's last use from AWS: AWS denied iam:GetAccessKeyLastUsed\n" +
        'Grant iam:GetAccessKeyLastUsed to the IAM user (`datablast-aws attach-policy USER ...`; for rotation `--self-rotation`), or ask your AWS administrator.\n',
    );
    const json = await runCli(['show', 'prod', '--last-used', '--json'], world);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout).lastUsed).toBeNull();
  });
});
