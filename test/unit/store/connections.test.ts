import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  utimesSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../../src/domain/connection.js';
import { ConfigError, ExitCode } from '../../../src/errors.js';
import { configDir, defaultConfigDir, openConnectionStore } from '../../../src/store/connections.js';
import { STALE_TEMP_MS } from '../../../src/store/temp-files.js';
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

  it('defaults to XDG_CONFIG_HOME/datablast-aws, else ~/.config/datablast-aws (where conf kept it)', () => {
    expect(defaultConfigDir({ XDG_CONFIG_HOME: join(root, 'xdg') })).toBe(join(root, 'xdg', 'datablast-aws'));
    expect(configDir({ XDG_CONFIG_HOME: join(root, 'xdg') })).toBe(join(root, 'xdg', 'datablast-aws'));
    expect(defaultConfigDir({ XDG_CONFIG_HOME: '' }, 'linux', '/home/ann')).toBe('/home/ann/.config/datablast-aws');
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

  // Issue 13 §3: a region edited into the file became a profile of its own in ~/.aws/config (export-profile).
  const invalid: Array<[field: string, extra: Record<string, unknown>, shown: RegExp]> = [
    [
      'region',
      { region: 'us-east-1\n[profile victim]\ncredential_process = sh -c "touch /tmp/x"' },
      /not an AWS region name/,
    ],
    ['region', { region: 'evil.com/x' }, /not an AWS region name/],
    ['accessKeyId', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE\n[x]' }, /access key id/],
    ['description', { description: 'ok\n[profile x]' }, /control character/],
    ['description', { description: 'evil \u202e txt' }, /control character/],
    ['accountId', { accountId: '1234' }, /12-digit/],
    ['arn', { arn: 'arn:aws:iam::123456789012:user/a\n[profile x]' }, /IAM ARN/],
    ['userName', { userName: 'a b' }, /IAM does not allow/],
    ['createdAt', { createdAt: 'yesterday' }, /ISO 8601/],
    ['lastTestedAt', { lastTestedAt: '2025-13-45T99:00:00Z' }, /ISO 8601/],
    ['services', { services: ['s3', 'sh -c x'] }, /unknown service/],
    ['buckets', { buckets: ['Not A Bucket'] }, /not a valid S3 bucket name/],
    ['previousAccessKeyIds', { previousAccessKeyIds: ['nope'] }, /access key id/],
  ];
  it.each(invalid)(
    'with an invalid "%s" is an exit-3 error naming the file and the field, never acted on',
    async (field, extra, shown) => {
      mkdirSync(dir, { recursive: true });
      const store = await open();
      writeFileSync(
        store.path,
        JSON.stringify({ version: 1, connections: { prod: connection('prod', extra as Partial<Connection>) } }),
      );
      const before = hash(store.path);
      const error = await expectConfigError(
        store.get('prod'),
        new RegExp(`config\\.json .*connection "prod": "${field}" is invalid: `),
      );
      expect(error.message).toMatch(shown);
      // Quoted, never raw: the message itself cannot carry a line break or an override into a terminal or log.
      expect(error.message).not.toMatch(/[\n\u202e]/);
      await expectConfigError(store.put(connection('other')), /connection file/);
      expect(hash(store.path)).toBe(before);
    },
  );

  it('with a tampered consumer record is an exit-3 error naming "consumers", never acted on', async () => {
    mkdirSync(dir, { recursive: true });
    const store = await open();
    const consumers = [{ kind: 'exec', spec: 'exec:true\n[profile x]' }];
    writeFileSync(
      store.path,
      JSON.stringify({ version: 1, connections: { prod: { ...connection('prod'), consumers } } }),
    );
    await expectConfigError(store.get('prod'), /connection "prod": "consumers"\[0\]/);
  });

  it('accepts every field as this tool writes it', async () => {
    const store = await open();
    const full = connection('AWS Production', {
      accountId: '123456789012',
      arn: 'arn:aws:iam::123456789012:user/integrations/datablast',
      userName: 'datablast',
      description: 'Nightly exports — für alle',
      keyCreatedAt: '2025-01-02T03:04:05Z',
      lastTestedAt: new Date(0).toISOString(),
      lastRotatedAt: '2025-01-02T03:04:05.123+02:00',
      services: ['s3', 'rds', 'lambda'],
      buckets: ['my-exports', 'logs.example.com'],
      previousAccessKeyIds: ['AKIAI44QH7DHBEXAMPLE'],
    });
    await store.put(full);
    expect(await store.get('AWS Production')).toEqual(full);
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

describe('the config dir and file must be trusted (issue 13 §3)', () => {
  it('refuses a config dir that group or others may write: exit 3 naming it, with the chmod to run', async () => {
    mkdirSync(dir);
    chmodSync(dir, 0o775);
    const error = await expectConfigError(open(), /config directory .*config is writable by others \(mode 775\)/);
    expect(error.hint).toMatch(/chmod 700/);
    chmodSync(dir, 0o700);
    expect(await (await open()).list()).toEqual([]);
  });

  it('refuses a config dir or a connection file that another user owns', async () => {
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 1, connections: { prod: connection('prod') } }));
    const store = await open();
    chownSync(join(dir, 'config.json'), 4242, 4242);
    await expectConfigError(store.list(), /file .*config\.json belongs to another user \(uid 4242\)/);
    chownSync(dir, 4242, 4242);
    await expectConfigError(open(), /config directory .*belongs to another user \(uid 4242\)/);
  });

  it('refuses a connection file that group or others may write', async () => {
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 1, connections: { prod: connection('prod') } }));
    chmodSync(join(dir, 'config.json'), 0o666);
    await expectConfigError((await open()).get('prod'), /config\.json is writable by others \(mode 666\)/);
  });

  it('follows a symlinked config dir and judges the directory it leads to', async () => {
    const real = join(root, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, dir);
    await (await open()).put(connection('prod'));
    expect(existsSync(join(real, 'config.json'))).toBe(true);
  });
});

describe('temp files a killed writer left (issue 13 §4)', () => {
  it('are removed on the next run when ours by name, owned by us and older than the bound; nothing else is', async () => {
    mkdirSync(dir, { mode: 0o700 });
    const old = Date.now() / 1000 - STALE_TEMP_MS / 1000 - 60;
    const names = {
      stale: '.config.json.12345.0123456789ab.tmp',
      staleSecrets: '.secrets.enc.999.abcdefabcdef.tmp',
      fresh: '.config.json.12346.0123456789ab.tmp',
      notOurs: '.config.json.12347.0123456789ab.tmp',
      userFile: 'notes.tmp',
      dir: '.config.json.12348.0123456789ab.tmp-dir',
    };
    for (const name of Object.values(names)) writeFileSync(join(dir, name), 'partial');
    for (const name of [names.stale, names.staleSecrets, names.notOurs, names.userFile, names.dir])
      utimesSync(join(dir, name), old, old);
    chownSync(join(dir, names.notOurs), 4242, 4242);
    await open();
    expect(readdirSync(dir).sort()).toEqual([names.fresh, names.notOurs, names.dir, names.userFile].sort());
  });

  it('writes leave no temp file, and a write produces the same file conf did (tab-indented JSON, no newline)', async () => {
    const store = await open();
    await store.put(connection('prod'));
    expect(readdirSync(dir)).toEqual(['config.json']);
    expect(readFileSync(store.path, 'utf8')).toBe(
      JSON.stringify({ version: 1, connections: { prod: connection('prod') } }, undefined, '\t'),
    );
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
