import type { AccessKeyInfo } from '../domain/iam.js';
import { ExitCode } from '../errors.js';
import { validateAccessKeyId } from './access-key.js';
import { validateUserName } from './policies.js';

/**
 * The rotation protocol's pure parts: the journal's shape, the pending secret-store entry, which of a
 * user's keys may be touched, what a later run does with a journal it finds, and the timing of the
 * proof that AWS accepts a new key. The command (src/commands/rotate.ts) performs the steps.
 */

/** The journal format this version writes and understands. */
export const JOURNAL_VERSION = 1;

/**
 * How far a rotation got, written BEFORE the step it announces:
 * `creating` before CreateAccessKey, `created` once the new secret is stored under the pending entry
 * (before it is proven and switched in), `switched` once the connection holds the new key (before
 * the old key is retired).
 */
export type RotationPhase = 'creating' | 'created' | 'switched' | 'delivered' | 'deactivated' | 'reactivated';

/**
 * All phases, in protocol order. The lifecycle's (src/domain/lifecycle.ts) follow `switched` and persist
 * between runs while it waits for evidence: `delivered` once every consumer took the new key (the idle window
 * runs), `deactivated` once IAM shows the old key inactive (the grace period runs), `reactivated` when the
 * operator turned the old key back on (the lifecycle stops there).
 */
export const ROTATION_PHASES: readonly RotationPhase[] = [
  'creating',
  'created',
  'switched',
  'delivered',
  'deactivated',
  'reactivated',
];

/** Journal phases after the switch: the connection holds the new key, the old one still exists. */
export const AFTER_SWITCH: ReadonlySet<RotationPhase> = new Set([
  'switched',
  'delivered',
  'deactivated',
  'reactivated',
]);

/** The rotation journal: ids and times only, never a secret. */
export interface RotationJournal {
  version: typeof JOURNAL_VERSION;
  /** The connection being rotated. */
  connection: string;
  phase: RotationPhase;
  /** When the rotation started (just before CreateAccessKey). */
  startedAt: string;
  updatedAt: string;
  /** The IAM user whose keys rotate, learned from STS. */
  userName: string;
  accountId?: string;
  /** The key the connection held when the rotation started. */
  oldAccessKeyId: string;
  /** Every key id the user had just before CreateAccessKey: a later key is ours. */
  keysBefore: string[];
  /** Set from `created` on. */
  newAccessKeyId?: string;
  newKeyCreatedAt?: string;
  /** The old key is deactivated but kept (--keep-old). */
  keepOld: boolean;
  /** How the old key is retired: at once (absent in journals of earlier versions) or by the lifecycle. */
  mode?: 'now' | 'lifecycle';
  /** `delivered` on: when the last consumer took the new key (the idle window starts). */
  deliveredAt?: string;
  /** `deactivated` on: when IAM showed the old key inactive (the grace period starts). */
  deactivatedAt?: string;
  /** `reactivated`: when the operator turned the old key back on. */
  reactivatedAt?: string;
  /** The old key's last use as AWS showed it to the latest run (at `checkedAt`), for list and show. */
  oldKeyLastUsed?: { at?: string; service?: string; region?: string; checkedAt: string };
}

/**
 * The secret-store account under which a new key waits until it is proven. Connection names cannot
 * contain control characters (validateConnectionName), so a name with U+001F (unit separator) can
 * never be a real connection's account; it is a valid UTF-8 and D-Bus string for every store.
 */
export function pendingAccount(name: string): string {
  return `${name}${PENDING_SEPARATOR}pending-rotation`;
}

const PENDING_SEPARATOR = '\u001f';

/** True for an account made by pendingAccount (so `list` and cleanup can tell it from a connection). */
export function isPendingAccount(account: string): boolean {
  return account.endsWith(`${PENDING_SEPARATOR}pending-rotation`);
}

/** The connection a pending account belongs to. */
export function connectionOfPendingAccount(account: string): string | undefined {
  return isPendingAccount(account) ? account.slice(0, -`${PENDING_SEPARATOR}pending-rotation`.length) : undefined;
}

