import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, ExitCode } from '../errors.js';
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

/** The options of `list`: `--wide` shows every column on a terminal. */
export interface ListOptions {
  wide?: boolean;
}

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
    // Added since the metadata was read (add-connection writes the secret first): not an orphan.
    if (await addedMeanwhile(ctx, account)) continue;
    warn(
      ctx,
      `the secret store holds a secret for ${JSON.stringify(account)}, but no connection of that name exists; remove it with \`datablast-aws remove ${shellWord(account)}\`, or add the connection again with \`datablast-aws add-connection ${shellWord(account)}\``,
    );
  }
  for (const h of health) if (h.advice) warn(ctx, h.advice);
  ctx.exitCode = worstExitCode([ctx.exitCode, ...health.map((h) => h.exitCode)]);
  return health.map(connectionEntry);
}

/** Whether a connection of this name exists now; a damaged file (listed in part) says no. */
async function addedMeanwhile(ctx: Context, name: string): Promise<boolean> {
  try {
    return (await (await ctx.connections()).get(name)) !== undefined;
  } catch (error) {
    if (error instanceof CliError) return false;
    throw error;
  }
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

/** The width a terminal table of `list` keeps within, unless --wide. */
export const LIST_WIDTH = 80;

/**
 * Human text for `list`: tab-separated rows of every column when piped (unchanged for scripts); on a
 * terminal a table, every column with --wide, else the columns that fit LIST_WIDTH (account and last
 * rotation are left to `show` and --wide, the key id shortened, a long name or status cut with "…").
 */
export function renderList(result: ListResult, io: IO, style: Style, opts: ListOptions = {}): void {
  if (result.length === 0) {
    io.err('No connections yet. Add one with `datablast-aws add-connection NAME`, or run `datablast-aws init`.\n');
    return;
  }
  if (!io.stdoutIsTTY || opts.wide) {
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
    return;
  }
  const fixed = result.map((e) => [shortKeyId(e.accessKeyId), e.region, ageText(e), day(e.lastTestedAt)]);
  const headers = ['NAME', 'KEY', 'REGION', 'AGE', 'TESTED', 'STATUS'];
  const widest = (cells: string[]) => Math.max(...cells.map((c) => [...c].length));
  const fixedWidth = [0, 1, 2, 3].reduce((sum, i) => sum + widest([headers[i + 1]!, ...fixed.map((r) => r[i]!)]), 0);
  // Two spaces between the six columns; what is left is shared by the name and the status.
  let room = LIST_WIDTH - fixedWidth - 2 * (headers.length - 1);
  const statusWidth = widest(['STATUS', ...result.map((e) => e.status)]);
  const nameWidth = Math.min(widest(['NAME', ...result.map((e) => e.name)]), Math.max(8, room - statusWidth));
  room -= nameWidth;
  const rows = result.map((e, i) => [
    cut(e.name, nameWidth),
    ...fixed[i]!,
    // Coloured by the whole status, then cut: a cut status keeps its colour.
    statusText(e.status, style).replace(e.status, cut(e.status, room)),
  ]);
  io.out(table([headers.map((h) => style.bold(h)), ...rows], io));
}

/** `AKIA…MPLE`: the prefix and the last four characters, as much of a key id as a table needs. */
function shortKeyId(accessKeyId: string): string {
  return `${accessKeyId.slice(0, 4)}…${accessKeyId.slice(-4)}`;
}

/** Text cut to `width` characters, the last one an ellipsis when anything was cut. */
function cut(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(1, width - 1)).join('')}…`;
}

/** What `list` does once its options are known: the Commander action, and main's shortcut. */
export async function listAction(
  ctx: Context,
  opts: ListOptions = {},
  run: (ctx: Context, opts: ListOptions) => Promise<ListResult> = list,
): Promise<void> {
  present(ctx, await run(ctx, opts), (result, io, style) => renderList(result, io, style, opts));
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
On a terminal the table fits 80 columns (--wide: every column); piped, it prints tab-separated rows of
every column without a header; --json prints the full key ids.

Examples:
  $ datablast-aws list
  $ datablast-aws list --wide
  $ datablast-aws list --json | jq -r '.[] | select(.status != "ok") | .name'

Status: ok (the stored key is the one the metadata names, no rotation half-done, not rejected at the
last test), key older than 90 days (exit 0), secret missing or stored key differs (exit 3), rejected at
last test (4), unknown: secret store unavailable (6), rotation interrupted (8); the most urgent wins.
`,
    )
    .option('--wide', 'on a terminal, every column (account, last rotation, the masked key id in full)')
    .action(async (opts: ListOptions) => {
      await listAction(ctx, opts.wide ? { wide: true } : {}, run);
    });
}
