import { describe, expect, it } from 'vitest';
import { LOCK_WAIT_MS, parseRotateOptions, type RotateOptions } from '../../../src/commands/rotate.js';
import { UsageError } from '../../../src/errors.js';
import { runCli } from '../../support/run-cli.js';
import { NAME, assertConverged, rotationWorld } from './rotate-harness.js';

describe('rotate: flags → options', () => {
  const base: RotateOptions = { name: NAME, all: false, concurrency: 4, keepOld: false, admin: false, dryRun: false };
  const table: Array<[string, string | undefined, Record<string, unknown>, RotateOptions]> = [
    ['a name', NAME, {}, base],
    ['--all', undefined, { all: true }, { ...base, name: undefined, all: true } as RotateOptions],
    [
      '--all --concurrency 8',
      undefined,
      { all: true, concurrency: '8' },
      { ...base, name: undefined, all: true, concurrency: 8 } as RotateOptions,
    ],
    ['--older-than 90', NAME, { olderThan: '90' }, { ...base, olderThan: 90 }],
    ['--older-than 0', NAME, { olderThan: '0' }, { ...base, olderThan: 0 }],
    [
      '--keep-old --admin --dry-run',
      NAME,
      { keepOld: true, admin: true, dryRun: true },
      { ...base, keepOld: true, admin: true, dryRun: true },
    ],
  ];
  for (const [title, name, flags, expected] of table) {
    it(`parses ${title}`, () => {
      const parsed = parseRotateOptions(name, flags);
      expect(parsed).toEqual(Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined)));
    });
  }

  const bad: Array<[string, string | undefined, Record<string, unknown>, RegExp]> = [
    ['no name and no --all', undefined, {}, /give its NAME, or --all/],
    ['a name and --all', NAME, { all: true }, /not both/],
    ['a negative age', NAME, { olderThan: '-1' }, /--older-than needs a whole number/],
    ['a fractional age', NAME, { olderThan: '1.5' }, /--older-than/],
    ['a word for an age', NAME, { olderThan: 'ninety' }, /--older-than/],
    ['concurrency 0', undefined, { all: true, concurrency: '0' }, /--concurrency/],
    ['concurrency without --all', NAME, { concurrency: '2' }, /--all only/],
    ['a name with a control character', 'prod\u001fpending-rotation', {}, /control character/],
  ];
  for (const [title, name, flags, message] of bad) {
    it(`refuses ${title} (exit 2)`, () => {
      expect(() => parseRotateOptions(name, flags)).toThrow(UsageError);
      expect(() => parseRotateOptions(name, flags)).toThrow(message);
    });
  }
});

describe('rotate through the whole CLI', () => {
  it('rotates and prints the JSON result on stdout only', async () => {
    const world = rotationWorld();
    const { exitCode, stdout, stderr } = await runCli(['rotate', NAME, '--json'], world);
    expect(exitCode).toBe(0);
    const result = JSON.parse(stdout);
    expect(Object.keys(result)).toEqual(['name', 'status', 'oldAccessKeyId', 'newAccessKeyId', 'oldKey', 'recovered']);
    expect(result.status).toBe('rotated');
    expect(stderr).toContain('prod: creating a new access key');
    assertConverged(world);
  });

  it('accepts the global options after the command and prints human text without --json', async () => {
    const world = rotationWorld();
    const { exitCode, stdout } = await runCli(['rotate', NAME, '--keep-old', '--no-color'], world);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/^rotated "prod": AKIA\*+\w{4} replaces AKIA\*+\w{4} \(kept inactive\)\n$/);
  });

  it('exits 2 for a bad --older-than, before touching anything', async () => {
    const world = rotationWorld();
    const { exitCode, stderr } = await runCli(['rotate', NAME, '--older-than', 'soon'], world);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('--older-than needs a whole number of days');
    expect(world.aws.calls).toEqual([]);
  });

  it('skips with exit 0 under --older-than for a young key', async () => {
    const world = rotationWorld({ keyCreatedAt: '2026-11-20T00:00:00.000Z' });
    const { exitCode, stdout } = await runCli(['rotate', '--all', '--older-than', '90', '--json'], world);
    expect(exitCode).toBe(0);
    // Decided without the lock (a shared store's lock is a write) and without any AWS call.
    expect(world.locks.requests).toEqual([]);
    expect(world.aws.calls).toEqual([]);
    expect(JSON.parse(stdout)).toEqual([
      {
        name: NAME,
        status: 'skipped',
        oldAccessKeyId: world.original.get(NAME)!.accessKeyId,
        newAccessKeyId: null,
        oldKey: null,
        recovered: null,
      },
    ]);
  });

  it('--all comes back at the end to a connection another run holds, instead of waiting for it first', async () => {
    const world = rotationWorld({ connections: ['a', 'b', 'c'] });
    world.locks.held.add('b');
    const acquire = world.locks.acquire.bind(world.locks);
    world.locks.acquire = async (name, waitMs) => {
      const lock = await acquire(name, waitMs);
      // The other run finishes once this one has asked for b the first time.
      if (name === 'b' && !lock) world.locks.held.delete('b');
      return lock;
    };
    const { exitCode, stdout, stderr } = await runCli(['rotate', '--all', '--json', '--concurrency', '1'], world);
    expect(exitCode, stderr).toBe(0);
    expect((JSON.parse(stdout) as Array<{ name: string; status: string }>).map((e) => [e.name, e.status])).toEqual([
      ['a', 'rotated'],
      ['b', 'rotated'],
      ['c', 'rotated'],
    ]);
    expect(world.locks.requests).toEqual([
      { name: 'a', waitMs: 0 },
      { name: 'b', waitMs: 0 },
      { name: 'c', waitMs: 0 },
      { name: 'b', waitMs: LOCK_WAIT_MS },
    ]);
    expect(stderr).toContain('1 connection held by another run; coming back to it now');
  });

  it('prints the rolled-back result and exits 5 when AWS never accepts the new key', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 1_000_000;
    const { exitCode, stdout, stderr } = await runCli(['rotate', NAME, '--json'], world);
    expect(exitCode).toBe(5);
    expect(JSON.parse(stdout).status).toBe('rolled-back');
    expect(stderr).toContain('rolled back');
  });

  it('exits 8 with "run the same command again" when interrupted, and the same command then finishes', async () => {
    const world = rotationWorld();
    world.aws.failNext('updateAccessKey', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }));
    const first = await runCli(['rotate', NAME], world);
    expect(first.exitCode).toBe(8);
    expect(first.stderr).toMatch(/Run the same command again/);
    const second = await runCli(['rotate', NAME, '--json'], world);
    expect(second.exitCode).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'resumed', recovered: 'finished' });
    assertConverged(world);
  });

  it('shows its flags and examples in --help', async () => {
    const { exitCode, stdout } = await runCli(['rotate', '--help'], rotationWorld());
    expect(exitCode).toBe(0);
    for (const flag of ['--all', '--concurrency', '--older-than', '--keep-old', '--admin', '--dry-run'])
      expect(stdout).toContain(flag);
    expect(stdout).toContain('$ datablast-aws rotate --all --older-than 90 --json');
  });
});
