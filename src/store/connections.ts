import { consumerRecordsProblem } from '../domain/consumer.js';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ConnectionStore } from '../ports.js';
import { validateAccessKeyId, validateRegion } from '../domain/access-key.js';
import { validateDescription, validateStoredConnectionName, type Connection } from '../domain/connection.js';
import { parseService, validateBucketName, validateUserName } from '../domain/policies.js';
import { ConfigError } from '../errors.js';
import { removeStaleTempFiles } from './temp-files.js';
import { assertTrusted } from './trust.js';

/** The version of the metadata file this code reads and writes. */
export const CONNECTION_FILE_VERSION = 1;
/** The default directory is the platform config dir of this name. */
export const PROJECT_NAME = 'datablast-aws';
/** How long a metadata write waits for another process's write before giving up. */
const WRITE_LOCK_WAIT_MS = 15_000;

/** The metadata file: `{ "version": 1, "connections": { [name]: Connection } }`. */
export interface ConnectionFile {
  version: typeof CONNECTION_FILE_VERSION;
  connections: Record<string, Connection>;
}

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Opens the connection metadata store: refuses a config dir that another user owns or others may
 * write (exit 3), and removes the temp files killed writers left there. Reads no file: the metadata is
 * read on each call, so a context that only needs the directory (for the secret store) never fails on
 * a damaged file.
 */
export async function openConnectionStore(env: Environment): Promise<ConnectionStore> {
  const dir = configDir(env);
  // Everything here (connections, journals, the file store) steers what we do with keys: refuse a
  // directory someone else could have written to, as OpenSSH does ~/.ssh.
  assertTrusted(dir, 'directory');
  removeStaleTempFiles(dir);
  return new JsonConnectionStore(dir);
}

/** The configuration directory: DATABLAST_AWS_CONFIG_DIR when set, else the platform default. */
export function configDir(env: Environment): string {
  const override = env.DATABLAST_AWS_CONFIG_DIR;
  return override ? resolve(override) : defaultConfigDir(env);
}

/**
 * The platform's config dir for datablast-aws: XDG_CONFIG_HOME or ~/.config on Linux, Preferences on
 * macOS, %APPDATA%\datablast-aws\Config on Windows (env-paths' rule, which conf used when it wrote the file).
 */
export function defaultConfigDir(
  env: Environment,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (platform === 'darwin') return join(home, 'Library', 'Preferences', PROJECT_NAME);
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), PROJECT_NAME, 'Config');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), PROJECT_NAME);
}

/**
 * A metadata file whose shape is right but some of whose entries are not: nothing may be written over it,
 * but `list` can still show the entries that are well-formed (`readable`).
 */
export class DamagedConnectionFileError extends ConfigError {
  /** The entries that passed validation, by name order. */
  readonly readable: Connection[];

  constructor(message: string, readable: Connection[], options: ConstructorParameters<typeof ConfigError>[1]) {
    super(message, options);
    this.readable = readable;
  }
}

/**
 * Checks that parsed JSON is a metadata file we understand; throws a ConfigError naming the file otherwise
 * (a DamagedConnectionFileError carrying the well-formed entries when only some entries are broken).
 */
export function validateConnectionFile(data: unknown, path: string): ConnectionFile {
  const broken = (detail: string) => damaged(path, `is not a datablast-aws connection file (${detail})`);
  if (!isRecord(data)) throw broken('the top level is not an object');
  // An empty document, e.g. from a file created by hand (or by conf, which wrote it before).
  if (Object.keys(data).length === 0) return { version: CONNECTION_FILE_VERSION, connections: {} };
  if (typeof data.version === 'number' && data.version > CONNECTION_FILE_VERSION) {
    throw new ConfigError(
      `the connection file ${path} was written by a newer version of datablast-aws (format ${data.version})`,
      {
        hint: 'Upgrade datablast-aws; the file was left untouched.',
      },
    );
  }
  if (data.version !== CONNECTION_FILE_VERSION) throw broken('"version" is missing or not 1');
  if (!isRecord(data.connections)) throw broken('"connections" is missing or not an object');
  const connections: Record<string, Connection> = {};
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(data.connections)) {
    const problem = connectionProblem(name, entry);
    if (problem) problems.push(`connection ${JSON.stringify(name)}: ${problem}`);
    else setOwn(connections, name, entry as Connection);
  }
  if (problems.length > 0) {
    const { message, hint } = broken(
      problems.length === 1 ? problems[0]! : `${problems.length} broken entries; ${problems[0]}`,
    );
    const readable = Object.values(connections).sort(byName);
    throw new DamagedConnectionFileError(message, readable, { hint });
  }
  return { version: CONNECTION_FILE_VERSION, connections };
}

