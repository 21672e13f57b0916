import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { AsyncEntry as AsyncEntryType, EntryOptions } from '@napi-rs/keyring';
import { CliError, SecretStoreError } from '../errors.js';
import type { RawSecretStore } from './secret-store.js';
import { withTimeout } from './secret-store.js';

/** The keychain service every entry lives under (CLI.md, "Files"). */
export const KEYCHAIN_SERVICE = 'datablast-aws';
/** Upper bound of one keychain call; libdbus itself gives up on a silent Secret Service after 2 s. */
export const KEYCHAIN_TIMEOUT_MS = 5_000;
/** Tries of one call when the Secret Service disconnects without replying (it crashed, and D-Bus restarts it). */
export const KEYCHAIN_ATTEMPTS = 2;
/** How long the D-Bus daemon may take to answer our hello before we call it wedged. */
export const BUS_PROBE_TIMEOUT_MS = 2_000;
/** An account no connection can have (names cannot start with a space): read to prove the service answers. */
const PROBE_ACCOUNT = ' datablast-aws reachability probe';

/** What a keychain call was doing, for messages. */
export type KeychainOperation = 'read' | 'store' | 'delete' | 'list';

type KeyringModule = typeof import('@napi-rs/keyring');

/** Knobs for tests; production uses the defaults. */
export interface KeychainOptions {
  service?: string;
  timeoutMs?: number;
  platform?: NodeJS.Platform;
  /** The D-Bus address libdbus will use; it reads the process environment, so we do too. */
  busAddress?: string | undefined;
  /** The native module's API; tests hand in a scripted one to drive failures the daemon cannot be made to give on cue. */
  keyring?: KeyringModule;
}

/**
 * The OS keychain through @napi-rs/keyring (keytar's API, prebuilt, no system library needed).
 * On Linux every entry is pinned to the Secret Service: unpinned, the library silently falls back
 * to the kernel keyring, which forgets everything at logout.
 */
export async function openKeychainStore(options: KeychainOptions = {}): Promise<RawSecretStore> {
  const keyring = options.keyring ?? (await loadKeyring());
  return new KeychainStore(keyring, {
    service: options.service ?? KEYCHAIN_SERVICE,
    timeoutMs: options.timeoutMs ?? KEYCHAIN_TIMEOUT_MS,
    platform: options.platform ?? process.platform,
    busAddress: 'busAddress' in options ? options.busAddress : process.env.DBUS_SESSION_BUS_ADDRESS,
  });
}

class KeychainStore implements RawSecretStore {
  readonly kind = 'keychain' as const;
  readonly location = 'the keychain';
  private readonly entryOptions: EntryOptions | undefined;

  constructor(
    private readonly keyring: KeyringModule,
    private readonly options: Required<Omit<KeychainOptions, 'busAddress' | 'keyring'>> & { busAddress: string | undefined },
  ) {
    this.entryOptions = options.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined;
  }

  async get(account: string): Promise<string | undefined> {
    // null only ever means "absent": a locked keyring rejects (measured against gnome-keyring).
    const value = await this.call('read', account, (signal) => this.entry(account).getPassword(signal));
    return value ?? undefined;
  }

  async set(account: string, value: string): Promise<void> {
    await this.call('store', account, (signal) => this.entry(account).setPassword(value, signal));
  }

  async delete(account: string): Promise<boolean> {
    return this.call('delete', account, (signal) => this.entry(account).deletePassword(signal));
  }

  async list(): Promise<string[]> {
    if (this.options.platform === 'linux') {
      // findCredentials cannot be pinned and ignores its AbortSignal (a silent Secret Service keeps
      // the process alive): first prove the pinned Secret Service answers, which is bounded.
      await this.call('list', undefined, (signal) => this.entry(PROBE_ACCOUNT).getPassword(signal));
    }
    const found = await this.call('list', undefined, (signal) => this.keyring.findCredentialsAsync(this.options.service, null, signal));
    return [...new Set(found.map((credential) => credential.account))].filter((account) => account !== PROBE_ACCOUNT).sort();
  }

