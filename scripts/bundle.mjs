// @ts-check
// The second half of `npm run build`: bundles tsc's ES modules (dist/) into CommonJS chunks
// (dist/cli/), which bin/datablast-aws.js loads. Node starts a CommonJS file without setting up its
// ES module loader, and one chunk costs one read and one compile instead of a dozen module jobs:
// about 10 ms of every run (README, "Performance"). The commands people and SDKs run most
// (credential-process, env, show, list: main's shortcuts) find all their code in one chunk, "core".
// Libraries stay outside (node_modules), loaded on first use as before.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'rolldown';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const OUT = join(DIST, 'cli');

/** Every module the fast path runs (src/fast-path.ts), and what every run needs: one chunk (the bundler's 17-line runtime helper is always a chunk of its own). */
const CORE = [
  'cli',
  'main',
  'fast-path',
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
  'health/require-connection',
  'store/connections',
  // list and show ask the journals and locks whether a rotation or a change is under way.
  'store/journal',
  'store/lock',
  'store/atomic-file',
  'store/trust',
  'store/secret-store',
  'store/keychain',
  'store/keychain-errors',
  'store/secret-service',
  'store/dbus',
];
const core = new RegExp(`[\\\\/]dist[\\\\/](${CORE.join('|')})\\.js$`);

rmSync(OUT, { recursive: true, force: true });
await build({
  input: { cli: join(DIST, 'cli.js') },
  // Our modules only; every package stays a require()/import() of node_modules.
  external: (id) => !id.startsWith('.') && !id.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(id),
  platform: 'node',
  logLevel: 'silent',
  output: {
    dir: OUT,
    format: 'cjs',
    entryFileNames: '[name].cjs',
    // A fixed name for the core chunk: the tests and the package check look for it.
    chunkFileNames: (chunk) => (chunk.name === 'core' ? 'core.cjs' : '[name]-[hash].cjs'),
    codeSplitting: { groups: [{ name: 'core', test: core }] },
  },
});
