/**
 * One item of the guide's troubleshooting checklist (domain/diagnosis.ts lists and explains them).
 * Declared here, where an error carries it, so that errors.ts imports nothing from domain/, which imports errors.ts.
 */
export type CheckId =
  'format' | 'network' | 'credentials' | 'key-status' | 'clock' | 'region' | 'permissions' | 'ip-restriction';

/** Exit codes of the command-line contract (shared/CLI.md, "Exit codes"). */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  credentialsRejected: 4,
  aws: 5,
  secretStore: 6,
  locked: 7,
  interrupted: 8,
  /** A rotation lifecycle held: a consumer still uses the old key after delivery. */
  held: 9,
  cancelled: 130,
} as const;

/** One of the documented exit codes. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Extra detail an error may carry: the next step for the user and the underlying cause. */
export interface CliErrorOptions {
  /** What the user should do next, in one or two sentences. */
  hint?: string;
  /** The error we translated, shown only under --debug. */
  cause?: unknown;
  /** The AWS request id, shown only under --debug. */
  requestId?: string;
  /** The AWS error code (e.g. InvalidClientTokenId) or network error code (e.g. ECONNREFUSED) behind this error. */
  awsCode?: string;
  /** The troubleshooting checklist item this failure belongs to (set by aws/errors.ts). */
  diagnosis?: CheckId;
}

/** An error we expect and explain: it carries its exit code and a next step. */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  readonly requestId: string | undefined;
  readonly awsCode: string | undefined;
  readonly diagnosis: CheckId | undefined;

  constructor(message: string, exitCode: ExitCodeValue, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.requestId = options.requestId;
    this.awsCode = options.awsCode;
    this.diagnosis = options.diagnosis;
  }
}

/** Bad flag, malformed value, missing value under --no-input (exit 2). */
export class UsageError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.usage, options);
  }
}

/** No such connection, connection exists, unreadable config (exit 3). */
export class ConfigError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.config, options);
  }
}

/** AWS rejected the credentials: bad key id or secret, inactive, expired, clock skew (exit 4). */
export class CredentialsRejectedError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.credentialsRejected, options);
  }
}

/** AWS refused or failed otherwise: denied, limits, throttling, service or network failure (exit 5). */
export class AwsError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.aws, options);
  }
}

/** The secret store is unavailable, locked, timed out, or cannot decrypt (exit 6). */
export class SecretStoreError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.secretStore, options);
  }
}

/** Another rotation of the same connection holds the lock (exit 7). */
export class LockHeldError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.locked, options);
  }
}

/** A rotation stopped part-way and is left resumable (exit 8). */
export class RotationInterruptedError extends CliError {
  constructor(message: string, options?: CliErrorOptions) {
    super(message, ExitCode.interrupted, options);
  }
}

/** Ctrl-C, a signal, or a declined confirmation (exit 130). */
export class CancelledError extends CliError {
  constructor(message = 'cancelled', options?: CliErrorOptions) {
    super(message, ExitCode.cancelled, options);
  }
}

/** True for the errors we raise on purpose (as opposed to bugs). */
export function isCliError(error: unknown): error is CliError {
  return error instanceof CliError;
}
