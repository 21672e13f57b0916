import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { requireConnection } from '../health/require-connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { present, warn, type Style } from '../ui/output.js';
import {
  ageText,
  connectionEntry,
  day,
  inspectConnections,
  rotationText,
  statusText,
  type ConnectionEntry,
} from '../health/inspect.js';
import type { Connection } from '../domain/connection.js';
import { describeLastUse, keyLastUse as lastUseOf, type KeyLastUse } from '../domain/lifecycle.js';
import { resolveRegion } from '../domain/region.js';
import { CliError } from '../errors.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `show` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `show NAME`. */
export interface ShowOptions {
  name: string;
  /** `--last-used`: ask AWS when the key was last used (GetAccessKeyLastUsed); off by default, show stays local. */
  lastUsed?: boolean;
}

/** One consumer of the connection and where it stands (metadata only). */
export interface ShowConsumer {
  spec: string;
  state: 'delivered' | 'pending' | 'failed' | 'none';
  /** When it was delivered, began pending, or failed. */
  at: string | null;
  /** The key the state is about: a consumer may still hold an older key. */
  accessKeyId: string | null;
  /** False while it holds another key than the connection's. */
  holdsCurrentKey: boolean;
}

/**
 * One connection in full: list's fields plus the services and buckets it was onboarded with, its consumers
 * and exported profiles, and (with --last-used) the key's last use.
 */
export type ShowResult = ConnectionEntry & {
  services: string[];
  buckets: string[];
  consumers: ShowConsumer[];
  exportedProfiles: string[];
  lastUsed?: KeyLastUse | null;
};

/**
 * Reads one connection's metadata, its stored pair (to check the key id; the secret is never printed)
 * and its rotation journal; the exit code is its status's (STATUS_EXIT_CODE), with the next step on stderr.
 */
export async function show(ctx: Context, opts: ShowOptions): Promise<ShowResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const [health] = await inspectConnections(ctx, [connection]);
  // Removed while we looked: say so as for any connection that does not exist.
  if (!health) await requireConnection(await ctx.connections(), opts.name);
  const failure = health!.storeFailure;
  if (failure && !health!.advice) {
    warn(
      ctx,
      `could not read the secret store (${failure.message}); the status of ${JSON.stringify(connection.name)} is unknown${failure.hint ? `\n${failure.hint}` : ''}`,
    );
  }
  if (health!.advice) warn(ctx, health!.advice);
  ctx.exitCode = Math.max(ctx.exitCode, health!.exitCode);
  const result: ShowResult = {
    ...connectionEntry(health!),
    services: connection.services ?? [],
    buckets: connection.buckets ?? [],
    consumers: (connection.consumers ?? []).map((c) => ({
      spec: c.spec,
      state: c.state?.status ?? 'none',
      at: c.state ? (c.state.status === 'pending' ? c.state.since : c.state.at) : null,
      accessKeyId: c.state?.accessKeyId ?? null,
      holdsCurrentKey: c.state?.status === 'delivered' && c.state.accessKeyId === connection.accessKeyId,
    })),
    exportedProfiles: connection.exportedProfiles ?? [],
  };
  if (opts.lastUsed) result.lastUsed = await keyLastUse(ctx, connection);
  return result;
}

/** One GetAccessKeyLastUsed, signed by the connection's own key; a failure is a warning, never the command's failure. */
async function keyLastUse(ctx: Context, connection: Connection): Promise<KeyLastUse | null> {
  const pair = await (await ctx.secrets()).get(connection.name);
  if (!pair) return null;
  try {
    const region = resolveRegion({ flag: ctx.globals.region, connection: connection.region, env: ctx.env }).region;
    const iam = (await (await ctx.aws()).as(pair, region)).iam;
    const used = await iam.getAccessKeyLastUsed(pair.accessKeyId);
    return lastUseOf(
      {
        ...(used.lastUsedDate ? { at: used.lastUsedDate } : {}),
        ...(used.serviceName ? { service: used.serviceName } : {}),
        ...(used.region ? { region: used.region } : {}),
      },
      ctx.clock.now(),
      connection.keyCreatedAt,
    );
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    warn(ctx, `could not read the key's last use from AWS: ${error.message}${error.hint ? `\n${error.hint}` : ''}`);
    return null;
  }
}

