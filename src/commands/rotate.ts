import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { validateStoredConnectionName } from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { DEFAULT_GRACE_MS, DEFAULT_IDLE_MS, describeLastUse } from '../domain/lifecycle.js';
import { worstExitCode } from '../domain/rotation.js';
import { ExitCode, UsageError } from '../errors.js';
import { present, progress, warn, type Style } from '../ui/output.js';
import { AdaptiveLimit } from '../domain/concurrency.js';
import { pacedAws, type PacingCounts } from '../aws/throttle.js';
import { rotateConnection, type RotateResult, type RotationReporter } from '../rotation/engine.js';
import { describeRate, entryExitCode, rotateAll, type RotateFailure } from '../rotation/batch.js';

export { LOCK_WAIT_MS, type RotateResult, type RotateStatus } from '../rotation/engine.js';
export type { RotateFailure, RotateRate } from '../rotation/batch.js';

/** What `rotate` is asked to do. */
export interface RotateOptions {
  /** One connection; exclusive with `all`. */
  name?: string;
  all: boolean;
  /** With --all: how many connections rotate at once. */
  concurrency: number;
  /** Skip keys younger than this many days. */
  olderThan?: number;
  /** Deactivate the old key instead of deleting it. */
  keepOld: boolean;
  /** Sign IAM calls with the admin credentials (--profile) instead of the connection's own key. */
  admin: boolean;
  /** Print the plan; make only read calls. */
  dryRun: boolean;
  /** `--now`: retire the old key at once (the default only for a connection with no consumer and no exported profile). */
  now?: boolean;
  /** `--idle`, in ms. */
  idleMs?: number;
  /** `--grace`, in ms. */
  graceMs?: number;
  requireNewKeyUse?: boolean;
  /** `--reactivate-old`: turn the inactive old key back on and stop the lifecycle there. */
  reactivateOld?: boolean;
}

/** One connection's result, or an array with --all (in the order of `list`). */
export type RotateOutcome = RotateResult | Array<RotateResult | RotateFailure>;

/** The least time between two "AWS is throttling" progress lines. */
const THROTTLE_NOTICE_MS = 10_000;

/** Default number of connections rotating at once under --all. */
export const DEFAULT_CONCURRENCY = 4;

/** Raw flags as Commander hands them over. */
interface RotateFlags {
  all?: boolean;
  concurrency?: string;
  olderThan?: string;
  keepOld?: boolean;
  admin?: boolean;
  dryRun?: boolean;
  now?: boolean;
  idle?: string;
  grace?: string;
  requireNewKeyUse?: boolean;
  reactivateOld?: boolean;
}

/** Wires `rotate [NAME]`; never prompts. */
export function rotateCommand(ctx: Context): Command {
  return createCommand('rotate')
    .description(
      "replace a connection's access key: create a new key, store it, prove AWS accepts it, switch the connection, retire the old key. " +
        'Crash-safe: a run that finds an interrupted rotation finishes or undoes it first. Never prompts.',
    )
    .argument('[name]', 'the connection to rotate')
    .option('--all', 'rotate every connection (one failure does not stop the others)')
    .option(
      '--concurrency <n>',
      `with --all: the most connections rotating at once (default ${DEFAULT_CONCURRENCY}); fewer while AWS throttles`,
    )
    .option('--older-than <days>', 'skip keys younger than DAYS days (status "skipped", exit 0), so cron can run daily')
    .option('--keep-old', 'deactivate the old key, never delete it')
    .option(
      '--now',
      'retire the old key at once, without waiting for evidence (a suspected leak); the default only for a connection with no consumer and no exported profile',
    )
    .option(
      '--idle <duration>',
      `deactivate the old key once delivery finished this long ago AND AWS shows no use of it for as long (default ${formatDuration(DEFAULT_IDLE_MS)})`,
    )
    .option(
      '--grace <duration>',
      `delete the old key this long after its deactivation (default ${formatDuration(DEFAULT_GRACE_MS)})`,
    )
    .option('--require-new-key-use', 'also wait until AWS shows use of the new key since delivery')
    .option('--reactivate-old', 'turn the deactivated old key back on and stop the lifecycle there')
    .option('--admin', "sign IAM calls with the --profile admin credentials instead of the connection's own key")
    .option('--dry-run', 'print the plan; change nothing (read calls only)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ datablast-aws rotate "AWS Production"\n' +
        '  $ datablast-aws rotate --all --older-than 90 --json      # nightly from cron\n' +
        '  $ datablast-aws rotate prod --admin --profile admin --keep-old\n' +
        '\nRetiring the old key: a connection with consumers (--deliver-to) or an exported profile goes through a\n' +
        'lifecycle that each run advances as far as the evidence allows: new key created, proven and switched in;\n' +
        'handed to every consumer; the old key idle for --idle (AWS last-used data); deactivated; deleted after\n' +
        '--grace. A connection whose key only this machine reads (env, credential-process without an exported\n' +
        'profile) retires its old key at once, as --now does. DURATION is a number with s, m, h or d.\n' +
        '\nExit codes: 0 rotated, skipped, resumed, or the lifecycle waits (status delivery-pending, delivered,\n' +
        'waiting-idle, deactivated, reactivated, retired); 4 a key AWS rejects; 5 AWS refused, a consumer failed\n' +
        'to take the key, or the new key was never accepted (rolled back: the connection keeps its working key);\n' +
        '6 secret store; 7 another rotation of the connection is running; 8 interrupted and resumable: run the\n' +
        'same command again; 9 held: a consumer still uses the old key after delivery (left active). With --all,\n' +
        'the most urgent failure decides: 8, 1, 4, 6, 5, 3, 9, 7.\n',
    )
    .action(async (name: string | undefined, flags: RotateFlags) => {
      present(ctx, await rotate(ctx, parseRotateOptions(name, flags)), renderRotate);
    });
}

