import type { Command } from 'commander';
import { validateKmsKeyId } from '../domain/kms-key.js';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { requireConnection, requireKeyPair } from './require-connection.js';
import {
  addConsumers,
  consumerRecord,
  consumersNeeding,
  holdsKey,
  parseConsumerSpec,
  secretArnRegion,
  withState,
  type ConsumerRecord,
  type ConsumerState,
} from '../domain/consumer.js';
import { resolveRegion } from '../domain/region.js';
import { shellWord } from '../domain/shell-word.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { handOff } from '../consumers/hand-off.js';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../consumers/exec.js';
import { rotationLockPath } from '../store/journal.js';
import { withLock } from '../store/lock.js';
import { ConfigError, ExitCode, LockHeldError, UsageError } from '../errors.js';
import { present, progress, type Style } from '../ui/output.js';

/** The options of `deliver NAME`. */
export interface DeliverOptions {
  name: string;
  /** `--deliver-to` specs to add (and hand the key to). */
  deliverTo: string[];
  /** `--confirm-delivered`: a person says the pending `datablast` hand-off is done. */
  confirmDelivered: boolean;
  /** `--kms-key-id` (or DATABLAST_AWS_KMS_KEY_ID): the KMS key of an aws-secrets-manager secret we create. */
  kmsKeyId?: string | undefined;
  /** `--exec-timeout SECONDS`, in milliseconds. */
  execTimeoutMs?: number | undefined;
}

/** One consumer in the result: where it stands with the connection's current key. */
export interface DeliverConsumerResult {
  spec: string;
  /** `none`: this consumer was never handed a key. */
  state: 'delivered' | 'pending' | 'failed' | 'none';
  /** When it was delivered, began pending, or failed. */
  at: string | null;
  /** What happened, in words; never a secret. */
  detail: string | null;
  /** The access key id the state is about (a consumer may still hold an older key). */
  accessKeyId: string | null;
  /** False when this run did not hand it the key (it already held it). */
  handedThisRun: boolean;
  /** The next step after a failure. */
  hint?: string;
  /** An exec: command's last output, scrubbed of the secret. */
  output?: string;
}

/** The result of `deliver`, printed as is under --json. */
export interface DeliverResult {
  name: string;
  accessKeyId: string;
  consumers: DeliverConsumerResult[];
}

/** How long `deliver` waits for a rotation of the same connection before exit 7. */
const LOCK_WAIT_MS = 10_000;
/** The longest --exec-timeout. */
const MAX_EXEC_TIMEOUT_S = 3_600;

/**
 * Hands the connection's current key (the one in the secret store) to its consumers: with --deliver-to, to
 * the consumers added and to any that do not hold it yet; without, to all of them again. With
 * --confirm-delivered, records that a person saved the key in Datablast. Holds the connection's rotation lock.
 * A failed consumer makes the exit code 5 (its state and message are in the result).
 */
