import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Aws, AwsSession, ConnectionStore, Context, Iam, IO, SecretStore } from '../ports.js';
import type { AccessKeyInfo } from '../domain/iam.js';
import {
  ageInDays,
  quotedName,
  validateStoredConnectionName,
  type AccessKeyPair,
  type Connection,
} from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import {
  JOURNAL_VERSION,
  RETIRE_POLICY,
  PROOF_POLICY,
  decideOtherKey,
  decideResume,
  isDue,
  nextDelay,
  pendingAccount,
  userFromArn,
  worstExitCode,
  type ResumeAction,
  type RotationJournal,
} from '../domain/rotation.js';
import {
  AwsError,
  CliError,
  ConfigError,
  CredentialsRejectedError,
  ExitCode,
  LockHeldError,
  RotationInterruptedError,
  SecretStoreError,
  UsageError,
} from '../errors.js';
import { journalStore, rotationLockPath, type JournalStore } from '../store/journal.js';
import { acquireLock } from '../store/lock.js';
import { present, progress, warn, type Style } from '../ui/output.js';
import { mapConcurrently } from '../domain/concurrency.js';
import { shellWord } from '../domain/shell-word.js';

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
}

/** How one connection's rotation ended (CLI.md "JSON results", plus `failed` for an --all entry). */
export type RotateStatus = 'rotated' | 'skipped' | 'resumed' | 'rolled-back';

/** The result for one connection: CLI.md's keys, plus what happened to an interrupted earlier run, and the plan under --dry-run. */
export interface RotateResult {
  name: string;
  status: RotateStatus;
  oldAccessKeyId: string | null;
  newAccessKeyId: string | null;
  oldKey: 'deleted' | 'inactive' | null;
  /** An interrupted earlier rotation this run found: `finished` (status "resumed") or `rolled-back` (then this run rotated afresh). */
  recovered: 'finished' | 'rolled-back' | null;
  /** Present under --dry-run: the steps a real run would take; nothing was changed. */
  dryRun?: true;
  plan?: string[];
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

/** One connection's result, or an array with --all (in the order of `list`). */
export type RotateOutcome = RotateResult | Array<RotateResult | RotateFailure>;

/** How long a second rotation of the same connection waits for the lock before exit 7. */
export const LOCK_WAIT_MS = 3_000;
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
    .option('--concurrency <n>', `with --all: how many connections rotate at once (default ${DEFAULT_CONCURRENCY})`)
    .option('--older-than <days>', 'skip keys younger than DAYS days (status "skipped", exit 0), so cron can run daily')
    .option('--keep-old', 'deactivate the old key instead of deleting it')
    .option('--admin', "sign IAM calls with the --profile admin credentials instead of the connection's own key")
    .option('--dry-run', 'print the plan; change nothing (read calls only)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ datablast-aws rotate "AWS Production"\n' +
        '  $ datablast-aws rotate --all --older-than 90 --json      # nightly from cron\n' +
        '  $ datablast-aws rotate prod --admin --profile admin --keep-old\n' +
        '\nExit codes: 0 rotated, skipped or resumed; 4 a key AWS rejects; 5 AWS refused, or the new key was never\n' +
        'accepted (rolled back: the connection keeps its working key); 6 secret store; 7 another rotation of the\n' +
        'connection is running; 8 interrupted and resumable: run the same command again. With --all, the most\n' +
        'urgent failure decides: 8, 1, 4, 6, 5, 3, 7.\n',
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
  if (!opts.all) {
    const result = await rotateConnection(ctx, opts.name!, opts);
    if (result.status === 'rolled-back') ctx.exitCode = ExitCode.aws;
    return result;
  }
  const connections = await (await ctx.connections()).list();
  const entries = await mapConcurrently(
    connections,
    opts.concurrency,
    async (connection): Promise<RotateResult | RotateFailure> => {
      try {
        return await rotateConnection(ctx, connection.name, opts);
      } catch (error) {
        const failure = failureEntry(connection.name, error);
        warn(
          ctx,
          `${connection.name}: ${failure.error.message}${failure.error.hint ? `\n  ${failure.error.hint}` : ''}`,
        );
        return failure;
      }
    },
  );
  ctx.exitCode = worstExitCode(entries.map(entryExitCode));
  return entries;
}

/** The exit code one --all entry contributes. */
function entryExitCode(entry: RotateResult | RotateFailure): number {
  if (entry.status === 'failed') return entry.error.exitCode;
  return entry.status === 'rolled-back' ? ExitCode.aws : ExitCode.ok;
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

/**
 * Rotates one connection under its lock: first finishes or undoes an interrupted rotation, then
 * (unless that finished it, or the key is young enough) rotates. Exported for `init` and tests.
 */
export async function rotateConnection(
  ctx: Context,
  name: string,
  opts: Omit<RotateOptions, 'name' | 'all' | 'concurrency'>,
): Promise<RotateResult> {
  const store = await ctx.connections();
  if (!(await store.get(name))) {
    throw new ConfigError(`no connection named ${quotedName(name)}`, {
      hint: 'Run `datablast-aws list` to see the connections, or add one with `datablast-aws add-connection`.',
    });
  }
  const run = new Rotation(ctx, name, opts, store, await ctx.secrets(), await ctx.aws(), journalStore(store.dir, name));
  // A dry run changes nothing, so it takes no lock and never waits for one.
  if (opts.dryRun) return run.run();
  const lockPath = rotationLockPath(store.dir, name);
  const lock = await acquireLock(lockPath, { waitMs: LOCK_WAIT_MS });
  if (!lock) {
    throw new LockHeldError(`another rotation of "${name}" is in progress`, {
      hint: `Let it finish, then run the command again if needed. The lock is ${lockPath}; it is released when its process exits, even if killed.`,
    });
  }
  try {
    return await run.run();
  } finally {
    await lock
      .release()
      .catch((error: unknown) => warn(ctx, `could not remove the lock ${lockPath}: ${(error as Error).message}`));
  }
}

/** Errors that must reach the user as they are, never turned into "interrupted" (exit 8). */
const FINAL = new WeakSet<object>();

function final<E extends Error>(error: E): E {
  FINAL.add(error);
  return error;
}

/**
 * AWS error codes after which we know CreateAccessKey made no key. The SDK retries a lost response,
 * so only refusals that every attempt would get count: not LimitExceeded (our first attempt may have
 * made the second key) nor throttling (it may have come on a retry).
 */
const CREATE_REFUSED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'NoSuchEntity',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'CredentialsProviderError',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);

/** Which credentials sign an IAM call: the connection's current key, the new key, or the admin's. */
type Signer = 'own' | 'new' | 'admin';

/** One connection's rotation: the protocol of shared/DESIGN.md, step by step. */
class Rotation {
  private adminSession: Promise<AwsSession> | undefined;
  private region = 'us-east-1';

