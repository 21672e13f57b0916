// `node --import ./test/support/module-log.mjs …` appends every module the run loads to the file named
// by DBAWS_MODULE_LOG: ES modules as the loader resolves them (in its own thread, so written at
// once), CommonJS modules from require.cache when the process exits. Files Node's CommonJS loader
// compiled from source (Module.prototype._compile) are listed too, each on a line "compiled PATH"
// (the bundle's chunks among them).
import { appendFileSync } from 'node:fs';
import { createRequire, Module, register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url);
const compiled = [];
const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename, ...rest) {
  compiled.push(filename);
  return compile.call(this, content, filename, ...rest);
};
process.on('exit', () => {
  const required = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(
    process.env.DBAWS_MODULE_LOG,
    `${[...required, ...compiled.map((f) => `compiled ${f}`)].join('\n')}\n`,
  );
});
