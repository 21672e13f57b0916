import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { requireConnection, requireKeyPair } from '../health/require-connection.js';
import { holdsKey, withState, type ConsumerRecord } from '../domain/consumer.js';
import { shellWord } from '../domain/shell-word.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import {
  addConsumersAndHandOff,
  addHandOffOptions,
  CONSUMERS_HELP,
  consumerLines,
  consumerResults,
  handOffFlags,
  parseDeliverTo,
  withConnectionLock,
  type ConsumerResult,
  type HandOffFlags,
  type RawHandOffFlags,
} from '../onboarding/hand-off.js';
import { ConfigError, ExitCode, UsageError } from '../errors.js';
import { present, type Style } from '../ui/output.js';

/** The options of `deliver NAME`: the shared hand-off flags, and the confirmation. */
export interface DeliverOptions extends HandOffFlags {
  name: string;
  /** `--confirm-delivered`: a person says the pending `datablast` hand-off is done. */
  confirmDelivered: boolean;
}

/** One consumer in the result: where it stands with the connection's current key. */
export type DeliverConsumerResult = ConsumerResult;

/** The result of `deliver`, printed as is under --json. */
export interface DeliverResult {
  name: string;
  accessKeyId: string;
  consumers: DeliverConsumerResult[];
}

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
  const specs = parseDeliverTo(opts.deliverTo);
  const store = await ctx.connections();
  const connection = await requireConnection(store, opts.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  return withConnectionLock(ctx, connection.name, async () => {
    const fresh = await requireConnection(store, connection.name);
    if (opts.confirmDelivered) {
      const consumers = confirm(fresh.consumers ?? [], pair.accessKeyId, ctx.clock.now().toISOString(), fresh.name);
      await store.put({ ...fresh, consumers });
      return { name: fresh.name, accessKeyId: pair.accessKeyId, consumers: consumerResults(consumers) };
    }
    if (specs.length === 0 && !fresh.consumers?.length)
      throw new UsageError(`the connection ${JSON.stringify(fresh.name)} has no consumers to deliver its key to`, {
        hint: 'Add one: --deliver-to datablast, --deliver-to "exec:COMMAND" or --deliver-to aws-secrets-manager:SECRET_ID.',
      });
    const consumers = await addConsumersAndHandOff(ctx, store, fresh, pair, {
      specs,
      kmsKeyId: opts.kmsKeyId,
      execTimeoutMs: opts.execTimeoutMs,
      everyone: specs.length === 0,
    });
    if (consumers.some((c) => c.handedThisRun && c.state === 'failed')) ctx.exitCode = ExitCode.aws;
    return { name: fresh.name, accessKeyId: pair.accessKeyId, consumers };
  });
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

/** Human text: one line per consumer, then the next step for anything not delivered. */
export function renderDeliver(result: DeliverResult, io: IO, style: Style): void {
  const lines = [`key ${maskAccessKeyId(result.accessKeyId)} of ${JSON.stringify(result.name)}:`];
  io.out(`${[...lines, ...consumerLines(result.consumers, style)].join('\n')}\n`);
}

/** Commander wiring of `deliver`. */
export function deliverCommand(
  ctx: Context,
  run: (ctx: Context, opts: DeliverOptions) => Promise<DeliverResult> = deliver,
): Command {
  const command = createCommand('deliver')
    .description(
      "Hand the connection's current key to its consumers (Datablast's form, your command, a Secrets Manager secret) again.",
    )
    .argument('<name>', 'the connection');
  return addHandOffOptions(
    command,
    'add a consumer and hand it the key: datablast, exec:COMMAND or aws-secrets-manager:SECRET_ID (repeatable)',
  )
    .option('--confirm-delivered', 'the key is saved in Datablast: confirm the pending datablast hand-off')
    .addHelpText(
      'after',
      `
${CONSUMERS_HELP}

Without --deliver-to every consumer is handed the key again; with it, the added consumers and any that do
not hold the key yet. Exit 0 when every consumer handed the key took it or awaits confirmation; 5 when one failed.

Examples:
  $ datablast-aws deliver "AWS Production" --deliver-to datablast
  $ datablast-aws deliver prod --deliver-to 'exec:./push-key-to-ci.sh'
  $ datablast-aws deliver prod --deliver-to aws-secrets-manager:datablast/prod --kms-key-id alias/datablast
  $ datablast-aws deliver prod --confirm-delivered
`,
    )
    .action(async (name: string, o: RawHandOffFlags & { confirmDelivered?: boolean }) => {
      const opts: DeliverOptions = { name, ...handOffFlags(ctx.env, o), confirmDelivered: o.confirmDelivered === true };
      present(ctx, await run(ctx, opts), renderDeliver);
    });
}
