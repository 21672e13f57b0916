import { resolveRegion } from '../domain/region.js';
import { withConnectionLock } from '../onboarding/hand-off.js';
import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { AwsSession, Context, IO } from '../ports.js';
import type { SecretStore } from '../ports.js';
import {
  AwsError,
  CancelledError,
  CliError,
  ConfigError,
  CredentialsRejectedError,
  SecretStoreError,
  UsageError,
} from '../errors.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { maskAccessKeyId, userNameFromArn } from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import { present, progress, warn, type Style } from '../ui/output.js';
import { requireConnection } from '../health/require-connection.js';
import { shellWord } from '../domain/shell-word.js';
import { journalStore } from '../store/journal.js';
import { pendingAccount } from '../domain/rotation.js';

/** The options of `remove NAME`. */
export interface RemoveOptions {
  name: string;
  /** Also delete the access key in AWS. */
  deleteKey: boolean;
  /** Sign the deletion with the admin credentials (--profile) instead of the connection's own key. */
  admin: boolean;
  /** Skip the confirmation question. */
  yes: boolean;
}

/** What `remove` did. */
export interface RemoveResult {
  name: string;
  /** The connection's key: the stored pair's, which credential-process serves, else the one the metadata names. */
  accessKeyId: string;
  /** The key id the metadata named when the secret store held another one (an interrupted add-connection --force), else null. */
  metadataAccessKeyId: string | null;
  /** True when the secret store held a secret for the connection and it was deleted. */
  secretDeleted: boolean;
  /** "deleted" in AWS, "already gone" (AWS no longer knew it), or "kept" (no --delete-key). */
  key: 'deleted' | 'already gone' | 'kept';
}

/** Commander wiring of `remove`. */
export function removeCommand(
  ctx: Context,
  run: (ctx: Context, opts: RemoveOptions) => Promise<RemoveResult> = remove,
): Command {
  return createCommand('remove')
    .description('Delete a connection and its secret. With --delete-key, first delete the access key in AWS too.')
    .argument('<name>', 'the connection')
    .option('--delete-key', "also delete the access key in AWS (signed by the connection's own key, unless --admin)")
    .option('--admin', 'sign the deletion with the admin credentials of --profile / the standard AWS chain')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal: a script must say it means it)')
    .addHelpText(
      'after',
      `
Order: the key in AWS (with --delete-key), then the secret, then the metadata, so that a failure
leaves the connection in place to retry.

Examples:
  $ datablast-aws remove "AWS Production"
  $ datablast-aws remove old-prod --delete-key --yes
  $ datablast-aws remove old-prod --delete-key --admin --profile admin
`,
    )
    .action(async (name: string, flags: { deleteKey?: boolean; admin?: boolean; yes?: boolean }) => {
      present(
        ctx,
        await run(ctx, {
          name,
          deleteKey: flags.deleteKey === true,
          admin: flags.admin === true,
          yes: flags.yes === true,
        }),
        renderRemove,
      );
    });
}

/**
 * Removes a connection: its key in AWS (when asked), then its secret, then its metadata. A secret left
 * without metadata (a lost or reset config.json) is removed the same way, so `list`'s advice works.
 */