/** Checks the flags (exit 2 on a bad value) and builds the options. */
export function parseRotateOptions(name: string | undefined, flags: RotateFlags): RotateOptions {
  const all = flags.all === true;
  if (all && name !== undefined)
    throw new UsageError('give a connection NAME or --all, not both', {
      hint: 'e.g. `datablast-aws rotate --all --older-than 90`.',
    });
  if (!all && name === undefined)
    throw new UsageError('which connection? give its NAME, or --all', {
      hint: 'Run `datablast-aws list` to see the connections.',
    });
  if (name !== undefined) validateStoredConnectionName(name);
  const opts: RotateOptions = {
    all,
    concurrency: DEFAULT_CONCURRENCY,
    keepOld: flags.keepOld === true,
    admin: flags.admin === true,
    dryRun: flags.dryRun === true,
  };
  if (name !== undefined) opts.name = name;
  if (flags.now) opts.now = true;
  if (flags.requireNewKeyUse) opts.requireNewKeyUse = true;
  if (flags.idle !== undefined) opts.idleMs = parseDuration(flags.idle, '--idle');
  if (flags.grace !== undefined) opts.graceMs = parseDuration(flags.grace, '--grace');
  if (flags.reactivateOld) {
    if (all) throw new UsageError('--reactivate-old applies to one connection: give its NAME, not --all');
    if (flags.now) throw new UsageError('--reactivate-old and --now do not go together');
    opts.reactivateOld = true;
  }
  if (flags.olderThan !== undefined) {
    if (!/^\d{1,6}$/.test(flags.olderThan.trim())) {
      throw new UsageError(
        `--older-than needs a whole number of days, 0 or more; got ${JSON.stringify(flags.olderThan)}`,
        { hint: 'e.g. --older-than 90' },
      );
    }
    opts.olderThan = Number(flags.olderThan.trim());
  }
  if (flags.concurrency !== undefined) {
    if (
      !/^\d{1,3}$/.test(flags.concurrency.trim()) ||
      Number(flags.concurrency) < 1 ||
      Number(flags.concurrency) > 64
    ) {
      throw new UsageError(
        `--concurrency needs a whole number from 1 to 64; got ${JSON.stringify(flags.concurrency)}`,
        { hint: `The default is ${DEFAULT_CONCURRENCY}.` },
      );
    }
    if (!all) throw new UsageError('--concurrency applies to --all only');
    opts.concurrency = Number(flags.concurrency.trim());
  }
  return opts;
}

/**
 * Rotates one connection, or every connection with `all`. A result whose outcome is a failure
 * (rolled back, or any --all entry failed) is returned for printing and sets `ctx.exitCode`.
 */
export async function rotate(ctx: Context, opts: RotateOptions): Promise<RotateOutcome> {
  const limit = new AdaptiveLimit(opts.all ? opts.concurrency : 1);
  const counts: PacingCounts = { iam: 0, sts: 0, throttled: 0 };
  let toldAt: number | undefined;
  const aws = pacedAws(await ctx.aws(), limit, ctx.clock, counts, {
    // A throttled wait is said, at most every THROTTLE_NOTICE_MS, so that a long wait never looks like a hang.
    onWait: (action, delayMs) => {
      const now = ctx.clock.now().getTime();
      if (toldAt !== undefined && now - toldAt < THROTTLE_NOTICE_MS) return;
      toldAt = now;
      progress(
        ctx,
        `AWS is throttling (${action}): retrying with backoff (${(delayMs / 1000).toFixed(1)} s); ${counts.throttled} throttling answer${counts.throttled === 1 ? '' : 's'} so far${opts.all ? `, ${limit.limit} connection${limit.limit === 1 ? '' : 's'} at once now` : ''}`,
      );
    },
  });
  // The engine sees the paced port; everything else of the context is the caller's own.
  const paced: Context = Object.create(ctx, { aws: { value: async () => aws } }) as Context;
  if (!opts.all) {
    const result = await rotateConnection(paced, opts.name!, { ...opts, named: true }, reporter(ctx));
    const code = entryExitCode(result);
    if (code !== ExitCode.ok) ctx.exitCode = code;
    return result;
  }
  const names = (await (await ctx.connections()).list()).map((connection) => connection.name);
  const { entries, rate } = await rotateAll(paced, names, opts, limit, counts, reporter(ctx));
  if (names.length > 0 && !opts.dryRun) progress(ctx, describeRate(rate));
  ctx.exitCode = worstExitCode(entries.map(entryExitCode));
  return entries;
}

