import type { Context } from '../ports.js';
import { quotedName } from '../domain/connection.js';
import { resolveRegion } from '../domain/region.js';
import { CliError, ConfigError, LockHeldError, RotationInterruptedError } from '../errors.js';
import { READ_ONLY_PHASES, RotationStop, failureFate, nextPhase, type PhaseName, type Route } from './decisions.js';
import { PHASE_TABLE, youngWithoutLock } from './phases.js';
import type { LifecycleReport, RotationRequest, RotationRun } from './run.js';

/** How long a second rotation of the same connection waits for the lock before exit 7. */
export const LOCK_WAIT_MS = 3_000;
/**
 * How long a rotation under --older-than (the cron form) waits: the holder's rotation decides this one, which then
 * finds a young key and skips, so that hosts whose cron fires together report one rotation and no failure. Above a
 * rotation's longest steps (the new key's proof, 120 s; the retirement's confirmation, 60 s).
 */
export const CRON_LOCK_WAIT_MS = 300_000;

/** Another run held the connection's lock for as long as this one waited (exit 7); nothing was done. */
export class RotationLockBusy extends LockHeldError {}

/**
 * How one connection's rotation ended (CLI.md "JSON results"), with the lifecycle's statuses: the run stopped
 * where the lifecycle waits (`delivery-pending`, `delivered`, `waiting-idle`, `deactivated`, `reactivated`: exit 0),
 * a consumer failed to take the key (`delivery-failed`: exit 5), a consumer still uses the old key (`held`:
 * exit 9), or the old key is gone (`retired`).
 */
export type RotateStatus =
  'rotated' | 'skipped' | 'resumed' | 'rolled-back' | NonNullable<RotationRun['lifecycleStatus']>;

/** The result for one connection: CLI.md's keys, plus what happened to an interrupted earlier run, and the plan under --dry-run. */
export interface RotateResult {
  name: string;
  status: RotateStatus;
  oldAccessKeyId: string | null;
  newAccessKeyId: string | null;
  oldKey: 'deleted' | 'inactive' | null;
  /** An interrupted earlier rotation this run found: `finished` (status "resumed") or `rolled-back` (then this run rotated afresh). */
  recovered: 'finished' | 'rolled-back' | null;
  /** Present for a rotation retired by the lifecycle: where it stands. */
  lifecycle?: LifecycleReport;
  /** Present under --dry-run: the steps a real run would take; nothing was changed. */
  dryRun?: true;
  plan?: string[];
}

/** Where the engine's progress lines and warnings go (the command renders them: ui/ stays out of rotation/). */
export interface RotationReporter {
  progress(message: string): void;
  warn(message: string): void;
}

/**
 * Rotates one connection under its lock: one loop over the phases (rotation/decisions.ts), which starts
 * from the journal it finds, so a fresh and an interrupted rotation take the same steps. A dry run takes
 * no lock, performs the read-only phases and describes the others.
 */
export async function rotateConnection(
  ctx: Context,
  name: string,
  request: RotationRequest,
  report: RotationReporter,
): Promise<RotateResult> {
  const connections = await ctx.connections();
  const connection = await connections.get(name);
  if (!connection) {
    throw new ConfigError(`no connection named ${quotedName(name)}`, {
      hint: 'Run `datablast-aws list` to see the connections, or add one with `datablast-aws add-connection`.',
    });
  }
  const run: RotationRun = {
    name,
    request,
    clock: ctx.clock,
    connections,
    secrets: await ctx.secrets(),
    aws: await ctx.aws(),
    journal: (await ctx.journals()).of(name),
    region: resolveRegion({ flag: ctx.globals.region, connection: connection.region, env: ctx.env }).region,
    say: (message) => report.progress(`${name}: ${message}`),
    warn: (message) => report.warn(message),
    consumer: (record, options) => ctx.consumer(record, options),
  };
  if (request.dryRun) return runPhases(run);
  if ((await youngWithoutLock(run)) !== undefined) {
    const oldAccessKeyId = run.current?.accessKeyId ?? null;
    return { name, status: 'skipped', oldAccessKeyId, newAccessKeyId: null, oldKey: null, recovered: null };
  }
  const locks = await ctx.locks();
  const waitMs = request.lockWaitMs ?? (request.olderThan === undefined ? LOCK_WAIT_MS : CRON_LOCK_WAIT_MS);
  const lock = await locks.acquire(name, waitMs);
  if (!lock) {
    throw new RotationLockBusy(`another rotation of "${name}" is in progress`, {
      hint: `Let it finish, then run the command again if needed. The lock is ${locks.path(name)}; a killed holder's lock is taken over by the next run.`,
    });
  }
  try {
    return await runPhases(run);
  } finally {
    await lock
      .release()
      .catch((error: unknown) => report.warn(`could not remove the lock ${lock.path}: ${(error as Error).message}`));
  }
}

