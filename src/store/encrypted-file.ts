import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rememberSecret } from '../domain/redact.js';
import { ConfigError, SecretStoreError } from '../errors.js';
import { describeFsError, ensurePrivateDir, writeFileAtomic } from './atomic-file.js';
import { withLock } from './lock.js';
import type { RawSecretStore } from './secret-store.js';

/** The file store's one file, in the config dir. */
export const SECRETS_FILE_NAME = 'secrets.enc';
/** scrypt cost for new files: about 100 ms and 32 MiB here; the parameters are stored with the file. */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
/** Upper bounds for parameters read from a file, so a crafted file cannot make us burn minutes or gigabytes. */
const MAX_SCRYPT = { N: 2 ** 20, r: 32, p: 16 } as const;
/**
 * Bounds on the combined cost: memory is 128·N·r bytes (at most 256 MiB here) and time grows with N·r·p
 * (at most 16 times the default). Each parameter within its own bound is not enough: N=2^20, r=32, p=16
 * would take minutes and 4 GiB.
 */
const MAX_SCRYPT_MEMORY_NR = 2 ** 21;
const MAX_SCRYPT_WORK_NRP = 2 ** 22;
const FORMAT = 'datablast-aws-secrets';
const KEY_LENGTH = 32;
const WRITE_LOCK_WAIT_MS = 15_000;
/**
 * The shortest passphrase a new secrets file is made with. A copy of the file can be guessed offline,
 * at whatever speed the attacker's hardware runs scrypt: each character multiplies the work, and 12
 * (NIST SP 800-63B asks 8 of a memorised secret, and 15 where it is the only factor) puts a random
 * lower-case passphrase at 26^12 ≈ 10^17 guesses. Files made before the minimum still open.
 */
export const MIN_PASSPHRASE_LENGTH = 12;

/** Scrypt parameters (N: CPU/memory cost, r: block size, p: parallelism). */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** The file on disk: everything but the ciphertext is public, and authenticated as additional data. */
export interface SecretsEnvelope {
  format: typeof FORMAT;
  version: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
  ciphertext: string;
}

/** The decrypted content: account → stored value. */
interface SecretsDocument {
  version: 1;
  entries: Record<string, string>;
}

type Environment = Readonly<Record<string, string | undefined>>;

/** Options of the file store; `scrypt` lets tests use cheap parameters. */
export interface EncryptedFileOptions {
  dir: string;
  env: Environment;
  scrypt?: ScryptParams;
}

/**
 * The headless secret store: one file, AES-256-GCM under a key derived by scrypt from
 * DATABLAST_AWS_PASSPHRASE or DATABLAST_AWS_PASSPHRASE_FILE. Writes are atomic, mode 0600 and
 * serialised by a lock; the plaintext never touches the disk, and there is no plaintext fallback.
 */
export async function openEncryptedFileStore(options: EncryptedFileOptions): Promise<RawSecretStore> {
  return new EncryptedFileStore(options);
}

class EncryptedFileStore implements RawSecretStore {
  readonly kind = 'file' as const;
  readonly path: string;
  readonly location: string;
  private passphrase: Promise<string> | undefined;
  /** One derivation per process: the key is cached by salt and parameters. */
  private readonly keys = new Map<string, Promise<Buffer>>();

  constructor(private readonly options: EncryptedFileOptions) {
    this.path = join(options.dir, SECRETS_FILE_NAME);
    this.location = this.path;
  }

  async get(account: string): Promise<string | undefined> {
    const { document } = await this.load();
    return Object.hasOwn(document.entries, account) ? document.entries[account] : undefined;
  }

  async has(account: string): Promise<boolean> {
    return Object.hasOwn((await this.load()).document.entries, account);
  }

  async list(): Promise<string[]> {
    return Object.keys((await this.load()).document.entries).sort();
  }

  async readAll(): Promise<Map<string, string>> {
    return new Map(Object.entries((await this.load()).document.entries));
  }

