import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_KEY, hashTree, looksLikeCrash, runIn, scratchDir, sweepEnv } from '../support/sweep.js';
import type { ProcessResult } from '../support/cli-process.js';

/**
 * Disk trouble (issue 7): a config dir that cannot exist (a file in its path), a read-only one and a full
 * one, with the built binary and the encrypted file store. Each gives a clear error naming the cause, and
 * no partial or temporary file is left behind. The read-only and full directories are real: small tmpfs
 * mounts (these tests run as root, whom chmod would not stop).
 */

const ID = EXAMPLE_KEY.accessKeyId;
const SECRET = EXAMPLE_KEY.secretAccessKey;
const mounts: string[] = [];
let home: string;
let failures = 0;

beforeAll(() => {
  home = scratchDir('dbaws-disk-home-');
});

afterEach(() => {
  while (mounts.length > 0) unmount(mounts.pop()!);
});

afterAll(() => {
  while (mounts.length > 0) unmount(mounts.pop()!);
  console.log(
    `disk trouble: ${failures} failing writes met (ENOTDIR, EROFS, ENOSPC), each a clear error, 0 partial files left`,
  );
});

/** A fresh tmpfs of `size` bytes, mounted for this test only. Fails (never skips) where mounting is not allowed. */
function tmpfs(size: number): string {
  const dir = scratchDir('dbaws-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `cannot mount a tmpfs at ${dir} (these tests need root with CAP_SYS_ADMIN): ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`,
    );
  }
  mounts.push(dir);
  return dir;
}

function unmount(dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
}

function remountReadOnly(dir: string): void {
  execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' });
}

/** Writes a filler file until the file system refuses another byte. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(512, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    // The last blocks: byte by byte.
    try {
      for (;;) writeSync(fd, Buffer.alloc(1, 1));
    } catch {
      // full
    }
  } finally {
    closeSync(fd);
  }
  expect(statfsSync(dir).bavail).toBe(0);
}

/** No temp file (atomic writes), lock or takeover guard is left in the directory. */
function expectNoLeftovers(dir: string, label: string): void {
  const names = readdirSync(dir);
  expect(
    names.filter((n) => /\.tmp$|\.lock$|\.takeover$|\.stale-/.test(n)),
    `${label}: leftovers in ${names.join(', ')}`,
  ).toEqual([]);
}

function expectClear(result: ProcessResult, code: number, names: RegExp, label: string): void {
  failures += 1;
  expect(result.exitCode, `${label}: ${result.stderr}`).toBe(code);
  expect(result.stderr, label).toMatch(names);
  expect(looksLikeCrash(result.stderr), `${label}: ${result.stderr}`).toBe(false);
  expect(result.stdout, label).toBe('');
}

describe('a config dir that cannot be created (a file stands in its path)', () => {
  it('every command that reads or writes it exits 3 or 6 naming the path and "not a directory", and nothing is created', async () => {
    const parent = scratchDir('dbaws-enotdir-');
    const blocker = join(parent, 'not-a-dir');
    writeFileSync(blocker, 'I am a file');
    const env = sweepEnv(join(blocker, 'datablast-aws'), home);
    const before = hashTree(parent);
    const add = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expectClear(add, 3, /not-a-dir\/datablast-aws\/config\.json .*a parent is not a directory/, 'add-connection');
    const list = await runIn(env, ['list']);
    expectClear(list, 3, /a parent is not a directory/, 'list');
    const cp = await runIn(env, ['credential-process', 'prod']);
    expectClear(cp, 3, /a parent is not a directory/, 'credential-process');
    expect(hashTree(parent)).toEqual(before);
  });
});