/** The loop: each phase runs (or, in a dry run, is described) and the decisions pick the next. */
async function runPhases(r: RotationRun): Promise<RotateResult> {
  const plan: string[] = [];
  let recovered: RotateResult['recovered'] = null;
  let resumed = false;
  let rolledBack = false;
  let skipped = false;
  try {
    for (let phase: PhaseName | 'end' = 'recover'; phase !== 'end';) {
      const step = PHASE_TABLE[phase];
      if (r.request.dryRun && !READ_ONLY_PHASES.has(phase)) {
        plan.push(...step.describe(r));
        phase = nextPhase(phase, { kind: 'ok' }, true, route(r));
        continue;
      }
      const outcome = await step.run(r);
      if (r.request.dryRun) plan.push(...step.describe(r));
      if (outcome.kind === 'resume')
        resumed = outcome.action.kind !== 'clear' && outcome.action.kind !== 'delete-orphan';
      if (phase === 'undo') recovered = 'rolled-back';
      if (outcome.kind === 'skipped') skipped = true;
      if (phase === 'roll-back') rolledBack = true;
      phase = nextPhase(phase, outcome, r.request.dryRun, route(r));
    }
  } catch (error) {
    throw await settle(r, error);
  }
  const oldAccessKeyId = r.entry?.oldAccessKeyId ?? r.current?.accessKeyId ?? null;
  if (skipped) {
    return { name: r.name, status: 'skipped', oldAccessKeyId, newAccessKeyId: null, oldKey: null, recovered };
  }
  if (r.request.dryRun) {
    const keepOld = r.entry?.keepOld ?? r.request.keepOld;
    const undoing = r.resume?.kind === 'clear' || r.resume?.kind === 'delete-orphan';
    if (r.lifecycle && !r.request.now && plan.length > 0)
      plan.push(
        'each later run (cron) goes on from where this one stops, as the evidence allows; --now retires the old key at once',
      );
    return {
      name: r.name,
      status: resumed ? 'resumed' : 'rotated',
      oldAccessKeyId: r.current?.accessKeyId ?? null,
      newAccessKeyId: null,
      oldKey: undoing ? null : keepOld ? 'inactive' : 'deleted',
      recovered: null,
      dryRun: true,
      plan,
    };
  }
  const result: RotateResult = {
    name: r.name,
    status: rolledBack ? 'rolled-back' : (r.lifecycleStatus ?? (resumed ? 'resumed' : 'rotated')),
    oldAccessKeyId,
    newAccessKeyId: r.fresh?.accessKeyId ?? null,
    oldKey: rolledBack ? null : (r.oldKey ?? null),
    recovered: rolledBack ? null : resumed ? 'finished' : recovered,
  };
  if (r.report) result.lifecycle = r.report;
  return result;
}

/** The loop's steering: the connection's retirement mode and the run's flags. */
function route(r: RotationRun): Route {
  return { lifecycle: r.lifecycle === true, now: r.request.now === true, reactivate: r.request.reactivateOld === true };
}

/** The one place a failure's fate is decided (decisions.ts failureFate): as it is, or resumable (exit 8). */
async function settle(r: RotationRun, error: unknown): Promise<unknown> {
  if (error instanceof RotationStop) return error.error;
  let journalLeft: boolean;
  try {
    journalLeft = (await r.journal.read()) !== undefined;
  } catch {
    journalLeft = true;
  }
  if (failureFate(error, journalLeft, r.request.dryRun) === 'as-is') return error;
  const cli = error instanceof CliError ? error : undefined;
  const what = error instanceof Error ? error.message : String(error);
  return new RotationInterruptedError(`the rotation of "${r.name}" was interrupted: ${what}`, {
    cause: error,
    awsCode: cli?.awsCode,
    requestId: cli?.requestId,
    hint: `Run the same command again: it finishes or undoes this rotation first (journal: ${r.journal.path}). The connection holds a working key meanwhile.${cli?.hint ? ` ${cli.hint}` : ''}`,
  });
}
