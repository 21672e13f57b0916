import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { JOURNAL_VERSION, ROTATION_PHASES, type RotationJournal } from '../domain/rotation.js';
import { ensurePrivateDir, unlinkDurably, writeFileAtomic } from './atomic-file.js';
import { safeFileName } from './lock.js';

/** The rotation journal of one connection: `<configDir>/rotate-<safe name>.journal.json`, beside the metadata. */
export function journalPath(dir: string, connectionName: string): string {
  return join(dir, `rotate-${safeFileName(connectionName)}.journal.json`);
}

/** The lock file of one connection's rotation, beside its journal. */
export function rotationLockPath(dir: string, connectionName: string): string {
  return join(dir, `rotate-${safeFileName(connectionName)}.lock`);
}

/** Reads and reads back a connection's rotation journal; the protocol writes it before each step. */
export interface JournalStore {
  /** Where the journal lives, for messages. */
  readonly path: string;
  /** The journal, or undefined when no rotation is under way. Unreadable, corrupt or foreign-version → ConfigError (exit 3). */
  read(): Promise<RotationJournal | undefined>;
  /** Replaces the journal atomically (temp file, fsync, rename, fsync of the directory: atomic-file.ts), mode 0600. */
  write(journal: RotationJournal): Promise<void>;
  /** Removes the journal (the rotation is finished or undone). */
  clear(): Promise<void>;
}

/** The journal store of one connection in the config dir. */
export function journalStore(dir: string, connectionName: string): JournalStore {
  const path = journalPath(dir, connectionName);
  return {
    path,
    read: () => readJournal(path, connectionName),
    write: (journal) => writeJournal(dir, path, journal),
    clear: () => unlinkDurably(path),
  };
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
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
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

/** What is wrong with a parsed journal, or undefined when it is well-formed. */
function journalProblem(r: Record<string, unknown>, connectionName: string): string | undefined {
  const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
  const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (r.connection !== connectionName)
    return `it belongs to connection ${JSON.stringify(r.connection)}, not ${JSON.stringify(connectionName)}`;
  if (!ROTATION_PHASES.includes(r.phase as never)) return `unknown phase ${JSON.stringify(r.phase)}`;
  if (!isTime(r.startedAt) || !isTime(r.updatedAt)) return 'startedAt or updatedAt is not a time';
  if (!isString(r.userName)) return 'userName is missing';
  if (!isString(r.oldAccessKeyId)) return 'oldAccessKeyId is missing';
  if (!Array.isArray(r.keysBefore) || !r.keysBefore.every(isString)) return 'keysBefore is not a list of key ids';
  if (typeof r.keepOld !== 'boolean') return 'keepOld is not true or false';
  if (r.phase !== 'creating' && !isString(r.newAccessKeyId)) return `phase ${String(r.phase)} without newAccessKeyId`;
  if (r.newAccessKeyId !== undefined && !isString(r.newAccessKeyId)) return 'newAccessKeyId is not a key id';
  if (r.accountId !== undefined && typeof r.accountId !== 'string') return 'accountId is not a string';
  if (r.newKeyCreatedAt !== undefined && !isTime(r.newKeyCreatedAt)) return 'newKeyCreatedAt is not a time';
  return undefined;
}

async function writeJournal(dir: string, path: string, journal: RotationJournal): Promise<void> {
  await ensurePrivateDir(dir);
  // The journal is only worth anything if it reaches the disk before the step it announces.
  await writeFileAtomic(path, `${JSON.stringify(journal, null, 2)}\n`, 0o600);
}