  private entry(account: string): AsyncEntryType {
    return new this.keyring.AsyncEntry(this.options.service, account, this.entryOptions);
  }

  private async call<T>(operation: KeychainOperation, account: string | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.options.platform === 'linux') await probeSessionBus(this.options.busAddress, BUS_PROBE_TIMEOUT_MS);
        return await withTimeout(work, this.options.timeoutMs, () => keychainError('timeout', operation, account, this.options.timeoutMs));
      } catch (error) {
        if (error instanceof CliError) throw error;
        // The Secret Service died mid-call (gnome-keyring can abort under many short-lived clients);
        // the session bus starts it again on the next call, and every call here is safe to repeat.
        if (keychainFailureKind(error) === 'disconnected' && attempt < KEYCHAIN_ATTEMPTS) continue;
        throw classifyKeychainError(error, operation, account, this.options.timeoutMs);
      }
    }
  }
}

/** The ways a keychain fails that the user can act on. */
export type KeychainFailure = 'unavailable' | 'locked' | 'timeout' | 'disconnected' | 'ambiguous' | 'other';

/** Sorts a native keychain error into a failure kind by its message (the library has no error codes). */
export function keychainFailureKind(error: unknown): KeychainFailure {
  const message = error instanceof Error ? `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}` : String(error);
  const text = message.toLowerCase();
  if (/did not receive a reply|timed? ?out|timeout/.test(text)) return 'timeout';
  if (/disconnected from (the )?message bus without replying/.test(text)) return 'disconnected';
  if (/locked|prompt (was )?dismissed|before prompt completed|interaction is not allowed|user canceled|no result found/.test(text)) return 'locked';
  if (/ambiguous|is matched by \d+ credentials/.test(text)) return 'ambiguous';
  if (
    /failed to connect to socket|autolaunch|dbus_session_bus_address|not provided by any \.service files|serviceunknown|no such file|connection refused|no dbus session|secret service provider/.test(
      text,
    )
  ) {
    return 'unavailable';
  }
  return 'other';
}

/** Turns a native keychain error into a SecretStoreError (exit 6) that says what to do. */
export function classifyKeychainError(error: unknown, operation: KeychainOperation, account: string | undefined, timeoutMs = KEYCHAIN_TIMEOUT_MS): SecretStoreError {
  return keychainError(keychainFailureKind(error), operation, account, timeoutMs, error);
}

const FILE_STORE_HINT = 'or use the encrypted file store: DATABLAST_AWS_SECRET_STORE=file with DATABLAST_AWS_PASSPHRASE_FILE (or DATABLAST_AWS_PASSPHRASE)';

