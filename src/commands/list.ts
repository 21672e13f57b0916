import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, ExitCode } from '../errors.js';
import { isPendingAccount } from '../domain/rotation.js';
import { DamagedConnectionFileError } from '../store/connections.js';
import {
  ageInDays,
  connectionJson,
  ROTATION_PERIOD_DAYS,
  type Connection,
  type ConnectionJson,
} from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { present, table, warn, type Style } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `list` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `list` (none besides the global ones). */
export type ListOptions = Record<string, never>;

/** What `list` and `show` say about a connection's health, without calling AWS. */
export type ConnectionStatus = 'ok' | 'key older than 90 days' | 'secret missing';

/** One connection as `list` reports it: the connection JSON of CLI.md plus age and status. */
export type ListEntry = ConnectionJson & {
  /** Whole days since the key was created; when that date is unknown, since the connection was added (a lower bound). */
  keyAgeDays: number | null;
  /** False when keyAgeDays counts from when the connection was added. */
  keyAgeKnown: boolean;
  status: ConnectionStatus;
};

/** The result of `list`: every connection, sorted by name. */
export type ListResult = ListEntry[];

/**
 * Lists the connections, with a warning on stderr for each key older than the rotation period and for
 * each secret that no connection owns. A metadata file with broken entries still lists the good ones
 * (exit 3, with the file's path and the repair step), since `list` is where a user looks first.
 */
export async function list(ctx: Context, _opts: ListOptions = {}): Promise<ListResult> {
  const connections = await readableConnections(ctx);
  const stored = connections.length > 0 ? await storedSecrets(ctx) : undefined;
  const now = ctx.clock.now();
  const entries = connections.map((c) => listEntry(c, now, stored));
  const names = new Set(connections.map((c) => c.name));
  for (const account of stored ?? []) {
    if (names.has(account) || isPendingAccount(account)) continue;
    warn(
      ctx,
      `the secret store holds a secret for ${JSON.stringify(account)}, but no connection of that name exists; remove it with \`datablast-aws remove ${shellWord(account)}\`, or add the connection again with \`datablast-aws add-connection ${shellWord(account)}\``,
    );
  }
  for (const entry of entries) {
    if (entry.keyAgeDays !== null && entry.keyAgeDays > ROTATION_PERIOD_DAYS) {
      warn(
        ctx,
        `the key of ${JSON.stringify(entry.name)} is ${entry.keyAgeKnown ? '' : 'at least '}${entry.keyAgeDays} days old; rotate it: datablast-aws rotate ${shellWord(entry.name)}`,
      );
    }
  }
  return entries;
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

/**
 * The names that hold a secret, read with one list() call rather than a get() per connection; with
 * `only`, whether that one name holds one (has(): the Secret Service answers it without the secret).
 * Undefined (with a warning and the store's repair step) when the secret store cannot be read: the
 * metadata is still worth listing.
 */
export async function storedSecrets(ctx: Context, only?: string): Promise<Set<string> | undefined> {
  try {
    const secrets = await ctx.secrets();
    if (only === undefined) return new Set(await secrets.list());
    return new Set((await secrets.has(only)) ? [only] : []);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    warn(
      ctx,
      `could not read the secret store (${error.message}); missing secrets are not reported${error.hint ? `\n${error.hint}` : ''}`,
    );
    return undefined;
  }
}

/** A connection with its key age and status; `stored` undefined means the secret store was not readable. */
export function listEntry(connection: Connection, now: Date, stored: Set<string> | undefined): ListEntry {
  const keyAgeKnown = connection.keyCreatedAt !== undefined;
  const keyAgeDays = ageInDays(connection.keyCreatedAt ?? connection.createdAt, now) ?? null;
  let status: ConnectionStatus = 'ok';
  if (stored && !stored.has(connection.name)) status = 'secret missing';
  else if (keyAgeDays !== null && keyAgeDays > ROTATION_PERIOD_DAYS) status = 'key older than 90 days';
  return { ...connectionJson(connection), keyAgeDays, keyAgeKnown, status };
}

/** The day of an ISO time, or "never". */
export function day(iso: string | null): string {
  return iso ? iso.slice(0, 10) : 'never';
}

/** A key age for people: "12" or "≥12" when counted from when the connection was added. */
export function ageText(entry: Pick<ListEntry, 'keyAgeDays' | 'keyAgeKnown'>): string {
  if (entry.keyAgeDays === null) return '?';
  return `${entry.keyAgeKnown ? '' : '≥'}${entry.keyAgeDays}`;
}

/** Colours a status: green ok, yellow old, red missing. */
export function statusText(status: ConnectionStatus, style: Style): string {
  return status === 'ok' ? style.green(status) : status === 'secret missing' ? style.red(status) : style.yellow(status);
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
    statusText(e.status, style),
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
      'List every connection: masked key id, account, region, key age, last test and rotation, status. Reads no secret; calls no AWS API but ListSecrets with the aws-secrets-manager store.',
    )
    .addHelpText(
      'after',
      `
Piped, it prints tab-separated rows without a header; --json prints the full key ids.

Examples:
  $ datablast-aws list
  $ datablast-aws list --json | jq -r '.[] | select(.status != "ok") | .name'
`,
    )
    .action(async () => {
      await listAction(ctx, {}, run);
    });
}
