import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Conf from 'conf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../../src/domain/connection.js';
import { ConfigError, ExitCode } from '../../../src/errors.js';
import { configDir, defaultConfigDir, openConnectionStore } from '../../../src/store/connections.js';
import { runTsWorker } from '../../support/ts-worker.js';

const worker = fileURLToPath(new URL('./workers/connections-worker.mjs', import.meta.url));
let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dbaws-conn-'));
  dir = join(root, 'config');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function connection(name: string, extra: Partial<Connection> = {}): Connection {
  return {
    name,
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    region: 'eu-west-1',
    createdAt: '2025-01-02T03:04:05.000Z',
    ...extra,
  };
}

const open = () => openConnectionStore({ DATABLAST_AWS_CONFIG_DIR: dir });
const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function expectConfigError(promise: Promise<unknown>, pattern: RegExp): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(ExitCode.config);
  expect((error as ConfigError).message).toMatch(pattern);
  return error as ConfigError;
}

describe('openConnectionStore', () => {
  it('exposes the directory and file path without reading or creating anything', async () => {
    const store = await open();
    expect(store.dir).toBe(dir);
    expect(store.path).toBe(join(dir, 'config.json'));
    expect(existsSync(dir)).toBe(false);
  });

  it('opens even when the file is damaged, so commands that only need the directory still work', async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{ not json');
    const store = await open();
    expect(store.dir).toBe(dir);
  });

  it('resolves a relative DATABLAST_AWS_CONFIG_DIR to an absolute path', () => {
    expect(configDir({ DATABLAST_AWS_CONFIG_DIR: 'some/dir' })).toBe(resolve('some/dir'));
  });

  it('defaults to the directory conf picks for projectName datablast-aws without a suffix', () => {
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = join(root, 'xdg');
    try {
      const conf = new Conf({ projectName: 'datablast-aws', projectSuffix: '' });
      expect(defaultConfigDir({ XDG_CONFIG_HOME: join(root, 'xdg') })).toBe(dirname(conf.path));
      expect(configDir({ XDG_CONFIG_HOME: join(root, 'xdg') })).toBe(join(root, 'xdg', 'datablast-aws'));
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });

  it('follows the platform conventions on macOS and Windows', () => {
    expect(defaultConfigDir({}, 'darwin', '/Users/ann')).toBe(
      join('/Users/ann', 'Library', 'Preferences', 'datablast-aws'),
    );
    expect(defaultConfigDir({ APPDATA: '/appdata' }, 'win32', '/home/ann')).toBe(
      join('/appdata', 'datablast-aws', 'Config'),
    );
    expect(defaultConfigDir({}, 'linux', '/home/ann')).toBe(join('/home/ann', '.config', 'datablast-aws'));
  });
});

describe('the connection store', () => {
  it('is empty when no file exists, and reading creates nothing', async () => {
    const store = await open();
    expect(await store.list()).toEqual([]);
    expect(await store.get('prod')).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });

  it('creates the directory 0700 and the file 0600 in the documented shape', async () => {
    const store = await open();
    await store.put(connection('AWS Production'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(store.path, 'utf8'))).toEqual({
      version: 1,
      connections: { 'AWS Production': connection('AWS Production') },
    });
  });

  it('stores, replaces, lists in name order and deletes connections, names with dots and unicode included', async () => {
    const store = await open();
    await store.put(connection('zeta'));
    await store.put(connection('a.b.c'));
    await store.put(connection('Производство', { description: 'prod' }));
    await store.put(connection('zeta', { region: 'us-east-1', services: ['s3'] }));
    expect((await store.list()).map((c) => c.name)).toEqual(['a.b.c', 'zeta', 'Производство']);
    expect(await store.get('zeta')).toEqual(connection('zeta', { region: 'us-east-1', services: ['s3'] }));
    expect(await store.get('a')).toBeUndefined();
    expect(await store.delete('a.b.c')).toBe(true);
    expect(await store.delete('a.b.c')).toBe(false);
    expect((await store.list()).map((c) => c.name)).toEqual(['zeta', 'Производство']);
  });

  it('lists in name order with case folded, capitals first among equals', async () => {
    const store = await open();
    for (const name of ['beta', 'Alpha', 'Beta', 'alpha 2', 'AWS Production', 'Ärger'])
      await store.put(connection(name));
    expect((await store.list()).map((c) => c.name)).toEqual([
      'Alpha',
      'alpha 2',
      'AWS Production',
      'Beta',
      'beta',
      'Ärger',
    ]);
  });

  it('does not treat names like toString or __proto__ as existing connections', async () => {
    const store = await open();
    await store.put(connection('real'));
    expect(await store.get('toString')).toBeUndefined();
    expect(await store.delete('__proto__')).toBe(false);
    await store.put(connection('__proto__'));
    await store.put(connection('later'));
    expect(await store.get('__proto__')).toEqual(connection('__proto__'));
    expect((await store.list()).map((c) => c.name)).toEqual(['__proto__', 'later', 'real']);
  });

  it('sees changes made by another process without reopening', async () => {
    const mine = await open();
    const theirs = await open();
    await theirs.put(connection('from-elsewhere'));
    expect(await mine.get('from-elsewhere')).toEqual(connection('from-elsewhere'));
  });

  it('keeps the previous good file as config.json.bak (mode 0600) on each write', async () => {
    const store = await open();
    await store.put(connection('one'));
    await store.put(connection('two'));
    const backup = `${store.path}.bak`;
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(Object.keys(JSON.parse(readFileSync(backup, 'utf8')).connections)).toEqual(['one']);
  });

  it('leaves no temp or lock file behind', async () => {
    const store = await open();
    for (let i = 0; i < 5; i++) await store.put(connection(`c${i}`));
    await store.delete('c0');
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'config.json.bak']);
  });

  it('does not write when deleting a connection that does not exist', async () => {
    const store = await open();
    await store.put(connection('one'));
    const before = statSync(store.path).mtimeMs;
    const content = hash(store.path);
    expect(await store.delete('other')).toBe(false);
    expect(hash(store.path)).toBe(content);
    expect(statSync(store.path).mtimeMs).toBe(before);
  });
});