/** The engine's progress lines and warnings, on stderr. */
function reporter(ctx: Context): RotationReporter {
  return { progress: (message) => progress(ctx, message), warn: (message) => warn(ctx, message) };
}

/** Human text for one result or an --all list (key ids masked, as in `list`). */
export function renderRotate(outcome: RotateOutcome, io: IO, style: Style): void {
  const entries = Array.isArray(outcome) ? outcome : [outcome];
  if (Array.isArray(outcome) && entries.length === 0) io.out('no connections to rotate\n');
  for (const entry of entries) io.out(`${describe(entry, style)}\n`);
}

function describe(entry: RotateResult | RotateFailure, style: Style): string {
  const mask = (id: string | null) => (id ? maskAccessKeyId(id) : '?');
  const name = style.bold(`"${entry.name}"`);
  if (entry.status === 'failed') return `${style.red('failed')} ${name}: ${entry.error.message}`;
  if (entry.dryRun) {
    const lines = (entry.plan ?? []).map((step, i) => `  ${i + 1}. ${step}`);
    return [`plan for ${name} (dry run: nothing changed):`, ...lines].join('\n');
  }
  const earlier =
    entry.recovered === 'rolled-back' ? ` ${style.dim('(an interrupted earlier rotation was undone first)')}` : '';
  switch (entry.status) {
    case 'rotated':
      return `${style.green('rotated')} ${name}: ${mask(entry.newAccessKeyId)} replaces ${mask(entry.oldAccessKeyId)} (${entry.oldKey === 'inactive' ? 'kept inactive' : 'deleted'})${earlier}`;
    case 'resumed':
      return `${style.green('resumed')} ${name}: finished the interrupted rotation; ${mask(entry.newAccessKeyId)} replaces ${mask(entry.oldAccessKeyId)} (${entry.oldKey === 'inactive' ? 'kept inactive' : 'deleted'})`;
    case 'skipped':
      return `${style.dim('skipped')} ${name}: its key ${mask(entry.oldAccessKeyId)} is not due yet${earlier}`;
    case 'rolled-back':
      return `${style.yellow('rolled back')} ${name}: AWS never accepted the new key, which was deleted; the connection keeps ${mask(entry.oldAccessKeyId)}`;
    default:
      return lifecycleLine(entry, name, style);
  }
}

const LIFECYCLE_WORDS: Record<string, string> = {
  'delivery-pending': 'the new key is in use here; a consumer awaits its hand-off, so the old key stays active',
  'delivery-failed': 'the new key is in use here; handing it to a consumer failed, so the old key stays active',
  delivered: 'the new key is in use here and handed to every consumer; the old key stays active for the idle window',
  'waiting-idle': 'the old key stays active for the idle window',
  held: 'a consumer still uses the old key, which is left active',
  deactivated: 'the old key is inactive; it is deleted after the grace period',
  reactivated: 'the old key is active again; the lifecycle stops here',
  retired: 'the old key is retired',
};

function lifecycleLine(entry: RotateResult, name: string, style: Style): string {
  const mask = (id: string | null) => (id ? maskAccessKeyId(id) : '?');
  const color = entry.status === 'held' || entry.status === 'delivery-failed' ? style.yellow : style.green;
  const report = entry.lifecycle;
  const lines = [
    `${color(entry.status)} ${name}: ${LIFECYCLE_WORDS[entry.status] ?? ''} (${mask(entry.newAccessKeyId)} replaces ${mask(entry.oldAccessKeyId)}${entry.oldKey ? `, ${entry.oldKey}` : ''})`,
  ];
  if (report?.reason) lines.push(`  ${report.reason}`);
  if (report?.oldKeyLastUsed) lines.push(`  old key last used: ${describeLastUse(report.oldKeyLastUsed)}`);
  if (report?.waitUntil) lines.push(`  next step not before ${report.waitUntil}`);
  return lines.join('\n');
}
