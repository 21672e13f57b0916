import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { poll, type BackoffClock } from '../domain/backoff.js';
import { ConfigError } from '../errors.js';
import { onInterrupt } from '../signals.js';
import { describeFsError } from './atomic-file.js';

/** A held lock; release it in a `finally`. */
export interface Lock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

/** How long to wait for a busy lock and when to consider it abandoned. */
export interface LockOptions {
  /** How long to keep trying while another live process holds the lock (0: one attempt). */
  waitMs: number;
  /** Pause between attempts, jittered (default 50 ms). */
  pollMs?: number;
  /**
   * A lock whose file has not been refreshed for this long is abandoned even if its pid looks alive
   * (pid reuse, another host sharing the directory, a frozen process). Holders refresh it every third of this.
   */
  staleMs?: number;
}

/** What a lock file holds: who owns it, so that others can tell whether the owner is still alive. */
export interface LockOwner {
  pid: number;
  hostname: string;
  createdAt: string;
  /** Random per acquisition, so that release never removes somebody else's lock. */
  token: string;
}

/** Default staleness bound: far above any heartbeat gap of a live holder. */
export const DEFAULT_STALE_MS = 60_000;
/** A lock file with unreadable content older than this was left by a process killed while creating it. */
const INCOMPLETE_GRACE_MS = 5_000;
/** The takeover guard is held for a few milliseconds; one this old was left by a killed process. */
const GUARD_STALE_MS = 5_000;

interface Observed {
  raw: string;
  owner: LockOwner | undefined;
  dev: number;
  ino: number;
  mtimeMs: number;
}

/**
 * Takes the lock file `lockPath` (created with O_EXCL, mode 0600, holding a {@link LockOwner}).
 * A lock left by a dead process on this host, or not refreshed for `staleMs`, is taken over.
 * Resolves undefined when a live holder still has it after `waitMs`.
 */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<Lock | undefined> {
  try {
    return await acquire(lockPath, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `cannot use the lock file ${lockPath} (${describeFsError(errorCode(error))}); nothing was changed`,
      {
        hint: 'Check that the configuration directory and its files belong to you and are writable, and that the disk is not full.',
        cause: error,
      },
    );
  }
}

/** Real time for the lock's waits (plain timers: a lock wait is not one of the sleeps Ctrl-C cuts short). */
const lockClock: BackoffClock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

async function acquire(lockPath: string, options: LockOptions): Promise<Lock | undefined> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const pollMs = options.pollMs ?? 50;
  // A steady poll, not a growing one: the holder's write takes milliseconds. Jittered (a random share of
  // the pause), so that processes waiting together do not retry in step.
  const policy = { initialDelayMs: pollMs, maxDelayMs: pollMs, timeoutMs: options.waitMs, jitter: true };
  const result = await poll<Lock>(lockClock, policy, async () => {
    for (;;) {
      const lock = await tryCreate(lockPath, staleMs);
      if (lock) return { done: true, value: lock };
      const observed = await observe(lockPath);
      // Released between our attempt and our look, or taken over from a dead holder: try again at once.
      if (observed === undefined) continue;
      if (isStale(observed, staleMs) && (await takeOver(lockPath, observed))) continue;
      return { done: false };
    }
  });
  return result.done ? result.value : undefined;
}

/** Runs `work` holding the lock; throws `onBusy(owner)` when the lock stays busy for `waitMs`. */
export async function withLock<T>(
  lockPath: string,
  options: LockOptions,
  onBusy: (owner: LockOwner | undefined) => Error,
  work: () => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(lockPath, options);
  if (!lock) throw onBusy(await readLockOwner(lockPath));
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** Who holds a lock, for messages; undefined when free or unreadable. */
export async function readLockOwner(lockPath: string): Promise<LockOwner | undefined> {
  return (await observe(lockPath))?.owner;
}

/**
 * A file-name-safe, collision-free stand-in for a connection name (for per-connection lock and
 * journal files): a readable ASCII slug plus a hash of the exact name, so that "Prod" and "prod"
 * differ even on case-insensitive file systems and any unicode name fits in a short name.
 */
export function safeFileName(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase()
    .slice(0, 32)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 16);
  return slug ? `${slug}-${hash}` : hash;
}

