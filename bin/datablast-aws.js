#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): Node starts a CommonJS file without setting up its ES module
// loader. It reads no argument itself: main() in the bundle (dist/cli/cli.cjs, scripts/bundle.mjs)
// reads argv once, answers --version and the hot commands without Commander (src/fast-path.ts).
'use strict';

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
const { installSignalHandlers, main } = require('../dist/cli/cli.cjs');
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
