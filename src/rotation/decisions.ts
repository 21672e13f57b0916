import { CliError, LockHeldError, RotationInterruptedError } from '../errors.js';
import type { ResumeAction } from '../domain/rotation.js';

/**
 * The rotation engine's pure decisions: which phase comes next, where a run starts from the journal it
 * finds, and what becomes of a failure. No I/O: engine.ts performs the phases, phases.ts describes them.
 */

/**
 * The phases of the protocol (shared/DESIGN.md, "Rotation protocol"). Each is idempotent and re-runnable:
 * what a phase needs to know is in the journal or read again.
 * - recover: read the journal; if there is one, decide to finish it or undo it (read-only)
 * - undo: forget an interrupted rotation that made nothing usable (delete its orphan key, its pending entry)
 * - adopt: record a new key that was stored but not yet journaled
 * - check: prove the current key, learn its user, list its keys, decide about the other key (read-only)
 * - make-room: drop a leftover pending entry and an inactive key nobody holds
 * - create: journal `creating`, CreateAccessKey, store it under the pending entry, journal `created`
 * - prove: poll until AWS accepts the new key
 * - roll-back: AWS never accepted it: delete it, keep the old key
 * - switch: the new secret becomes the connection's entry
 * - record: the metadata names the new key; journal `switched`
 * - retire: deactivate, delete (or keep inactive), confirm with IAM; forget the pending entry and the journal
 *   (--now, or a connection nobody else holds the key of)
 * The lifecycle (a connection with consumers or an exported profile), run after run:
 * - deliver: hand the new key to every consumer (each outcome saved); journal `delivered` once all took it
 * - await-idle: AWS's last-used data for the old key against the idle window (domain/lifecycle.ts); held → exit 9
 * - deactivate: the old key inactive, confirmed by IAM; journal `deactivated` (--keep-old: finished here)
 * - await-grace: the grace period since deactivation; a key turned back on is never deleted
 * - delete: delete the old key, confirm with IAM, forget the journal
 * - reactivate: `--reactivate-old`: the inactive old key active again; journal `reactivated`
 */
export type PhaseName =
  | 'recover'
  | 'undo'
  | 'adopt'
  | 'check'
  | 'make-room'
  | 'create'
  | 'prove'
  | 'roll-back'
  | 'switch'
  | 'record'
  | 'retire'
  | 'deliver'
  | 'await-idle'
  | 'deactivate'
  | 'await-grace'
  | 'delete'
  | 'reactivate';

/** Every phase, in protocol order. */
export const PHASES: readonly PhaseName[] = [
  'recover',
  'undo',
  'adopt',
  'check',
  'make-room',
  'create',
  'prove',
  'roll-back',
  'switch',
  'record',
  'retire',
  'deliver',
  'await-idle',
  'deactivate',
  'await-grace',
  'delete',
  'reactivate',
];

/** Phases that only read: a dry run performs them, and describes the others. */
export const READ_ONLY_PHASES: ReadonlySet<PhaseName> = new Set(['recover', 'check']);

/** What a phase reports to the loop. */
export type PhaseOutcome =
  /** Done: go on in protocol order. */
  | { kind: 'ok' }
  /** recover: no journal. */
  | { kind: 'no-journal' }
  /** recover: a journal, and what to do with it. */
  | { kind: 'resume'; action: Exclude<ResumeAction, { kind: 'refuse' }> }
  /** check: the key is younger than --older-than. */
  | { kind: 'skipped' }
  /** prove: AWS never accepted the new key within the policy. */
  | { kind: 'not-accepted' }
  /** A lifecycle phase that waits (or finished the lifecycle): the run ends here, and that is not a failure. */
  | { kind: 'stop' };

/** What steers the loop besides outcomes: the connection's retirement mode and the run's flags. */
export interface Route {
  /** Retire by the lifecycle (consumers or an exported profile) rather than at once. */
  lifecycle?: boolean;
  /** `--now`: retire at once, even a lifecycle in progress (a suspected leak). */
  now?: boolean;
  /** `--reactivate-old`. */
  reactivate?: boolean;
}