export async function remove(ctx: Context, opts: RemoveOptions): Promise<RemoveResult> {
  const connections = await ctx.connections();
  const connection =
    (await connections.get(opts.name)) ??
    (await orphanSecret(ctx, opts.name)) ??
    (await requireConnection(connections, opts.name));
  const { name } = connection;
  const journal = await journalStore(connections.dir, name).read();
  if (journal) {
    // Removing now would forget the journal's new key: a key in AWS whose secret nobody could find again.
    throw new ConfigError(
      `a rotation of ${JSON.stringify(name)} was interrupted (${journal.phase}); nothing was removed`,
      {
        hint: `Run \`datablast-aws rotate ${shellWord(name)}\` to finish or undo it, then remove the connection.`,
      },
    );
  }
  if (!opts.yes && !ctx.globals.input) {
    // Deleting is not a default a script should get by accident (a cron line, a pasted loop).
    throw new UsageError(`remove needs --yes when it cannot ask (no terminal, --no-input or CI); nothing was removed`, {
      hint: `Run \`datablast-aws remove ${shellWord(name)}${opts.deleteKey ? ' --delete-key' : ''} --yes\` to remove it without a question.`,
    });
  }
  const secrets = await ctx.secrets();
  // The stored pair is the connection's key (credential-process serves it); the metadata may name another
  // one after an add-connection --force killed between writing the secret and the metadata.
  const stored = await storedPair(secrets, name, opts);
  const accessKeyId = stored?.accessKeyId ?? connection.accessKeyId;
  const metadataAccessKeyId = accessKeyId !== connection.accessKeyId ? connection.accessKeyId : null;
  if (!opts.yes) {
    const what = opts.deleteKey
      ? `connection ${JSON.stringify(name)} and delete access key ${maskAccessKeyId(accessKeyId)} in AWS`
      : `connection ${JSON.stringify(name)} and its stored secret`;
    const confirmed = await (await ctx.prompter()).confirm(`Remove ${what}?`, { default: false });
    if (!confirmed) throw new CancelledError('nothing was removed');
  }
  let key: RemoveResult['key'] = 'kept';
  if (opts.deleteKey) key = await deleteKeyInAws(ctx, connection, stored, metadataAccessKeyId, opts.admin);
  // The secret, then the metadata, under the connection's lock (list: "change in progress" meanwhile).
  const secretDeleted = await withConnectionLock(ctx, name, async () => {
    let deleted: boolean;
    try {
      deleted = await secrets.delete(name);
    } catch (error) {
      if (error instanceof SecretStoreError && key !== 'kept') {
        throw new SecretStoreError(
          `${error.message}; the access key was already deleted in AWS, the connection is still listed`,
          {
            hint: `Run \`datablast-aws remove ${shellWord(name)}\` (without --delete-key) once the secret store is available.`,
            cause: error,
          },
        );
      }
      throw error;
    }
    // A pending entry outlives its journal only if a rotation crashed while undoing itself; it is ours to drop.
    await secrets.delete(pendingAccount(name));
    await connections.delete(name);
    return deleted;
  });
  if (metadataAccessKeyId !== null) {
    warn(
      ctx,
      `the metadata named access key ${maskAccessKeyId(metadataAccessKeyId)}, not the stored ${maskAccessKeyId(accessKeyId)}; it was not touched: check it in the IAM console`,
    );
  }
  return { name, accessKeyId, metadataAccessKeyId, secretDeleted, key };
}

/**
 * The stored pair, read to learn which key the connection really holds. Without --delete-key a store that
 * cannot be read only loses that detail (the deletion below reports the store's failure itself).
 */
async function storedPair(secrets: SecretStore, name: string, opts: RemoveOptions): Promise<AccessKeyPair | undefined> {
  try {
    const pair = await secrets.get(name);
    if (pair) rememberSecret(pair.secretAccessKey);
    return pair;
  } catch (error) {
    if (!opts.deleteKey && error instanceof CliError) return undefined;
    throw error;
  }
}

/**
 * A stand-in connection for a secret stored under `name` with no metadata, or undefined (also when the
 * secret store cannot be read: then the usual "no connection" error is the more useful one).
 */
async function orphanSecret(ctx: Context, name: string): Promise<Connection | undefined> {
  let pair;
  try {
    pair = await (await ctx.secrets()).get(name);
  } catch (error) {
    if (error instanceof CliError) return undefined;
    throw error;
  }
  if (!pair) return undefined;
  rememberSecret(pair.secretAccessKey);
  return {
    name,
    accessKeyId: pair.accessKeyId,
    region: resolveRegion({ flag: ctx.globals.region, env: ctx.env }).region,
    createdAt: '',
  };
}

/**
 * Deletes the connection's key in AWS: the stored pair's (`stored`), else the metadata's. When the two
 * disagree (`metadataAccessKeyId` set), the metadata's user may not own the stored key, so the user is
 * learnt from the stored key itself, and --admin (which cannot learn it) is refused.
 */
