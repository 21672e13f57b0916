// The binary's entry: bin/datablast-aws.js loads its bundle, dist/cli/cli.cjs (scripts/bundle.mjs).
export { main } from './main.js';
export { installSignalHandlers } from './signals.js';