  constructor(
    private readonly ctx: Context,
    private readonly name: string,
    private readonly opts: Omit<RotateOptions, 'name' | 'all' | 'concurrency'>,
    private readonly store: ConnectionStore,
    private readonly secrets: SecretStore,
    private readonly aws: Aws,
    private readonly journal: JournalStore,
  ) {}

  async run(): Promise<RotateResult> {
    try {
      let recovered: RotateResult['recovered'] = null;
      const found = await this.journal.read().catch((error: unknown) => {
        throw final(error as Error);
      });
      if (found) {
        const outcome = await this.resume(found);
        if (outcome !== 'undone') return outcome;
        recovered = 'rolled-back';
      }
      return { ...(await this.fresh()), recovered };
    } catch (error) {
      throw await this.interruptedIfJournalLeft(error);
    }
  }

  /** A failure that leaves a journal is reported as resumable (exit 8), whatever it was. */
  private async interruptedIfJournalLeft(error: unknown): Promise<unknown> {
    if (error instanceof RotationInterruptedError || (error instanceof Object && FINAL.has(error)) || this.opts.dryRun)
      return error;
    let left: boolean;
    try {
      left = (await this.journal.read()) !== undefined;
    } catch {
      left = true;
    }
    if (!left) return error;
    const cli = error instanceof CliError ? error : undefined;
    const what = error instanceof Error ? error.message : String(error);
    return new RotationInterruptedError(`the rotation of "${this.name}" was interrupted: ${what}`, {
      cause: error,
      awsCode: cli?.awsCode,
      requestId: cli?.requestId,
      hint: `Run the same command again: it finishes or undoes this rotation first (journal: ${this.journal.path}). The connection holds a working key meanwhile.${cli?.hint ? ` ${cli.hint}` : ''}`,
    });
  }

  private say(message: string): void {
    progress(this.ctx, `${this.name}: ${message}`);
  }

  private now(): string {
    return this.ctx.clock.now().toISOString();
  }