export async function deliver(ctx: Context, opts: DeliverOptions): Promise<DeliverResult> {
  if (opts.confirmDelivered && opts.deliverTo.length > 0)
    throw new UsageError('--confirm-delivered and --deliver-to do not go together', {
      hint: 'Confirm the pending hand-off first, then add consumers in a second run.',
    });
  const added = opts.deliverTo.map((text) => parseConsumerSpec(text));
  const store = await ctx.connections();
  const connection = await requireConnection(store, opts.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  const lockPath = rotationLockPath(store.dir, connection.name);
  return withLock(
    lockPath,
    { waitMs: LOCK_WAIT_MS },
    () =>
      new LockHeldError(`a rotation of ${JSON.stringify(connection.name)} is in progress`, {
        hint: 'It hands the new key to the consumers itself; run deliver again afterwards if needed.',
      }),
    async () => {
      const fresh = await requireConnection(store, connection.name);
      if (opts.confirmDelivered) {
        const consumers = confirm(fresh.consumers ?? [], pair.accessKeyId, ctx.clock.now().toISOString(), fresh.name);
        await store.put({ ...fresh, consumers });
        return result(fresh.name, pair.accessKeyId, consumers, new Map());
      }
      const records = added.map((spec) => {
        if (spec.kind !== 'aws-secrets-manager') return consumerRecord(spec);
        const region =
          secretArnRegion(spec.secretId) ??
          resolveRegion({ flag: ctx.globals.region, connection: fresh.region, env: ctx.env }).region;
        return consumerRecord(spec, { region, ...(opts.kmsKeyId ? { kmsKeyId: opts.kmsKeyId } : {}) });
      });
      const consumers = addConsumers(fresh.consumers ?? [], records);
      if (consumers.length === 0)
        throw new UsageError(`the connection ${JSON.stringify(fresh.name)} has no consumers to deliver its key to`, {
          hint: 'Add one: --deliver-to datablast, --deliver-to "exec:COMMAND" or --deliver-to aws-secrets-manager:SECRET_ID.',
        });
      if (records.length > 0) await store.put({ ...fresh, consumers });
      const addedSpecs = new Set(records.map((r) => r.spec));
      const needing = new Set(consumersNeeding(consumers, pair.accessKeyId).map((c) => c.spec));
      const entries = await handOff(
        {
          connections: store,
          clock: ctx.clock,
          consumer: (record, options) => ctx.consumer(record, options),
          onStart: (record) => progress(ctx, `handing key ${maskAccessKeyId(pair.accessKeyId)} to ${record.spec}`),
          options: { execTimeoutMs: opts.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS },
        },
        fresh.name,
        pair,
        (record) => opts.deliverTo.length === 0 || addedSpecs.has(record.spec) || needing.has(record.spec),
      );
      const after = (await store.get(fresh.name))?.consumers ?? consumers;
      const outcomes = new Map(entries.map((e) => [e.record.spec, e.outcome]));
      const delivered = result(fresh.name, pair.accessKeyId, after, outcomes);
      if (delivered.consumers.some((c) => c.handedThisRun && c.state === 'failed')) ctx.exitCode = ExitCode.aws;
      return delivered;
    },
  );
}

/** The consumers with the pending `datablast` hand-off of key `accessKeyId` confirmed. */
function confirm(consumers: ConsumerRecord[], accessKeyId: string, now: string, name: string): ConsumerRecord[] {
  const datablast = consumers.find((c) => c.kind === 'datablast');
  if (!datablast)
    throw new ConfigError(`the connection ${JSON.stringify(name)} has no datablast consumer to confirm`, {
      hint: `Add it: datablast-aws deliver ${shellWord(name)} --deliver-to datablast`,
    });
  if (holdsKey(datablast, accessKeyId)) return consumers;
  if (datablast.state?.status !== 'pending' || datablast.state.accessKeyId !== accessKeyId)
    throw new ConfigError(
      `no hand-off of key ${accessKeyId} to Datablast is awaiting confirmation${datablast.state?.status === 'pending' ? ` (the pending one is of key ${datablast.state.accessKeyId}, no longer the current key)` : ''}`,
      { hint: `Hand the current key over first: datablast-aws deliver ${shellWord(name)}` },
    );
  return withState(consumers, datablast.spec, { status: 'delivered', accessKeyId, at: now });
}

function result(
  name: string,
  accessKeyId: string,
  consumers: ConsumerRecord[],
  outcomes: Map<string, import('../ports.js').DeliveryOutcome>,
): DeliverResult {
  return {
    name,
    accessKeyId,
    consumers: consumers.map((c) => {
      const outcome = outcomes.get(c.spec);
      const entry: DeliverConsumerResult = {
        spec: c.spec,
        state: c.state?.status ?? 'none',
        at: stateTime(c.state),
        detail: outcome ? (outcome.status === 'failed' ? outcome.message : outcome.detail) : storedDetail(c.state),
        accessKeyId: c.state?.accessKeyId ?? null,
        handedThisRun: outcome !== undefined,
      };
      if (outcome?.status === 'failed' && outcome.hint) entry.hint = outcome.hint;
      if (outcome && outcome.status !== 'pending' && outcome.output) entry.output = outcome.output;
      return entry;
    }),
  };
}

function stateTime(state: ConsumerState | undefined): string | null {
  if (!state) return null;
  return state.status === 'pending' ? state.since : state.at;
}

function storedDetail(state: ConsumerState | undefined): string | null {
  if (!state) return null;
  if (state.status === 'failed') return state.message;
  if (state.status === 'pending') return 'awaiting confirmation (--confirm-delivered)';
  return 'already holds the key';
}

/** Human text: one line per consumer, then the next step for anything not delivered. */
export function renderDeliver(result: DeliverResult, io: IO, style: Style): void {
  const mark = { delivered: style.green('✓'), pending: style.yellow('…'), failed: style.red('✗'), none: '-' };
  const lines = [`key ${maskAccessKeyId(result.accessKeyId)} of ${JSON.stringify(result.name)}:`];
  for (const c of result.consumers) {
    lines.push(`  ${mark[c.state]} ${c.spec}  ${c.state}${c.detail ? `: ${c.detail}` : ''}`);
    if (c.output) for (const line of c.output.split('\n')) lines.push(`      ${style.dim(line)}`);
    if (c.hint) lines.push(`      ${c.hint}`);
  }
  io.out(`${lines.join('\n')}\n`);
}

/** The `--exec-timeout` value in milliseconds. */
export function parseExecTimeout(text: string): number {
  const seconds = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_EXEC_TIMEOUT_S))
    throw new UsageError(
      `--exec-timeout: ${JSON.stringify(text.slice(0, 40))} is not a number of seconds from 1 to ${MAX_EXEC_TIMEOUT_S}`,
      {
        hint: 'e.g. --exec-timeout 120',
      },
    );
  return seconds * 1000;
}

