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

  it('says when the secret is missing', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.entries.clear();
    expect((await runCli(['show', 'prod', '--no-color'], world)).stdout).toContain('status          secret missing');
  });

  it('reads no secret: it asks the store whether its own entry exists, never for the secret nor the list of every entry', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    await seedConnection(world, 'other');
    world.secrets.failNext('list');
    world.secrets.failNext('get');
    const result = await runCli(['show', 'prod', '--json'], world);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout).status).toBe('ok');
  });

  it('still shows the connection when its secret cannot be read, with a warning and no secret status', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.failNext('has');
    const result = await runCli(['show', 'prod', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('could not read the secret store');
    expect(JSON.parse(result.stdout).status).toBe('ok');
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
