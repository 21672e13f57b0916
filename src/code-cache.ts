import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

// V8's code cache for the bundle's core chunk: the bytecode of every function in it, made by
// `npm run build` (scripts/bundle.mjs) and read back by bin/datablast-aws.js, so that a run does not
// parse and compile the chunk again, function by function. It saves a few ms of every run: more
// than any other change left (README, "Performance").
//
// The cache file is the chunk's own bytes followed by V8's data. V8 checks that the data was made
// by this V8, with these flags, for a source of this length; the copy makes it our check that it
// was made for this very source. A cache that does not match is ignored, never trusted: a chunk
// edited in place, or Node upgraded since the build, costs only the time the cache saves.

type ModuleInternals = typeof Module & { _nodeModulePaths(from: string): string[]; _cache: Record<string, Module> };

/**
 * The exports of the CommonJS file `chunkPath`, as `require(chunkPath)` would give them (and
 * registered as require does, so that other chunks requiring it share it), compiled from
 * `cachePath` when that file is a code cache of it.
 */
export function requireWithCodeCache(chunkPath: string, cachePath: string): unknown {
  const compiled = compileWithCache(chunkPath, cachePath);
  // Without a matching cache, plain require is both correct and as fast.
  if (compiled === undefined) return createRequire(chunkPath)(chunkPath);
  const internals = Module as ModuleInternals;
  const module = new Module(chunkPath);
  module.filename = chunkPath;
  module.paths = internals._nodeModulePaths(dirname(chunkPath));
  internals._cache[chunkPath] = module;
  try {
    const wrapper = compiled.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
    wrapper.call(module.exports, module.exports, createRequire(chunkPath), module, chunkPath, dirname(chunkPath));
  } catch (error) {
    delete internals._cache[chunkPath];
    throw error;
  }
  module.loaded = true;
  return module.exports;
}

/** Whether `cachePath` is used when `chunkPath` is loaded: for the build's own check, and the tests. */
export function codeCacheState(chunkPath: string, cachePath: string): 'accepted' | 'rejected by V8' | 'not for this chunk' {
  const compiled = compileWithCache(chunkPath, cachePath);
  if (compiled === undefined) return 'not for this chunk';
  return compiled.cachedDataRejected ? 'rejected by V8' : 'accepted';
}

/**
 * The chunk compiled (not run) with the cache's data; undefined when the cache is missing or not for
 * this chunk. A chunk compiled so may not use import(): Node serves it in a vm.Script only behind an
 * experimental flag or warning, so the build refuses a core chunk with one (scripts/bundle.mjs).
 */
function compileWithCache(chunkPath: string, cachePath: string): Script | undefined {
  const cache = matchingCache(chunkPath, cachePath);
  if (cache === undefined) return undefined;
  return new Script(Module.wrap(cache.source), { filename: chunkPath, cachedData: cache.data });
}

/** The chunk's source and V8's data, when `cachePath` holds a cache made for exactly this chunk. */
function matchingCache(chunkPath: string, cachePath: string): { source: string; data: Buffer } | undefined {
  let chunk: Buffer;
  let cache: Buffer;
  try {
    chunk = readFileSync(chunkPath);
    cache = readFileSync(cachePath);
  } catch {
    return undefined;
  }
  if (cache.length <= chunk.length || cache.compare(chunk, 0, chunk.length, 0, chunk.length) !== 0) return undefined;
  return { source: chunk.toString('utf8'), data: cache.subarray(chunk.length) };
}

/**
 * Writes the code cache of `chunkPath` to `cachePath` (atomically). Every function is compiled, not
 * only those a run happens to call: V8 compiles eagerly while its `lazy` flag is off, and the flag
 * is back on before the data is made, since V8 accepts a cache only under the flags it will run
 * with. `setFlagsFromString` is node:v8's, passed in by a process of its own (bundle.mjs's child):
 * V8's flags are the whole process's. Returns the size of V8's data.
 */
export function writeCodeCache(chunkPath: string, cachePath: string, setFlagsFromString: (flags: string) => void): number {
  const chunk = readFileSync(chunkPath);
  setFlagsFromString('--no-lazy');
  const script = new Script(Module.wrap(chunk.toString('utf8')), { filename: chunkPath });
  setFlagsFromString('--lazy');
  const data = script.createCachedData();
  const temporary = `${cachePath}.${process.pid}.tmp`;
  writeFileSync(temporary, Buffer.concat([chunk, data]));
  renameSync(temporary, cachePath);
  return data.length;
}
