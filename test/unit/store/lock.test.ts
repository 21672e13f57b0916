import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, readLockOwner, safeFileName, withLock } from '../../../src/store/lock.js';
import { runTsWorker, spawnTsWorker } from '../../support/ts-worker.js';

const worker = fileURLToPath(new URL('./workers/lock-worker.mjs', import.meta.url));
let dir: string;
let lockPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaws-lock-'));
  lockPath = join(dir, 'rotate-x.lock');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function writeOwner(pid: number, host = hostname()): void {
  writeFileSync(
    lockPath,
    JSON.stringify({ pid, hostname: host, createdAt: new Date().toISOString(), token: 'theirs' }),
  );
}

describe('acquireLock', () => {
  it('creates the lock file with mode 0600 naming this process, and release removes it', async () => {
    const lock = await acquireLock(lockPath, { waitMs: 0 });
    expect(lock).toBeDefined();
    expect(statSync(lockPath).mode & 0o777).toBe(0o600);
    expect(await readLockOwner(lockPath)).toMatchObject({ pid: process.pid, hostname: hostname() });
    await lock!.release();
    expect(existsSync(lockPath)).toBe(false);
    await lock!.release();
  });

  it('waits for a live holder and gives up with undefined after waitMs', async () => {
    const held = await acquireLock(lockPath, { waitMs: 0 });
    const started = Date.now();
    expect(await acquireLock(lockPath, { waitMs: 300, pollMs: 20 })).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await held!.release();
  });

  it('gets the lock as soon as the holder releases it', async () => {
    const held = await acquireLock(lockPath, { waitMs: 0 });
    setTimeout(() => void held!.release(), 100);
    const lock = await acquireLock(lockPath, { waitMs: 5_000, pollMs: 10 });
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it('takes over a lock whose process is dead on this host', async () => {
    writeOwner(deadPid());
    const lock = await acquireLock(lockPath, { waitMs: 0 });
    expect(lock).toBeDefined();
    expect((await readLockOwner(lockPath))?.pid).toBe(process.pid);
    await lock!.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps a lock whose process is alive', async () => {
    writeOwner(process.ppid);
    expect(await acquireLock(lockPath, { waitMs: 0 })).toBeUndefined();
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('theirs');
  });

  it('takes over a lock from another host once it is older than the staleness bound', async () => {
    writeOwner(process.ppid, 'another-host');
    expect(await acquireLock(lockPath, { waitMs: 0, staleMs: 10_000 })).toBeUndefined();
    const old = new Date(Date.now() - 20_000);
    utimesSync(lockPath, old, old);
    const lock = await acquireLock(lockPath, { waitMs: 0, staleMs: 10_000 });
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it('takes over an empty lock file left by a process killed while creating it, after a grace period', async () => {
    writeFileSync(lockPath, '');
    expect(await acquireLock(lockPath, { waitMs: 0 })).toBeUndefined();
    const old = new Date(Date.now() - 10_000);
    utimesSync(lockPath, old, old);
    const lock = await acquireLock(lockPath, { waitMs: 0 });
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it('refreshes a held lock so that a long holder is never judged abandoned', async () => {
    const lock = await acquireLock(lockPath, { waitMs: 0, staleMs: 3_000 });
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath, old, old);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(Date.now() - statSync(lockPath).mtimeMs).toBeLessThan(2_000);
    await lock!.release();
  });

  it('does not remove a lock that was taken over by someone else', async () => {
    const lock = await acquireLock(lockPath, { waitMs: 0 });
    writeOwner(process.ppid);
    await lock!.release();
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('theirs');
  });

  it('releases the lock of a SIGKILLed holder to the next process', async () => {
    const child = spawnTsWorker(worker, ['hold', lockPath]);
    const output = await new Promise<string>((resolve) =>
      child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString())),
    );
    expect(output).toBe('held\n');
    expect(await acquireLock(lockPath, { waitMs: 0 })).toBeUndefined();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // At once (no wait), long before the file could look stale: the dead pid frees it.
    const lock = await acquireLock(lockPath, { waitMs: 0, staleMs: 3_600_000 });
    expect(lock).toBeDefined();
    await lock!.release();
  }, 60_000);

  it('lets exactly one of many processes in at a time, even starting from an abandoned lock', async () => {
    const counter = join(dir, 'counter');
    writeOwner(deadPid());
    const results = await Promise.all(
      Array.from({ length: 6 }, () => runTsWorker(worker, ['count', lockPath, counter, '25'])),
    );
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(counter, 'utf8')).toBe(String(6 * 25));
    expect(readdirSync(dir).sort()).toEqual(['counter']);
  }, 60_000);
});

describe('withLock', () => {
  it('runs the work under the lock and releases it afterwards, even when the work fails', async () => {
    await expect(
      withLock(
        lockPath,
        { waitMs: 0 },
        () => new Error('busy'),
        async () => {
          expect(existsSync(lockPath)).toBe(true);
          throw new Error('work failed');
        },
      ),
    ).rejects.toThrow('work failed');
    expect(existsSync(lockPath)).toBe(false);
  });

  it('throws the onBusy error, given the holder, when the lock stays busy', async () => {
    const held = await acquireLock(lockPath, { waitMs: 0 });
    let seenPid: number | undefined;
    await expect(
      withLock(
        lockPath,
        { waitMs: 50 },
        (owner) => {
          seenPid = owner?.pid;
          return new Error('another rotation is running');
        },
        async () => 'ran',
      ),
    ).rejects.toThrow('another rotation is running');
    expect(seenPid).toBe(process.pid);
    await held!.release();
  });
});

describe('safeFileName', () => {
  it('gives file-name-safe, distinct names for names that differ only in case, spaces or unicode', () => {
    const names = [
      'AWS Production',
      'aws production',
      'AWS-Production',
      'aws/production',
      '..',
      'prod\\x',
      'Производство',
      '生产',
      'Ünïcødé',
      'a'.repeat(64),
      `${'a'.repeat(63)}b`,
    ];
    const files = names.map(safeFileName);
    expect(new Set(files).size).toBe(names.length);
    for (const file of files) {
      expect(file).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(file.length).toBeLessThanOrEqual(49);
    }
    expect(safeFileName('AWS Production')).toBe(safeFileName('AWS Production'));
    expect(safeFileName('AWS Production')).toMatch(/^aws-production-[0-9a-f]{16}$/);
  });
});

describe('a lock in a place it cannot be created', () => {
  it('is an exit-3 error naming the lock file', async () => {
    const missing = join(dir, 'no-such-dir', 'x.lock');
    await expect(acquireLock(missing, { waitMs: 0 })).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining(missing),
    });
    mkdirSync(join(dir, 'a-dir.lock'));
    await expect(acquireLock(join(dir, 'a-dir.lock'), { waitMs: 0 })).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('a-dir.lock'),
    });
  });
});