const LIFECYCLE_ACTIONS: ReadonlySet<string> = new Set(['deliver', 'await-idle', 'await-grace', 'reactivated']);

/** The phase after `phase` given its outcome, or 'end'. A dry run stops after an undo: what follows depends on it. */
export function nextPhase(
  phase: PhaseName,
  outcome: PhaseOutcome,
  dryRun = false,
  route: Route = {},
): PhaseName | 'end' {
  if (outcome.kind === 'stop') return 'end';
  switch (phase) {
    case 'recover':
      if (route.reactivate) return 'reactivate';
      if (outcome.kind === 'resume') {
        if (route.now && LIFECYCLE_ACTIONS.has(outcome.action.kind)) return 'retire';
        return resumePhase(outcome.action);
      }
      return 'check';
    case 'undo':
      return dryRun ? 'end' : 'check';
    case 'adopt':
      return 'prove';
    case 'check':
      return outcome.kind === 'skipped' ? 'end' : 'make-room';
    case 'make-room':
      return 'create';
    case 'create':
      return 'prove';
    case 'prove':
      return outcome.kind === 'not-accepted' ? 'roll-back' : 'switch';
    case 'roll-back':
      return 'end';
    case 'switch':
      return 'record';
    case 'record':
      return route.lifecycle && !route.now ? 'deliver' : 'retire';
    case 'retire':
      return 'end';
    case 'deliver':
      return 'await-idle';
    case 'await-idle':
      return 'deactivate';
    case 'deactivate':
      return 'await-grace';
    case 'await-grace':
      return 'delete';
    case 'delete':
    case 'reactivate':
      return 'end';
  }
}

/** Where an interrupted rotation goes on, by the resume decision (domain/rotation.ts decideResume). */
export function resumePhase(action: Exclude<ResumeAction, { kind: 'refuse' }>): PhaseName {
  switch (action.kind) {
    case 'clear':
    case 'delete-orphan':
      return 'undo';
    case 'adopt-pending':
      return 'adopt';
    case 'verify-and-switch':
      return 'prove';
    case 'finish-switch':
      return 'record';
    case 'retire':
      return 'retire';
    case 'deliver':
      return 'deliver';
    case 'await-idle':
    case 'reactivated':
      return 'await-idle';
    case 'await-grace':
      return 'await-grace';
  }
}

/** The phases a run would take from `start` when every phase succeeds (the --dry-run plan's skeleton). */
export function plannedPhases(start: PhaseName, dryRun = true, route: Route = {}): PhaseName[] {
  const phases: PhaseName[] = [];
  for (let phase: PhaseName | 'end' = start; phase !== 'end'; phase = nextPhase(phase, { kind: 'ok' }, dryRun, route)) {
    phases.push(phase);
  }
  return phases;
}

/**
 * A failure the engine decided on itself (a refusal, a blocked key, a corrupt journal): reported as it is,
 * never turned into "interrupted", because running again would meet the same refusal.
 */
export class RotationStop extends Error {
  constructor(readonly error: CliError) {
    super(error.message, { cause: error });
    this.name = 'RotationStop';
  }
}

/** What becomes of a failure: reported as it is, or as a resumable interruption (exit 8). */
export type Fate = 'as-is' | 'resumable';

/**
 * The one rule for a failed phase: when it leaves a journal, the next run finishes or undoes the rotation,
 * so it is reported as resumable (exit 8), whatever the failure was — unless the engine stopped on purpose,
 * the failure already says so, or nothing was changed (a dry run).
 */
export function failureFate(error: unknown, journalLeft: boolean, dryRun: boolean): Fate {
  // A lost claim (shared store): the host that took it over owns the rotation now; this run must not say "run again".
  if (error instanceof RotationStop || error instanceof RotationInterruptedError || error instanceof LockHeldError)
    return 'as-is';
  if (dryRun || !journalLeft) return 'as-is';
  return 'resumable';
}