function keychainError(kind: KeychainFailure, operation: KeychainOperation, account: string | undefined, timeoutMs: number, cause?: unknown): SecretStoreError {
  const what =
    operation === 'list'
      ? 'could not list the secrets in the keychain'
      : `could not ${operation} the secret of ${JSON.stringify(account)} ${operation === 'store' ? 'in' : 'from'} the keychain`;
  const native = cause instanceof Error ? cause.message.replace(/^(Platform failure|Couldn't access platform storage): /, '') : '';
  switch (kind) {
    case 'unavailable':
      return new SecretStoreError(`${what}: no keychain service is running (${native})`, {
        hint: `Start one (on Linux: gnome-keyring or KeePassXC's Secret Service, in a D-Bus session), ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'locked':
      return new SecretStoreError(`${what}: the keychain is locked${/no result found/i.test(native) ? ' or has no default keyring' : ''}`, {
        hint: `Unlock it (log in to the desktop session, or run gnome-keyring-daemon --unlock and type your password), then run the command again; ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'timeout':
      return new SecretStoreError(`${what}: the keychain did not answer within ${Math.round(timeoutMs / 1000)} s`, {
        hint: `It may be waiting for an unlock prompt nobody can see, or be stuck: unlock or restart it, ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'disconnected':
      return new SecretStoreError(`${what}: the keychain service stopped while answering, twice (it may have crashed)`, {
        hint: `Run the command again; if it keeps failing, restart the keychain (on Linux: gnome-keyring-daemon --replace --components=secrets), ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'ambiguous':
      return new SecretStoreError(`${what}: more than one keychain entry matches`, {
        hint: `Remove the duplicate "${KEYCHAIN_SERVICE}" entries in your keychain application, then store the key again.`,
        cause,
      });
    default:
      return new SecretStoreError(`${what}: ${native || 'the keychain failed'}`, {
        hint: `Check that your keychain works (e.g. with its own application), ${FILE_STORE_HINT}.`,
        cause,
      });
  }
}

let keyringModule: Promise<KeyringModule> | undefined;
/**
 * The native module, loaded once on first use. It is CommonJS, so it is required rather than
 * imported: `import()` of a CommonJS file makes Node pre-parse it for named exports (cjs-module-lexer),
 * which cost about 30 ms of CPU per run here, more than loading the native library itself.
 */
async function loadKeyring(): Promise<KeyringModule> {
  keyringModule ??= Promise.resolve().then(() => createRequire(import.meta.url)('@napi-rs/keyring') as KeyringModule);
  try {
    return await keyringModule;
  } catch (error) {
    keyringModule = undefined;
    throw new SecretStoreError('the keychain library could not be loaded on this platform', {
      hint: `Reinstall datablast-aws (npm ci), ${FILE_STORE_HINT}.`,
      cause: error,
    });
  }
}

const liveBuses = new Set<string>();

/**
 * Checks that the D-Bus daemon at `address` answers, within `timeoutMs`. libdbus connects inside the
 * keyring's synchronous constructor with no timeout, so a frozen bus daemon would block the event loop
 * for good (measured: over 100 s); a non-blocking hello first turns that into a prompt exit 6.
 * Addresses we cannot probe (tcp, launchd, unset) are left to libdbus, which fails fast on them.
 */
export async function probeSessionBus(address: string | undefined, timeoutMs: number): Promise<void> {
  const path = address === undefined ? undefined : unixSocketPath(address);
  if (path === undefined || liveBuses.has(path)) return;
  const outcome = await new Promise<'ok' | 'silent' | Error>((resolve) => {
    const socket = connect({ path });
    const timer = setTimeout(() => finish('silent'), timeoutMs);
    function finish(result: 'ok' | 'silent' | Error) {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('connect', () => socket.write('\0AUTH\r\n'));
    // Any answer (REJECTED with the mechanisms it supports, or OK) proves the daemon is alive.
    socket.once('data', () => finish('ok'));
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error('the D-Bus daemon closed the connection')));
  });
  if (outcome === 'ok') {
    liveBuses.add(path);
    return;
  }
  if (outcome === 'silent') {
    throw new SecretStoreError(`the D-Bus session bus at ${address} did not answer within ${Math.round(timeoutMs / 1000)} s, so the keychain cannot be reached`, {
      hint: `Restart your session's D-Bus (or unset a stale DBUS_SESSION_BUS_ADDRESS), ${FILE_STORE_HINT}.`,
    });
  }
  throw new SecretStoreError(`no keychain service is running: cannot connect to the D-Bus session bus at ${address} (${(outcome as NodeJS.ErrnoException).code ?? outcome.message})`, {
    hint: `Start one (on Linux: gnome-keyring or KeePassXC's Secret Service, in a D-Bus session), ${FILE_STORE_HINT}.`,
    cause: outcome,
  });
}

/** The socket of the first unix-socket address in a D-Bus address list; undefined for other transports. */
export function unixSocketPath(address: string): string | undefined {
  for (const candidate of address.split(';')) {
    const match = /^unix:(.*)$/.exec(candidate.trim());
    if (!match) continue;
    const params = new Map(
      match[1]!
        .split(',')
        .map((pair) => {
          const equals = pair.indexOf('=');
          return equals < 0 ? [pair, ''] : [pair.slice(0, equals), unescapeAddressValue(pair.slice(equals + 1))];
        }),
    );
    const path = params.get('path');
    if (path) return path;
    const abstract = params.get('abstract');
    // Linux abstract sockets: Node reaches them with a leading NUL.
    if (abstract) return `\0${abstract}`;
  }
  return undefined;
}

function unescapeAddressValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