/** Commander wiring of `deliver`. */
export function deliverCommand(
  ctx: Context,
  run: (ctx: Context, opts: DeliverOptions) => Promise<DeliverResult> = deliver,
): Command {
  return createCommand('deliver')
    .description(
      "Hand the connection's current key to its consumers (Datablast's form, your command, a Secrets Manager secret) again.",
    )
    .argument('<name>', 'the connection')
    .addOption(
      createOption(
        '--deliver-to <spec>',
        'add a consumer and hand it the key: datablast, exec:COMMAND or aws-secrets-manager:SECRET_ID (repeatable)',
      ).argParser((value: string, previous: string[] = []) => [...previous, value]),
    )
    .option('--confirm-delivered', 'the key is saved in Datablast: confirm the pending datablast hand-off')
    .option(
      '--kms-key-id <id>',
      'KMS key for an aws-secrets-manager secret this creates (also DATABLAST_AWS_KMS_KEY_ID)',
    )
    .option('--exec-timeout <seconds>', `how long an exec: command may run (default ${DEFAULT_EXEC_TIMEOUT_MS / 1000})`)
    .addHelpText(
      'after',
      `
Consumers (remembered by the connection; rotate hands each new key to them):
  datablast                   Datablast's connection form, by hand: the fields are shown on the terminal,
                              the secret only when you press s (or copied with c); without a terminal the
                              hand-off waits for --confirm-delivered
  exec:COMMAND                run through sh -c with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                              AWS_DEFAULT_REGION and DATABLAST_CONNECTION in its environment; exit 0 = delivered
  aws-secrets-manager:ID      the key as JSON {AccessKeyId, SecretAccessKey, Region} in that secret (created
                              if absent, tagged managed-by=datablast-aws), read back to prove it; signed with
                              the admin credentials (--profile)

Without --deliver-to every consumer is handed the key again; with it, the added consumers and any that do
not hold the key yet. Exit 0 when every consumer handed the key took it or awaits confirmation; 5 when one failed.

Examples:
  $ datablast-aws deliver "AWS Production" --deliver-to datablast
  $ datablast-aws deliver prod --deliver-to 'exec:./push-key-to-ci.sh'
  $ datablast-aws deliver prod --deliver-to aws-secrets-manager:datablast/prod --kms-key-id alias/datablast
  $ datablast-aws deliver prod --confirm-delivered
`,
    )
    .action(
      async (
        name: string,
        o: { deliverTo?: string[]; confirmDelivered?: boolean; kmsKeyId?: string; execTimeout?: string },
      ) => {
        const kms = o.kmsKeyId ?? (ctx.env.DATABLAST_AWS_KMS_KEY_ID || undefined);
        const opts: DeliverOptions = {
          name,
          deliverTo: o.deliverTo ?? [],
          confirmDelivered: o.confirmDelivered === true,
          kmsKeyId:
            kms === undefined
              ? undefined
              : validateKmsKeyId(kms, o.kmsKeyId ? '--kms-key-id' : 'DATABLAST_AWS_KMS_KEY_ID'),
          execTimeoutMs: o.execTimeout === undefined ? undefined : parseExecTimeout(o.execTimeout),
        };
        present(ctx, await run(ctx, opts), renderDeliver);
      },
    );
}
