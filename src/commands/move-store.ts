import type { Command } from 'commander';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO, StoreKind, Stores } from '../ports.js';
import { CliError, ConfigError, UsageError } from '../errors.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import { shellWord } from '../domain/shell-word.js';
import { present, progress, type Style } from '../ui/output.js';
import { journalStore } from '../store/journal.js';
import { secretStoreKind } from '../store/secret-store.js';

/** The stores move-store moves between. */
export const STORE_KINDS: readonly StoreKind[] = ['keychain', 'file', 'aws-secrets-manager'];

/** The options of `move-store`. */
export interface MoveStoreOptions {
  /** The destination store. */
  to: StoreKind;
  /** One connection, or undefined with `all`. */
  name: string | undefined;
  all: boolean;
}

/** What happened to one connection. */
export interface MovedConnection {
  name: string;
  accessKeyId: string;
  /** "moved"; "finished" when an earlier run had written the destination but not cleared the source. */
  status: 'moved' | 'finished';
}

/** The result of `move-store`. */
export interface MoveStoreResult {
  from: StoreKind;
  to: StoreKind;
  moved: MovedConnection[];
}

/**
 * Moves connections from the store DATABLAST_AWS_SECRET_STORE names to `--to`, one at a time: write the destination,
 * read it back through a fresh store and compare, and only then delete the source. At every instant one store holds
 * the working key; a failure before the source is deleted undoes what was written to the destination (when it held
 * nothing before) and leaves the source as it was.
 */
export async function moveStore(ctx: Context, opts: MoveStoreOptions): Promise<MoveStoreResult> {
  const from = secretStoreKind(ctx.env);
  const to = opts.to;
  if (from === to)
    throw new UsageError(`the connections are in the ${from} store already (DATABLAST_AWS_SECRET_STORE)`, {
      hint: 'Set DATABLAST_AWS_SECRET_STORE to the store that holds them now, and --to to the one they should go to.',
    });
  if (from !== 'aws-secrets-manager' && to !== 'aws-secrets-manager')
    throw new UsageError(`move-store moves between a local store and aws-secrets-manager, not from ${from} to ${to}`, {
      hint: 'Move them to aws-secrets-manager first, then from there to the other local store.',
    });
  if (opts.all === (opts.name !== undefined))
    throw new UsageError(opts.all ? 'give a connection NAME or --all, not both' : 'give a connection NAME or --all', {
      hint: 'e.g. datablast-aws move-store --to aws-secrets-manager --all',
    });
  const source = await ctx.stores(from);
  const destination = await ctx.stores(to);
  const names = opts.all ? (await source.connections.list()).map((c) => c.name) : [opts.name!];
  const moved: MovedConnection[] = [];
  for (const name of names) {
    progress(ctx, `moving ${JSON.stringify(name)} from ${from} to ${to}`);
    try {
      moved.push(await moveOne(ctx, name, source, destination, to));
    } catch (error) {
      if (!(error instanceof CliError) || moved.length === 0) throw error;
      throw new CliError(
        `${error.message} (moved before it: ${moved.map((m) => JSON.stringify(m.name)).join(', ')})`,
        error.exitCode,
        { hint: error.hint, cause: error },
      );
    }
  }
  return { from, to, moved };
}

