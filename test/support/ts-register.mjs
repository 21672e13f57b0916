// `node --import ./test/support/ts-register.mjs child.mjs` lets a child process import src/ TypeScript files
// directly (type-stripped by the TypeScript compiler), so tests can run real concurrent processes
// over the sources without a build.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
