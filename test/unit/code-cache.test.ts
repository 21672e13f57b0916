import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The code cache is made and read in processes of their own: each registers the chunk in its
// process's require cache.

const REGISTER = resolve(import.meta.dirname, '../support/ts-register.mjs');
const CODE_CACHE = resolve(import.meta.dirname, '../../src/code-cache.ts');

let dir: string;
let chunk: string;
let cache: string;

/** A chunk shaped like the bundle's: CommonJS, requiring a sibling chunk and a builtin, with functions not called at load. */
const CHUNK = `const helper = require('./helper.cjs');
const { basename } = require('node:path');
exports.answer = () => helper.twice(21);
exports.file = () => basename(__filename);
exports.later = () => require('node:os').EOL === '\\n';
exports.loadedAs = module.id === undefined ? 'no module' : typeof module.exports;
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaws-code-cache-'));
  chunk = join(dir, 'core.cjs');
  cache = join(dir, 'core.v8cache');
  writeFileSync(join(dir, 'helper.cjs'), 'exports.twice = (n) => n * 2;\n');
  writeFileSync(join(dir, 'other.cjs'), `exports.same = require('./core.cjs');\n`);
  writeFileSync(chunk, CHUNK);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` in a fresh node that has src/code-cache.ts as `cc`; returns what it printed. */
function inNode(body: string): string {
  const script = `import * as cc from ${JSON.stringify(CODE_CACHE)};\nimport { createRequire } from 'node:module';\nconst require = createRequire(${JSON.stringify(join(dir, 'x.cjs'))});\n${body}`;
  const child = spawnSync(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return child.stdout;
}

/** Writes the cache after a rehearsal that calls `calls` of the chunk's exports; prints V8's data size. */
const write = (calls = ['answer', 'file', 'later']) =>
  Number(
    inNode(
      `process.stdout.write(String(await cc.writeCodeCache(${JSON.stringify(chunk)}, ${JSON.stringify(cache)}, async (exports) => { for (const name of ${JSON.stringify(calls)}) exports[name](); })));`,
    ),
  );
const state = () =>
  inNode(`process.stdout.write(cc.codeCacheState(${JSON.stringify(chunk)}, ${JSON.stringify(cache)}));`);
/** Loads the chunk through requireWithCodeCache and reports what it exports and how it is registered. */
const load = () =>
  JSON.parse(
    inNode(`const exports = cc.requireWithCodeCache(${JSON.stringify(chunk)}, ${JSON.stringify(cache)});
process.stdout.write(JSON.stringify({ answer: exports.answer(), file: exports.file(), later: exports.later(), loadedAs: exports.loadedAs, shared: require('./other.cjs').same === exports, cached: require.cache[${JSON.stringify(chunk)}]?.loaded === true }));`),
  ) as Record<string, unknown>;

const asRequired = { answer: 42, file: 'core.cjs', later: true, loadedAs: 'object', shared: true, cached: true };

describe('the code cache of a chunk', () => {
  it('holds the functions the rehearsal ran, and a fresh process takes it', () => {
    const none = write([]);
    const all = write();
    expect(all).toBeGreaterThan(none + 200);
    expect(readFileSync(cache).subarray(0, CHUNK.length).toString()).toBe(CHUNK);
    expect(state()).toBe('accepted');
  });

  it('loads the chunk as require does: same exports, its own require, registered for other chunks', () => {
    write();
    expect(load()).toEqual(asRequired);
  });

  it('is not used for a chunk edited after the build, even one of the same length (which V8 itself would take)', () => {
    write();
    const edited = CHUNK.replace('twice(21)', 'twice(12)');
    writeFileSync(chunk, edited);
    // V8 checks the source's length, not its text: it would run the old bytecode.
    const v8Takes =
      inNode(`const { Script } = await import('node:vm'); const { Module } = await import('node:module'); const { readFileSync } = await import('node:fs');
const script = new Script(Module.wrap(${JSON.stringify(edited)}), { filename: ${JSON.stringify(chunk)}, cachedData: readFileSync(${JSON.stringify(cache)}).subarray(${CHUNK.length}) });
process.stdout.write(String(!script.cachedDataRejected));`);
    expect(v8Takes).toBe('true');
    expect(state()).toBe('not for this chunk');
    expect(load()).toEqual({ ...asRequired, answer: 24 });
  });

  it('is not trusted when V8 refuses it (another Node), and the chunk loads all the same', () => {
    write();
    const bytes = readFileSync(cache);
    // The V8 data starts after the chunk's copy with a magic number and V8's version hash.
    bytes[CHUNK.length + 4] = bytes[CHUNK.length + 4]! ^ 0xff;
    writeFileSync(cache, bytes);
    expect(state()).toBe('rejected by V8');
    expect(load()).toEqual(asRequired);
  });

  it('without a cache file, the chunk is simply required', () => {
    expect(state()).toBe('not for this chunk');
    expect(load()).toEqual(asRequired);
  });
});
