import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { fastAction, scanArgs } from '../../src/fast-path.js';
import { fakeWorld, runCli, type FakeWorld } from '../support/run-cli.js';
import { seedConnection } from './commands/helpers.js';
import { staticImports } from '../support/static-imports.js';

// main.ts runs list, show, env and credential-process (and --version) without Commander when the
// scan of argv finds nothing but global options, the command and its operands (src/fast-path.ts).
// These tests hold the fast path to Commander's path: same stdout, stderr and exit code.

/** When set, main sees no fast action, so every run goes through Commander. */
const force = vi.hoisted(() => ({ commander: false, fastRuns: 0 }));
vi.mock('../../src/fast-path.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/fast-path.js')>();
  return {
    ...real,
    fastAction: (scan: ReturnType<typeof real.scanArgs>) => {
      if (force.commander) return undefined;
      const action = real.fastAction(scan);
      if (action) force.fastRuns += 1;
      return action;
    },
  };
});

describe('scanArgs: one pass over argv', () => {
  it.each([
    [['list'], { command: 'list', operands: [], plain: true, globals: {} }],
    [['--json', 'show', 'prod'], { command: 'show', operands: ['prod'], plain: true, globals: { json: true } }],
    [['show', 'prod', '--json'], { command: 'show', operands: ['prod'], plain: true, globals: { json: true } }],
    [
      ['--profile', 'list', 'env', '--region=eu-west-1', 'prod', '--no-input', '--no-color', '--debug'],
      {
        command: 'env',
        operands: ['prod'],
        plain: true,
        globals: { profile: 'list', region: 'eu-west-1', input: false, color: false, debug: true },
      },
    ],
    [
      ['--region', 'a', '--region', 'b', 'list'],
      { command: 'list', operands: [], plain: true, globals: { region: 'b' } },
    ],
    [['show', '-'], { command: 'show', operands: [], plain: false, globals: {} }],
    [['show', 'prod', '--help'], { command: 'show', operands: ['prod'], plain: false, globals: {} }],
    [['--json=yes', 'list'], { command: 'list', operands: [], plain: false, globals: {} }],
    [['list', '--region'], { command: 'list', operands: [], plain: false, globals: {} }],
    [['--', 'list'], { command: undefined, operands: [], plain: false, globals: {} }],
    [['--all', 'rotate'], { command: undefined, operands: [], plain: false, globals: {} }],
  ])('%j', (args, expected) => {
    expect(scanArgs(args)).toEqual({ ...expected, version: false });
  });

  it('knows --version and -V alone', () => {
    expect(scanArgs(['--version']).version).toBe(true);
    expect(scanArgs(['-V']).version).toBe(true);
    expect(scanArgs(['--json', '--version']).version).toBe(false);
  });

  it.each([
    [['credential-process', 'prod']],
    [['env', 'AWS Production']],
    [['show', 'prod']],
    [['list']],
    [['show', '']],
    [['--json', 'list']],
    [['env', 'prod', '--json', '--region', 'eu-west-1']],
  ])('takes the fast path for %j', (args) => {
    expect(fastAction(scanArgs(args))).toBeDefined();
  });

  it.each([
    [[]],
    [['list', 'extra']],
    [['show']],
    [['show', 'a', 'b']],
    [['show', '-']],
    [['show', 'prod', '--', 'x']],
    [['credential-process', '--help']],
    [['rotate', 'prod']],
    [['constructor', 'x']],
    [['__proto__']],
    [['-h', 'list']],
  ])('leaves %j to Commander (an option of its own, a wrong operand count, another command)', (args) => {
    expect(fastAction(scanArgs(args))).toBeUndefined();
  });

  it.each(['credential-process', 'env', 'show', 'list'])(
    'runs from commands/%s.ts, whose module graph imports no library (not even Commander: its wiring loads it when built)',
    (name) => {
      const imports = [...staticImports(join(import.meta.dirname, `../../src/commands/${name}.ts`))];
      expect(imports.filter((m) => !m.startsWith('/') && !m.startsWith('node:'))).toEqual([]);
    },
  );
});

/** A world with two connections, one of them without its secret. */
async function world(): Promise<FakeWorld> {
  const w = fakeWorld();
  await seedConnection(w, 'prod', { services: ['s3'] });
  await seedConnection(w, 'AWS Production', { keyCreatedAt: '2026-01-01T00:00:00.000Z' });
  await seedConnection(w, 'no secret');
  await w.secrets.delete('no secret');
  return w;
}

/** Stack frames differ between the two paths by design; everything else must not. */
const frameless = (text: string) => text.replace(/^ {4}at .*\n/gm, '');