async function tryCreate(lockPath: string, staleMs: number): Promise<Lock | undefined> {
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    createdAt: new Date().toISOString(),
    token: randomBytes(12).toString('hex'),
  };
  let fd: number;
  try {
    // Synchronous on purpose: with an async open, a signal handled after the file exists but before the
    // cleanup below is registered would leave a lock file behind (seen in the signal sweep).
    fd = openSync(lockPath, 'wx', 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return undefined;
    throw new ConfigError(
      `cannot create the lock file ${lockPath} (${describeFsError(errorCode(error))}); nothing was changed`,
      {
        hint: 'Check that the configuration directory exists and is writable by you, and that the disk is not full.',
        cause: error,
      },
    );
  }
  // Ctrl-C from here on removes the lock file (still empty, or holding our token) as the process exits.
  const forget = onInterrupt(() => {
    const raw = readFileSync(lockPath, 'utf8');
    if (raw === '' || parseOwner(raw)?.token === owner.token) unlinkSync(lockPath);
  });
  try {
    writeFileSync(fd, JSON.stringify(owner));
  } catch (error) {
    closeSync(fd);
    // A full disk: an empty lock file left here would hold every other process off for nothing.
    await unlink(lockPath).catch(() => undefined);
    forget();
    throw error;
  }
  closeSync(fd);
  return heldLock(lockPath, owner, staleMs, forget);
}

function heldLock(lockPath: string, owner: LockOwner, staleMs: number, forget: () => void): Lock {
  // Refresh the mtime so that a long holder (a rotation polling IAM) is never judged abandoned.
  const heartbeat = setInterval(
    () => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => undefined);
    },
    Math.max(1_000, Math.floor(staleMs / 3)),
  );
  heartbeat.unref();
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      // Ctrl-C while releasing still removes the file: the interrupt cleanup is dropped only once it is gone.
      try {
        const current = await observe(lockPath);
        // Taken over after we were judged abandoned: that lock is no longer ours to remove.
        if (current?.owner?.token !== owner.token) return;
        await unlink(lockPath).catch((error: unknown) => {
          if (errorCode(error) !== 'ENOENT') throw error;
        });
      } finally {
        forget();
      }
    },
  };
}

async function observe(lockPath: string): Promise<Observed | undefined> {
  try {
    const [raw, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    return { raw, owner: parseOwner(raw), dev: info.dev, ino: info.ino, mtimeMs: info.mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockOwner> | null;
    if (
      value &&
      typeof value.pid === 'number' &&
      typeof value.hostname === 'string' &&
      typeof value.token === 'string'
    ) {
      return { pid: value.pid, hostname: value.hostname, createdAt: String(value.createdAt ?? ''), token: value.token };
    }
  } catch {
    // An empty or half-written file: its age decides.
  }
  return undefined;
}

function isStale(observed: Observed, staleMs: number): boolean {
  const age = Date.now() - observed.mtimeMs;
  if (!observed.owner) return age > INCOMPLETE_GRACE_MS;
  if (observed.owner.hostname === hostname() && !isAlive(observed.owner.pid)) return true;
  return age > staleMs;
}

/** True when a process with this pid exists on this host (EPERM: it exists but is not ours). */
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

/**
 * Removes an abandoned lock without ever removing a live one. Contenders serialise on a short-lived
 * guard file; the holder of the guard looks at the lock file again and removes it only when it is still
 * the very file it judged (same inode and content, whose token is new on each acquisition). The lock may
 * have changed hands since it was judged (its holder released it and exited, and another process took it):
 * that lock is left untouched. It is never moved aside and linked back, which left the path free for a
 * moment, long enough for a third process to create it while the new holder still held its own.
 */
async function takeOver(lockPath: string, judged: Observed): Promise<boolean> {
  const guardPath = `${lockPath}.takeover`;
  try {
    // Synchronous, as in tryCreate: the interrupt cleanup must exist as soon as the guard file does.
    closeSync(openSync(guardPath, 'wx', 0o600));
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    const info = await stat(guardPath).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > GUARD_STALE_MS) await unlink(guardPath).catch(() => undefined);
    return false;
  }
  const forgetGuard = onInterrupt(() => unlinkSync(guardPath));
  try {
    const current = await observe(lockPath);
    // Released, or taken by someone else since we judged it: the caller looks again.
    if (current === undefined || !sameAcquisition(current, judged)) return true;
    // Still the abandoned file: no creator can replace it while it exists and other takeovers wait for the
    // guard; only its holder could remove it, and that one is dead (or silent for staleMs).
    await unlink(lockPath).catch((error: unknown) => {
      if (errorCode(error) !== 'ENOENT') throw error;
    });
    return true;
  } finally {
    await unlink(guardPath).catch(() => undefined);
    forgetGuard();
  }
}

function sameAcquisition(a: Observed, b: Observed): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.raw === b.raw;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
