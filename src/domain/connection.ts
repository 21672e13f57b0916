import { UsageError } from '../errors.js';
import type { ConsumerRecord } from './consumer.js';

/** An access key pair: what AWS gives once and what the secret store keeps. */
export interface AccessKeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Credentials to sign AWS calls with (a session token only for temporary ASIA keys). */
export interface Credentials extends AccessKeyPair {
  sessionToken?: string;
}

/** What we know about a connection; never holds a secret (shared/CLI.md, "JSON results"). */
export interface Connection {
  name: string;
  accessKeyId: string;
  accountId?: string;
  arn?: string;
  userName?: string;
  region: string;
  description?: string;
  createdAt: string;
  keyCreatedAt?: string;
  lastTestedAt?: string;
  lastRotatedAt?: string;
  /** When `test` last saw AWS reject the key (cleared in effect by a later passing test: see lastTestedAt). */
  lastTestRejectedAt?: string;
  /** The key id that was rejected, so that a rejection never sticks to the key that replaced it. */
  lastTestRejectedKeyId?: string;
  /** Services the user was onboarded with, so `test` knows what to probe. */
  services?: string[];
  /** Buckets the user was granted, so `test` can probe them. */
  buckets?: string[];
  /** Access key ids this connection held before, newest last (ids only). */
  previousAccessKeyIds?: string[];
  /** Where the key must go besides this machine's store, and where each stands (domain/consumer.ts). */
  consumers?: ConsumerRecord[];
  /**
   * AWS profiles `export-profile` wrote for this connection: long-running SDK clients on this machine hold its
   * key between credential-process calls, so a rotation waits for AWS's last-used evidence before retiring it.
   */
  exportedProfiles?: string[];
}

/** The stable JSON shape of a connection (CLI.md): every key present, null when unknown. */
export interface ConnectionJson {
  name: string;
  accessKeyId: string;
  accountId: string | null;
  arn: string | null;
  userName: string | null;
  region: string;
  description: string | null;
  createdAt: string;
  keyCreatedAt: string | null;
  lastTestedAt: string | null;
  lastRotatedAt: string | null;
}

/** Projects a connection onto the documented JSON keys. */
export function connectionJson(connection: Connection): ConnectionJson {
  return {
    name: connection.name,
    accessKeyId: connection.accessKeyId,
    accountId: connection.accountId ?? null,
    arn: connection.arn ?? null,
    userName: connection.userName ?? null,
    region: connection.region,
    description: connection.description ?? null,
    createdAt: connection.createdAt,
    keyCreatedAt: connection.keyCreatedAt ?? null,
    lastTestedAt: connection.lastTestedAt ?? null,
    lastRotatedAt: connection.lastRotatedAt ?? null,
  };
}

export const MAX_CONNECTION_NAME_LENGTH = 64;

/**
 * A connection name as messages quote it: JSON-quoted, and cut after the longest name a connection
 * can have, so that a 10 kB argument is not echoed back whole.
 */
export function quotedName(name: string): string {
  const characters = [...name];
  return JSON.stringify(
    characters.length > MAX_CONNECTION_NAME_LENGTH
      ? `${characters.slice(0, MAX_CONNECTION_NAME_LENGTH).join('')}…`
      : name,
  );
}

/**
 * Checks a connection name as names were always checked (1–64 printable characters, spaces allowed, CLI.md):
 * the rule for a name that may already exist (the metadata file, `rotate NAME`, `test NAME`), so that a
 * connection made before the stricter rule for new names stays readable, testable and rotatable.
 */
export function validateStoredConnectionName(name: string): string {
  if (name.length === 0) {
    throw new UsageError('the connection name is empty', {
      hint: 'Give a name of 1 to 64 printable characters, e.g. "AWS Production".',
    });
  }
  if ([...name].length > MAX_CONNECTION_NAME_LENGTH) {
    throw new UsageError(
      `the connection name is ${[...name].length} characters long; the limit is ${MAX_CONNECTION_NAME_LENGTH}`,
      {
        hint: 'Choose a shorter name.',
      },
    );
  }
  // Control characters (C0, DEL, C1) and line/paragraph separators would corrupt tables and keychain UIs.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(name)) {
    throw new UsageError('the connection name contains a control character (a newline, tab or similar)', {
      hint: 'Use printable characters only; spaces are fine.',
    });
  }
  if (name.trim() !== name) {
    throw new UsageError('the connection name starts or ends with a space', { hint: `Did you mean "${name.trim()}"?` });
  }
  return name;
}

/**
 * Checks a new connection name: the stored rule, and visible characters only, not starting with `-`.
 * Format characters (zero-width spaces and joiners, bidi overrides and isolates, the BOM, soft hyphen),
 * invisible fillers, private-use and unassigned code points make a name that looks like another one, or
 * reorders the text around it in a terminal; a leading dash reads as an option in every command line
 * that names the connection (hints, credential_process).
 */
export function validateConnectionName(name: string): string {
  validateStoredConnectionName(name);
  if (/[\p{Cf}\p{Co}\p{Cn}\u115f\u1160\u3164\uffa0\u2800]/u.test(name)) {
    throw new UsageError(
      'the connection name contains an invisible or text-direction character (e.g. a zero-width space or a right-to-left override)',
      { hint: 'Type the name again with visible characters only; spaces are fine.' },
    );
  }
  if (name.startsWith('-')) {
    throw new UsageError('the connection name starts with "-", which command lines would read as an option', {
      hint: `Choose a name that starts with a letter or digit, e.g. "${name.replace(/^-+/, '') || 'prod'}".`,
    });
  }
  return name;
}

/** The longest description: what IAM allows in the tag that create-user and init store it in. */
export const MAX_DESCRIPTION_LENGTH = 256;

/**
 * Checks a connection description: at most 256 characters, none of them a control character or an
 * invisible bidirectional override, which would garble (or disguise) `show` and `list --json` output.
 */
export function validateDescription(text: string, source = '--description'): string {
  if ([...text].length > MAX_DESCRIPTION_LENGTH) {
    throw new UsageError(
      `${source}: the description is ${[...text].length} characters long; the limit is ${MAX_DESCRIPTION_LENGTH}`,
      { hint: 'Shorten it.' },
    );
  }
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(text)) {
    throw new UsageError(
      `${source}: the description contains a control character (a newline, tab, escape or similar)`,
      { hint: 'Use printable characters only; spaces are fine.' },
    );
  }
  return text;
}

/** Whole days between two instants, rounded down. */
export function ageInDays(fromIso: string | undefined, now: Date): number | undefined {
  if (!fromIso) return undefined;
  const from = Date.parse(fromIso);
  if (Number.isNaN(from)) return undefined;
  return Math.max(0, Math.floor((now.getTime() - from) / 86_400_000));
}

/** The guide's rotation period: keys older than this are flagged. */
export const ROTATION_PERIOD_DAYS = 90;
