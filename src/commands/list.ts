import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { ExitCode } from '../errors.js';
import { isPendingAccount } from '../domain/rotation.js';
import { worstExitCode } from '../domain/rotation.js';
import { DamagedConnectionFileError } from '../store/connections.js';
import type { Connection } from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { present, table, warn, type Style } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';
import {
  ageText,
  connectionEntry,
  day,
  inspectConnections,
  readAccounts,
  rotationText,
  statusText,
  type ConnectionEntry,
} from '../health/inspect.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `list` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `list` (none besides the global ones). */
export type ListOptions = Record<string, never>;

/** One connection as `list` reports it: the connection JSON of CLI.md plus age and status. */
export type ListEntry = ConnectionEntry;

/** The result of `list`: every connection, sorted by name. */
export type ListResult = ListEntry[];

/**
 * Lists the connections with what is known of each: every stored pair is read (never printed) so that
 * "ok" means its key is the one the metadata names. A warning on stderr for each connection that is not
 * ok and for each secret no connection owns; the exit code is the most urgent status's (STATUS_EXIT_CODE).
 * A metadata file with broken entries still lists the good ones (exit 3), since `list` is where a user
 * looks first.
 */
export async function list(ctx: Context, _opts: ListOptions = {}): Promise<ListResult> {
  const connections = await readableConnections(ctx);
  if (connections.length === 0) return [];
  const reading = await readAccounts(ctx);
  if (reading.failure) {
    warn(
      ctx,
      `could not read the secret store (${reading.failure.message}); the status of every connection is unknown${reading.failure.hint ? `\n${reading.failure.hint}` : ''}`,
    );
  }
  const health = await inspectConnections(ctx, connections, reading);
  const names = new Set(connections.map((c) => c.name));
  for (const account of reading.entries?.keys() ?? reading.accounts ?? []) {
    if (names.has(account) || isPendingAccount(account)) continue;
    warn(
      ctx,
      `the secret store holds a secret for ${JSON.stringify(account)}, but no connection of that name exists; remove it with \`datablast-aws remove ${shellWord(account)}\`, or add the connection again with \`datablast-aws add-connection ${shellWord(account)}\``,
    );
  }
  for (const h of health) if (h.advice) warn(ctx, h.advice);
  ctx.exitCode = worstExitCode([ctx.exitCode, ...health.map((h) => h.exitCode)]);
  return health.map(connectionEntry);
}

/** Every connection; from a file with broken entries, the well-formed ones (warning, exit 3). */
async function readableConnections(ctx: Context): Promise<Connection[]> {
  try {
    return await (await ctx.connections()).list();
  } catch (error) {
    if (!(error instanceof DamagedConnectionFileError) || error.readable.length === 0) throw error;
    warn(
      ctx,
      `${error.message}; listing the ${error.readable.length} connection${error.readable.length === 1 ? '' : 's'} that could be read\n${error.hint ?? ''}`,
    );
    ctx.exitCode = ExitCode.config;
    return error.readable;
  }
}

/** Human text for `list`: a table on a terminal, tab-separated rows when piped. */
export function renderList(result: ListResult, io: IO, style: Style): void {
  if (result.length === 0) {
    io.err('No connections yet. Add one with `datablast-aws add-connection NAME`, or run `datablast-aws init`.\n');
    return;
  }
  const rows = result.map((e) => [
    e.name,
    maskAccessKeyId(e.accessKeyId),
    e.accountId ?? '-',
    e.region,
    ageText(e),
    day(e.lastTestedAt),
    day(e.lastRotatedAt),
    e.rotation ? `${statusText(e.status, style)} · ${rotationText(e.rotation)}` : statusText(e.status, style),
  ]);
  const header = [
    'NAME',
    'ACCESS KEY ID',
    'ACCOUNT',
    'REGION',
    'AGE (DAYS)',
    'LAST TESTED',
    'LAST ROTATED',
    'STATUS',
  ].map((h) => style.bold(h));
  io.out(table(io.stdoutIsTTY ? [header, ...rows] : rows, io));
}

/** What `list` does once its options are known: the Commander action, and main's shortcut. */
export async function listAction(
  ctx: Context,
  opts: ListOptions = {},
  run: (ctx: Context, opts: ListOptions) => Promise<ListResult> = list,
): Promise<void> {
  present(ctx, await run(ctx, opts), renderList);
}

/** Commander wiring of `list`. */
export function listCommand(
  ctx: Context,
  run: (ctx: Context, opts: ListOptions) => Promise<ListResult> = list,
): Command {
  return createCommand('list')
    .description(
      'List every connection: masked key id, account, region, key age, last test and rotation, status. Calls no AWS API (but ListSecrets with the aws-secrets-manager store); reads each stored key to check it, never prints a secret.',
    )
    .addHelpText(
      'after',
      `
Piped, it prints tab-separated rows without a header; --json prints the full key ids.

Examples:
  $ datablast-aws list
  $ datablast-aws list --json | jq -r '.[] | select(.status != "ok") | .name'

Status: ok (the stored key is the one the metadata names, no rotation half-done, not rejected at the
last test), key older than 90 days (exit 0), secret missing or stored key differs (exit 3), rejected at
last test (4), unknown: secret store unavailable (6), rotation interrupted (8); the most urgent wins.
`,
    )
    .action(async () => {
      await listAction(ctx, {}, run);
    });
}
