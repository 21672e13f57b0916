#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): Node starts a CommonJS file without setting up its ES module
// loader, so `--version` answers in about the time of a bare `node -e 0`. main() answers it the same
// way for in-process callers; everything else goes to main() in the bundle, dist/cli/cli.cjs.
'use strict';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const text = `${require('../package.json').version}\n`;
  // A blocking write to descriptor 1, as main's IO does: building process.stdout costs more than the rest.
  try {
    require('node:fs').writeSync(1, text);
  } catch (error) {
    if (error.code === 'EAGAIN') process.stdout.write(text);
    else if (error.code !== 'EPIPE') throw error;
  }
} else {
  // Ctrl-C or SIGTERM before the modules are loaded: nothing has started, so exit 130 at once.
  const early = (signal) => {
    try {
      require('node:fs').writeSync(2, `\nerror: cancelled (${signal})\n`);
    } catch {
      // stderr is gone: exit all the same.
    }
    process.exit(130);
  };
  process.on('SIGINT', early).on('SIGTERM', early);
  // The bundle of dist/ (scripts/bundle.mjs): CommonJS, so no ES module loader is set up, and one
  // chunk holds all that main's shortcuts run, compiled from V8's code cache the build made of it.
  const { join } = require('node:path');
  const dist = join(__dirname, '..', 'dist', 'cli');
  const { installSignalHandlers, main } = require(join(dist, 'code-cache.cjs')).requireWithCodeCache(
    join(dist, 'core.cjs'),
    join(dist, 'core.v8cache'),
  );
  Promise.resolve().then(async () => {
    process.off('SIGINT', early).off('SIGTERM', early);
    installSignalHandlers(
      (code) => process.exit(code),
      (text) => {
        try {
          require('node:fs').writeSync(2, text);
        } catch {
          // stderr is gone: exit all the same.
        }
      },
    );
    process.exitCode = await main(process.argv);
  });
}
