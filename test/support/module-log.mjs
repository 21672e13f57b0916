// `node --import ./test/support/module-log.mjs …` appends every module the run loads to the file named
// by DBAWS_MODULE_LOG: ES modules as the loader resolves them (in its own thread, so written at
// once), CommonJS modules from require.cache when the process exits.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url);
process.on('exit', () => {
  appendFileSync(process.env.DBAWS_MODULE_LOG, `${Object.keys(createRequire(import.meta.url).cache).join('\n')}\n`);
});
