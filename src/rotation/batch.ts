import type { Context } from '../ports.js';
import { CliError, ExitCode } from '../errors.js';
import { mapAdaptively, type AdaptiveLimit } from '../domain/concurrency.js';
import { RotationLockBusy, rotateConnection, type RotateResult, type RotationReporter } from './engine.js';
import type { RotationRequest } from './run.js';

/** The AWS calls an --all run made through the paced gateway (aws/throttle.ts counts them). */
export interface CallCounts {
  iam: number;
  sts: number;
  throttled: number;
}

/** An --all entry for a connection whose rotation failed; the error is the one a single rotate would have printed. */
export interface RotateFailure {
  name: string;
  status: 'failed';
  oldAccessKeyId: null;
  newAccessKeyId: null;
  oldKey: null;
  recovered: null;
  error: { message: string; hint: string | null; exitCode: number; awsCode: string | null };
}

/** How fast an --all run went, and how its concurrency adapted to throttling. */
export interface RotateRate {
  connections: number;
  /** Connections rotated (a resumed rotation finished counts too). */
  rotated: number;
  /** Connections skipped (--older-than) or rolled back: ended without failure, unrotated. */
  unrotated: number;
  failed: number;
  seconds: number;
  rotationsPerSecond: number;
  iamCalls: number;
  iamCallsPerSecond: number;
  stsCalls: number;
  /** Throttling answers, each retried. */
  throttled: number;
  /** The concurrency the run started with, the lowest it went to, and where it ended. */
  concurrency: { start: number; lowest: number; end: number; cuts: number };
}

/**
 * Rotates every named connection, as many at once as `limit` allows (it adapts to throttling): each failure
 * becomes an entry carrying the error a single rotate would have printed; the run goes on.
 */
export async function rotateAll(
  ctx: Context,
  names: readonly string[],
  request: RotationRequest,
  limit: AdaptiveLimit,
  counts: CallCounts,
  report: RotationReporter,
): Promise<{ entries: Array<RotateResult | RotateFailure>; rate: RotateRate }> {
  const started = ctx.clock.now().getTime();
  const rotate = async (name: string, attempt: RotationRequest): Promise<RotateResult | RotateFailure | 'deferred'> => {
    try {
      return await rotateConnection(ctx, name, attempt, report);
    } catch (error) {
      if (attempt !== request && error instanceof RotationLockBusy) return 'deferred';
      const failure = failureEntry(name, error);
      report.warn(`${name}: ${failure.error.message}${failure.error.hint ? `\n  ${failure.error.hint}` : ''}`);
      return failure;
    }
  };
  // A connection another run holds (another host's cron, on a shared store) is not waited for at first: this run
  // works on the others and comes back to it at the end, by when the holder has mostly finished.
  const first = await mapAdaptively(names, limit, (name) => rotate(name, { ...request, lockWaitMs: 0 }));
  const deferred = names.filter((_, i) => first[i] === 'deferred');
  if (deferred.length > 0)
    report.progress(
      `${deferred.length} connection${deferred.length === 1 ? '' : 's'} held by another run; coming back to ${deferred.length === 1 ? 'it' : 'them'} now`,
    );
  const second = await mapAdaptively(deferred, limit, (name) => rotate(name, request));
  const later = new Map(deferred.map((name, i) => [name, second[i]!]));
  const entries = names.map(
    (name, i) => (first[i] === 'deferred' ? later.get(name)! : first[i]!) as RotateResult | RotateFailure,
  );
  return { entries, rate: rateOf(entries, counts, limit, ctx.clock.now().getTime() - started) };
}

/** The rate of an --all run from its entries, the paced calls and the limit. */
export function rateOf(
  entries: ReadonlyArray<RotateResult | RotateFailure>,
  counts: CallCounts,
  limit: Pick<AdaptiveLimit, 'state'>,
  elapsedMs: number,
): RotateRate {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const state = limit.state;
  const rotated = entries.filter((e) => e.status === 'rotated' || e.status === 'resumed').length;
  const failed = entries.filter((e) => e.status === 'failed').length;
  return {
    connections: entries.length,
    rotated,
    unrotated: entries.length - rotated - failed,
    failed,
    seconds,
    rotationsPerSecond: rotated / seconds,
    iamCalls: counts.iam,
    iamCallsPerSecond: counts.iam / seconds,
    stsCalls: counts.sts,
    throttled: counts.throttled,
    concurrency: { start: state.max, lowest: state.lowest, end: state.limit, cuts: state.cuts },
  };
}

/** The one summary line of an --all run, on stderr (stdout keeps CLI.md's array, with --json too). */
export function describeRate(rate: RotateRate): string {
  const c = rate.concurrency;
  const adapted =
    c.cuts === 0
      ? `concurrency ${c.start} throughout`
      : `${rate.throttled} throttling answer${rate.throttled === 1 ? '' : 's'} retried; concurrency ${c.start}, down to ${c.lowest}, ${c.end} at the end`;
  return (
    `rotate --all: ${rate.connections} connection${rate.connections === 1 ? '' : 's'} in ${rate.seconds.toFixed(1)} s (${rate.rotated} rotated, ${rate.unrotated} skipped or rolled back, ${rate.failed} failed): ` +
    `${rate.rotationsPerSecond.toFixed(2)} rotations/s, ${rate.iamCallsPerSecond.toFixed(1)} IAM calls/s (${rate.iamCalls} IAM, ${rate.stsCalls} STS calls); ${adapted}`
  );
}

/** The exit code one --all entry contributes. */
export function entryExitCode(entry: RotateResult | RotateFailure): number {
  if (entry.status === 'failed') return entry.error.exitCode;
  if (entry.status === 'held') return ExitCode.held;
  return entry.status === 'rolled-back' || entry.status === 'delivery-failed' ? ExitCode.aws : ExitCode.ok;
}

function failureEntry(name: string, error: unknown): RotateFailure {
  const cli = error instanceof CliError ? error : undefined;
  return {
    name,
    status: 'failed',
    oldAccessKeyId: null,
    newAccessKeyId: null,
    oldKey: null,
    recovered: null,
    error: {
      message: cli
        ? cli.message
        : `unexpected internal error: ${error instanceof Error ? error.message : String(error)}`,
      hint:
        cli?.hint ?? (cli ? null : 'This is a bug in datablast-aws. Re-run with --debug for details and report it.'),
      exitCode: cli ? cli.exitCode : ExitCode.internal,
      awsCode: cli?.awsCode ?? null,
    },
  };
}
