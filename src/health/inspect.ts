/**
 * What `list` and `show` know about connections, read without calling AWS: each stored pair's key id
 * (compared with the metadata; the secret store's typed layer remembers each secret read for redaction, and
 * none is returned) and
 * whether a rotation journal is waiting. Shared by both commands, which never import each other.
 */
import type { Context, Journals, RotationLocks } from '../ports.js';
import { CliError, type SecretStoreError } from '../errors.js';
import { connectionJson, type AccessKeyPair, type Connection, type ConnectionJson } from '../domain/connection.js';
import type { Style } from '../ui/output.js';
import {
  connectionStatus,
  rejectedAtLastTest,
  STATUS_EXIT_CODE,
  type ConnectionStatus,
  type JournalFact,
  type StoredSecretFact,
} from '../domain/connection-health.js';
import { ageInDays } from '../domain/connection.js';
import { rotationState, type RotationState } from '../domain/lifecycle.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { shellWord } from '../domain/shell-word.js';

/** One connection with what was found about it. */
export interface ConnectionHealth {
  connection: Connection;
  /** The rotation under way, from its journal (a lifecycle waiting between runs included); null when none. */
  rotation: RotationState | null;
  status: ConnectionStatus;
  /** The key id of the stored pair when it differs from the metadata's, else null. */
  storedAccessKeyId: string | null;
  /** Whole days since the key was created; when that date is unknown, since the connection was added. */
  keyAgeDays: number | null;
  /** False when keyAgeDays counts from when the connection was added. */
  keyAgeKnown: boolean;
  /** What to do about a status other than ok, for a warning on stderr; null when there is nothing to do. */
  advice: string | null;
  exitCode: number;
  /** Why the secret store could not be read, when it could not. */
  storeFailure: CliError | null;
}

/** The store read once for every connection (list), or why it could not be read at all. */
export interface StoreReading {
  /** Every account's pair (or that entry's error); undefined when the store could not be read. */
  entries: Map<string, AccessKeyPair | SecretStoreError> | undefined;
  /** From a store that vouches for key ids without reading (SecretStore.storedKeyIds): every account holding a secret. */
  accounts?: Set<string> | undefined;
  /** …and the key ids it vouches for; the other accounts' secrets are read one by one. */
  keyIds?: Map<string, string> | undefined;
  failure: CliError | undefined;
}

/** Reads every entry of the secret store in one pass; a CliError (locked keychain, wrong passphrase, damaged file) is kept. */
export async function readAccounts(ctx: Context): Promise<StoreReading> {
  try {
    const secrets = await ctx.secrets();
    // aws-secrets-manager: ListSecrets tells the key ids, so no secret value is read for list.
    if (secrets.storedKeyIds)
      return {
        entries: undefined,
        accounts: new Set(await secrets.list()),
        keyIds: await secrets.storedKeyIds(),
        failure: undefined,
      };
    return { entries: await secrets.readAll(), failure: undefined };
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return { entries: undefined, failure: error };
  }
}

/**
 * The health of each connection, from `reading` (readAccounts: the whole store read once) where given;
 * without it each secret is read on its own (show: one connection). A connection removed while it was
 * being looked at is left out.
 */
