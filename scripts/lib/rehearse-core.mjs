// @ts-check
// `node scripts/lib/rehearse-core.mjs CHUNK CACHE`, run by scripts/bundle.mjs in a process of its own:
// loads the bundle's core chunk as the binary does, runs through it the commands people and SDKs
// run most (credential-process, env, show, list, with and without Commander) against a temporary
// config directory and a fake Secret Service, then writes V8's code cache of what they compiled
// (src/code-cache.ts). Nothing here touches the user's keychain, config or AWS.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startFakeSecretService } from './fake-secret-service.mjs';

const [chunk, cache] = process.argv.slice(2);
if (!chunk || !cache) throw new Error('usage: rehearse-core.mjs CHUNK CACHE');
const { writeCodeCache } = createRequire(import.meta.url)(join(dirname(chunk), 'code-cache.cjs'));

const dir = mkdtempSync(join(tmpdir(), 'dbaws-rehearsal-'));
const service = await startFakeSecretService(join(dir, 'bus'));
// The keychain adapter reads the bus address from the process environment, as it would in a shell.
process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
delete process.env.DATABLAST_AWS_SECRET_STORE;
// A made-up key of the right shape (the AWS documentation's example), stored in the fake service only.
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: dir,
  DATABLAST_AWS_CONFIG_DIR: join(dir, 'config'),
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
let errors = '';
/** @type {import('../../src/ports.js').IO} */
const io = {
  out: () => undefined,
  err: (text) => void (errors += text),
  stdinIsTTY: false,
  stdoutIsTTY: false,
  stderrIsTTY: false,
  readStdin: async () => '',
};

const runs = [
  [
    'add-connection',
    'rehearsal',
    '--access-key-id',
    'AKIAIOSFODNN7EXAMPLE',
    '--no-test',
    '--region',
    'eu-west-1',
    '--no-input',
  ],
  ['add-connection', 'second one', '--access-key-id', 'AKIAI44QH2DHBEXAMPLE', '--no-test', '--no-input'],
  ['credential-process', 'rehearsal'],
  ['env', 'rehearsal'],
  ['show', 'rehearsal'],
  ['list'],
  ['--json', 'list'],
  ['--json', 'show', 'second one'],
  ['credential-process', 'not there'],
];
try {
  const bytes = await writeCodeCache(chunk, cache, async (/** @type {any} */ core) => {
    for (const args of runs) {
      errors = '';
      const code = await core.main(['node', 'datablast-aws', ...args], { io, env });
      const expected = args[1] === 'not there' ? 3 : 0;
      if (code !== expected)
        throw new Error(`rehearsal: datablast-aws ${args.join(' ')} exited ${code}, not ${expected}:\n${errors}`);
    }
  });
  process.stdout.write(String(bytes));
} finally {
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
}