  private async connection(): Promise<Connection> {
    const connection = await this.store.get(this.name);
    if (!connection)
      throw final(
        new ConfigError(`no connection named "${this.name}"`, {
          hint: 'It was removed while the rotation ran. Run `datablast-aws list`.',
        }),
      );
    this.region = connection.region;
    return connection;
  }

  private async storedPair(account: string): Promise<AccessKeyPair | undefined> {
    const pair = await this.secrets.get(account);
    rememberSecret(pair?.secretAccessKey);
    return pair;
  }

  private admin(): Promise<AwsSession> {
    this.adminSession ??= this.aws.admin();
    return this.adminSession;
  }

  /** The IAM gateway for calls that would be signed by `pair` without --admin. */
  private async iamAs(pair: AccessKeyPair): Promise<Iam> {
    return this.opts.admin ? (await this.admin()).iam : (await this.aws.as(pair, this.region)).iam;
  }

  /**
   * One IAM call: names the missing permission on AccessDenied, and when signed by a key created
   * moments ago retries while IAM does not accept it yet (eventual consistency), with backoff.
   */
  private async iamCall<T>(action: string, signer: Signer, userName: string, call: () => Promise<T>): Promise<T> {
    const started = this.ctx.clock.now().getTime();
    let delay = 0;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        const code = error instanceof CliError ? error.awsCode : undefined;
        if (code !== undefined && ACCESS_DENIED.has(code))
          throw this.permissionError(
            action,
            signer === 'admin' || this.opts.admin ? 'admin' : 'own',
            userName,
            error as CliError,
          );
        const retry = signer === 'new' && !this.opts.admin && error instanceof CredentialsRejectedError;
        if (!retry || this.ctx.clock.now().getTime() - started >= RETIRE_POLICY.timeoutMs) throw error;
        delay = nextDelay(delay, RETIRE_POLICY);
        await this.ctx.clock.sleep(delay);
      }
    }
  }

  private permissionError(action: string, signer: 'own' | 'admin', userName: string, cause: CliError): AwsError {
    if (signer === 'admin') {
      return new AwsError(`the admin credentials may not call ${action} on user ${userName}`, {
        cause,
        awsCode: cause.awsCode,
        requestId: cause.requestId,
        hint: `Use --profile with credentials allowed to call ${action}, or drop --admin if the user may rotate its own key.`,
      });
    }
    return new AwsError(`the key of connection "${this.name}" may not call ${action} on its own user ${userName}`, {
      cause,
      awsCode: cause.awsCode,
      requestId: cause.requestId,
      hint: `Let the user rotate its own key with \`datablast-aws attach-policy ${userName} --self-rotation\` (run with admin credentials), or rotate with --admin to sign IAM calls with the --profile credentials.`,
    });
  }

  /** Key ids held by connections' metadata → connection name; this connection holds `currentId`. */
  private async holders(currentId: string): Promise<Map<string, string>> {
    const holders = new Map<string, string>();
    for (const c of await this.store.list()) if (c.name !== this.name) holders.set(c.accessKeyId, c.name);
    holders.set(currentId, this.name);
    return holders;
  }

  private skipped(connection: Connection, age: number, olderThan: number): RotateResult {
    this.say(`its key is ${age} day${age === 1 ? '' : 's'} old, younger than ${olderThan}: skipped`);
    return {
      name: this.name,
      status: 'skipped',
      oldAccessKeyId: connection.accessKeyId,
      newAccessKeyId: null,
      oldKey: null,
      recovered: null,
    };
  }

  /** Steps 2 to 8 of a fresh rotation. */
  private async fresh(): Promise<RotateResult> {
    const connection = await this.connection();
    const olderThan = this.opts.olderThan;
    // Prefer the metadata's key age: a young key costs no AWS call at all (cron runs daily).
    if (olderThan !== undefined && connection.keyCreatedAt !== undefined) {
      const age = ageInDays(connection.keyCreatedAt, this.ctx.clock.now());
      if (age !== undefined && !isDue(age, olderThan)) return this.skipped(connection, age, olderThan);
    }
    const current = await this.storedPair(this.name);
    if (!current) {
      throw final(
        new ConfigError(
          `the secret of connection "${this.name}" is missing from the ${this.secrets.kind} secret store`,
          {
            hint: `Store the key again with \`datablast-aws add-connection ${shellWord(this.name)} --force\`.`,
          },
        ),
      );
    }
    const sharing = (await this.store.list())
      .filter((c) => c.name !== this.name && c.accessKeyId === current.accessKeyId)
      .map((c) => c.name);
    if (sharing.length > 0) {
      throw final(
        new ConfigError(
          `connection "${this.name}" shares its key ${current.accessKeyId} with ${sharing.map((n) => `"${n}"`).join(', ')}; rotating it would break them`,
          {
            hint: 'Remove the duplicate connections (`datablast-aws remove NAME`) and keep one per key.',
          },
        ),
      );
    }

    // 2. Prove the current key and learn who it belongs to.
    this.say(`checking the current key ${maskAccessKeyId(current.accessKeyId)} (sts:GetCallerIdentity)`);
    const own = await this.aws.as(current, this.region);
    let identity;
    try {
      identity = await own.sts.getCallerIdentity();
    } catch (error) {
      if (error instanceof CredentialsRejectedError) {
        throw new CredentialsRejectedError(
          `the current key of "${this.name}" does not work (${error.awsCode ?? 'rejected'}), so it cannot be rotated`,
          {
            cause: error,
            awsCode: error.awsCode,
            requestId: error.requestId,
            hint: `Run \`datablast-aws test ${shellWord(this.name)}\` for a diagnosis. If the key was deleted or deactivated, store a working one with \`datablast-aws add-connection ${shellWord(this.name)} --force\`.`,
          },
        );
      }
      throw error;
    }
    const user = userFromArn(identity.arn);
    if (!user) {
      throw new ConfigError(
        `the key of "${this.name}" belongs to ${identity.arn}, not an IAM user; only an IAM user's access key can be rotated`,
        {
          hint: 'Store the access key of a dedicated IAM user (`datablast-aws create-user USER --create-key --connection NAME`).',
        },
      );
    }
    const userName = user.userName;

    // 3. List the user's keys; AWS allows two, inactive ones included.
    const iam = await this.iamAs(current);
    let keys = await this.iamCall('iam:ListAccessKeys', 'own', userName, () => iam.listAccessKeys(userName));
    if (olderThan !== undefined && connection.keyCreatedAt === undefined) {
      const age = ageInDays(keys.find((k) => k.accessKeyId === current.accessKeyId)?.createDate, this.ctx.clock.now());
      if (age !== undefined && !isDue(age, olderThan)) return this.skipped(connection, age, olderThan);
    }
    const holders = await this.holders(current.accessKeyId);
    const pending = await this.storedPair(pendingAccount(this.name));
    const stalePending =
      pending !== undefined &&
      (pending.accessKeyId === current.accessKeyId || !keys.some((k) => k.accessKeyId === pending.accessKeyId));
    if (pending !== undefined && !stalePending)
      holders.set(pending.accessKeyId, `an unfinished rotation of "${this.name}" (its journal is missing)`);
    const decision = decideOtherKey(keys, current.accessKeyId, holders);
    if (decision.kind === 'current-missing') {
      throw new AwsError(
        `IAM does not list the key ${current.accessKeyId} of "${this.name}" among user ${userName}'s keys`,
        {
          hint: 'IAM may not be consistent yet after a recent change: wait a minute and run the command again.',
        },
      );
    }
    if (decision.kind === 'blocked-foreign') {
      const id = decision.key.accessKeyId;
      throw final(
        new AwsError(
          `user ${userName} already has two access keys, and the other one, ${id}, is active and held by no datablast-aws connection; it is never touched`,
          {
            hint:
              `Find out what uses ${id} (\`aws iam get-access-key-last-used --access-key-id ${id}\`). If nothing does, deactivate it ` +
              `(\`aws iam update-access-key --user-name ${userName} --access-key-id ${id} --status Inactive\`) and run rotate again: ` +
              'an inactive key that no connection holds is deleted to make room. If something does, keep it and rotate that key instead.',
          },
        ),
      );
    }
    if (decision.kind === 'blocked-held') {
      throw final(
        new AwsError(
          `user ${userName} already has two access keys, and the other one, ${decision.key.accessKeyId}, is held by ${decision.holder.startsWith('an unfinished') ? decision.holder : `connection "${decision.holder}"`}`,
          {
            hint: 'Two connections share one IAM user, which has room for two keys only: give each connection its own user, or remove one (`datablast-aws remove NAME`).',
          },
        ),
      );
    }

    if (this.opts.dryRun)
      return this.plan(
        current.accessKeyId,
        userName,
        decision.kind === 'delete-stale' ? decision.key : undefined,
        stalePending,
      );

    if (stalePending) {
      this.say('removing a leftover pending entry of an earlier rotation');
      await this.secrets.delete(pendingAccount(this.name));
    }
    if (decision.kind === 'delete-stale') {
      const stale = decision.key.accessKeyId;
      this.say(
        `deleting the inactive key ${maskAccessKeyId(stale)} of ${userName}, which no connection holds, to make room (AWS allows two keys per user)`,
      );
      await this.deleteKey(iam, 'own', userName, stale);
      keys = keys.filter((k) => k.accessKeyId !== stale);
    }

    // 4. Journal `creating`, then CreateAccessKey.
    const startedAt = this.now();
    let journal: RotationJournal = {
      version: JOURNAL_VERSION,
      connection: this.name,
      phase: 'creating',
      startedAt,
      updatedAt: startedAt,
      userName,
      accountId: user.accountId,
      oldAccessKeyId: current.accessKeyId,
      keysBefore: keys.map((k) => k.accessKeyId),
      keepOld: this.opts.keepOld,
    };
    await this.writeJournal(journal);
    this.say(`creating a new access key for IAM user ${userName}`);
    let created;
    try {
      created = await this.iamCall('iam:CreateAccessKey', 'own', userName, () => iam.createAccessKey(userName));
    } catch (error) {
      // A refusal we are sure of made no key: forget the journal and report the refusal itself.
      // Anything else (network, 5xx) may have made one: the journal stays, and the next run finds it.
      if (error instanceof CliError && error.awsCode !== undefined && CREATE_REFUSED.has(error.awsCode))
        await this.journal.clear();
      throw error;
    }
    rememberSecret(created.secretAccessKey);
    const fresh: AccessKeyPair = { accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey };

    // 5. Store the new secret at once under the pending entry; then journal `created`.
    try {
      await this.secrets.set(pendingAccount(this.name), fresh);
    } catch (error) {
      // Nobody holds the new key's secret: delete the key now, signed as before, so none is left behind.
      this.say(`could not store the new key ${maskAccessKeyId(fresh.accessKeyId)}; deleting it again`);
      const cli = error instanceof CliError ? error : undefined;
      try {
        await this.deleteKey(iam, 'own', userName, fresh.accessKeyId);
        await this.secrets.delete(pendingAccount(this.name)).catch(() => false);
        await this.journal.clear();
      } catch (undoError) {
        throw new RotationInterruptedError(
          `could not store the new key of "${this.name}" (${cli?.message ?? String(error)}), nor delete it again (${(undoError as Error).message})`,
          {
            cause: error,
            hint: `Run the same command again: it deletes the new key first (journal: ${this.journal.path}). The connection keeps its current key, which works.${cli?.hint ? ` ${cli.hint}` : ''}`,
          },
        );
      }
      throw new SecretStoreError(
        `could not store the new key of "${this.name}" (${cli?.message ?? String(error)}); the new key was deleted again and the connection keeps its current key, which works`,
        {
          cause: error,
          hint: cli?.hint ?? 'Check that the secret store is unlocked and reachable, then run rotate again.',
        },
      );
    }
    journal = {
      ...journal,
      phase: 'created',
      newAccessKeyId: fresh.accessKeyId,
      newKeyCreatedAt: created.createDate ?? this.now(),
      updatedAt: this.now(),
    };
    await this.writeJournal(journal);
    return this.proveAndSwitch(journal, current, fresh, iam, 'rotated');
  }

  private async writeJournal(journal: RotationJournal): Promise<void> {
    try {
      await this.journal.write(journal);
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new ConfigError(`cannot write the rotation journal ${this.journal.path}: ${(error as Error).message}`, {
        cause: error,
        hint: 'The config directory must be writable (and the disk not full); nothing is rotated without a journal.',
      });
    }
  }

  /** Deletes a key; one that is already gone is fine (a re-run may repeat a step). */
  private async deleteKey(iam: Iam, signer: Signer, userName: string, accessKeyId: string): Promise<void> {
    try {
      await this.iamCall('iam:DeleteAccessKey', signer, userName, () => iam.deleteAccessKey(userName, accessKeyId));
    } catch (error) {
      if (error instanceof CliError && error.awsCode === 'NoSuchEntity') return;
      throw error;
    }
  }

  /** Steps 6 to 8: prove the new key, then switch and retire the old, or roll back when AWS never accepts it. */
  private async proveAndSwitch(
    journal: RotationJournal,
    current: AccessKeyPair,
    fresh: AccessKeyPair,
    oldIam: Iam,
    status: 'rotated' | 'resumed',
  ): Promise<RotateResult> {
    const proven = await this.prove(fresh, journal.userName);
    if (!proven) return this.rollBack(journal, fresh, oldIam);
    return this.switchAndRetire(journal, fresh, status);
  }

  /**
   * Step 6. IAM is eventually consistent: a new key may be refused for seconds after it is created,
   * and accepted by one endpoint before another. Proof is several STS successes in a row (and, when
   * the new key will sign the retirement, one IAM read), polled with capped backoff, bounded.
   */
  private async prove(fresh: AccessKeyPair, userName: string): Promise<boolean> {
    const session = await this.aws.as(fresh, this.region);
    const clock = this.ctx.clock;
    const started = clock.now().getTime();
    this.say(`proving that AWS accepts the new key ${maskAccessKeyId(fresh.accessKeyId)}`);
    let streak = 0;
    let delay = 0;
    let iamChecked = this.opts.admin;
    let lastSaid: number | undefined;
    for (;;) {
      delay = streak > 0 ? PROOF_POLICY.initialDelayMs : nextDelay(delay, PROOF_POLICY);
      await clock.sleep(delay);
      try {
        const identity = await session.sts.getCallerIdentity();
        if (userFromArn(identity.arn)?.userName !== userName)
          throw new AwsError(`the new key answers as ${identity.arn}, not as user ${userName}`);
        streak += 1;
        if (streak >= PROOF_POLICY.requiredSuccesses && !iamChecked) {
          await session.iam.listAccessKeys(userName);
          iamChecked = true;
        }
        if (streak >= PROOF_POLICY.requiredSuccesses) return true;
      } catch (error) {
        // Only "not accepted yet" is waited out; anything else (network, throttling) stops the run, resumable.
        if (!(error instanceof CredentialsRejectedError)) throw error;
        streak = 0;
        const waited = clock.now().getTime() - started;
        if (waited >= PROOF_POLICY.timeoutMs) return false;
        if (lastSaid === undefined || waited - lastSaid >= 10_000) {
          this.say(`waiting for AWS to accept the new key… (${Math.round(waited / 1000)} s so far)`);
          lastSaid = waited;
        }
      }
    }
  }

  /** AWS never accepted the new key: delete it (signed as before the rotation), keep the old one. */
  private async rollBack(journal: RotationJournal, fresh: AccessKeyPair, oldIam: Iam): Promise<RotateResult> {
    this.say(
      `AWS did not accept the new key ${maskAccessKeyId(fresh.accessKeyId)} within ${PROOF_POLICY.timeoutMs / 1000} s; deleting it and keeping ${maskAccessKeyId(journal.oldAccessKeyId)}`,
    );
    await this.deleteKey(oldIam, 'own', journal.userName, fresh.accessKeyId);
    await this.secrets.delete(pendingAccount(this.name));
    await this.journal.clear();
    warn(
      this.ctx,
      `${this.name}: rotation rolled back: AWS never accepted the new key. The connection keeps its current key, which works. Run rotate again later.`,
    );
    return {
      name: this.name,
      status: 'rolled-back',
      oldAccessKeyId: journal.oldAccessKeyId,
      newAccessKeyId: fresh.accessKeyId,
      oldKey: null,
      recovered: null,
    };
  }

  /** Step 7 then 8: the new secret becomes the connection's, the metadata records it, the old key retires. */
  private async switchAndRetire(
    journal: RotationJournal,
    fresh: AccessKeyPair,
    status: 'rotated' | 'resumed',
  ): Promise<RotateResult> {
    this.say(`switching "${this.name}" to the new key ${maskAccessKeyId(fresh.accessKeyId)}`);
    await this.secrets.set(this.name, fresh);
    return this.recordAndRetire(journal, fresh, status);
  }

  private async recordAndRetire(
    journal: RotationJournal,
    fresh: AccessKeyPair,
    status: 'rotated' | 'resumed',
  ): Promise<RotateResult> {
    const connection = await this.connection();
    const previous = connection.previousAccessKeyIds ?? [];
    const now = this.now();
    await this.store.put({
      ...connection,
      accessKeyId: fresh.accessKeyId,
      keyCreatedAt: journal.newKeyCreatedAt ?? now,
      lastRotatedAt: now,
      lastTestedAt: now,
      userName: journal.userName,
      accountId: journal.accountId ?? connection.accountId,
      previousAccessKeyIds: previous.includes(journal.oldAccessKeyId)
        ? previous
        : [...previous, journal.oldAccessKeyId],
    });
    const switched: RotationJournal = { ...journal, phase: 'switched', updatedAt: now };
    await this.writeJournal(switched);
    return this.retire(switched, fresh, status);
  }

  /** Step 8: deactivate, then delete (or keep inactive), signed by the new key; then forget the pending entry and the journal. */
  private async retire(
    journal: RotationJournal,
    fresh: AccessKeyPair,
    status: 'rotated' | 'resumed',
  ): Promise<RotateResult> {
    const iam = await this.iamAs(fresh);
    const old = journal.oldAccessKeyId;
    const user = journal.userName;
    let gone = false;
    this.say(`deactivating the old key ${maskAccessKeyId(old)}`);
    try {
      await this.iamCall('iam:UpdateAccessKey', 'new', user, () => iam.updateAccessKey(user, old, 'Inactive'));
    } catch (error) {
      if (!(error instanceof CliError && error.awsCode === 'NoSuchEntity')) throw error;
      gone = true;
    }
    if (!journal.keepOld && !gone) {
      this.say(`deleting the old key ${maskAccessKeyId(old)}`);
      await this.deleteKey(iam, 'new', user, old);
    }
    await this.secrets.delete(pendingAccount(this.name));
    await this.journal.clear();
    const oldKey = journal.keepOld && !gone ? 'inactive' : 'deleted';
    this.say(`rotated: ${maskAccessKeyId(fresh.accessKeyId)} replaces ${maskAccessKeyId(old)} (${oldKey})`);
    return {
      name: this.name,
      status,
      oldAccessKeyId: old,
      newAccessKeyId: fresh.accessKeyId,
      oldKey,
      recovered: status === 'resumed' ? 'finished' : null,
    };
  }

  /**
   * A journal was found: finish the rotation it describes (status "resumed", or "rolled-back" when
   * the new key is never accepted), or undo it ('undone': the caller then rotates afresh).
   */
  private async resume(journal: RotationJournal): Promise<RotateResult | 'undone'> {
    this.say(
      `found an interrupted rotation (phase "${journal.phase}", started ${journal.startedAt}); finishing or undoing it first`,
    );
    await this.connection();
    const current = await this.storedPair(this.name);
    const pending = await this.storedPair(pendingAccount(this.name));
    let action: ResumeAction;
    let iam: Iam | undefined;
    if (!current) {
      action = decideResume({
        journal,
        currentKeyId: undefined,
        pendingKeyId: pending?.accessKeyId,
        iamKeys: [],
        holders: new Map(),
      });
    } else {
      iam = await this.iamAs(current);
      const signer: Signer = current.accessKeyId === journal.newAccessKeyId ? 'new' : 'own';
      const keys = await this.iamCall('iam:ListAccessKeys', signer, journal.userName, () =>
        iam!.listAccessKeys(journal.userName),
      );
      action = decideResume({
        journal,
        currentKeyId: current.accessKeyId,
        pendingKeyId: pending?.accessKeyId,
        iamKeys: keys,
        holders: await this.holders(current.accessKeyId),
      });
    }
    if (action.kind === 'refuse') {
      throw final(
        new ConfigError(`cannot finish or undo the interrupted rotation of "${this.name}": ${action.reason}`, {
          hint:
            `Nothing was changed. Compare \`aws iam list-access-keys --user-name ${journal.userName}\` with \`datablast-aws show "${this.name}"\`, ` +
            `delete in IAM any key that no connection holds, make sure the connection holds a working key (\`datablast-aws test "${this.name}"\`), ` +
            `then delete ${this.journal.path} and run rotate again.`,
        }),
      );
    }
    if (this.opts.dryRun) return this.resumePlan(journal, action, current?.accessKeyId ?? null);
    // current and iam are set for every action but refuse.
    const cur = current!;
    switch (action.kind) {
      case 'clear':
        this.say(`undoing it: ${action.reason}`);
        if (action.deletePending) await this.secrets.delete(pendingAccount(this.name));
        await this.journal.clear();
        return 'undone';
      case 'delete-orphan':
        this.say(
          `undoing it: deleting the new key ${maskAccessKeyId(action.accessKeyId)}, whose secret was never stored`,
        );
        await this.deleteKey(iam!, 'own', journal.userName, action.accessKeyId);
        if (action.deletePending) await this.secrets.delete(pendingAccount(this.name));
        await this.journal.clear();
        return 'undone';
      case 'adopt-pending': {
        this.say(`the new key ${maskAccessKeyId(action.accessKeyId)} is stored; finishing the rotation`);
        const adopted: RotationJournal = {
          ...journal,
          phase: 'created',
          newAccessKeyId: action.accessKeyId,
          newKeyCreatedAt: action.createDate ?? this.now(),
          updatedAt: this.now(),
        };
        await this.writeJournal(adopted);
        return this.proveAndSwitch(adopted, cur, pending!, iam!, 'resumed');
      }
      case 'verify-and-switch':
        this.say(`the new key ${maskAccessKeyId(pending!.accessKeyId)} is stored; finishing the rotation`);
        return this.proveAndSwitch(journal, cur, pending!, iam!, 'resumed');
      case 'finish-switch':
        this.say(
          `the connection already holds the new key ${maskAccessKeyId(cur.accessKeyId)}; finishing the rotation`,
        );
        return this.recordAndRetire(journal, cur, 'resumed');
      case 'retire':
        this.say(`the connection holds the new key ${maskAccessKeyId(cur.accessKeyId)}; retiring the old one`);
        return this.retire(journal, cur, 'resumed');
    }
  }

  /** The --dry-run plan of a fresh rotation. */
  private plan(
    currentId: string,
    userName: string,
    stale: AccessKeyInfo | undefined,
    stalePending: boolean,
  ): RotateResult {
    const signer = this.opts.admin ? 'the admin credentials (--profile)' : "the connection's own key";
    const plan = [
      ...(stalePending ? ['remove a leftover pending secret-store entry of an earlier rotation'] : []),
      ...(stale
        ? [
            `delete the inactive key ${stale.accessKeyId} of ${userName}, which no connection holds (AWS allows two keys per user)`,
          ]
        : []),
      `create a new access key for IAM user ${userName} (IAM calls signed by ${signer})`,
      `store it at once under a pending entry of the ${this.secrets.kind} secret store`,
      `prove AWS accepts it: ${PROOF_POLICY.requiredSuccesses} sts:GetCallerIdentity successes in a row${this.opts.admin ? '' : ' and one iam:ListAccessKeys'}, for up to ${PROOF_POLICY.timeoutMs / 1000} s; else delete it and keep the current key`,
      `switch "${this.name}" to the new key and record ${currentId} in its history`,
      this.opts.keepOld
        ? `deactivate the old key ${currentId} and keep it (--keep-old)`
        : `deactivate, then delete the old key ${currentId}`,
    ];
    return this.dryResult('rotated', currentId, plan, this.opts.keepOld ? 'inactive' : 'deleted');
  }

  private resumePlan(
    journal: RotationJournal,
    action: Exclude<ResumeAction, { kind: 'refuse' }>,
    currentId: string | null,
  ): RotateResult {
    const first = `an interrupted rotation (phase "${journal.phase}", started ${journal.startedAt}) is pending:`;
    const retireStep = journal.keepOld
      ? `deactivate the old key ${journal.oldAccessKeyId} and keep it`
      : `deactivate, then delete the old key ${journal.oldAccessKeyId}`;
    switch (action.kind) {
      case 'clear':
        return this.dryResult(
          'rotated',
          currentId,
          [
            first,
            `forget it (${action.reason})`,
            'then rotate afresh (run --dry-run again afterwards for the details)',
          ],
          null,
        );
      case 'delete-orphan':
        return this.dryResult(
          'rotated',
          currentId,
          [first, `delete the new key ${action.accessKeyId}, whose secret was never stored`, 'then rotate afresh'],
          null,
        );
      case 'adopt-pending':
      case 'verify-and-switch':
        return this.dryResult(
          'resumed',
          currentId,
          [first, 'prove the stored new key works, switch the connection to it', retireStep],
          journal.keepOld ? 'inactive' : 'deleted',
        );
      case 'finish-switch':
        return this.dryResult(
          'resumed',
          currentId,
          [first, 'record the new key in the metadata', retireStep],
          journal.keepOld ? 'inactive' : 'deleted',
        );
      case 'retire':
        return this.dryResult('resumed', currentId, [first, retireStep], journal.keepOld ? 'inactive' : 'deleted');
    }
  }

  private dryResult(
    status: RotateStatus,
    currentId: string | null,
    plan: string[],
    oldKey: RotateResult['oldKey'],
  ): RotateResult {
    return {
      name: this.name,
      status,
      oldAccessKeyId: currentId,
      newAccessKeyId: null,
      oldKey,
      recovered: null,
      dryRun: true,
      plan,
    };
  }
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
  }
}