export async function inspectConnections(
  ctx: Context,
  connections: Connection[],
  reading?: StoreReading,
): Promise<ConnectionHealth[]> {
  const [journals, locks, store] = await Promise.all([ctx.journals(), ctx.locks(), ctx.connections()]);
  const now = ctx.clock.now();
  const healths = await Promise.all(
    connections.map(async (listed): Promise<ConnectionHealth | undefined> => {
      let connection = listed;
      const [[secret, storeFailure], [journal, rotation]] = await Promise.all([
        secretFact(ctx, connection.name, reading),
        journalFact(journals, locks, connection.name),
      ]);
      const disagrees =
        secret.kind === 'missing' || (secret.kind === 'stored' && secret.accessKeyId !== connection.accessKeyId);
      const changing = disagrees && journal === 'none' && (await locks.isHeld(connection.name));
      if (disagrees && !changing) {
        // The metadata was read before the store. A writer (add-connection --force, remove) holds the lock over
        // both of its writes, so once the lock is free the metadata read now matches what it left in the store.
        const fresh = await store.get(connection.name).catch((error: unknown) => {
          // A file damaged elsewhere (list shows its readable entries): judge by what was listed.
          if (error instanceof CliError) return connection;
          throw error;
        });
        if (!fresh) return undefined; // removed meanwhile
        connection = fresh;
      }
      const status = connectionStatus(connection, { secret, journal, changing, now });
      const keyAgeKnown = connection.keyCreatedAt !== undefined;
      const keyAgeDays = ageInDays(connection.keyCreatedAt ?? connection.createdAt, now) ?? null;
      const storedAccessKeyId =
        secret.kind === 'stored' && secret.accessKeyId !== connection.accessKeyId ? secret.accessKeyId : null;
      return {
        connection,
        rotation,
        status,
        storedAccessKeyId,
        keyAgeDays,
        keyAgeKnown,
        advice:
          status === 'unknown: secret unreadable' && storeFailure
            ? `${storeFailure.message}${storeFailure.hint ? `\n${storeFailure.hint}` : ''}`
            : advice(connection, status, storedAccessKeyId, keyAgeDays, keyAgeKnown),
        exitCode: STATUS_EXIT_CODE[status],
        storeFailure,
      };
    }),
  );
  return healths.filter((health): health is ConnectionHealth => health !== undefined);
}

async function secretFact(
  ctx: Context,
  name: string,
  reading: StoreReading | undefined,
): Promise<[StoredSecretFact, CliError | null]> {
  if (reading?.failure) return [{ kind: 'unreadable' }, reading.failure];
  if (reading?.entries) {
    const entry = reading.entries.get(name);
    if (entry === undefined) return [{ kind: 'missing' }, null];
    // The store answered: the store works, this entry does not.
    if (entry instanceof CliError) return [{ kind: 'entry unreadable' }, entry];
    return [{ kind: 'stored', accessKeyId: entry.accessKeyId }, null];
  }
  if (reading?.accounts && !reading.accounts.has(name)) return [{ kind: 'missing' }, null];
  const known = reading?.keyIds?.get(name);
  if (known !== undefined) return [{ kind: 'stored', accessKeyId: known }, null];
  try {
    const pair = await (await ctx.secrets()).get(name);
    if (!pair) return [{ kind: 'missing' }, null];
    return [{ kind: 'stored', accessKeyId: pair.accessKeyId }, null];
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    // With the accounts listed, the store works: this entry does not.
    return [{ kind: reading?.accounts ? 'entry unreadable' : 'unreadable' }, error];
  }
}

/** A connection's rotation as list, show and test report it, from its journal (no AWS call); null when none or unreadable. */
export async function rotationOf(ctx: Context, name: string): Promise<RotationState | null> {
  const [journals, locks] = await Promise.all([ctx.journals(), ctx.locks()]);
  return (await journalFact(journals, locks, name))[1];
}

async function journalFact(
  journals: Journals,
  locks: RotationLocks,
  name: string,
): Promise<[JournalFact, RotationState | null]> {
  let journal;
  try {
    journal = await journals.of(name).read();
    if (!journal) return ['none', null];
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return ['unreadable', null];
  }
  const state = rotationState(journal);
  if (await locks.isHeld(name)) return ['running', state];
  // A lifecycle waiting for its evidence between runs is no interruption: the connection works.
  return [state.waiting ? 'none' : 'present', state];
}

