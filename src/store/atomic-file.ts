import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { onInterrupt } from '../signals.js';
import { tempFilePath } from './temp-files.js';

/**
 * Replaces a file so that a reader (or a crash) sees the old content or the new, never a mix:
 * a temp file in the same directory, fsync, rename over the target, then fsync the directory.
 * The temp file is removed on failure, so a full or read-only disk leaves no partial file, and on
 * Ctrl-C (signals.ts), so an interrupted run leaves none either; one a kill -9 left is removed by a
 * later run (temp-files.ts).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = tempFilePath(path, randomBytes(6).toString('hex'));
  let fd: number | undefined;
  const forget = onInterrupt(() => unlinkSync(temp));
  try {
    // Synchronous on purpose (the files are small): an open still running on libuv's thread pool could create the
    // temp file just after a signal's cleanup looked for it, and the process would exit leaving it behind.
    fd = openSync(temp, 'wx', mode);
    // open's mode is filtered by the umask; chmod states it exactly.
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    await rename(temp, path);
  } catch (error) {
    if (fd !== undefined) closeQuietly(fd);
    await unlink(temp).catch(() => undefined);
    throw error;
  } finally {
    forget();
  }
  await syncDirectory(dirname(path));
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed, or the disk went away: the temp file is removed next.
  }
}

/** Creates a directory (and parents) readable only by us; an existing directory is left as it is. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; only the directory we created is ours to tighten.
  if (created !== undefined) await chmod(dir, 0o700);
}

/** Deletes a file and makes the deletion durable; a file that is already gone is fine. */
export async function unlinkDurably(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return;
  }
  await syncDirectory(dirname(path));
}

/** Makes a rename or unlink durable; some platforms cannot open a directory, which is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows and some file systems refuse to fsync a directory; the rename itself is already atomic.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** A file-system error code in words, for messages. */
export function describeFsError(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'a directory is in its place';
    default:
      return code ?? 'unknown error';
  }
}
