import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

// V8's code cache for the bundle's core chunk: the bytecode of the functions the commands people
// and SDKs run most compile, made by `npm run build` (scripts/bundle.mjs, which runs them once) and
// read back by bin/datablast-aws.js, so that a run does not parse and compile the chunk again,
// function by function (README, "Performance").
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
  return runAsModule(compiled, chunkPath);
}

/** Runs the compiled chunk as require would run that file, registered in the require cache; returns its exports. */
function runAsModule(compiled: Script, chunkPath: string): unknown {
  const internals = Module as ModuleInternals;
  const module = new Module(chunkPath);
  module.filename = chunkPath;
  module.paths = internals._nodeModulePaths(dirname(chunkPath));
  internals._cache[chunkPath] = module;
  try {
    const wrapper = compiled.runInThisContext() as (
      exports: unknown,
      require: NodeJS.Require,
      module: Module,
      filename: string,
      dirname: string,
    ) => void;
    wrapper.call(module.exports, module.exports, createRequire(chunkPath), module, chunkPath, dirname(chunkPath));
  } catch (error) {
    delete internals._cache[chunkPath];
    throw error;
  }
  module.loaded = true;
  return module.exports;
}

/** Whether `cachePath` is used when `chunkPath` is loaded: for the build's own check, and the tests. */
export function codeCacheState(
  chunkPath: string,
  cachePath: string,
): 'accepted' | 'rejected by V8' | 'not for this chunk' {
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
 * Writes the code cache of `chunkPath` to `cachePath` (atomically), after `rehearse` has run the
 * loaded chunk's exports: V8 caches the functions compiled by then, those the rehearsed runs call.
 * A cache of every function (compiled eagerly, which takes toggling a V8 flag) was bigger and slower
 * to read (1.3 ms against 0.9; compiling the chunk without a cache: 3.1, plus each function on its
 * first call) and bought nothing measurable. Run it in a process of its own: the chunk is registered
 * in this process's require cache. Returns the size of V8's data.
 */
export async function writeCodeCache(
  chunkPath: string,
  cachePath: string,
  rehearse: (exports: unknown) => Promise<void>,
): Promise<number> {
  const chunk = readFileSync(chunkPath);
  const script = new Script(Module.wrap(chunk.toString('utf8')), { filename: chunkPath });
  await rehearse(runAsModule(script, chunkPath));
  const data = script.createCachedData();
  const temporary = `${cachePath}.${process.pid}.tmp`;
  writeFileSync(temporary, Buffer.concat([chunk, data]));
  renameSync(temporary, cachePath);
  return data.length;
}
