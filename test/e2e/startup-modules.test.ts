import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';

// What a run of the built binary loads, recorded by a module hook (no timing here: `npm run bench`
// measures). The commands people and SDKs run most must not load the AWS SDK, the prompt library or
// conf; `--version` and the fast path (credential-process, env, show with a name, list, with global
// options only: src/fast-path.ts) not even Commander: they run from the bundle's core chunk alone.
// Our modules are named by
// the "// dist/…js" line the bundler heads each with; a command through Commander loads its own
// module beyond the core, and only that.

const HOOK = resolve(import.meta.dirname, '../support/module-log.mjs');
const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

let keyring: Keyring;
let env: Record<string, string>;

beforeAll(async () => {
  keyring = await startKeyring();
  env = { ...keyring.env, DATABLAST_AWS_CONFIG_DIR: tempConfigDir('dbaws-modules-') };
  const added = await runBin(
    ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test', '--region', 'eu-west-1'],
    { env, stdin: SECRET },
  );
  expect(added.exitCode, added.stderr).toBe(0);
});

afterAll(async () => {
  await keyring?.stop();
});

/**
 * Runs the binary with the module hook; returns its exit code, the modules it loaded (package names
 * and dist/ paths), and the bundle chunks Node's loader compiled.
 */
function loaded(args: string[]): { code: number | null; modules: string[]; compiledChunks: string[] } {
  const log = join(mkdtempSync(join(tmpdir(), 'dbaws-modlog-')), 'modules.txt');
  const child = spawnSync(process.execPath, ['--import', HOOK, BIN, ...args], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LANG: 'C.UTF-8',
      ...env,
      DBAWS_MODULE_LOG: log,
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const names = new Set<string>();
  const compiledChunks: string[] = [];
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (line.startsWith('compiled ')) {
      if (line.includes('/dist/cli/')) compiledChunks.push(line.slice(line.lastIndexOf('/') + 1));
      continue;
    }
    const path = line.replace(/^file:\/\//, '');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (pkg) names.add(pkg[1]!);
    else if (path.includes('/dist/cli/')) for (const module of bundled(path)) names.add(module);
    else if (path.includes('/dist/')) names.add(path.slice(path.lastIndexOf('/dist/') + 1));
  }
  return { code: child.status, modules: [...names].sort(), compiledChunks: compiledChunks.sort() };
}

/** The modules of ours a chunk of the bundle holds: the bundler heads each with a "// dist/…js" line. */
function bundled(chunk: string): string[] {
  return [...readFileSync(chunk, 'utf8').matchAll(/^\/\/ (dist\/\S+\.js)$/gm)].map((m) => m[1]!);
}

/** The command modules in the bundle's core chunk (scripts/bundle.mjs), which every run loads: the fast path runs from it. */
const SHORTCUTS = [
  'dist/commands/credential-process.js',
  'dist/commands/env.js',
  'dist/commands/list.js',
  'dist/commands/show.js',
];
/** The command modules a run loads beyond the core chunk. */
const beyondCore = (modules: string[]) =>
  modules.filter((m) => m.startsWith('dist/commands/') && !SHORTCUTS.includes(m));

const LIBRARIES = ['@aws-sdk/', '@smithy/', '@inquirer/', 'conf', 'ajv'];
/** The AWS SDK, the prompt library and conf (with ajv). */
const heavyLibraries = (modules: string[]) => modules.filter((m) => LIBRARIES.some((h) => m === h || m.startsWith(h)));
/** Those, or our AWS gateways and prompter, which load them. */
const heavy = (modules: string[]) => [
  ...heavyLibraries(modules),
  ...modules.filter((m) => m.startsWith('dist/aws/') || m === 'dist/ui/prompts.js'),
];
const commandModules = (modules: string[]) => modules.filter((m) => m.startsWith('dist/commands/'));

describe('modules loaded at startup (built binary, keychain store)', () => {
  it('--version runs from the core chunk alone: no library, not Commander', () => {
    const run = loaded(['--version']);
    expect(run.code).toBe(0);
    expect(run.modules.filter((m) => !m.startsWith('dist/'))).toEqual([]);
    expect(run.modules).not.toContain('dist/program.js');
    expect(run.compiledChunks.filter((chunk) => !chunk.startsWith('rolldown-runtime-'))).toEqual([
      'cli.cjs',
      'core.cjs',
    ]);
  });

  it.each([
    [['credential-process', 'prod']],
    [['list']],
    [['show', 'prod']],
    [['env', 'prod']],
    [['--json', 'list']],
    [['show', 'prod', '--json', '--no-color']],
    [['--region', 'eu-west-1', 'env', 'prod']],
    [['credential-process', 'prod', '--no-input']],
  ])(
    '%j (the fast path) runs from the core chunk alone: no other command module, no Commander, no library at all (the Secret Service is spoken to directly)',
    (args) => {
      const run = loaded(args);
      expect(run.code).toBe(0);
      expect(run.modules.filter((m) => !m.startsWith('dist/'))).toEqual([]);
      expect(run.modules).not.toContain('dist/program.js');
      expect(run.modules.filter((m) => m.startsWith('dist/commands/'))).toEqual(SHORTCUTS);
      expect(run.modules).toContain('dist/health/require-connection.js');
      expect(run.modules).toContain('dist/fast-path.js');
      expect(run.compiledChunks.filter((chunk) => !chunk.startsWith('rolldown-runtime-'))).toEqual([
        'cli.cjs',
        'core.cjs',
      ]);
    },
  );

  it.each([
    [['list', '--help']],
    [['show', '--', 'prod']],
    [['env', '--json', '--', 'prod']],
    [['--json', 'credential-process', '--', 'prod']],
  ])(
    '%j (through Commander) loads Commander and no command module beyond the core, and neither the AWS SDK, the prompt library nor conf',
    (args) => {
      const run = loaded(args);
      expect(run.code).toBe(0);
      expect(run.modules).toContain('commander');
      expect(run.modules).toContain('dist/program.js');
      expect(heavy(run.modules)).toEqual([]);
      expect(beyondCore(run.modules)).toEqual([]);
    },
  );

  it('a command outside the core loads its own module only: `remove` with no such connection', () => {
    const run = loaded(['remove', 'nobody', '--no-input']);
    expect(run.code).toBe(3);
    expect(heavy(run.modules)).toEqual([]);
    expect(beyondCore(run.modules)).toEqual(['dist/commands/remove.js']);
  });

  it('--help loads every command module, and still neither the AWS SDK, the prompt library nor conf', () => {
    const run = loaded(['--help']);
    expect(run.code).toBe(0);
    expect(heavyLibraries(run.modules)).toEqual([]);
    expect(commandModules(run.modules).length).toBeGreaterThanOrEqual(12);
  });
});