describe('a damaged connection file', () => {
  const cases: Array<[string, string]> = [
    ['not JSON', '{ this is not json'],
    ['empty (truncated to nothing)', ''],
    [
      'truncated mid-document',
      JSON.stringify({ version: 1, connections: { prod: connection('prod') } }, undefined, '\t').slice(0, 60),
    ],
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
    ['a JSON string', '"connections"'],
    ['missing its version', JSON.stringify({ connections: {} })],
    ['connections not an object', JSON.stringify({ version: 1, connections: [] })],
    [
      'an entry whose name does not match its key',
      JSON.stringify({ version: 1, connections: { prod: connection('dev') } }),
    ],
    [
      'an entry without an access key id',
      JSON.stringify({ version: 1, connections: { prod: { name: 'prod', region: 'x', createdAt: 'y' } } }),
    ],
    [
      'an entry with a non-text field',
      JSON.stringify({ version: 1, connections: { prod: connection('prod', { accountId: 12 as unknown as string }) } }),
    ],
    [
      'an entry with a bad list',
      JSON.stringify({
        version: 1,
        connections: { prod: connection('prod', { services: 's3' as unknown as string[] }) },
      }),
    ],
  ];

  it.each(cases)(
    'that is %s is an exit-3 error naming the file and the repair, and is never overwritten',
    async (_label, content) => {
      mkdirSync(dir, { recursive: true });
      const store = await open();
      writeFileSync(store.path, content, { mode: 0o600 });
      const before = hash(store.path);
      const error = await expectConfigError(
        store.list(),
        new RegExp(store.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
      );
      expect(error.hint).toMatch(/config\.json\.bak/);
      expect(error.hint).toMatch(/mv /);
      await expectConfigError(store.get('prod'), /connection file/);
      await expectConfigError(store.put(connection('new')), /connection file/);
      await expectConfigError(store.delete('prod'), /connection file/);
      expect(hash(store.path)).toBe(before);
      expect(readdirSync(dir)).toEqual(['config.json']);
    },
  );

  it('from a newer version is an exit-3 error asking for an upgrade, and is never overwritten', async () => {
    mkdirSync(dir, { recursive: true });
    const store = await open();
    writeFileSync(store.path, JSON.stringify({ version: 2, connections: {} }));
    const before = hash(store.path);
    const error = await expectConfigError(store.put(connection('new')), /newer version/);
    expect(error.hint).toMatch(/Upgrade/);
    expect(hash(store.path)).toBe(before);
  });

  it('that cannot be read (a directory in its place) is an exit-3 error naming the file', async () => {
    mkdirSync(join(dir, 'config.json'), { recursive: true });
    const store = await open();
    await expectConfigError(store.list(), /cannot read the connection file .*config\.json/);
    await expectConfigError(store.put(connection('new')), /config\.json/);
  });

  it('accepts an empty object as an empty store', async () => {
    mkdirSync(dir, { recursive: true });
    const store = await open();
    writeFileSync(store.path, '{}');
    expect(await store.list()).toEqual([]);
    await store.put(connection('one'));
    expect((await store.list()).map((c) => c.name)).toEqual(['one']);
  });
});

describe('concurrent writers', () => {
  it('lose no connection when many processes add and remove at once', async () => {
    const processes = 8;
    const each = 6;
    const results = await Promise.all(
      Array.from({ length: processes }, (_, p) => runTsWorker(worker, [dir, `p${p}`, String(each)])),
    );
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
    const store = await open();
    const names = (await store.list()).map((c) => c.name).sort();
    const expected = Array.from({ length: processes }, (_, p) => Array.from({ length: each }, (_, i) => `p${p}-${i}`))
      .flat()
      .sort();
    expect(names).toEqual(expected);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'config.json.bak']);
  }, 90_000);
});
