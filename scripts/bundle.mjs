// @ts-check
// The second half of `npm run build`: bundles tsc's ES modules (dist/) into CommonJS chunks
// (dist/cli/), which bin/datablast-aws.js loads. Node starts a CommonJS file without setting up its
// ES module loader, and one chunk costs one read and one compile instead of a dozen module jobs:
// about 10 ms of every run (README, "Performance"). The commands people and SDKs run most
// (credential-process, env, show, list: main's shortcuts) find all their code in one chunk, "core".
// Libraries stay outside (node_modules), loaded on first use as before. Last, it writes V8's code
// cache of the core chunk (src/code-cache.ts), which the binary compiles that chunk from.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'rolldown';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const OUT = join(DIST, 'cli');

/** Every module a shortcut runs, and what every run needs: one chunk (the bundler's 17-line runtime helper is always a chunk of its own). */
const CORE = [
  'cli',
  'main',
  'context',
  'errors',
  'signals',
  'version',
  'package-root',
  'ui/io',
  'ui/output',
  'domain/redact',
  'domain/shell-word',
  'domain/connection',
  'domain/access-key',
  'domain/rotation',
  'commander',
  'commands/credential-process',
  'commands/env',
  'commands/show',
  'commands/list',
  'commands/require-connection',
  'store/connections',
  'store/secret-store',
  'store/keychain',
  'store/keychain-errors',
  'store/secret-service',
  'store/dbus',
];
const core = new RegExp(`[\\\\/]dist[\\\\/](${CORE.join('|')})\\.js$`);

rmSync(OUT, { recursive: true, force: true });
await build({
  // code-cache: what bin/datablast-aws.js loads the core chunk with, so a chunk of its own.
  input: { cli: join(DIST, 'cli.js'), 'code-cache': join(DIST, 'code-cache.js') },
  // Our modules only; every package stays a require()/import() of node_modules.
  external: (id) => !id.startsWith('.') && !id.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(id),
  platform: 'node',
  logLevel: 'silent',
  output: {
    dir: OUT,
    format: 'cjs',
    entryFileNames: '[name].cjs',
    // The core chunk's name is fixed: the binary loads it by name, with its code cache.
    chunkFileNames: (chunk) => (chunk.name === 'core' ? 'core.cjs' : '[name]-[hash].cjs'),
    codeSplitting: { groups: [{ name: 'core', test: core }] },
  },
});

const chunk = join(OUT, 'core.cjs');
const cache = join(OUT, 'core.v8cache');
// The binary compiles the core chunk with vm.Script, where import() works only behind an experimental
// flag or warning: ES-module packages are imported from other chunks (src/store/load-conf.ts).
const dynamicImport = /\bimport\(\s*["'`]([^"'`]+)/.exec(readFileSync(chunk, 'utf8'));
if (dynamicImport)
  throw new Error(
    `the core chunk imports ${dynamicImport[1]} with import(): move that import() to a module outside the core (scripts/bundle.mjs, CORE)`,
  );

// In a process of its own, which runs the commands people and SDKs run most through the chunk
// first, so that the cache holds what they compile (scripts/lib/rehearse-core.mjs).
const written = spawnSync(process.execPath, [join(ROOT, 'scripts', 'lib', 'rehearse-core.mjs'), chunk, cache], {
  encoding: 'utf8',
});
if (written.status !== 0) throw new Error(`could not write the code cache of ${chunk}:\n${written.stderr}`);
const codeCache = join(OUT, 'code-cache.cjs');
const node = (/** @type {string} */ script) => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
// And whether a fresh process takes it: if this Node will not, the binary only runs without it.
const state = node(
  `process.stdout.write(require(${JSON.stringify(codeCache)}).codeCacheState(${JSON.stringify(chunk)}, ${JSON.stringify(cache)}))`,
);
if (state.stdout !== 'accepted') {
  console.error(
    `bundle: this Node (${process.version}) does not take the code cache (${state.stdout || state.stderr.trim()}); the binary runs without it, a few ms slower`,
  );
  rmSync(cache, { force: true });
}
