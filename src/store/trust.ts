import { lstatSync, statSync, type Stats } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * OpenSSH's rule for ~/.ssh, applied to what we read from the config dir: a directory or file we trust is
 * owned by us (or root) and writable by nobody else. Another user's file, or one that group or others may
 * write, could have been planted: a journal there can make `rotate` delete a key. Not checked on Windows,
 * where modes do not carry this meaning.
 */
export function assertTrusted(path: string, kind: 'directory' | 'file', stats?: Stats): void {
  if (process.platform === 'win32' || typeof process.getuid !== 'function') return;
  let info = stats;
  if (!info) {
    try {
      // A symlinked config dir is common (dotfiles): judge the directory it leads to, as OpenSSH does.
      info = kind === 'directory' ? statSync(path) : lstatSync(path);
    } catch (error) {
      // Nothing there (or a file where a parent should be): the caller's own access says what is wrong.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }
  }
  const uid = process.getuid();
  const what = kind === 'directory' ? 'config directory' : 'file';
  if (info.uid !== uid && info.uid !== 0) {
    throw new ConfigError(`the ${what} ${path} belongs to another user (uid ${info.uid}); refusing to use it`, {
      hint: `Use a ${kind} of your own (DATABLAST_AWS_CONFIG_DIR), or make it yours: chown ${uid} '${path}'.`,
    });
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
    throw new ConfigError(`the ${what} ${path} is writable by others (mode ${mode}); refusing to use it`, {
      hint: `Make it private: chmod ${kind === 'directory' ? '700' : '600'} '${path}'.`,
    });
  }
}
