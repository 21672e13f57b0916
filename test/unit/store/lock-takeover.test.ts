import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { acquireLock } from '../../../src/store/lock.js';

/**
 * The race behind the keychain case of test/e2e/concurrent-use.test.ts losing a metadata write: a waiter
 * reads holder A's lock file, A releases it and exits, C takes the lock, and only then does the waiter find
 * A's pid dead and take "A's" lock over. The takeover must leave C's lock alone; if at any moment of it the
 * lock path is free, a fourth process D creates it and C and D both write config.json from the same copy.
 *
 * Every asynchronous file call lock.ts makes first lets D try to create the lock (`steal`), so a takeover
 * that frees the path even for one call is caught, whatever order its steps come in.
 */
const fsHook = vi.hoisted(() => ({ before: undefined as (() => void) | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const hooked = <F extends (...args: never[]) => unknown>(fn: F) =>
    ((...args: Parameters<F>) => {
      fsHook.before?.();
      return fn(...args);
    }) as F;
  return {
    ...real,
    link: hooked(real.link),
    open: hooked(real.open),
    readFile: hooked(real.readFile),
    rename: hooked(real.rename),
    stat: hooked(real.stat),
    unlink: hooked(real.unlink),
  };
});

let dir: string;
let lockPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaws-lock-takeover-'));
  lockPath = join(dir, 'config.json.lock');
});
afterEach(() => {
  fsHook.before = undefined;
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function owner(pid: number, token: string): string {
  return JSON.stringify({ pid, hostname: hostname(), createdAt: new Date().toISOString(), token });
}

describe('taking over a lock whose holder died after it was looked at', () => {
  it('leaves the lock a live process took meanwhile, and the lock path is never free while it holds it', async () => {
    const a = deadPid();
    writeFileSync(lockPath, owner(a, 'A'), { mode: 0o600 });
    const realKill = process.kill.bind(process);
    let swapped = false;
    vi.spyOn(process, 'kill').mockImplementation((pid: number, signal?: string | number) => {
      if (pid === a && !swapped) {
        // The waiter has read A's file and now asks whether A lives: A released and exited, C took the lock.
        swapped = true;
        rmSync(lockPath);
        writeFileSync(lockPath, owner(process.pid, 'C'), { flag: 'wx', mode: 0o600 });
      }
      return realKill(pid, signal);
    });
    const stolen: string[] = [];
    fsHook.before = () => {
      if (!swapped) return;
      try {
        closeSync(openSync(lockPath, 'wx', 0o600));
        stolen.push('D created the lock file while C held the lock');
        writeFileSync(lockPath, owner(process.pid, 'D'));
      } catch {
        // EEXIST: the lock file is there, as it must be while C holds it.
      }
    };

    const waiter = await acquireLock(lockPath, { waitMs: 0 });

    expect(swapped).toBe(true);
    expect(stolen).toEqual([]);
    expect(waiter).toBeUndefined();
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('C');
    expect(readdirSync(dir)).toEqual(['config.json.lock']);
  });

  it('still takes over the lock of a holder that died holding it', async () => {
    writeFileSync(lockPath, owner(deadPid(), 'A'), { mode: 0o600 });
    const lock = await acquireLock(lockPath, { waitMs: 0 });
    expect(lock).toBeDefined();
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(process.pid);
    await lock!.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
