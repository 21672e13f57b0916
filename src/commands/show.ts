import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { requireConnection } from './require-connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { present, warn, type Style } from '../ui/output.js';
import {
  ageText,
  connectionEntry,
  day,
  inspectConnections,
  statusText,
  type ConnectionEntry,
} from '../health/inspect.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `show` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `show NAME`. */
export interface ShowOptions {
  name: string;
}

/** One connection in full: list's fields plus the services and buckets it was onboarded with. */
export type ShowResult = ConnectionEntry & { services: string[]; buckets: string[] };

/**
 * Reads one connection's metadata, its stored pair (to check the key id; the secret is never printed)
 * and its rotation journal; the exit code is its status's (STATUS_EXIT_CODE), with the next step on stderr.
 */
export async function show(ctx: Context, opts: ShowOptions): Promise<ShowResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const [health] = await inspectConnections(ctx, [connection]);
  const failure = health!.storeFailure;
  if (failure && !health!.advice) {
    warn(
      ctx,
      `could not read the secret store (${failure.message}); the status of ${JSON.stringify(connection.name)} is unknown${failure.hint ? `\n${failure.hint}` : ''}`,
    );
  }
  if (health!.advice) warn(ctx, health!.advice);
  ctx.exitCode = Math.max(ctx.exitCode, health!.exitCode);
  return { ...connectionEntry(health!), services: connection.services ?? [], buckets: connection.buckets ?? [] };
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
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  for (const [label, value] of fields) io.out(`${style.dim(label.padEnd(width))}  ${value}\n`);
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
    .addHelpText(
      'after',
      `
Examples:
  $ datablast-aws show "AWS Production"
  $ datablast-aws show prod --json     # full key id, for scripts
`,
    )
    .action(async (name: string) => {
      await showAction(ctx, { name }, run);
    });
}
