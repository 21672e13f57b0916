import { existsSync } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { JOURNAL_VERSION, journalProblem, type RotationJournal } from '../domain/rotation.js';
import type { Journal, Journals, RotationLocks } from '../ports.js';
import { onInterruptResumable } from '../signals.js';
import { ensurePrivateDir, unlinkDurably, writeFileAtomic } from './atomic-file.js';
import { acquireLock, DEFAULT_STALE_MS, readLockOwner, safeFileName } from './lock.js';
import { assertTrusted } from './trust.js';

/** The rotation journal of one connection: `<configDir>/rotate-<safe name>.journal.json`, beside the metadata. */
export function journalPath(dir: string, connectionName: string): string {
  return join(dir, `rotate-${safeFileName(connectionName)}.journal.json`);
}

/** The lock file of one connection's rotation, beside its journal. */
export function rotationLockPath(dir: string, connectionName: string): string {
  return join(dir, `rotate-${safeFileName(connectionName)}.lock`);
}

/** A connection's rotation journal as a file; kept as a name for the callers that predate the Journal port. */
export type JournalStore = Journal;

/** Paths whose journal a signal must report as resumable (exit 8) while it exists. */
const watched = new Set<string>();

/** While a journal file exists, a signal that ends the process exits 8 (resumable), not 130 (signals.ts). */
function watch(path: string): void {
  if (watched.has(path)) return;
  watched.add(path);
  onInterruptResumable(() => existsSync(path));
}

/**
 * The journal of one connection in the config dir: written atomically (temp file, fsync, rename, fsync of the
 * directory: atomic-file.ts), mode 0600; read only when the file is ours and private (trust.ts).
 */
export function journalStore(dir: string, connectionName: string): JournalStore {
  const path = journalPath(dir, connectionName);
  return {
    path,
    read: async () => {
      const journal = await readJournal(path, connectionName);
      if (journal) watch(path);
      return journal;
    },
    write: async (journal) => {
      watch(path);
      await writeJournal(dir, path, journal);
    },
    clear: () => unlinkDurably(path),
  };
}

/** The Journals port over the config dir. */
export function fileJournals(dir: string): Journals {
  return { of: (connectionName) => journalStore(dir, connectionName) };
}

/** The RotationLocks port over the config dir: one lock file per connection, beside its journal. */
export function fileRotationLocks(dir: string): RotationLocks {
  return {
    path: (connectionName) => rotationLockPath(dir, connectionName),
    acquire: async (connectionName, waitMs) => {
      await ensurePrivateDir(dir);
      return acquireLock(rotationLockPath(dir, connectionName), { waitMs });
    },
    isHeld: (connectionName) => lockHeld(rotationLockPath(dir, connectionName)),
  };
}

/**
 * Whether a live process holds a lock: on this host, its pid is alive; from another host
 * sharing the directory, its holder refreshed the file within the staleness bound (lock.ts's rule).
 */
async function lockHeld(lockPath: string): Promise<boolean> {
  const owner = await readLockOwner(lockPath);
  if (!owner) return false;
  if (owner.hostname !== hostname()) {
    const info = await stat(lockPath).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs < DEFAULT_STALE_MS;
  }
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function repairHint(path: string, userName?: string): string {
  const user = userName ?? 'USER';
  return (
    `No rotation can safely continue from it. Make sure no datablast-aws rotate is running, then compare ` +
    `\`aws iam list-access-keys --user-name ${user}\` with \`datablast-aws show NAME\`: delete in IAM any key that no ` +
    `connection holds, and then delete ${path} and run rotate again.`
  );
}

async function readJournal(path: string, connectionName: string): Promise<RotationJournal | undefined> {
  let text: string;
  try {
    const info = await lstat(path);
    // A journal decides which keys are deleted: one that another user could have planted is never acted on.
    if (!info.isFile())
      throw new ConfigError(`the rotation journal ${path} is not a regular file; refusing to use it`, {
        hint: repairHint(path),
      });
    try {
      assertTrusted(path, 'file', info);
    } catch (error) {
      const cause = error as ConfigError;
      throw new ConfigError(`refusing the rotation journal: ${cause.message}`, {
        cause,
        hint: `${cause.hint ?? ''} If you did not start a rotation of this connection, the journal was planted: ${repairHint(path)}`.trim(),
      });
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot read the rotation journal ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'Check the permissions of the config directory (it should belong to you, mode 0700), then run the command again.',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the rotation journal ${path} is corrupt (not JSON)`, {
      cause: error,
      hint: repairHint(path),
    });
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const userName = typeof record.userName === 'string' ? record.userName : undefined;
  if (record.version !== JOURNAL_VERSION) {
    const newer = typeof record.version === 'number' && record.version > JOURNAL_VERSION;
    throw new ConfigError(
      `the rotation journal ${path} has version ${JSON.stringify(record.version ?? null)}; this datablast-aws understands version ${JOURNAL_VERSION}`,
      {
        hint: newer
          ? `A newer datablast-aws started this rotation: run rotate with that version to finish it. Otherwise: ${repairHint(path, userName)}`
          : repairHint(path, userName),
      },
    );
  }
  const problem = journalProblem(record, connectionName);
  if (problem)
    throw new ConfigError(`the rotation journal ${path} is corrupt: ${problem}`, { hint: repairHint(path, userName) });
  return record as unknown as RotationJournal;
}

async function writeJournal(dir: string, path: string, journal: RotationJournal): Promise<void> {
  await ensurePrivateDir(dir);
  // The journal is only worth anything if it reaches the disk before the step it announces.
  await writeFileAtomic(path, `${JSON.stringify(journal, null, 2)}\n`, 0o600);
}