/** An IAM user as its ARN names it. */
export interface ArnUser {
  accountId: string;
  userName: string;
  /** The IAM path, "/" or "/a/b/". */
  path: string;
}

/** The user an ARN names (arn:aws:iam::123456789012:user/path/name), or undefined for roles, root and anything else. */
export function userFromArn(arn: string): ArnUser | undefined {
  const match = /^arn:aws[a-z-]*:iam::(\d{12}):user(\/(?:[^/]+\/)*)([^/]+)$/.exec(arn);
  if (!match) return undefined;
  return { accountId: match[1]!, path: match[2]!, userName: match[3]! };
}

/** What to do about the user's key that is not the connection's, before creating a new one (AWS allows two per user). */
export type OtherKeyDecision =
  /** Only the connection's own key: go ahead. */
  | { kind: 'none' }
  /** An inactive key no connection holds: delete it first, and say so. */
  | { kind: 'delete-stale'; key: AccessKeyInfo }
  /** An active key no connection holds: never touched; stop. */
  | { kind: 'blocked-foreign'; key: AccessKeyInfo }
  /** A key another connection (or an unfinished rotation) holds: stop. */
  | { kind: 'blocked-held'; key: AccessKeyInfo; holder: string }
  /** The connection's key is not among the user's keys (wrong user, or IAM not yet consistent). */
  | { kind: 'current-missing' };

/**
 * Decides about the user's other keys. `holders` maps key ids to the connection that holds them
 * (every connection's metadata). A key is deleted only when inactive and held by no one.
 */
export function decideOtherKey(
  keys: readonly AccessKeyInfo[],
  currentKeyId: string,
  holders: ReadonlyMap<string, string>,
): OtherKeyDecision {
  if (!keys.some((k) => k.accessKeyId === currentKeyId)) return { kind: 'current-missing' };
  const others = keys.filter((k) => k.accessKeyId !== currentKeyId);
  // Blockers first: if any other key must not be touched, nothing is deleted.
  for (const key of others) {
    const holder = holders.get(key.accessKeyId);
    if (holder !== undefined) return { kind: 'blocked-held', key, holder };
    if (key.status === 'Active') return { kind: 'blocked-foreign', key };
  }
  const stale = others[0];
  return stale ? { kind: 'delete-stale', key: stale } : { kind: 'none' };
}

/** What a run that finds a journal knows before it acts. */
export interface ResumeFacts {
  journal: RotationJournal;
  /** Key id in the connection's own secret entry (undefined when the entry is missing). */
  currentKeyId: string | undefined;
  /** Key id in the pending entry, if any. */
  pendingKeyId: string | undefined;
  /** The user's keys in IAM now. */
  iamKeys: readonly AccessKeyInfo[];
  /** Key ids held by any connection's metadata → that connection's name. */
  holders: ReadonlyMap<string, string>;
}

/** What to do with an interrupted rotation: finish it or undo it. */
export type ResumeAction =
  /** Nothing was created (or it is already gone): drop the pending entry if any, forget the journal. */
  | { kind: 'clear'; deletePending: boolean; reason: string }
  /** A new key exists whose secret nobody holds: delete it, drop the pending entry if any, forget the journal. */
  | { kind: 'delete-orphan'; accessKeyId: string; deletePending: boolean }
  /** The run stopped between storing the new secret and journalling it: record it and carry on as `created`. */
  | { kind: 'adopt-pending'; accessKeyId: string; createDate: string | undefined }
  /** The new secret is stored: prove it and switch it in (or roll back if AWS never accepts it). */
  | { kind: 'verify-and-switch' }
  /** The connection's entry already holds the new key: past the point of no return, finish the switch. */
  | { kind: 'finish-switch' }
  /** Switched: retire the old key at once. */
  | { kind: 'retire' }
  /** Switched, lifecycle: hand the new key to the consumers. */
  | { kind: 'deliver' }
  /** Delivered: wait for the old key to be idle. */
  | { kind: 'await-idle' }
  /** Deactivated: wait out the grace period. */
  | { kind: 'await-grace' }
  /** The operator turned the old key back on: the lifecycle stays there. */
  | { kind: 'reactivated' }
  /** The world does not match the journal: touch nothing and explain. */
  | { kind: 'refuse'; reason: string };

