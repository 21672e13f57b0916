import type { SecretStore } from '../ports.js';
import type { AccessKeyPair } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { SecretStoreError, UsageError } from '../errors.js';

/** The secret store kinds of CLI.md's DATABLAST_AWS_SECRET_STORE. */
export type SecretStoreKind = 'keychain' | 'file' | 'aws-secrets-manager';

/** A store of opaque strings by account name; the typed layer below turns them into key pairs. */
export interface RawSecretStore {
  readonly kind: SecretStoreKind;
  /** Where the secrets live, for messages ("the keychain", a file path). */
  readonly location: string;
  get(account: string): Promise<string | undefined>;
  /** Whether the account holds an entry (of any content), without reading it where the store allows. */
  has(account: string): Promise<boolean>;
  set(account: string, value: string): Promise<void>;
  /** True when something was deleted. */
  delete(account: string): Promise<boolean>;
  list(): Promise<string[]>;
  /**
   * Every account's entry, read in one pass where the store allows (list compares key ids); undefined for
   * an entry the pass could not read, which a get() of that account alone then explains.
   */
  readAll(): Promise<Map<string, string | undefined>>;
}

type Environment = Readonly<Record<string, string | undefined>>;

/** Opens the store DATABLAST_AWS_SECRET_STORE names (default: the OS keychain); `configDir` holds the file store. */
export async function openSecretStore(env: Environment, configDir: string): Promise<SecretStore> {
  const kind = secretStoreKind(env);
  if (kind === 'aws-secrets-manager')
    // It needs AWS and serves the metadata too: the composition root builds it (context.ts).
    throw new Error('the aws-secrets-manager store is opened by the context, with its connection store');
  if (kind === 'file') {
    const { openEncryptedFileStore } = await import('./encrypted-file.js');
    return typedSecretStore(await openEncryptedFileStore({ dir: configDir, env }));
  }
  const { openKeychainStore } = await import('./keychain.js');
  return typedSecretStore(await openKeychainStore());
}

/** Reads DATABLAST_AWS_SECRET_STORE; anything but keychain, file or aws-secrets-manager is a usage error. */
export function secretStoreKind(env: Environment): SecretStoreKind {
  const value = env.DATABLAST_AWS_SECRET_STORE;
  if (value === undefined || value === '' || value === 'keychain') return 'keychain';
  if (value === 'file') return 'file';
  if (value === 'aws-secrets-manager') return 'aws-secrets-manager';
  throw new UsageError(
    // Control characters shown as "?": JSON escapes would make 40 of them 240 characters long.
    `DATABLAST_AWS_SECRET_STORE is ${JSON.stringify(value.slice(0, 40).replace(/[\u0000-\u001f\u007f-\u009f]/gu, '?'))}; it must be "keychain" or "file" (or "aws-secrets-manager")`,
    {
      hint: 'Unset it to use the OS keychain, set DATABLAST_AWS_SECRET_STORE=file with DATABLAST_AWS_PASSPHRASE_FILE for the encrypted file, or DATABLAST_AWS_SECRET_STORE=aws-secrets-manager (docs/secrets-manager.md).',
    },
  );
}

/**
 * Runs `work` with an AbortSignal and a timer: whichever ends first wins, so a wedged keychain
 * fails with `onTimeout()` instead of hanging the command.
 */
export async function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  onTimeout: () => Error,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(onTimeout());
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The typed store over a raw one (aws-vault's credentialkeyring): each entry is the JSON
 * {"accessKeyId","secretAccessKey"}, and every secret read or written is remembered for redaction.
 */
export function typedSecretStore(raw: RawSecretStore): SecretStore {
  return {
    kind: raw.kind,
    async get(account) {
      const value = await raw.get(account);
      return value === undefined ? undefined : decodeAccessKeyPair(value, account, raw.location);
    },
    async set(account, pair) {
      rememberSecret(pair.secretAccessKey);
      await raw.set(account, encodeAccessKeyPair(pair));
    },
    has: (account) => raw.has(account),
    delete: (account) => raw.delete(account),
    list: () => raw.list(),
    async readAll() {
      const pairs = new Map<string, AccessKeyPair | SecretStoreError>();
      for (const [account, value] of await raw.readAll()) {
        try {
          const pair =
            value === undefined ? await this.get(account) : decodeAccessKeyPair(value, account, raw.location);
          if (pair) pairs.set(account, pair);
        } catch (error) {
          if (!(error instanceof SecretStoreError)) throw error;
          pairs.set(account, error);
        }
      }
      return pairs;
    },
  };
}

/** The stored form of a key pair: exactly the two fields, nothing else. */
export function encodeAccessKeyPair(pair: AccessKeyPair): string {
  return JSON.stringify({ accessKeyId: pair.accessKeyId, secretAccessKey: pair.secretAccessKey });
}

/** Parses a stored entry; anything else is a SecretStoreError that never quotes the stored text. */
export function decodeAccessKeyPair(value: string, account: string, location: string): AccessKeyPair {
  // Whatever the entry holds may be a secret: scrub it from any output before looking at it.
  rememberSecret(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const { accessKeyId, secretAccessKey } = record;
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string' || !accessKeyId || !secretAccessKey) {
    const error = new SecretStoreError(
      `the secret stored for ${JSON.stringify(account)} in ${location} is not a datablast-aws access key`,
      {
        hint: `Store the key again: datablast-aws add-connection ${shellQuote(account)} --force (it replaces the entry).`,
      },
    );
    UNDECODABLE.add(error);
    throw error;
  }
  rememberSecret(secretAccessKey);
  return { accessKeyId, secretAccessKey };
}

const UNDECODABLE = new WeakSet<object>();

/** True for the error of an entry that was read but is not a key pair: replacing it is the repair, so callers may overwrite it. */
export function isUndecodableEntry(error: unknown): boolean {
  return typeof error === 'object' && error !== null && UNDECODABLE.has(error);
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_.@%+=:,/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