describe('the fast path answers as Commander does', () => {
  const cases: Array<{ what: string; args: string[]; setup?: (w: FakeWorld) => unknown }> = [
    { what: 'credential-process', args: ['credential-process', 'prod'] },
    { what: 'credential-process, --json after', args: ['credential-process', 'prod', '--json'] },
    { what: 'credential-process, --profile before', args: ['--profile', 'admin', 'credential-process', 'prod'] },
    { what: 'credential-process, near name', args: ['credential-process', 'Prod'] },
    { what: 'credential-process, no secret', args: ['credential-process', 'no secret'] },
    {
      what: 'credential-process, store fails',
      args: ['credential-process', 'prod'],
      setup: (w) => w.secrets.failNext('get'),
    },
    { what: 'env', args: ['env', 'AWS Production'] },
    { what: 'env --json before', args: ['--json', 'env', 'AWS Production'] },
    { what: 'env, --region after', args: ['env', 'prod', '--region', 'eu-central-1'] },
    { what: 'env, --region= before', args: ['--region=eu-central-1', 'env', 'prod'] },
    { what: 'env, --region between', args: ['env', '--region', 'eu-central-1', 'prod'] },
    { what: 'env, unknown', args: ['env', 'nope'] },
    { what: 'env, with AWS_REGION set', args: ['env', 'prod'], setup: (w) => (w.env.AWS_REGION = 'eu-central-1') },
    { what: 'env, upper-case --region', args: ['env', 'prod', '--region', 'EU-WEST-1'] },
    { what: 'env, --region a host name', args: ['--region', 'evil.com/x', 'env', 'prod'] },
    { what: 'show', args: ['show', 'prod'] },
    { what: 'show --json', args: ['show', 'prod', '--json'] },
    { what: 'show, every flag', args: ['--no-input', '--no-color', '--debug', 'show', 'prod'] },
    { what: 'show, old key', args: ['show', 'AWS Production'] },
    { what: 'show, no secret', args: ['show', 'no secret'] },
    { what: 'show, store fails', args: ['show', 'prod'], setup: (w) => w.secrets.failNext('has') },
    { what: 'show, store fails, --debug', args: ['show', 'prod', '--debug'], setup: (w) => w.secrets.failNext('has') },
    { what: 'list', args: ['list'] },
    { what: 'list --json', args: ['list', '--json'] },
    { what: 'list, a good --endpoint-url', args: ['--endpoint-url', 'http://127.0.0.1:5000', 'list'] },
    { what: 'list, port out of range', args: ['--endpoint-url', 'http://127.0.0.1:99999', 'list'] },
    { what: 'list, a space in the host', args: ['list', '--endpoint-url=http://a b'] },
    { what: 'list, store fails', args: ['list'], setup: (w) => w.secrets.failNext('list') },
    {
      what: 'list, empty',
      args: ['list'],
      setup: async (w) => {
        for (const c of await w.connections.list()) await w.connections.delete(c.name);
      },
    },
    {
      what: 'bad AWS_ENDPOINT_URL (exit 2 before the command)',
      args: ['show', 'prod'],
      setup: (w) => (w.env.AWS_ENDPOINT_URL = 'not a url'),
    },
    {
      what: 'bad AWS_ENDPOINT_URL_STS',
      args: ['credential-process', 'prod'],
      setup: (w) => (w.env.AWS_ENDPOINT_URL_STS = 'http://127.0.0.1:99999'),
    },
    {
      what: 'bad DATABLAST_AWS_SECRET_STORE',
      args: ['env', 'prod'],
      setup: (w) => (w.env.DATABLAST_AWS_SECRET_STORE = 'vault'),
    },
  ];

  it.each(cases)('$what: $args', async ({ args, setup }) => {
    const results = [];
    for (const commander of [false, true]) {
      const w = await world();
      await setup?.(w);
      force.commander = commander;
      force.fastRuns = 0;
      try {
        const run = await runCli(args, w);
        results.push({ exitCode: run.exitCode, stdout: run.stdout, stderr: frameless(run.stderr) });
      } finally {
        force.commander = false;
      }
      // The first run took the fast path, the second did not.
      expect(force.fastRuns).toBe(commander ? 0 : 1);
    }
    expect(results[0]).toEqual(results[1]);
  });

  it('covers successes and each kind of failure', async () => {
    const codes = new Set<number>();
    for (const { args, setup } of cases) {
      const w = await world();
      await setup?.(w);
      codes.add((await runCli(args, w)).exitCode);
    }
    expect([...codes].sort()).toEqual([0, 2, 3, 6]);
  });

  it('--version answers without Commander, as Commander would', async () => {
    const fast = await runCli(['--version']);
    const commander = await runCli(['--json', '--version']);
    expect(fast).toMatchObject({ exitCode: 0, stderr: '' });
    expect(fast.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(commander).toMatchObject({ exitCode: 0, stdout: fast.stdout, stderr: '' });
  });
});