/** How much earlier than the journal's start a new key's CreateDate may be (clock skew between us and AWS). */
export const CREATE_DATE_SKEW_MS = 15 * 60_000;

/**
 * The resume decision table. Rule of thumb: a key is deleted only when it was created by this
 * rotation (not among `keysBefore`, created after the start) and no store holds its secret; a stored
 * secret is never dropped while AWS still has its key, except when rolling back before the switch.
 */
export function decideResume(facts: ResumeFacts): ResumeAction {
  const { journal, currentKeyId, pendingKeyId, iamKeys, holders } = facts;
  const inIam = (id: string | undefined) => id !== undefined && iamKeys.some((k) => k.accessKeyId === id);
  const newId = journal.newAccessKeyId;

  if (currentKeyId === undefined) {
    return {
      kind: 'refuse',
      reason: `the secret of connection "${journal.connection}" is missing from the secret store`,
    };
  }

  if (AFTER_SWITCH.has(journal.phase)) {
    if (newId !== undefined && currentKeyId === newId) return afterSwitch(journal);
    return {
      kind: 'refuse',
      reason: `the journal says the connection switched to ${newId ?? '(unknown)'}, but it holds ${currentKeyId}`,
    };
  }

  if (journal.phase === 'created') {
    if (newId === undefined)
      return { kind: 'refuse', reason: 'the journal is in phase "created" but names no new key' };
    if (currentKeyId === newId) return { kind: 'finish-switch' };
    if (currentKeyId !== journal.oldAccessKeyId) return refuseReplaced(journal, currentKeyId);
    if (pendingKeyId === newId) {
      if (inIam(newId)) return { kind: 'verify-and-switch' };
      return { kind: 'clear', deletePending: true, reason: `the new key ${newId} no longer exists in IAM` };
    }
    if (pendingKeyId !== undefined)
      return { kind: 'refuse', reason: `the pending entry holds ${pendingKeyId}, not the journal's new key ${newId}` };
    // The pending secret is gone (only a person could have removed it): nobody can use the new key.
    if (inIam(newId) && !holders.has(newId)) return { kind: 'delete-orphan', accessKeyId: newId, deletePending: false };
    return { kind: 'clear', deletePending: false, reason: `the new key ${newId} is not stored and not in IAM` };
  }

  // creating: CreateAccessKey may or may not have happened, and its secret may or may not be stored.
  if (currentKeyId !== journal.oldAccessKeyId) return refuseReplaced(journal, currentKeyId);
  const started = Date.parse(journal.startedAt);
  const fresh = iamKeys.filter(
    (k) =>
      !journal.keysBefore.includes(k.accessKeyId) &&
      k.accessKeyId !== journal.oldAccessKeyId &&
      !holders.has(k.accessKeyId),
  );
  if (fresh.length > 1) {
    return {
      kind: 'refuse',
      reason: `user ${journal.userName} has ${fresh.length} keys created since the rotation started (${fresh.map((k) => k.accessKeyId).join(', ')}); only one can be ours`,
    };
  }
  const candidate = fresh[0];
  if (candidate === undefined) {
    return { kind: 'clear', deletePending: pendingKeyId !== undefined, reason: 'no new key was created' };
  }
  const created = candidate.createDate === undefined ? Number.NaN : Date.parse(candidate.createDate);
  if (!Number.isNaN(created) && !Number.isNaN(started) && created < started - CREATE_DATE_SKEW_MS) {
    return {
      kind: 'refuse',
      reason: `key ${candidate.accessKeyId} is not in the journal's list but was created at ${candidate.createDate}, before the rotation started`,
    };
  }
  if (pendingKeyId === candidate.accessKeyId)
    return { kind: 'adopt-pending', accessKeyId: candidate.accessKeyId, createDate: candidate.createDate };
  if (pendingKeyId !== undefined)
    return {
      kind: 'refuse',
      reason: `the pending entry holds ${pendingKeyId}, but the new key in IAM is ${candidate.accessKeyId}`,
    };
  return { kind: 'delete-orphan', accessKeyId: candidate.accessKeyId, deletePending: false };
}

