// A fresh process for keychain.test.ts (run with --import test/support/ts-register.mjs): the keyring
// library keeps its first D-Bus connection for the life of a process, as the CLI does, so each
// environment (no bus, a frozen bus, a locked keyring) is tried in a process of its own.
// Usage: keychain-worker.mjs get|set|delete|list ACCOUNT  →  prints {ok, value?, error?, elapsedMs}.
import { openSecretStore } from '../../../src/store/secret-store.ts';

const [operation, account] = process.argv.slice(2);
const pair = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const started = performance.now();
let result;
try {
  const secrets = await openSecretStore(process.env, process.cwd());
  const calls = {
    get: () => secrets.get(account),
    set: () => secrets.set(account, pair),
    delete: () => secrets.delete(account),
    list: () => secrets.list(),
  };
  const value = await calls[operation]();
  result = { ok: true, value: value ?? null };
} catch (error) {
  result = {
    ok: false,
    error: { name: error.name, exitCode: error.exitCode, message: error.message, hint: error.hint },
  };
}
result.elapsedMs = Math.round(performance.now() - started);
process.stdout.write(`${JSON.stringify(result)}\n`);