/** ISO 8601 instants as this tool writes them (Date.toISOString, IAM's CreateDate). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const ACCOUNT_ID = /^\d{12}$/;
/** An IAM user's (or the root's) ARN: the identity GetCallerIdentity reported for the key. */
const ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/-]{1,512}$/;

/**
 * Why a stored entry must not be used, or undefined. Every field passes the rule its input passed
 * (the same validators): a value edited into the file is never acted on, e.g. a region carrying a
 * newline and a `[profile x]` header that export-profile would write into ~/.aws/config.
 */
export function connectionProblem(name: string, entry: unknown): string | undefined {
  if (!isRecord(entry)) return 'not an object';
  if (entry.name !== name) return '"name" does not match its key';
  for (const field of ['accessKeyId', 'region', 'createdAt'] as const) {
    if (typeof entry[field] !== 'string') return `"${field}" is missing or not text`;
  }
  for (const field of [
    'accountId',
    'arn',
    'userName',
    'description',
    'keyCreatedAt',
    'lastTestedAt',
    'lastRotatedAt',
  ] as const) {
    if (entry[field] !== undefined && typeof entry[field] !== 'string') return `"${field}" is not text`;
  }
  for (const field of ['services', 'buckets', 'previousAccessKeyIds', 'exportedProfiles'] as const) {
    const value = entry[field];
    if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string')))
      return `"${field}" is not a list of text`;
  }
  const consumers = consumerRecordsProblem(entry.consumers);
  if (consumers) return consumers;
  const connection = entry as unknown as Connection;
  const checks: [field: string, check: () => unknown][] = [
    ['name', () => validateStoredConnectionName(name)],
    ['accessKeyId', () => validateAccessKeyId(connection.accessKeyId, 'it')],
    ['region', () => validateRegion(connection.region, 'it')],
    ['description', () => connection.description === undefined || validateDescription(connection.description, 'it')],
    ['userName', () => connection.userName === undefined || validateUserName(connection.userName)],
    ['accountId', () => shape(connection.accountId, ACCOUNT_ID, 'is not a 12-digit AWS account id')],
    ['arn', () => shape(connection.arn, ARN, 'is not an IAM ARN')],
    ...(['createdAt', 'keyCreatedAt', 'lastTestedAt', 'lastRotatedAt'] as const).map(
      (field) => [field, () => timestamp(connection[field])] as [string, () => unknown],
    ),
    ['services', () => connection.services?.forEach((service) => parseService(service))],
    ['buckets', () => connection.buckets?.forEach((bucket) => validateBucketName(bucket))],
    ['previousAccessKeyIds', () => connection.previousAccessKeyIds?.forEach((id) => validateAccessKeyId(id, 'it'))],
  ];
  for (const [field, check] of checks) {
    try {
      check();
    } catch (error) {
      // The validators' own words, made to name the field instead of the flag it came from.
      return `"${field}" is invalid: ${(error as Error).message.replace(/^it: /, '')}`;
    }
  }
  return undefined;
}

function shape(value: string | undefined, pattern: RegExp, problem: string): void {
  if (value !== undefined && !pattern.test(value)) throw new Error(`${JSON.stringify(value.slice(0, 40))} ${problem}`);
}

function timestamp(value: string | undefined): void {
  if (value !== undefined && !(TIMESTAMP.test(value) && Number.isFinite(Date.parse(value))))
    throw new Error(`${JSON.stringify(value.slice(0, 40))} is not a date and time (ISO 8601)`);
}

/**
 * Connections in name order, case folded, then by code unit. Not localeCompare: its first call loads
 * ICU's collation data, about 9 ms of every `list` run.
 */