describe('a read-only config dir', () => {
  it('refuses every change with exit 3 or 6 saying the file system is read-only; reading still works; nothing changes', async () => {
    const dir = tmpfs(64 * 1024);
    const env = sweepEnv(dir, home);
    const seeded = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expect(seeded.exitCode, seeded.stderr).toBe(0);
    remountReadOnly(dir);
    const before = hashTree(dir);
    const add = await runIn(env, ['add-connection', 'staging', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    // The first write is the connection's lock in the config dir: a configuration problem, exit 3.
    expectClear(
      add,
      3,
      /rotate-staging-\w+\.lock \(the file system is read-only\); nothing was changed/,
      'add-connection',
    );
    const replace = await runIn(
      env,
      ['add-connection', 'prod', '--force', '--access-key-id', ID, '--secret-stdin', '--no-test'],
      { stdin: SECRET },
    );
    expectClear(replace, 3, /rotate-prod-\w+\.lock \(the file system is read-only\)/, 'add-connection --force');
    const remove = await runIn(env, ['remove', 'prod', '--yes']);
    expectClear(remove, 3, /rotate-prod-\w+\.lock \(the file system is read-only\)/, 'remove');
    expect(hashTree(dir)).toEqual(before);
    const listed = await runIn(env, ['list', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['prod']);
    expect(JSON.parse((await runIn(env, ['credential-process', 'prod'])).stdout)).toMatchObject({ AccessKeyId: ID });
  });

  it('a metadata file that is a directory: exit 3 naming it, before any secret is written', async () => {
    const dir = scratchDir('dbaws-eisdir-');
    const env = sweepEnv(dir, home);
    const seeded = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expect(seeded.exitCode, seeded.stderr).toBe(0);
    rmSync(join(dir, 'config.json'));
    mkdirSync(join(dir, 'config.json'));
    const secretsBefore = hashTree(dir)['secrets.enc'];
    const add = await runIn(env, ['add-connection', 'staging', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expectClear(add, 3, /config\.json .*it is a directory/, 'add-connection over a directory');
    // The secret for staging was never written: the existence check read the metadata first and failed.
    expect(hashTree(dir)['secrets.enc']).toBe(secretsBefore);
    expectNoLeftovers(dir, 'after EISDIR');
  });
});

describe('a full config dir', () => {
  it('refuses a change with a clear error, leaves no partial file, and works again once there is room', async () => {
    const dir = tmpfs(64 * 1024);
    const env = sweepEnv(dir, home);
    const seeded = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expect(seeded.exitCode, seeded.stderr).toBe(0);
    // One free block: the connection's lock fits, the secret store's own lock file then does not.
    fillExcept(dir, 1);
    const before = hashTree(dir);
    const add = await runIn(env, ['add-connection', 'staging', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    // The secret store's own lock file: exit 6, as for the secrets file itself (issue 13 §5).
    expectClear(
      add,
      6,
      /secrets\.enc\.lock \(the disk is full\); nothing was changed/,
      'add-connection on a full disk',
    );
    const remove = await runIn(env, ['remove', 'prod', '--yes']);
    expectClear(remove, 6, /secrets\.enc\.lock \(the disk is full\)/, 'remove on a full disk');
    expect(hashTree(dir)).toEqual(before);
    expectNoLeftovers(dir, 'full disk');
    const listed = await runIn(env, ['list', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(JSON.parse((await runIn(env, ['credential-process', 'prod'])).stdout)).toMatchObject({ AccessKeyId: ID });

    rmSync(join(dir, 'filler'));
    const again = await runIn(
      env,
      ['add-connection', 'staging', '--access-key-id', ID, '--secret-stdin', '--no-test'],
      { stdin: SECRET },
    );
    expect(again.exitCode, again.stderr).toBe(0);
    expect(
      (JSON.parse((await runIn(env, ['list', '--json'])).stdout) as Array<{ name: string }>).map((c) => c.name),
    ).toEqual(['prod', 'staging']);
  });

  it('a disk that fills between the secret and the metadata: exit 3 saying the secret was left behind, and the printed repair works', async () => {
    const dir = tmpfs(64 * 1024);
    const env = sweepEnv(dir, home);
    // Three free blocks: the connection's lock and the secrets file (its lock, then its temp file) fit; the metadata
    // (lock and temp) then does not, and neither does the rewrite of the secrets file that would take the secret back.
    fillExcept(dir, 3);
    const add = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expectClear(
      add,
      3,
      /config\.json \(the disk is full\); the secret of "prod" was stored and could not be taken back/,
      'add-connection, disk full after the secret',
    );
    expect(add.stderr).not.toContain('nothing was changed');
    expect(add.stderr).toContain('datablast-aws remove prod');
    expectNoLeftovers(dir, 'filled between writes');
    expect(readdirSync(dir).sort()).toEqual(['filler', 'secrets.enc']);
    rmSync(join(dir, 'filler'));
    // The next runs accept the state: list names the secret without a connection, and the printed repair removes it.
    const listed = await runIn(env, ['list', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
    const removed = await runIn(env, ['remove', 'prod', '--yes']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    const retried = await runIn(env, ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'], {
      stdin: SECRET,
    });
    expect(retried.exitCode, retried.stderr).toBe(0);
    expect(JSON.parse((await runIn(env, ['credential-process', 'prod'])).stdout)).toMatchObject({
      AccessKeyId: ID,
      SecretAccessKey: SECRET,
    });
  });
});

/** Fills the file system but for `blocks` free blocks. */
function fillExcept(dir: string, blocks: number): void {
  fill(dir);
  const { bsize } = statfsSync(dir);
  const path = join(dir, 'filler');
  const size = readdirSync(dir).includes('filler') ? execFileSync('stat', ['-c', '%s', path]).toString().trim() : '0';
  execFileSync('truncate', ['-s', String(Math.max(0, Number(size) - blocks * bsize)), path]);
  expect(statfsSync(dir).bavail).toBe(blocks);
}
