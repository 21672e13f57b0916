import { validateKmsKeyId } from '../domain/kms-key.js';
import type { Command } from 'commander';
import { collect, createOption } from '../commander.js';
import type { ConnectionStore, Context, DeliveryOutcome } from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import {
  addConsumers,
  consumerRecord,
  consumersNeeding,
  parseConsumerSpec,
  secretArnRegion,
  type ConsumerRecord,
  type ConsumerSpec,
  type ConsumerState,
} from '../domain/consumer.js';
import { resolveRegion } from '../domain/region.js';
import { shellWord } from '../domain/shell-word.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import { handOff } from '../consumers/hand-off.js';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../consumers/exec.js';
import { ConfigError, ExitCode, LockHeldError, UsageError } from '../errors.js';
import { progress, warn, type Style } from '../ui/output.js';

/**
 * The hand-off that ends `deliver`, `init`, `create-user --create-key` and `add-connection`: the shared
 * `--deliver-to`, `--kms-key-id` and `--exec-timeout` options, the consumer records they add to a
 * connection, the hand-off itself under the connection's rotation lock, and each consumer's state as the
 * commands print it.
 */

/** The hand-off flags as Commander leaves them. */
export interface RawHandOffFlags {
  deliverTo?: string[];
  kmsKeyId?: string;
  execTimeout?: string;
}

/** The hand-off flags, checked. */
export interface HandOffFlags {
  /** `--deliver-to` specs, as given (each checked by parseDeliverTo). */
  deliverTo: string[];
  /** `--kms-key-id` (or DATABLAST_AWS_KMS_KEY_ID): the KMS key of an aws-secrets-manager secret we create. */
  kmsKeyId?: string | undefined;
  /** `--exec-timeout SECONDS`, in milliseconds. */
  execTimeoutMs?: number | undefined;
}

/** One consumer in a result: where it stands with the connection's current key (never a secret). */
export interface ConsumerResult {
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

/** How long a hand-off waits for a rotation of the same connection before exit 7. */
const LOCK_WAIT_MS = 10_000;
/** The longest --exec-timeout. */
const MAX_EXEC_TIMEOUT_S = 3_600;

/** The consumer kinds, for the help text of every command that takes `--deliver-to`. */
export const CONSUMERS_HELP = `Consumers (remembered by the connection; rotate hands each new key to them):
  datablast                   Datablast's connection form, by hand: the fields are shown on the terminal,
                              the secret only when you press s (or copied with c); without a terminal the
                              hand-off waits for deliver NAME --confirm-delivered
  exec:COMMAND                run through sh -c with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                              AWS_DEFAULT_REGION and DATABLAST_CONNECTION in its environment; exit 0 = delivered
  aws-secrets-manager:ID      the key as JSON {AccessKeyId, SecretAccessKey, Region} in that secret (created
                              if absent, tagged managed-by=datablast-aws), read back to prove it; signed with
                              the admin credentials (--profile)`;

/** Adds `--deliver-to` (repeatable), `--kms-key-id` and `--exec-timeout` to a command. */
export function addHandOffOptions(command: Command, deliverToHelp: string): Command {
  return command
    .addOption(createOption('--deliver-to <spec>', deliverToHelp).argParser(collect))
    .option(
      '--kms-key-id <id>',
      'KMS key for an aws-secrets-manager secret this creates (also DATABLAST_AWS_KMS_KEY_ID)',
    )
    .option(
      '--exec-timeout <seconds>',
      `how long an exec: command may run (default ${DEFAULT_EXEC_TIMEOUT_MS / 1000})`,
    );
}

/** Checks the hand-off flags (the KMS key falls back to DATABLAST_AWS_KMS_KEY_ID); a UsageError names the bad one. */
export function handOffFlags(env: Readonly<Record<string, string | undefined>>, raw: RawHandOffFlags): HandOffFlags {
  const kms = raw.kmsKeyId ?? (env.DATABLAST_AWS_KMS_KEY_ID || undefined);
  return {
    deliverTo: raw.deliverTo ?? [],
    kmsKeyId:
      kms === undefined ? undefined : validateKmsKeyId(kms, raw.kmsKeyId ? '--kms-key-id' : 'DATABLAST_AWS_KMS_KEY_ID'),
    execTimeoutMs: raw.execTimeout === undefined ? undefined : parseExecTimeout(raw.execTimeout),
  };
}

/** Parses every `--deliver-to` value, so that a typo fails (exit 2) before anything changes. */
export function parseDeliverTo(texts: readonly string[]): ConsumerSpec[] {
  return texts.map((text) => parseConsumerSpec(text));
}

/** The `--exec-timeout` value in milliseconds. */
export function parseExecTimeout(text: string): number {
  const seconds = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_EXEC_TIMEOUT_S))
    throw new UsageError(
      `--exec-timeout: ${JSON.stringify(text.slice(0, 40))} is not a number of seconds from 1 to ${MAX_EXEC_TIMEOUT_S}`,
      { hint: 'e.g. --exec-timeout 120' },
    );
  return seconds * 1000;
}

