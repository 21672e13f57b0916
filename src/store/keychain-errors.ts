import { SecretStoreError } from '../errors.js';

// How a keychain call fails, in words the user can act on: shared by the Secret Service client
// (Linux) and the @napi-rs/keyring adapter (macOS, Windows).

/** The keychain service every entry lives under (CLI.md, "Files"). */
export const KEYCHAIN_SERVICE = 'datablast-aws';

/** What a keychain call was doing, for messages. */
export type KeychainOperation = 'read' | 'store' | 'delete' | 'list';

/** Upper bound of one call through @napi-rs/keyring (macOS, Windows), where an unlock dialog may be up. */
export const KEYCHAIN_TIMEOUT_MS = 5_000;
/** Tries of one call when the Secret Service disconnects without replying (it crashed, and D-Bus restarts it). */
export const KEYCHAIN_ATTEMPTS = 2;

export const FILE_STORE_HINT =
  'or use the encrypted file store: DATABLAST_AWS_SECRET_STORE=file with DATABLAST_AWS_PASSPHRASE_FILE (or DATABLAST_AWS_PASSPHRASE)';

/** The ways a keychain fails that the user can act on. */
export type KeychainFailure = 'unavailable' | 'locked' | 'timeout' | 'disconnected' | 'ambiguous' | 'other';

/** Sorts a native keychain error into a failure kind by its message (the library has no error codes). */
export function keychainFailureKind(error: unknown): KeychainFailure {
  const message =
    error instanceof Error
      ? `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}`
      : String(error);
  const text = message.toLowerCase();
  if (/did not receive a reply|timed? ?out|timeout/.test(text)) return 'timeout';
  if (/disconnected from (the )?message bus without replying/.test(text)) return 'disconnected';
  if (
    /locked|prompt (was )?dismissed|before prompt completed|interaction is not allowed|user canceled|no result found/.test(
      text,
    )
  )
    return 'locked';
  if (/ambiguous|is matched by \d+ credentials/.test(text)) return 'ambiguous';
  if (
    /failed to connect to socket|autolaunch|dbus_session_bus_address|not provided by any \.service files|serviceunknown|no such file|connection refused|enoent|econnrefused|no dbus session|secret service provider/.test(
      text,
    )
  ) {
    return 'unavailable';
  }
  return 'other';
}

/** Turns a native keychain error into a SecretStoreError (exit 6) that says what to do. */
export function classifyKeychainError(
  error: unknown,
  operation: KeychainOperation,
  account: string | undefined,
  timeoutMs = KEYCHAIN_TIMEOUT_MS,
): SecretStoreError {
  return keychainError(keychainFailureKind(error), operation, account, timeoutMs, error);
}

export function keychainError(
  kind: KeychainFailure,
  operation: KeychainOperation,
  account: string | undefined,
  timeoutMs: number,
  cause?: unknown,
): SecretStoreError {
  const what =
    operation === 'list'
      ? 'could not list the secrets in the keychain'
      : `could not ${operation} the secret of ${JSON.stringify(account)} ${operation === 'store' ? 'in' : 'from'} the keychain`;
  const native =
    cause instanceof Error
      ? cause.message.replace(/^(Platform failure|Couldn't access platform storage|datablast\.\w+): /, '')
      : '';
  switch (kind) {
    case 'unavailable':
      return new SecretStoreError(`${what}: no keychain service is running (${native})`, {
        hint: `Start one (on Linux: gnome-keyring or KeePassXC's Secret Service, in a D-Bus session), ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'locked':
      return new SecretStoreError(
        `${what}: the keychain is locked${/no result found/i.test(native) ? ' or has no default keyring' : ''}`,
        {
          hint: `Unlock it (log in to the desktop session, or run gnome-keyring-daemon --unlock and type your password), then run the command again; ${FILE_STORE_HINT}.`,
          cause,
        },
      );
    case 'timeout':
      return new SecretStoreError(`${what}: the keychain did not answer within ${Math.round(timeoutMs / 1000)} s`, {
        hint: `It may be waiting for an unlock prompt nobody can see, or be stuck: unlock or restart it, ${FILE_STORE_HINT}.`,
        cause,
      });
    case 'disconnected':
      return new SecretStoreError(
        `${what}: the keychain service stopped while answering, twice (it may have crashed)`,
        {
          hint: `Run the command again; if it keeps failing, restart the keychain (on Linux: gnome-keyring-daemon --replace --components=secrets), ${FILE_STORE_HINT}.`,
          cause,
        },
      );
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
