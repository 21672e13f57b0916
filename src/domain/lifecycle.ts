import type { Connection } from './connection.js';
import type { RotationJournal } from './rotation.js';

/**
 * The rotation lifecycle's pure rules (shared/DESIGN.md, "Beyond one machine"): when the old key may be
 * deactivated (AWS's last-used evidence and the idle window), when it may be deleted (the grace period), and
 * whether a connection retires its old key at once by default. phases.ts performs what these decide.
 */

/** Default `--idle`: delivery finished this long ago, and the old key unused this long. */
export const DEFAULT_IDLE_MS = 24 * 3_600_000;
/** Default `--grace`: deactivated this long before it is deleted. */
export const DEFAULT_GRACE_MS = 7 * 86_400_000;
/** A key unused for longer than this (or never used) is reported (the guide's usage monitoring). */
export const UNUSED_REPORT_DAYS = 90;

/** What GetAccessKeyLastUsed told about one key (never a secret). */
export interface LastUse {
  /** ISO time of the last use, absent when AWS has no record of any use. */
  at?: string;
  service?: string;
  region?: string;
}

/** What the evidence says about the old key. */
export type IdleDecision =
  /** Delivery finished at least --idle ago and the old key shows no use within --idle: deactivate it. */
  | { kind: 'idle' }
  /** Not yet decidable: the idle window since delivery is still running (or the new key shows no use yet). */
  | { kind: 'wait'; until?: string; reason: string }
  /** Delivery finished more than --idle ago, but the old key was used within --idle: a consumer has not switched (exit 9). */
  | { kind: 'held'; lastUse: LastUse };

/** The facts the idle decision weighs. */
export interface IdleFacts {
  now: Date;
  /** When the last consumer took the new key. */
  deliveredAt: string;
  idleMs: number;
  oldKey: LastUse;
  /** Present with --require-new-key-use: the new key's last use. */
  newKey?: LastUse;
}

/**
 * The rule that never deactivates a key AWS shows in use within the idle window. AWS's last-used data lags
 * (IAM documents up to four hours), so a use inside the window always wins over a quiet answer later.
 */
export function decideIdle(f: IdleFacts): IdleDecision {
  const now = f.now.getTime();
  const delivered = Date.parse(f.deliveredAt);
  const oldUsed = f.oldKey.at === undefined ? undefined : Date.parse(f.oldKey.at);
  const windowOpen = now - delivered < f.idleMs;
  const usedInWindow = oldUsed !== undefined && now - oldUsed < f.idleMs;
  if (windowOpen)
    return {
      kind: 'wait',
      until: new Date(Math.max(delivered + f.idleMs, usedInWindow ? oldUsed + f.idleMs : 0)).toISOString(),
      reason: 'the consumers were handed the new key less than the idle window ago',
    };
  if (usedInWindow) return { kind: 'held', lastUse: f.oldKey };
  if (f.newKey !== undefined) {
    const newUsed = f.newKey.at === undefined ? undefined : Date.parse(f.newKey.at);
    if (newUsed === undefined || newUsed < delivered)
      return { kind: 'wait', reason: 'the new key shows no use since delivery yet (--require-new-key-use)' };
  }
  return { kind: 'idle' };
}

/** What becomes of an old key deactivated at `deactivatedAt`, given what IAM lists now. */
export type GraceDecision =
  /** The grace period has passed: delete it. */
  | { kind: 'delete' }
  /** Still inside the grace period. */
  | { kind: 'wait'; until: string }
  /** Someone turned it back on: the operator undid the deactivation; it is never deleted. */
  | { kind: 'reactivated' }
  /** It is gone already (deleted by hand): nothing left to do. */
  | { kind: 'gone' };

/** The grace rule: delete only an inactive key, and only `graceMs` after its deactivation. */
export function decideGrace(
  now: Date,
  deactivatedAt: string,
  graceMs: number,
  status: 'Active' | 'Inactive' | undefined,
): GraceDecision {
  if (status === undefined) return { kind: 'gone' };
  if (status === 'Active') return { kind: 'reactivated' };
  const due = Date.parse(deactivatedAt) + graceMs;
  return now.getTime() >= due ? { kind: 'delete' } : { kind: 'wait', until: new Date(due).toISOString() };
}

/**
 * Whether a connection's key has holders besides this machine's one-shot readers (`env`, `credential-process`
 * without an exported profile): recorded consumers, or an exported profile (long-running SDK clients).
 */
