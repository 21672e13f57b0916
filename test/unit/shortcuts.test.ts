import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shortcutFor } from '../../src/main.js';
import { fakeWorld, runCli, type FakeWorld } from '../support/run-cli.js';
import { seedConnection } from './commands/helpers.js';
import { staticImports } from '../support/static-imports.js';

// main.ts runs `credential-process NAME`, `env NAME`, `show NAME` and `list` without Commander. These
// tests hold the shortcut to Commander's path: same stdout, stderr and exit code in every case.

describe('shortcutFor', () => {
  it.each([
    [['credential-process', 'prod']],
    [['env', 'AWS Production']],
    [['show', 'prod']],
    [['list']],
    [['show', '']],
  ])('takes the shortcut for %j', (args) => {
    expect(shortcutFor(args)).toBeDefined();
  });

  it.each([
    [[]],
    [['list', 'extra']],
    [['show']],
    [['show', 'a', 'b']],
    [['env', '--json']],
    [['env', 'prod', '--json']],
    [['--json', 'env', 'prod']],
    [['show', '-']],
    [['credential-process', '--help']],
    [['rotate', 'prod']],
    [['constructor', 'x']],
    [['__proto__']],
  ])('leaves %j to Commander (an option, a wrong operand count, another command)', (args) => {
    expect(shortcutFor(args)).toBeUndefined();
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

describe('a shortcut answers as Commander does', () => {
  const cases: Array<{ what: string; args: string[]; setup?: (w: FakeWorld) => unknown }> = [
    { what: 'credential-process', args: ['credential-process', 'prod'] },
    { what: 'credential-process, near name', args: ['credential-process', 'Prod'] },
    { what: 'credential-process, no secret', args: ['credential-process', 'no secret'] },
    {
      what: 'credential-process, store fails',
      args: ['credential-process', 'prod'],
      setup: (w) => w.secrets.failNext('get'),
    },
    { what: 'env', args: ['env', 'AWS Production'] },
    { what: 'env, unknown', args: ['env', 'nope'] },
    { what: 'env, with AWS_REGION set', args: ['env', 'prod'], setup: (w) => (w.env.AWS_REGION = 'eu-central-1') },
    { what: 'show', args: ['show', 'prod'] },
    { what: 'show, old key', args: ['show', 'AWS Production'] },
    { what: 'show, no secret', args: ['show', 'no secret'] },
    { what: 'show, store fails', args: ['show', 'prod'], setup: (w) => w.secrets.failNext('has') },
    { what: 'list', args: ['list'] },
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
      what: 'bad DATABLAST_AWS_SECRET_STORE',
      args: ['env', 'prod'],
      setup: (w) => (w.env.DATABLAST_AWS_SECRET_STORE = 'vault'),
    },
  ];

  it.each(cases)('$what', async ({ args, setup }) => {
    const results = [];
    // The shortcut, then Commander's path: `--no-color` is a global flag that changes nothing here.
    for (const argv of [args, ['--no-color', ...args]]) {
      const w = await world();
      await setup?.(w);
      const run = await runCli(argv, w);
      results.push({ exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr });
    }
    expect(shortcutFor(args)).toBeDefined();
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
});
