import { ExitCode } from '../errors.js';
import { ageInDays, ROTATION_PERIOD_DAYS, type Connection } from './connection.js';

/**
 * What `list` and `show` say about a connection without calling AWS: only what is known. "ok" means
 * the secret store was read, holds this connection's key (the key id the metadata names), no rotation
 * is half-done and the last test did not see AWS reject the key.
 */
export type ConnectionStatus =
  | 'ok'
  | 'key older than 90 days'
  | 'secret missing'
  | 'stored key differs'
  | 'rejected at last test'
  | 'rotation interrupted'
  | 'rotation in progress'
  | 'change in progress'
  | 'unknown: secret store unavailable'
  | 'unknown: secret unreadable'
  | 'unknown: rotation journal unreadable';

/** The exit code each status gives `list` and `show` (CLI.md's codes; the worst one wins). */
export const STATUS_EXIT_CODE: Readonly<Record<ConnectionStatus, number>> = {
  ok: 0,
  // A warning, as CLI.md describes list: the key still works.
  'key older than 90 days': 0,
  'secret missing': ExitCode.config,
  'stored key differs': ExitCode.config,
  'rejected at last test': ExitCode.credentialsRejected,
  'rotation interrupted': ExitCode.interrupted,
  // Another process is rotating it right now (its lock is held): nothing is wrong yet.
  'rotation in progress': 0,
  // Another process holds the connection's lock while it writes the secret and the metadata (add, remove).
  'change in progress': 0,
  'unknown: secret store unavailable': ExitCode.secretStore,
  'unknown: secret unreadable': ExitCode.secretStore,
  'unknown: rotation journal unreadable': ExitCode.config,
};

/**
 * What was found about one connection's secret: a store that could not be read, an entry that could not
 * (the store listed it, but reading it failed: damaged, not a key pair), no entry, or the stored pair's key id.
 */
export type StoredSecretFact =
  { kind: 'unreadable' } | { kind: 'entry unreadable' } | { kind: 'missing' } | { kind: 'stored'; accessKeyId: string };

/** What the journal file says: no rotation under way, one running (its lock held), one interrupted, or a journal that cannot be read. */
export type JournalFact = 'none' | 'running' | 'present' | 'unreadable';

/** The facts a status is decided from. */
export interface HealthFacts {
  secret: StoredSecretFact;
  journal: JournalFact;
  /** A live process holds the connection's lock (add-connection --force or remove writing it now). */
  changing?: boolean;
  now: Date;
}

/** True when the last `test` of this very key saw AWS reject it, and no later test passed. */
export function rejectedAtLastTest(connection: Connection): boolean {
  const at = connection.lastTestRejectedAt;
  if (at === undefined || connection.lastTestRejectedKeyId !== connection.accessKeyId) return false;
  return connection.lastTestedAt === undefined || Date.parse(at) >= Date.parse(connection.lastTestedAt);
}

/**
 * The one status of a connection: the most urgent thing known. A half-done rotation explains a stored
 * key that differs, so it comes first; then what could not be read; then what is wrong; then age.
 */
export function connectionStatus(connection: Connection, facts: HealthFacts): ConnectionStatus {
  if (facts.journal === 'present') return 'rotation interrupted';
  if (facts.journal === 'running') return 'rotation in progress';
  if (facts.journal === 'unreadable') return 'unknown: rotation journal unreadable';
  if (facts.secret.kind === 'unreadable') return 'unknown: secret store unavailable';
  if (facts.secret.kind === 'entry unreadable') return 'unknown: secret unreadable';
  const disagrees = facts.secret.kind === 'missing' || facts.secret.accessKeyId !== connection.accessKeyId;
  // The secret and the metadata are two writes: between them, the lock's holder explains the difference.
  if (disagrees && facts.changing) return 'change in progress';
  if (facts.secret.kind === 'missing') return 'secret missing';
  if (facts.secret.accessKeyId !== connection.accessKeyId) return 'stored key differs';
  if (rejectedAtLastTest(connection)) return 'rejected at last test';
  const age = ageInDays(connection.keyCreatedAt ?? connection.createdAt, facts.now);
  if (age !== undefined && age > ROTATION_PERIOD_DAYS) return 'key older than 90 days';
  return 'ok';
}