/** Runs `work` holding the connection's lock (the rotation lock), waiting a little for a holder (else exit 7). */
export async function withConnectionLock<T>(ctx: Context, name: string, work: () => Promise<T>): Promise<T> {
  const lock = await (await ctx.locks()).acquire(name, LOCK_WAIT_MS);
  if (!lock)
    throw new LockHeldError(
      `another process is changing ${JSON.stringify(name)} (a rotation, a hand-off, add-connection or remove)`,
      { hint: 'Wait for it to finish, then run the same command again.' },
    );
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** What to hand over, and to whom. */
export interface HandOffRequest {
  /** The consumers to add (parsed `--deliver-to`). */
  specs: ConsumerSpec[];
  kmsKeyId?: string | undefined;
  execTimeoutMs?: number | undefined;
  /** Hand the key to every consumer again; otherwise only to those added and those that lack it. */
  everyone: boolean;
}

/**
 * Adds the requested consumers to `connection` (read under the lock, which the caller holds) and hands `pair`
 * to the consumers the request selects, saving each outcome at once. Returns every consumer's state.
 */
export async function addConsumersAndHandOff(
  ctx: Context,
  store: ConnectionStore,
  connection: Connection,
  pair: AccessKeyPair,
  request: HandOffRequest,
): Promise<ConsumerResult[]> {
  const records = request.specs.map((spec) => {
    if (spec.kind !== 'aws-secrets-manager') return consumerRecord(spec);
    const region =
      secretArnRegion(spec.secretId) ??
      resolveRegion({ flag: ctx.globals.region, connection: connection.region, env: ctx.env }).region;
    return consumerRecord(spec, { region, ...(request.kmsKeyId ? { kmsKeyId: request.kmsKeyId } : {}) });
  });
  const known = new Set((connection.consumers ?? []).map((c) => c.spec));
  const consumers = addConsumers(connection.consumers ?? [], records);
  // Only consumers new to the connection count as added: one named again that holds the key is not re-run.
  const added = new Set(records.filter((r) => !known.has(r.spec)).map((r) => r.spec));
  if (added.size > 0) await store.put({ ...connection, consumers });
  const needing = new Set(consumersNeeding(consumers, pair.accessKeyId).map((c) => c.spec));
  const entries = await handOff(
    {
      connections: store,
      clock: ctx.clock,
      consumer: (record, options) => ctx.consumer(record, options),
      onStart: (record) => progress(ctx, `handing key ${maskAccessKeyId(pair.accessKeyId)} to ${record.spec}`),
      options: { execTimeoutMs: request.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS },
    },
    connection.name,
    pair,
    (record) => request.everyone || added.has(record.spec) || needing.has(record.spec),
  );
  const after = (await store.get(connection.name))?.consumers ?? consumers;
  return consumerResults(after, new Map(entries.map((e) => [e.record.spec, e.outcome])));
}

/**
 * The hand-off that ends an onboarding command: once the connection `name` is saved, its key (as the secret
 * store holds it) goes to the consumers `flags` adds and to any it already had that lack the key. A failed
 * consumer leaves the connection saved and usable: a warning names `deliver NAME` and the exit code becomes 5
 * (unless an earlier failure set one). Without consumers nothing is done (and no lock taken).
 */
export async function handOffNewKey(ctx: Context, name: string, flags: HandOffFlags): Promise<ConsumerResult[]> {
  const specs = parseDeliverTo(flags.deliverTo);
  const store = await ctx.connections();
  const before = await store.get(name);
  if (specs.length === 0 && !before?.consumers?.length) return [];
  const results = await withConnectionLock(ctx, name, async () => {
    const connection = await store.get(name);
    const pair = connection ? await (await ctx.secrets()).get(name) : undefined;
    if (!connection || !pair)
      throw new ConfigError(`the connection ${JSON.stringify(name)} or its secret was removed before its hand-off`, {
        hint: `Add it again, then hand its key over: datablast-aws deliver ${shellWord(name)} --deliver-to SPEC`,
      });
    rememberSecret(pair.secretAccessKey);
    return addConsumersAndHandOff(ctx, store, connection, pair, { ...flags, specs, everyone: false });
  });
  const failed = results.filter((c) => c.handedThisRun && c.state === 'failed');
  if (failed.length > 0) {
    warn(
      ctx,
      `the connection ${JSON.stringify(name)} is saved and works, but handing its key to ${failed.map((c) => c.spec).join(', ')} failed; ` +
        `once fixed, run \`datablast-aws deliver ${shellWord(name)}\``,
    );
    if (ctx.exitCode === 0) ctx.exitCode = ExitCode.aws;
  }
  return results;
}

/** Each consumer's state, with this run's outcome where it handed the key over. */
export function consumerResults(
  consumers: readonly ConsumerRecord[],
  outcomes: ReadonlyMap<string, DeliveryOutcome> = new Map(),
): ConsumerResult[] {
  return consumers.map((c) => {
    const outcome = outcomes.get(c.spec);
    const entry: ConsumerResult = {
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
  });
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

/** Human lines for consumers: a mark, the spec and state, the scrubbed output and the next step. */
export function consumerLines(consumers: readonly ConsumerResult[], style: Style, indent = '  '): string[] {
  const mark = { delivered: style.green('✓'), pending: style.yellow('…'), failed: style.red('✗'), none: '-' };
  const lines: string[] = [];
  for (const c of consumers) {
    lines.push(`${indent}${mark[c.state]} ${c.spec}  ${c.state}${c.detail ? `: ${c.detail}` : ''}`);
    if (c.output) for (const line of c.output.split('\n')) lines.push(`${indent}    ${style.dim(line)}`);
    if (c.hint) lines.push(`${indent}    ${c.hint}`);
  }
  return lines;
}