async function moveOne(
  ctx: Context,
  name: string,
  source: Stores,
  destination: Stores,
  to: StoreKind,
): Promise<MovedConnection> {
  const connection = await source.connections.get(name);
  const there = await destination.connections.get(name);
  const therePair = there ? await destination.secrets.get(name) : undefined;
  if (!connection) {
    // An earlier run wrote and verified the destination, then stopped while clearing the source.
    if (there && therePair) {
      await source.secrets.delete(name);
      return { name, accessKeyId: there.accessKeyId, status: 'finished' };
    }
    throw new ConfigError(`no connection named ${JSON.stringify(name)} in the ${secretStoreKind(ctx.env)} store`, {
      hint: '`datablast-aws list` shows the connections of the store DATABLAST_AWS_SECRET_STORE names.',
    });
  }
  // A shared store keeps its journals in the secrets; the local stores beside the metadata.
  const journal = await (source.journals?.of(name) ?? journalStore(source.connections.dir, name)).read();
  if (journal)
    throw new ConfigError(
      `a rotation of ${JSON.stringify(name)} was interrupted (${journal.phase}); nothing was moved`,
      {
        hint: `Run \`datablast-aws rotate ${shellWord(name)}\` to finish or undo it, then move the connection.`,
      },
    );
  const pair = await source.secrets.get(name);
  if (!pair)
    throw new ConfigError(`no secret is stored for ${JSON.stringify(name)}; nothing was moved`, {
      hint: `Store the key again with \`datablast-aws add-connection ${shellWord(name)} --force\`, then move it.`,
    });
  rememberSecret(pair.secretAccessKey);
  const resumed = there !== undefined && therePair !== undefined && same(there, therePair, connection, pair);
  if (there && !resumed)
    throw new ConfigError(
      `the ${to} store already holds a different connection named ${JSON.stringify(name)}; nothing was moved`,
      { hint: `Remove one of the two first (\`datablast-aws remove ${shellWord(name)}\` against the store to drop).` },
    );
  if (!resumed) {
    try {
      await destination.secrets.set(name, pair);
      await destination.connections.put(connection);
      // A fresh store, so that the comparison reads what the destination holds, not what this process cached.
      const check = await ctx.stores(to);
      const back = await check.connections.get(name);
      const backPair = await check.secrets.get(name);
      if (!back || !backPair || !same(back, backPair, connection, pair))
        throw new ConfigError(
          `reading ${JSON.stringify(name)} back from the ${to} store did not return what was written; the source was left as it was`,
          { hint: 'Something else writes to that store; check it, then run move-store again.' },
        );
    } catch (error) {
      await undo(destination, name);
      if (error instanceof CliError && !/source was left/.test(error.message))
        throw new CliError(`${error.message}; nothing was moved, the source store still holds it`, error.exitCode, {
          hint: error.hint,
          cause: error,
        });
      throw error;
    }
  }
  // Only now, with the destination proven to hold the key, the source goes: metadata first, so that a run
  // stopped in between is finished by the next one (the branch for a missing source connection above).
  await source.connections.delete(name);
  await source.secrets.delete(name);
  return { name, accessKeyId: connection.accessKeyId, status: resumed ? 'finished' : 'moved' };
}

/** Takes back a destination entry that was not proven; best effort, the source still holds the key. */
async function undo(destination: Stores, name: string): Promise<void> {
  await destination.secrets.delete(name).catch(() => false);
  await destination.connections.delete(name).catch(() => false);
}

function same(a: Connection, aPair: AccessKeyPair, b: Connection, bPair: AccessKeyPair): boolean {
  return (
    aPair.accessKeyId === bPair.accessKeyId &&
    aPair.secretAccessKey === bPair.secretAccessKey &&
    JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))
  );
}

function sorted(connection: Connection): Record<string, unknown> {
  const record = connection as unknown as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => [key, record[key]]),
  );
}

/** Human text for `move-store`. */
export function renderMoveStore(result: MoveStoreResult, io: IO, style: Style): void {
  if (result.moved.length === 0) {
    io.err(`No connections in the ${result.from} store: nothing to move.\n`);
    return;
  }
  for (const m of result.moved)
    io.out(
      `${style.green('✓')} ${m.status === 'moved' ? 'Moved' : 'Finished moving'} ${JSON.stringify(m.name)} (${maskAccessKeyId(m.accessKeyId)}) from ${result.from} to ${result.to}.\n`,
    );
  io.out(`Now set DATABLAST_AWS_SECRET_STORE=${result.to} wherever these connections are used.\n`);
}

/** Commander wiring of `move-store`. */
export function moveStoreCommand(
  ctx: Context,
  run: (ctx: Context, opts: MoveStoreOptions) => Promise<MoveStoreResult> = moveStore,
): Command {
  return createCommand('move-store')
    .description(
      'Move connections from the store DATABLAST_AWS_SECRET_STORE names to another: the keychain or file store to aws-secrets-manager, or back.',
    )
    .argument('[name]', 'the connection (or --all)')
    .addOption(
      createOption('--to <store>', 'the destination store')
        .choices([...STORE_KINDS])
        .makeOptionMandatory(true),
    )
    .option('--all', 'every connection of the source store')
    .addHelpText(
      'after',
      `
Each connection: write the destination, read it back and compare, then delete it from the source. A
failure before that last step leaves the source as it was and takes back what was written; running
the same command again finishes a move that stopped while clearing the source.

Examples:
  $ DATABLAST_AWS_SECRET_STORE=keychain datablast-aws move-store --to aws-secrets-manager --all
  $ DATABLAST_AWS_SECRET_STORE=aws-secrets-manager datablast-aws move-store --to file "AWS Production"
`,
    )
    .action(async (name: string | undefined, flags: { to: StoreKind; all?: boolean }) => {
      present(ctx, await run(ctx, { to: flags.to, name, all: flags.all === true }), renderMoveStore);
    });
}