  async set(account: string, value: string): Promise<void> {
    await this.update((entries) => {
      // defineProperty: an account named "__proto__" must be an entry, not a prototype change.
      Object.defineProperty(entries, account, { value, enumerable: true, writable: true, configurable: true });
      return true;
    });
  }

  async delete(account: string): Promise<boolean> {
    let deleted = false;
    await this.update((entries) => {
      if (!Object.hasOwn(entries, account)) return false;
      delete entries[account];
      deleted = true;
      return true;
    });
    return deleted;
  }

  /** Reads and decrypts the file; a missing file is an empty store and needs no passphrase. */
  private async load(): Promise<{ document: SecretsDocument; envelope: SecretsEnvelope | undefined }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { document: { version: 1, entries: {} }, envelope: undefined };
      throw new SecretStoreError(`cannot read the secrets file ${this.path} (${describeFsError(errorCode(error))})`, {
        hint: `Make it readable by you: chmod 600 ${this.path}, and check its owner.`,
        cause: error,
      });
    }
    const envelope = parseEnvelope(text, this.path);
    const key = await this.key(envelope.kdf.salt, envelope.kdf);
    const plaintext = decrypt(envelope, key, this.path);
    try {
      return { document: parseDocument(plaintext, this.path), envelope };
    } finally {
      plaintext.fill(0);
    }
  }

  private async update(change: (entries: Record<string, string>) => boolean): Promise<void> {
    // Fail on a missing passphrase before touching the directory.
    await this.getPassphrase();
    try {
      await ensurePrivateDir(this.options.dir);
    } catch (error) {
      throw this.unwritable(error);
    }
    const busy = () =>
      new SecretStoreError(`the secrets file ${this.path} stayed locked by another datablast-aws process`, {
        hint: `Wait for it to finish and try again; if no datablast-aws is running, delete ${this.path}.lock.`,
      });
    const locked = withLock(`${this.path}.lock`, { waitMs: WRITE_LOCK_WAIT_MS }, busy, async () => {
      const { document, envelope } = await this.load();
      if (!change(document.entries)) return;
      if (!envelope) checkNewPassphrase(await this.getPassphrase());
      // A file keeps its salt and parameters, so its key is derived once per process.
      const salt = envelope?.kdf.salt ?? randomBytes(16).toString('base64');
      const params = envelope ? envelope.kdf : (this.options.scrypt ?? DEFAULT_SCRYPT);
      const sealed = encrypt(Buffer.from(JSON.stringify(document), 'utf8'), await this.key(salt, params), salt, params);
      try {
        await writeFileAtomic(this.path, `${JSON.stringify(sealed, undefined, 2)}\n`, 0o600);
      } catch (error) {
        throw this.unwritable(error);
      }
    });
    await locked.catch((error: unknown) => {
      // The lock file is the secret store's own (a full disk there is a secret store failure, exit 6),
      // where lock.ts, shared with the metadata, says ConfigError; the work inside throws none.
      if (error instanceof ConfigError) throw new SecretStoreError(error.message, { hint: error.hint, cause: error });
      throw error;
    });
  }

  private key(salt: string, params: ScryptParams): Promise<Buffer> {
    const id = `${salt}:${params.N}:${params.r}:${params.p}`;
    let key = this.keys.get(id);
    if (!key) {
      key = this.getPassphrase().then((passphrase) =>
        deriveKey(passphrase, Buffer.from(salt, 'base64'), params).catch((error: unknown) => {
          throw new SecretStoreError(
            `cannot derive the key of the secrets file ${this.path} (${errorCode(error) ?? (error as Error).message})`,
            {
              hint: `The file's key derivation parameters are unusable: restore it from a backup, or move it aside (mv "${this.path}" "${this.path}.broken") and add your connections again. It was left untouched.`,
              cause: error,
            },
          );
        }),
      );
      this.keys.set(id, key);
      key.catch(() => this.keys.delete(id));
    }
    return key;
  }

  private getPassphrase(): Promise<string> {
    this.passphrase ??= readPassphrase(this.options.env);
    this.passphrase.catch(() => {
      this.passphrase = undefined;
    });
    return this.passphrase;
  }

  private unwritable(error: unknown): SecretStoreError {
    return new SecretStoreError(
      `cannot write the secrets file ${this.path} (${describeFsError(errorCode(error))}); nothing was changed`,
      {
        hint: 'Check that the configuration directory is writable and the disk is not full, then run the command again.',
        cause: error,
      },
    );
  }
}

