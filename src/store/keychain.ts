import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AsyncEntry as AsyncEntryType, EntryOptions } from '@napi-rs/keyring';
import { CliError, SecretStoreError } from '../errors.js';
import type { RawSecretStore } from './secret-store.js';
import { withTimeout } from './secret-store.js';
import {
  classifyKeychainError,
  FILE_STORE_HINT,
  KEYCHAIN_ATTEMPTS,
  KEYCHAIN_SERVICE,
  KEYCHAIN_TIMEOUT_MS,
  keychainError,
  keychainFailureKind,
  type KeychainOperation,
} from './keychain-errors.js';
import { SecretServiceStore } from './secret-service.js';

export {
  classifyKeychainError,
  KEYCHAIN_ATTEMPTS,
  KEYCHAIN_SERVICE,
  KEYCHAIN_TIMEOUT_MS,
  keychainFailureKind,
  type KeychainFailure,
  type KeychainOperation,
} from './keychain-errors.js';

/** Upper bound of each D-Bus call to the Secret Service (libdbus, which we used before, waited 2 s too). */
export const SECRET_SERVICE_TIMEOUT_MS = 2_000;
/** An account no connection can have (names cannot start with a space): read to prove the service answers. */
const PROBE_ACCOUNT = ' datablast-aws reachability probe';

type KeyringModule = typeof import('@napi-rs/keyring');

/** Knobs for tests; production uses the defaults. */
export interface KeychainOptions {
  service?: string;
  timeoutMs?: number;
  platform?: NodeJS.Platform;
  /** The session bus's address (Linux); default: DBUS_SESSION_BUS_ADDRESS, else the systemd user bus. */
  busAddress?: string | undefined;
  /** The native module's API; tests hand in a scripted one to drive failures the daemon cannot be made to give on cue. */
  keyring?: KeyringModule;
}

/**
 * The OS keychain. On Linux, the Secret Service spoken to directly over the session bus's socket
 * (secret-service.ts): no native library, one connection a run. Elsewhere (and on Linux for a bus
 * that is not a Unix socket) @napi-rs/keyring: keytar's API, prebuilt, no system library needed.
 */
export async function openKeychainStore(options: KeychainOptions = {}): Promise<RawSecretStore> {
  const platform = options.platform ?? process.platform;
  const service = options.service ?? KEYCHAIN_SERVICE;
  if (platform === 'linux' && !options.keyring) {
    const address = 'busAddress' in options ? options.busAddress : process.env.DBUS_SESSION_BUS_ADDRESS;
    const socket = sessionBusSocket(address, process.env);
    // No address and no user bus: the store says so at its first call, as every other keychain failure.
    if (socket !== undefined || address === undefined)
      return new SecretServiceStore(socket, service, options.timeoutMs ?? SECRET_SERVICE_TIMEOUT_MS);
  }
  const keyring = options.keyring ?? (await loadKeyring());
  return new KeychainStore(keyring, { service, timeoutMs: options.timeoutMs ?? KEYCHAIN_TIMEOUT_MS, platform });
}

/**
 * The socket of the session bus: the address's Unix socket, or when no address is set (cron, a
 * service), the systemd user bus of this user if one runs. Undefined for other transports (tcp).
 */
export function sessionBusSocket(
  address: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (address !== undefined) return unixSocketPath(address);
  const runtime =
    env.XDG_RUNTIME_DIR ?? (typeof process.getuid === 'function' ? `/run/user/${process.getuid()}` : undefined);
  const userBus = runtime === undefined ? undefined : join(runtime, 'bus');
  return userBus !== undefined && existsSync(userBus) ? userBus : undefined;
}

class KeychainStore implements RawSecretStore {
  readonly kind = 'keychain' as const;
  readonly location = 'the keychain';
  private readonly entryOptions: EntryOptions | undefined;

  constructor(
    private readonly keyring: KeyringModule,
    private readonly options: Required<Pick<KeychainOptions, 'service' | 'timeoutMs' | 'platform'>>,
  ) {
    this.entryOptions = options.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined;
  }

  async get(account: string): Promise<string | undefined> {
    // null only ever means "absent": a locked keyring rejects (measured against gnome-keyring).
    const value = await this.call('read', account, (signal) => this.entry(account).getPassword(signal));
    return value ?? undefined;
  }

  /** The library has no lookup without the secret: a read. */
  async has(account: string): Promise<boolean> {
    return (await this.get(account)) !== undefined;
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
    const found = await this.call('list', undefined, (signal) =>
      this.keyring.findCredentialsAsync(this.options.service, null, signal),
    );
    return [...new Set(found.map((credential) => credential.account))]
      .filter((account) => account !== PROBE_ACCOUNT)
      .sort();
  }

  /** The library reads one entry at a time: the typed layer reads each listed account. */
  async readAll(): Promise<Map<string, string | undefined>> {
    return new Map((await this.list()).map((account) => [account, undefined]));
  }

  private entry(account: string): AsyncEntryType {
    return new this.keyring.AsyncEntry(this.options.service, account, this.entryOptions);
  }

  private async call<T>(
    operation: KeychainOperation,
    account: string | undefined,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withTimeout(work, this.options.timeoutMs, () =>
          keychainError('timeout', operation, account, this.options.timeoutMs),
        );
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

/** The socket of the first unix-socket address in a D-Bus address list; undefined for other transports. */
export function unixSocketPath(address: string): string | undefined {
  for (const candidate of address.split(';')) {
    const match = /^unix:(.*)$/.exec(candidate.trim());
    if (!match) continue;
    const params = new Map(
      match[1]!.split(',').map((pair) => {
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