/** Where a journal past the switch goes on. */
function afterSwitch(journal: RotationJournal): ResumeAction {
  switch (journal.phase) {
    case 'delivered':
      return { kind: 'await-idle' };
    case 'deactivated':
      return { kind: 'await-grace' };
    case 'reactivated':
      return { kind: 'reactivated' };
    default:
      return journal.mode === 'lifecycle' ? { kind: 'deliver' } : { kind: 'retire' };
  }
}

function refuseReplaced(journal: RotationJournal, currentKeyId: string): ResumeAction {
  return {
    kind: 'refuse',
    reason: `connection "${journal.connection}" now holds ${currentKeyId}, neither the rotation's old key ${journal.oldAccessKeyId} nor its new key ${journal.newAccessKeyId ?? '(none yet)'}; it was replaced during the rotation`,
  };
}

/** True when a resume action finishes the interrupted rotation (rather than undoing it). */
export function finishesRotation(action: ResumeAction): boolean {
  return (
    action.kind === 'adopt-pending' ||
    action.kind === 'verify-and-switch' ||
    action.kind === 'finish-switch' ||
    action.kind === 'retire' ||
    action.kind === 'deliver' ||
    action.kind === 'await-idle' ||
    action.kind === 'await-grace' ||
    action.kind === 'reactivated'
  );
}

/**
 * Timing of the proof that AWS accepts a new key during a rotation (IAM is eventually consistent).
 * The waits are capped at 0.5 s, not more: a rotation then ends at most about a second after AWS
 * starts accepting the key (the next poll, then two more successes 250 ms apart), which
 * test/integration/propagation.test.ts checks against a proxy that refuses the new key for D seconds.
 * Polling GetCallerIdentity twice a second for the rare long wait costs nothing (no charge, a high quota).
 */
export const PROOF_POLICY = {
  /** Successful calls in a row that count as proof. */
  requiredSuccesses: 3,
  initialDelayMs: 250,
  maxDelayMs: 500,
  /** Give up (and roll back) after this long. */
  timeoutMs: 120_000,
} as const;

/** Waiting out a young key that AWS does not accept yet in `test` (nothing waits on it but the user). */
export const VERIFY_POLICY = {
  /** Successful calls in a row that count as proof. */
  requiredSuccesses: 3,
  initialDelayMs: 250,
  maxDelayMs: 2_000,
  /** Give up after this long. */
  timeoutMs: 120_000,
} as const;

/** Retrying the old key's retirement while IAM does not yet accept the new key's signature. */
export const RETIRE_POLICY = { initialDelayMs: 250, maxDelayMs: 2_000, timeoutMs: 60_000 } as const;

/** The next wait in a capped exponential backoff (the one backoff's rule, re-exported for its callers here). */
export { nextDelay } from './backoff.js';

/** Whether a key of this age is due under --older-than (age unknown: due, so an unknown key is never left unrotated). */
export function isDue(ageDays: number | undefined, olderThanDays: number | undefined): boolean {
  if (olderThanDays === undefined || ageDays === undefined) return true;
  return ageDays >= olderThanDays;
}

/**
 * With --all, the exit code of the most urgent failure: 8 first (something is half-done: run again),
 * then 1 (a bug), 4 (a key AWS rejects: the connection is broken), 6 (secret store), 5 (AWS), 3
 * (configuration), 9 (held: nothing failed and every connection works, but a consumer still uses an old
 * key and a person must act; it outranks 7 because a held lifecycle stays held night after night, while
 * 7 goes away on the next run), 7 (another rotation is running: the least alarming), 2.
 */
