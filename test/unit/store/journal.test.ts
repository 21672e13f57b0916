import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_VERSION, type RotationJournal } from '../../../src/domain/rotation.js';
import { ConfigError } from '../../../src/errors.js';
import { fileJournals, fileRotationLocks, journalPath } from '../../../src/store/journal.js';

/** The file adapters of the Journal and RotationLocks ports (moved here from the rotate command's tests). */

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dbaws-journal-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const at = '2026-11-28T12:00:00.000Z';
const journal: RotationJournal = {
  version: JOURNAL_VERSION,
  connection: 'prod',
  phase: 'created',
  startedAt: at,
  updatedAt: at,
  userName: 'datablast',
  accountId: '123456789012',
  oldAccessKeyId: 'AKIAAAAAAAAAAAAAAAAQ',
  keysBefore: ['AKIAAAAAAAAAAAAAAAAQ'],
  newAccessKeyId: 'AKIAAAAAAAAAAAAAAAA2',
  newKeyCreatedAt: at,
  keepOld: false,
};

async function refusal(read: () => Promise<unknown>): Promise<ConfigError> {
  const error = await read().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('the file journal', () => {
  it('writes with mode 0600 and reads back what it wrote; clear removes it', async () => {
    const dir = tempDir();
    const store = fileJournals(dir).of('prod');
    expect(await store.read()).toBeUndefined();
    await store.write(journal);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(await store.read()).toEqual(journal);
    await store.clear();
    expect(await store.read()).toBeUndefined();
  });

  it('refuses a corrupt journal (exit 3), naming its path and the repair, and leaves it as it is', async () => {
    const dir = tempDir();
    const path = journalPath(dir, 'prod');
    writeFileSync(path, '{"version": 1, "phase": "creat', { mode: 0o600 });
    const error = await refusal(() => fileJournals(dir).of('prod').read());
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain(path);
    expect(error.hint).toMatch(/list-access-keys/);
    expect(error.hint).toMatch(/delete .*journal\.json and run rotate again/);
    expect(readFileSync(path, 'utf8')).toBe('{"version": 1, "phase": "creat');
  });

  it('refuses a journal of another version', async () => {
    const dir = tempDir();
    writeFileSync(journalPath(dir, 'prod'), JSON.stringify({ version: 2, connection: 'prod', phase: 'warp' }), {
      mode: 0o600,
    });
    expect((await refusal(() => fileJournals(dir).of('prod').read())).message).toContain('version 2');
  });

  it('refuses a journal that group or others may write, as OpenSSH refuses such a ~/.ssh file', async () => {
    const dir = tempDir();
    const store = fileJournals(dir).of('prod');
    await store.write(journal);
    chmodSync(store.path, 0o620);
    const error = await refusal(() => store.read());
    expect(error.message).toContain('writable by others');
    expect(error.hint).toContain('chmod 600');
  });

  it('refuses a journal that is a symbolic link', async () => {
    const dir = tempDir();
    const target = join(dir, 'elsewhere.json');
    writeFileSync(target, JSON.stringify(journal), { mode: 0o600 });
    symlinkSync(target, journalPath(dir, 'prod'));
    expect((await refusal(() => fileJournals(dir).of('prod').read())).message).toContain('not a regular file');
  });

  it('refuses a journal whose key ids are not access key ids', async () => {
    const dir = tempDir();
    writeFileSync(journalPath(dir, 'prod'), JSON.stringify({ ...journal, newAccessKeyId: 'AKIA;rm' }), { mode: 0o600 });
    expect((await refusal(() => fileJournals(dir).of('prod').read())).message).toContain(
      'newAccessKeyId is not an access key id',
    );
  });
});

describe('the file rotation locks', () => {
  it('hold one lock per connection until released', async () => {
    const locks = fileRotationLocks(tempDir());
    const held = await locks.acquire('prod', 0);
    expect(held?.path).toBe(locks.path('prod'));
    expect(await locks.acquire('prod', 0)).toBeUndefined();
    const other = await locks.acquire('staging', 0);
    expect(other).toBeDefined();
    await held!.release();
    const again = await locks.acquire('prod', 0);
    expect(again).toBeDefined();
    await Promise.all([other!.release(), again!.release()]);
  });

  it('say whether a live process holds a lock, and not once it is released or its holder is dead', async () => {
    const dir = tempDir();
    const locks = fileRotationLocks(dir);
    expect(await locks.isHeld('prod')).toBe(false);
    const held = await locks.acquire('prod', 0);
    expect(await locks.isHeld('prod')).toBe(true);
    await held!.release();
    expect(await locks.isHeld('prod')).toBe(false);
  });
});
