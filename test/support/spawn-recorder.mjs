// `NODE_OPTIONS=--import=<this file>` with DBAWS_SPAWN_LOG=<file>: every child process the CLI starts
// (child_process.spawn, spawnSync, exec, execSync, execFile, execFileSync, fork) is appended to that file
// as one JSON line with its command, argv and environment, before it starts. The secret-hygiene sweep
// reads the log to prove that no child process is started, and that none would carry a secret.
import childProcess from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const log = process.env.DBAWS_SPAWN_LOG;

if (log) {
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    const original = childProcess[name];
    childProcess[name] = function recorded(command, ...rest) {
      const args = rest.find((a) => Array.isArray(a)) ?? [];
      const options = rest.find((a) => a && typeof a === 'object' && !Array.isArray(a)) ?? {};
      appendFileSync(
        log,
        `${JSON.stringify({ pid: process.pid, fn: name, command: String(command), args: args.map(String), env: options.env ?? process.env })}\n`,
      );
      return original.call(this, command, ...rest);
    };
  }
  // ESM importers (`import { spawn } from 'node:child_process'`) see the patched functions too.
  syncBuiltinESMExports();
}