async function deleteKeyInAws(
  ctx: Context,
  connection: Connection,
  stored: AccessKeyPair | undefined,
  metadataAccessKeyId: string | null,
  admin: boolean,
): Promise<'deleted' | 'already gone'> {
  const { name, region } = connection;
  const accessKeyId = stored?.accessKeyId ?? connection.accessKeyId;
  const masked = maskAccessKeyId(accessKeyId);
  if (metadataAccessKeyId !== null && admin) {
    throw new ConfigError(
      `the secret store holds key ${masked} for ${JSON.stringify(name)}, but the metadata names ${maskAccessKeyId(metadataAccessKeyId)}; with --admin the owner of ${masked} is unknown, so nothing was removed`,
      {
        hint: `Run \`datablast-aws remove ${shellWord(name)} --delete-key\` without --admin: the stored key signs its own deletion. Check ${maskAccessKeyId(metadataAccessKeyId)} in the IAM console.`,
      },
    );
  }
  const aws = await ctx.aws();
  let session: AwsSession;
  if (admin) {
    session = await aws.admin();
  } else {
    const pair = stored;
    if (!pair) {
      throw new ConfigError(
        `no secret is stored for ${JSON.stringify(name)}, so its own key cannot sign the deletion of ${masked}`,
        {
          hint: `Add --admin (with --profile) to delete it with admin credentials, or remove the connection without --delete-key.`,
        },
      );
    }
    rememberSecret(pair.secretAccessKey);
    session = await aws.as(pair, region);
  }
  let userName = metadataAccessKeyId === null ? connection.userName : undefined;
  if (userName === undefined && !admin) userName = userNameFromArn((await session.sts.getCallerIdentity()).arn);
  if (userName === undefined) {
    throw new ConfigError(`cannot tell which IAM user owns ${masked}`, {
      hint: `Delete the key in the IAM console, then run \`datablast-aws remove ${shellWord(name)}\` without --delete-key.`,
    });
  }
  progress(ctx, `deleting access key ${masked} of IAM user ${userName}`);
  try {
    await session.iam.deleteAccessKey(userName, accessKeyId);
    return 'deleted';
  } catch (error) {
    if (error instanceof CliError && error.awsCode === 'NoSuchEntity') return 'already gone';
    if (!admin && error instanceof CredentialsRejectedError) {
      throw new CredentialsRejectedError(
        `AWS rejected the connection's own key ${masked} (${error.awsCode ?? 'rejected'}): it may already be deleted or inactive; nothing was removed`,
        {
          hint: `Add --admin (with --profile) to delete it with admin credentials, or run \`datablast-aws remove ${shellWord(name)}\` without --delete-key.`,
          awsCode: error.awsCode,
          requestId: error.requestId,
          cause: error,
        },
      );
    }
    if (!admin && error instanceof AwsError && error.awsCode === 'AccessDenied') {
      throw new AwsError(
        `IAM user ${userName} may not delete its own key ${masked} (AccessDenied); nothing was removed`,
        {
          hint: `Give it the self-rotation policy (\`datablast-aws attach-policy ${shellWord(userName)} --self-rotation\`), or add --admin to delete it with admin credentials.`,
          awsCode: error.awsCode,
          requestId: error.requestId,
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Human text for `remove`. */
export function renderRemove(result: RemoveResult, io: IO, style: Style): void {
  const key =
    result.key === 'deleted'
      ? `; access key ${maskAccessKeyId(result.accessKeyId)} deleted in AWS`
      : result.key === 'already gone'
        ? `; access key ${maskAccessKeyId(result.accessKeyId)} was already gone from AWS`
        : '';
  io.out(
    `${style.green('✓')} Removed connection ${JSON.stringify(result.name)}${result.secretDeleted ? ' and its secret' : ' (no secret was stored)'}${key}.\n`,
  );
  if (result.key === 'kept')
    io.out(
      `The access key ${maskAccessKeyId(result.accessKeyId)} still exists in AWS; deactivate or delete it if nothing else uses it.\n`,
    );
}