/**
 * The passphrase of the file store: DATABLAST_AWS_PASSPHRASE, else the file DATABLAST_AWS_PASSPHRASE_FILE
 * names (one trailing newline dropped; refused when group or others may read it). Never empty.
 */
export async function readPassphrase(env: Environment): Promise<string> {
  const direct = env.DATABLAST_AWS_PASSPHRASE;
  const file = env.DATABLAST_AWS_PASSPHRASE_FILE;
  if (direct !== undefined && direct !== '' && file) {
    throw new SecretStoreError('both DATABLAST_AWS_PASSPHRASE and DATABLAST_AWS_PASSPHRASE_FILE are set', {
      hint: 'Set only one of them, so it is clear which passphrase opens the secrets file.',
    });
  }
  let passphrase: string;
  if (direct !== undefined && direct !== '') {
    passphrase = direct;
  } else if (file) {
    passphrase = await readPassphraseFile(file);
  } else {
    throw new SecretStoreError(
      direct === ''
        ? 'DATABLAST_AWS_PASSPHRASE is empty'
        : 'the file secret store needs a passphrase: set DATABLAST_AWS_PASSPHRASE_FILE or DATABLAST_AWS_PASSPHRASE',
      {
        hint: 'Put a long random passphrase in a file only you can read (chmod 600) and set DATABLAST_AWS_PASSPHRASE_FILE to its path.',
      },
    );
  }
  rememberSecret(passphrase);
  return passphrase;
}

/** Refuses to make a new secrets file under a passphrase shorter than MIN_PASSPHRASE_LENGTH characters. */
function checkNewPassphrase(passphrase: string): void {
  const length = [...passphrase].length;
  if (length >= MIN_PASSPHRASE_LENGTH) return;
  throw new SecretStoreError(
    `the passphrase is ${length} character${length === 1 ? '' : 's'} long; a new secrets file needs at least ${MIN_PASSPHRASE_LENGTH}`,
    {
      hint: `Anyone with a copy of the file can guess a short passphrase offline. Use ${MIN_PASSPHRASE_LENGTH} or more characters, e.g. a few random words, in a file only you can read (DATABLAST_AWS_PASSPHRASE_FILE). Nothing was written.`,
    },
  );
}

async function readPassphraseFile(file: string): Promise<string> {
  let text: string;
  try {
    const info = await stat(file);
    // POSIX permission bits mean nothing on Windows, where ACLs guard the file.
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new SecretStoreError(
        `the passphrase file ${file} can be read or written by other users (mode ${(info.mode & 0o777).toString(8)})`,
        {
          hint: `Restrict it to yourself: chmod 600 ${file}`,
        },
      );
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof SecretStoreError) throw error;
    throw new SecretStoreError(
      `cannot read the passphrase file ${file} named by DATABLAST_AWS_PASSPHRASE_FILE (${describeFsError(errorCode(error))})`,
      {
        hint: 'Point DATABLAST_AWS_PASSPHRASE_FILE at an existing file that you can read.',
        cause: error,
      },
    );
  }
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase === '') {
    throw new SecretStoreError(`the passphrase file ${file} is empty`, {
      hint: 'Write a long random passphrase into it.',
    });
  }
  return passphrase;
}

