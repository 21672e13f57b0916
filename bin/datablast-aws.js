#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): Node starts a CommonJS file without setting up its ES module
// loader, so `--version` answers in about the time of a bare `node -e 0`. main() answers it the same
// way for in-process callers; everything else goes to dist/main.js, which is an ES module.
'use strict';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  import('../dist/main.js').then(async ({ main }) => {
    process.exitCode = await main(process.argv);
  });
}