export function byName(a: Connection, b: Connection): number {
  const x = a.name.toLowerCase();
  const y = b.name.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Metadata in one JSON file. Each change is a read-modify-write under lock.ts, written atomically
 * (atomic-file.ts: temp file, fsync, rename, fsync of the directory), keeping the previous good file as
 * `.bak`. (conf wrote it before: it re-read the file on each access, had no lock between processes, and
 * its import took 80–210 ms of each writing run; reads had bypassed it already.)
 */
class JsonConnectionStore implements ConnectionStore {
  readonly path: string;
  readonly backupPath: string;

  constructor(readonly dir: string) {
    this.path = join(dir, 'config.json');
    this.backupPath = `${this.path}.bak`;
  }

  async list(): Promise<Connection[]> {
    const file = await this.read();
    return Object.values(file.connections).sort(byName);
  }

  async get(name: string): Promise<Connection | undefined> {
    const file = await this.read();
    return Object.hasOwn(file.connections, name) ? file.connections[name] : undefined;
  }

  async put(connection: Connection): Promise<void> {
    await this.update((file) => {
      setOwn(file.connections, connection.name, structuredClone(connection));
      return true;
    });
  }

  async delete(name: string): Promise<boolean> {
    let deleted = false;
    await this.update((file) => {
      if (!Object.hasOwn(file.connections, name)) return false;
      delete file.connections[name];
      deleted = true;
      return true;
    });
    return deleted;
  }

  /**
   * Reads and validates the file; a missing file is an empty store (and creates nothing). The file is
   * small and the CLI does one thing at a time, so it is read synchronously: node:fs/promises would be
   * one more module to load on every run (`credential-process` runs for each AWS CLI call).
   */
  private async read(): Promise<ConnectionFile> {
    let text: string;
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { version: CONNECTION_FILE_VERSION, connections: {} };
      throw this.unreadable(error);
    }
    try {
      // The very file we read (fstat, not a second look at the path): ours, and writable by nobody else.
      assertTrusted(this.path, 'file', fstatSync(fd));
      text = readFileSync(fd, 'utf8');
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw this.unreadable(error);
    } finally {
      closeSync(fd);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw damaged(this.path, 'is not valid JSON (it may be truncated or edited by hand)', error);
    }
    return validateConnectionFile(data, this.path);
  }

  /** Read-modify-write under the lock; nothing is written when the current file does not validate. */
  private async update(change: (file: ConnectionFile) => boolean): Promise<void> {
    // Loaded on the first write: they bring node:crypto, which reads (list, show, credential-process) do not need.
    const [{ ensurePrivateDir, writeFileAtomic }, { withLock }] = await Promise.all([
      import('./atomic-file.js'),
      import('./lock.js'),
    ]);
    try {
      await ensurePrivateDir(this.dir);
    } catch (error) {
      throw this.unwritable(this.dir, error);
    }
    const busy = (owner: { pid: number; hostname: string } | undefined) =>
      new ConfigError(
        `the connection file ${this.path} stayed locked by another datablast-aws process${owner ? ` (pid ${owner.pid} on ${owner.hostname})` : ''}`,
        {
          hint: `Wait for it to finish and try again; if no datablast-aws is running, delete ${this.path}.lock.`,
        },
      );
    await withLock(`${this.path}.lock`, { waitMs: WRITE_LOCK_WAIT_MS }, busy, async () => {
      const current = await this.read();
      const next = structuredClone(current);
      if (!change(next)) return;
      try {
        if (Object.keys(current.connections).length > 0)
          await writeFileAtomic(this.backupPath, serialize(current), 0o600);
        await writeFileAtomic(this.path, serialize(next), 0o600);
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        throw this.unwritable(this.path, error);
      }
    });
  }

  private unreadable(error: unknown): ConfigError {
    const code = errorCode(error);
    const hint =
      code === 'EACCES' || code === 'EPERM'
        ? `Make it readable by you (chmod 600 ${this.path}, and check its owner).`
        : `Check ${this.path}; if it is damaged, restore ${this.backupPath} or move it aside.`;
    return new ConfigError(`cannot read the connection file ${this.path} (${describeCode(code)})`, {
      hint,
      cause: error,
    });
  }

  private unwritable(path: string, error: unknown): ConfigError {
    return new ConfigError(`cannot write ${path} (${describeCode(errorCode(error))}); nothing was changed`, {
      hint: 'Check that the configuration directory is writable and the disk is not full, then run the command again.',
      cause: error,
    });
  }
}

function damaged(path: string, what: string, cause?: unknown): ConfigError {
  return new ConfigError(`the connection file ${path} ${what}`, {
    hint: `Nothing was changed. Restore the last good copy (cp "${path}.bak" "${path}") if it exists, or move the file aside (mv "${path}" "${path}.broken") to start with no connections and add them again.`,
    cause,
  });
}

function serialize(file: ConnectionFile): string {
  return `${JSON.stringify(file, undefined, '\t')}`;
}

function describeCode(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EROFS':
      return 'the file system is read-only';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return code ?? 'unknown error';
  }
}

/** Sets an own property even for a name like "__proto__", which plain assignment would turn into a prototype change. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