/** Derives the AES key with scrypt, off the main thread so that timers keep running. */
export function deriveKey(passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      KEY_LENGTH,
      { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

function encrypt(plaintext: Buffer, key: Buffer, salt: string, params: ScryptParams): SecretsEnvelope {
  const iv = randomBytes(12);
  const header = {
    format: FORMAT,
    version: 1,
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt },
    cipher: 'aes-256-gcm',
  } as const;
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData(header.kdf, iv.toString('base64')));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  return {
    ...header,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

function decrypt(envelope: SecretsEnvelope, key: Buffer, path: string): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'));
    decipher.setAAD(additionalData(envelope.kdf, envelope.iv));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]);
  } catch (error) {
    throw new SecretStoreError(
      `cannot decrypt the secrets file ${path}: the passphrase is wrong or the file was altered`,
      {
        hint: 'Check DATABLAST_AWS_PASSPHRASE or DATABLAST_AWS_PASSPHRASE_FILE; the file was left untouched. If it was damaged, restore it from a backup.',
        cause: error,
      },
    );
  }
}

/** The header fields bound to the ciphertext, so that swapping a salt, parameter or IV fails authentication. */
function additionalData(kdf: SecretsEnvelope['kdf'], iv: string): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, 1, kdf.name, kdf.N, kdf.r, kdf.p, kdf.salt, 'aes-256-gcm', iv]), 'utf8');
}

function parseEnvelope(text: string, path: string): SecretsEnvelope {
  const damaged = (detail: string) =>
    new SecretStoreError(`the secrets file ${path} is damaged or not a datablast-aws secrets file (${detail})`, {
      hint: `Restore it from a backup; or move it aside (mv "${path}" "${path}.broken") and add your connections again. It was left untouched.`,
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw damaged('not JSON; it may be truncated');
  }
  if (typeof value !== 'object' || value === null) throw damaged('not an object');
  const envelope = value as Partial<SecretsEnvelope>;
  if (envelope.format !== FORMAT) throw damaged('unknown format');
  if (typeof envelope.version === 'number' && envelope.version > 1) {
    throw new SecretStoreError(
      `the secrets file ${path} was written by a newer version of datablast-aws (format ${envelope.version})`,
      {
        hint: 'Upgrade datablast-aws; the file was left untouched.',
      },
    );
  }
  if (envelope.version !== 1 || envelope.cipher !== 'aes-256-gcm') throw damaged('unsupported version or cipher');
  const kdf = envelope.kdf;
  if (!kdf || kdf.name !== 'scrypt' || typeof kdf.salt !== 'string') throw damaged('missing key derivation');
  for (const name of ['N', 'r', 'p'] as const) {
    const n = kdf[name];
    if (!Number.isInteger(n) || n < 1 || n > MAX_SCRYPT[name]) throw damaged(`scrypt ${name} out of range`);
  }
  // scrypt itself requires N to be a power of two above 1.
  if (kdf.N < 2 || (kdf.N & (kdf.N - 1)) !== 0) throw damaged('scrypt N is not a power of two');
  if (kdf.N * kdf.r > MAX_SCRYPT_MEMORY_NR || kdf.N * kdf.r * kdf.p > MAX_SCRYPT_WORK_NRP)
    throw damaged('scrypt cost out of range');
  for (const field of ['iv', 'tag', 'ciphertext'] as const) {
    if (typeof envelope[field] !== 'string') throw damaged(`missing ${field}`);
  }
  if (Buffer.from(envelope.iv!, 'base64').length !== 12 || Buffer.from(envelope.tag!, 'base64').length !== 16)
    throw damaged('bad iv or tag length');
  return envelope as SecretsEnvelope;
}

function parseDocument(plaintext: Buffer, path: string): SecretsDocument {
  let value: unknown;
  try {
    value = JSON.parse(plaintext.toString('utf8'));
  } catch {
    value = undefined;
  }
  const document = value as Partial<SecretsDocument> | undefined;
  const entries = document?.entries;
  if (
    document?.version !== 1 ||
    typeof entries !== 'object' ||
    entries === null ||
    Object.values(entries).some((entry) => typeof entry !== 'string')
  ) {
    throw new SecretStoreError(`the secrets file ${path} decrypted to something datablast-aws does not understand`, {
      hint: 'It was left untouched; upgrade datablast-aws, or restore the file from a backup.',
    });
  }
  return { version: 1, entries: { ...entries } };
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