function advice(
  connection: Connection,
  status: ConnectionStatus,
  stored: string | null,
  keyAgeDays: number | null,
  keyAgeKnown: boolean,
): string | null {
  const name = JSON.stringify(connection.name);
  const arg = shellWord(connection.name);
  switch (status) {
    case 'ok':
      return null;
    case 'key older than 90 days':
      return `the key of ${name} is ${keyAgeKnown ? '' : 'at least '}${keyAgeDays} days old; rotate it: datablast-aws rotate ${arg}`;
    case 'secret missing':
      return `no secret is stored for ${name}; store the key again: datablast-aws add-connection ${arg} --force --access-key-id ${connection.accessKeyId} --secret-stdin`;
    case 'stored key differs':
      return `the secret store holds key ${maskAccessKeyId(stored ?? '')} for ${name}, but the metadata names ${maskAccessKeyId(connection.accessKeyId)} (an interrupted add-connection --force?); \`datablast-aws test ${arg}\` tests the stored key, and \`datablast-aws add-connection ${arg} --force\` stores the right one`;
    case 'rejected at last test':
      return `AWS rejected the key of ${name} when it was last tested; run \`datablast-aws test ${arg}\` for the cause and the fix`;
    case 'rotation in progress':
    case 'change in progress':
      return null;
    case 'rotation interrupted':
      return `a rotation of ${name} was interrupted; run \`datablast-aws rotate ${arg}\` to finish or undo it`;
    case 'unknown: rotation journal unreadable':
      return `the rotation journal of ${name} cannot be read; run \`datablast-aws rotate ${arg}\` for the details and the repair`;
    case 'unknown: secret unreadable':
    case 'unknown: secret store unavailable':
      return null;
  }
}

/** One connection as `list` and `show` report it: the connection JSON of CLI.md plus age and status. */
export type ConnectionEntry = ConnectionJson & {
  /** Whole days since the key was created; when that date is unknown, since the connection was added (a lower bound). */
  keyAgeDays: number | null;
  /** False when keyAgeDays counts from when the connection was added. */
  keyAgeKnown: boolean;
  status: ConnectionStatus;
  /** The stored pair's key id when it is not the one the metadata names (status "stored key differs"), else null. */
  storedAccessKeyId: string | null;
  /** When `test` last saw AWS reject this key, else null. */
  lastTestRejectedAt: string | null;
  /** The rotation under way: its phase, since when, and the old key's last use as the latest run saw it; null when none. */
  rotation: RotationState | null;
};

/** The reported shape of an inspected connection. */
export function connectionEntry(health: ConnectionHealth): ConnectionEntry {
  const { connection } = health;
  return {
    ...connectionJson(connection),
    keyAgeDays: health.keyAgeDays,
    keyAgeKnown: health.keyAgeKnown,
    status: health.status,
    storedAccessKeyId: health.storedAccessKeyId,
    lastTestRejectedAt: rejectedAtLastTest(connection) ? (connection.lastTestRejectedAt ?? null) : null,
    rotation: health.rotation,
  };
}

/** A rotation for people: "rotation deactivated since 2026-12-07, old key last used 2026-12-01 by s3". */
export function rotationText(rotation: RotationState): string {
  const used = rotation.oldKeyLastUsed;
  const last = used
    ? `, old key last used ${used.at ? `${day(used.at)}${used.service ? ` by ${used.service}` : ''}${used.region ? ` in ${used.region}` : ''}` : 'never'}`
    : '';
  return `rotation ${rotation.phase} since ${day(rotation.since)}${last}`;
}

/** The day of an ISO time, or "never". */
export function day(iso: string | null): string {
  return iso ? iso.slice(0, 10) : 'never';
}

/** A key age for people: "12" or "≥12" when counted from when the connection was added. */
export function ageText(entry: Pick<ConnectionEntry, 'keyAgeDays' | 'keyAgeKnown'>): string {
  if (entry.keyAgeDays === null) return '?';
  return `${entry.keyAgeKnown ? '' : '≥'}${entry.keyAgeDays}`;
}

/** Colours a status: green ok, yellow for age or what is unknown, red for what is wrong. */
export function statusText(status: ConnectionStatus, style: Style): string {
  if (status === 'ok') return style.green(status);
  if (status === 'key older than 90 days' || status.startsWith('unknown:')) return style.yellow(status);
  return style.red(status);
}