export function hasConsumers(connection: Pick<Connection, 'consumers' | 'exportedProfiles'>): boolean {
  return (connection.consumers?.length ?? 0) > 0 || (connection.exportedProfiles?.length ?? 0) > 0;
}

/** How a rotation retires the old key: at once (`--now`, or nobody else holds the key) or by the lifecycle. */
export function retirementMode(requestNow: boolean, connection: Pick<Connection, 'consumers' | 'exportedProfiles'>) {
  return requestNow || !hasConsumers(connection) ? ('now' as const) : ('lifecycle' as const);
}

/** Whether a key's last use deserves a warning: never used, or unused for more than UNUSED_REPORT_DAYS. */
export function unusedWarning(lastUse: LastUse, now: Date, keyCreatedAt?: string): string | undefined {
  if (lastUse.at === undefined) {
    const created = keyCreatedAt === undefined ? Number.NaN : Date.parse(keyCreatedAt);
    const days = Number.isNaN(created) ? undefined : Math.floor((now.getTime() - created) / 86_400_000);
    return days === undefined
      ? 'AWS shows no use of this key at all'
      : `AWS shows no use of this key in the ${days} day${days === 1 ? '' : 's'} since it was created`;
  }
  const days = Math.floor((now.getTime() - Date.parse(lastUse.at)) / 86_400_000);
  return days > UNUSED_REPORT_DAYS
    ? `this key was last used ${days} days ago (more than ${UNUSED_REPORT_DAYS}): if nothing needs it, remove it`
    : undefined;
}

/** The key's last use as `show` and `test` report it, with a warning when unused too long or never. */
export interface KeyLastUse {
  at: string | null;
  service: string | null;
  region: string | null;
  warning: string | null;
}

/** GetAccessKeyLastUsed's answer as `show` and `test` report it (the warning: unusedWarning). */
export function keyLastUse(lastUse: LastUse, now: Date, keyCreatedAt?: string): KeyLastUse {
  return {
    at: lastUse.at ?? null,
    service: lastUse.service ?? null,
    region: lastUse.region ?? null,
    warning: unusedWarning(lastUse, now, keyCreatedAt) ?? null,
  };
}

/** "2026-12-07T03:00:00Z by iam in us-east-1", or "never". */
export function describeLastUse(lastUse: LastUse | undefined | null): string {
  if (!lastUse?.at) return 'never (as far as AWS shows)';
  const where = [lastUse.service ? `by ${lastUse.service}` : '', lastUse.region ? `in ${lastUse.region}` : '']
    .filter(Boolean)
    .join(' ');
  return where ? `${lastUse.at} ${where}` : lastUse.at;
}

/** A connection's rotation as `list`, `show` and `test` report it (from the journal: no AWS call). */
export interface RotationState {
  /** The journal's phase: creating, created, switched, delivered, deactivated or reactivated. */
  phase: RotationJournal['phase'];
  /** True while a lifecycle waits for its evidence (not an interruption). */
  waiting: boolean;
  /** When the rotation entered that phase. */
  since: string;
  oldAccessKeyId: string;
  newAccessKeyId: string | null;
  /** The old key's last use as the latest rotate run read it from AWS, with when it asked; null until asked. */
  oldKeyLastUsed: (LastUse & { checkedAt: string }) | null;
}

/** True when a journal is a lifecycle waiting between runs (switched in, retired later), not a half-done step. */
export function isWaitingLifecycle(journal: RotationJournal): boolean {
  if (journal.phase === 'delivered' || journal.phase === 'deactivated' || journal.phase === 'reactivated') return true;
  return journal.phase === 'switched' && journal.mode === 'lifecycle';
}

/** What a journal says about a connection's rotation. */
export function rotationState(journal: RotationJournal): RotationState {
  const since =
    journal.phase === 'delivered'
      ? journal.deliveredAt
      : journal.phase === 'deactivated'
        ? journal.deactivatedAt
        : journal.phase === 'reactivated'
          ? journal.reactivatedAt
          : journal.updatedAt;
  return {
    phase: journal.phase,
    waiting: isWaitingLifecycle(journal),
    since: since ?? journal.updatedAt,
    oldAccessKeyId: journal.oldAccessKeyId,
    newAccessKeyId: journal.newAccessKeyId ?? null,
    oldKeyLastUsed: journal.oldKeyLastUsed ?? null,
  };
}