export const FAILURE_PRIORITY: readonly number[] = [
  ExitCode.interrupted,
  ExitCode.internal,
  ExitCode.credentialsRejected,
  ExitCode.secretStore,
  ExitCode.aws,
  ExitCode.config,
  ExitCode.held,
  ExitCode.locked,
  ExitCode.usage,
  ExitCode.cancelled,
];

/** The exit code for a set of per-connection codes: 0 when all are 0, else the most urgent. */
export function worstExitCode(codes: readonly number[]): number {
  const failures = codes.filter((c) => c !== 0);
  if (failures.length === 0) return 0;
  const rank = (c: number) => {
    const i = FAILURE_PRIORITY.indexOf(c);
    return i < 0 ? FAILURE_PRIORITY.length : i;
  };
  return failures.reduce((a, b) => (rank(b) < rank(a) ? b : a));
}

/** True when `check` accepts `value` (the input validators throw; a journal is checked by the same rules). */
function passes(check: (value: string) => unknown, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    check(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * What is wrong with a parsed journal of `connectionName`, or undefined when every field is well-formed: a
 * journal decides which keys are deleted, so each field is checked with the rules used on input.
 */
export function journalProblem(r: Record<string, unknown>, connectionName: string): string | undefined {
  const isKeyId = (v: unknown) => passes((id) => validateAccessKeyId(id), v);
  const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (r.connection !== connectionName)
    return `it belongs to connection ${JSON.stringify(r.connection)}, not ${JSON.stringify(connectionName)}`;
  if (!ROTATION_PHASES.includes(r.phase as never)) return `unknown phase ${JSON.stringify(r.phase)}`;
  if (!isTime(r.startedAt) || !isTime(r.updatedAt)) return 'startedAt or updatedAt is not a time';
  if (!passes(validateUserName, r.userName)) return 'userName is not an IAM user name';
  if (!isKeyId(r.oldAccessKeyId)) return 'oldAccessKeyId is not an access key id';
  if (!Array.isArray(r.keysBefore) || !r.keysBefore.every(isKeyId)) return 'keysBefore is not a list of access key ids';
  if (typeof r.keepOld !== 'boolean') return 'keepOld is not true or false';
  if (r.phase !== 'creating' && r.newAccessKeyId === undefined)
    return `phase ${String(r.phase)} without newAccessKeyId`;
  if (r.newAccessKeyId !== undefined && !isKeyId(r.newAccessKeyId)) return 'newAccessKeyId is not an access key id';
  if (r.accountId !== undefined && !(typeof r.accountId === 'string' && /^\d{12}$/.test(r.accountId)))
    return 'accountId is not a 12-digit account id';
  if (r.newKeyCreatedAt !== undefined && !isTime(r.newKeyCreatedAt)) return 'newKeyCreatedAt is not a time';
  if (r.mode !== undefined && r.mode !== 'now' && r.mode !== 'lifecycle') return 'mode is not "now" or "lifecycle"';
  for (const field of ['deliveredAt', 'deactivatedAt', 'reactivatedAt'] as const)
    if (r[field] !== undefined && !isTime(r[field])) return `${field} is not a time`;
  if (r.oldKeyLastUsed !== undefined) {
    const u = r.oldKeyLastUsed as Record<string, unknown> | null;
    if (typeof u !== 'object' || u === null || !isTime(u.checkedAt) || (u.at !== undefined && !isTime(u.at)))
      return 'oldKeyLastUsed is not a last use';
    for (const field of ['service', 'region'] as const)
      if (u[field] !== undefined && typeof u[field] !== 'string') return `oldKeyLastUsed.${field} is not text`;
  }
  if (r.phase === 'delivered' && r.deliveredAt === undefined) return 'phase delivered without deliveredAt';
  if ((r.phase === 'deactivated' || r.phase === 'reactivated') && r.deactivatedAt === undefined)
    return `phase ${String(r.phase)} without deactivatedAt`;
  return undefined;
}
