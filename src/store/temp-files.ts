import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A temp file older than this was left by a killed writer: no write holds its temp file for more than seconds. */
export const STALE_TEMP_MS = 10 * 60_000;

/** `.<target>.<pid>.<12 hex>.tmp`: writeFileAtomic's temp files, and nothing a user would name a file. */
const TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

/** The temp file writeFileAtomic writes `path` through; `random` is 12 hex digits. */
export function tempFilePath(path: string, random: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${random}.tmp`);
}

/**
 * Removes the temp files a killed writer (kill -9, a power cut) left in `dir`: ours by name, regular
 * files owned by this user, untouched for STALE_TEMP_MS. Synchronous and best effort: a small directory,
 * read once a run; what cannot be removed now is tried again on the next run.
 */
export function removeStaleTempFiles(dir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const removed: string[] = [];
  for (const name of names) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    try {
      const info = lstatSync(path);
      if (!info.isFile() || (uid !== undefined && info.uid !== uid) || now - info.mtimeMs < STALE_TEMP_MS) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
  return removed;
}