/** Human text for `show`: one field per line. */
export function renderShow(result: ShowResult, io: IO, style: Style): void {
  const fields: Array<[string, string]> = [
    ['name', result.name],
    ['access key id', maskAccessKeyId(result.accessKeyId)],
    ['account', result.accountId ?? '-'],
    ['user', result.userName ?? '-'],
    ['arn', result.arn ?? '-'],
    ['region', result.region],
    ['description', result.description ?? '-'],
    ['services', result.services.length ? result.services.join(', ') : '-'],
    ...(result.buckets.length ? ([['buckets', result.buckets.join(', ')]] as Array<[string, string]>) : []),
    ['added', day(result.createdAt)],
    ['key created', day(result.keyCreatedAt).replace('never', 'unknown')],
    ['key age (days)', ageText(result)],
    ['last tested', day(result.lastTestedAt)],
    ['last rotated', day(result.lastRotatedAt)],
    ...(result.storedAccessKeyId
      ? ([['stored key id', maskAccessKeyId(result.storedAccessKeyId)]] as Array<[string, string]>)
      : []),
    ['status', statusText(result.status, style)],
    ...(result.rotation ? ([['rotation', rotationText(result.rotation)]] as Array<[string, string]>) : []),
    ...(result.lastUsed !== undefined
      ? ([
          [
            'key last used',
            result.lastUsed
              ? describeLastUse({
                  ...(result.lastUsed.at ? { at: result.lastUsed.at } : {}),
                  ...(result.lastUsed.service ? { service: result.lastUsed.service } : {}),
                  ...(result.lastUsed.region ? { region: result.lastUsed.region } : {}),
                })
              : 'unknown',
          ],
        ] as Array<[string, string]>)
      : []),
    ...result.consumers.map(
      (c) =>
        [
          'consumer',
          `${c.spec}  ${c.state}${c.at ? ` ${day(c.at)}` : ''}${c.state !== 'none' && !c.holdsCurrentKey && c.accessKeyId ? ` (key ${maskAccessKeyId(c.accessKeyId)}, not the current one)` : ''}`,
        ] as [string, string],
    ),
    ...result.exportedProfiles.map(
      (p) => ['consumer', `profile ${p} (exported: SDK clients on this machine)`] as [string, string],
    ),
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  for (const [label, value] of fields) io.out(`${style.dim(label.padEnd(width))}  ${value}\n`);
  if (result.lastUsed?.warning) io.out(`${style.yellow('!')} ${result.lastUsed.warning}\n`);
}

/** What `show NAME` does once its options are known: the Commander action, and main's shortcut. */
export async function showAction(
  ctx: Context,
  opts: ShowOptions,
  run: (ctx: Context, opts: ShowOptions) => Promise<ShowResult> = show,
): Promise<void> {
  present(ctx, await run(ctx, opts), renderShow);
}

/** Commander wiring of `show`. */
export function showCommand(
  ctx: Context,
  run: (ctx: Context, opts: ShowOptions) => Promise<ShowResult> = show,
): Command {
  return createCommand('show')
    .description(
      'Show one connection: key id (masked), account, user, ARN, region, description, services, dates and status. Calls no AWS API; reads the stored key to check it, never prints a secret.',
    )
    .argument('<name>', 'the connection')
    .option('--last-used', 'also ask AWS when the key was last used, by which service, in which region (one IAM call)')
    .addHelpText(
      'after',
      `
Examples:
  $ datablast-aws show "AWS Production"
  $ datablast-aws show prod --json     # full key id, for scripts
  $ datablast-aws show prod --last-used
`,
    )
    .action(async (name: string, flags: { lastUsed?: boolean }) => {
      await showAction(ctx, { name, ...(flags.lastUsed ? { lastUsed: true } : {}) }, run);
    });
}
