import { withConnectionLock } from './hand-off.js';
import { randomUUID } from 'node:crypto';
import type { Context } from '../ports.js';
import type { Identity } from '../domain/iam.js';
import { AwsError, CliError, ConfigError, CredentialsRejectedError, UsageError } from '../errors.js';
import { isUndecodableEntry } from '../store/secret-store.js';
import {
  connectionJson,
  validateConnectionName,
  validateDescription,
  type AccessKeyPair,
  type Connection,
  type ConnectionJson,
} from '../domain/connection.js';
import {
  accountIdFromAccessKeyId,
  isRootArn,
  maskAccessKeyId,
  normalizeKeyPair,
  userNameFromArn,
  type KeyPairSources,
  validateRegion,
} from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import { shellWord } from '../domain/shell-word.js';
import { progress } from '../ui/output.js';

/** What saveConnection stores: a key pair and what we know about it. */
export interface SaveConnectionInput {
  name: string;
  pair: AccessKeyPair;
  region: string;
  description?: string;
  /** Prove the key with STS GetCallerIdentity before storing anything. */
  test: boolean;
  /** Replace an existing connection of this name. */
  force: boolean;
  services?: string[];
  buckets?: string[];
  keyCreatedAt?: string;
  /** The IAM user, when the caller knows it (the STS answer wins when the key is tested). */
  userName?: string;
  /** Where the key id and secret came from, so that a malformed one is reported against its flag, variable or CSV column. */
  sources?: KeyPairSources;
}

/** The outcome of saveConnection. */
export interface SaveConnectionResult {
  /** The stored connection, in the JSON shape of CLI.md. */
  connection: ConnectionJson;
  /** True when AWS accepted the key before it was stored. */
  tested: boolean;
  /** True when an existing connection was replaced (--force). */
  replaced: boolean;
  /** What we changed or noticed, for the user to read (never a secret). */
  notes: string[];
}

/**
 * Validates, tests (unless `test` is false) and stores a key as a connection: the reusable core of
 * add-connection, create-user --create-key and init. Nothing is stored when AWS rejects the key
 * (CredentialsRejectedError, exit 4). The secret is written first, then the metadata; if the
 * metadata write fails, the secret store is put back as it was.
 */
export async function saveConnection(ctx: Context, input: SaveConnectionInput): Promise<SaveConnectionResult> {
  rememberSecret(input.pair.secretAccessKey);
  const name = validateConnectionName(input.name);
  const region = validateRegion(input.region);
  if (input.description !== undefined) validateDescription(input.description);
  const { pair, notes } = normalizeKeyPair(input.pair, input.sources);
  rememberSecret(pair.secretAccessKey);
  if (pair.accessKeyId.startsWith('ASIA')) {
    throw new UsageError(
      `${maskAccessKeyId(pair.accessKeyId)} is a temporary access key (ASIA…): it needs a session token and expires, so it cannot be stored for Datablast`,
      {
        hint: 'Use a long-term access key of an IAM user (AKIA…), e.g. from `datablast-aws create-user USER --create-key --connection NAME`.',
      },
    );
  }
  const connections = await ctx.connections();
  const existing = await connections.get(name);
  if (existing && !input.force) throw connectionExists(name);

  let identity: Identity | undefined;
  let keyCreatedAt = input.keyCreatedAt;
  let userName = input.userName;
  if (input.test) {
    identity = await proveKey(ctx, pair, region);
    userName = userNameFromArn(identity.arn);
    if (isRootArn(identity.arn)) {
      notes.push(
        `this is a root user key of account ${identity.account}: AWS advises against root access keys; give Datablast its own IAM user with \`datablast-aws create-user\``,
      );
    }
    if (keyCreatedAt === undefined && userName !== undefined)
      keyCreatedAt = await keyCreationDate(ctx, pair, region, userName);
  }
  let accountId = identity?.account;
  if (accountId === undefined) {
    accountId = accountIdFromAccessKeyId(pair.accessKeyId);
    if (accountId !== undefined) notes.push(`account ${accountId} was read from the key id, not confirmed with AWS`);
  }
  const now = ctx.clock.now().toISOString();
  const connection: Connection = {
    name,
    accessKeyId: pair.accessKeyId,
    accountId,
    arn: identity?.arn,
    userName,
    region,
    description: input.description,
    createdAt: now,
    keyCreatedAt,
    lastTestedAt: identity ? now : undefined,
    services: input.services,
    buckets: input.buckets,
  };

  // Two writes, the secret then the metadata, under the connection's lock: a concurrent list sees the lock
  // and says "change in progress" instead of a disagreement, and a rotation never runs in between.
  let replaced = false;
  await withConnectionLock(ctx, name, async () => {
    // Read again under the lock: the connection may have been added, or given a consumer (deliver), meanwhile.
    const current = await connections.get(name);
    if (current && !input.force) throw connectionExists(name);
    replaced = current !== undefined;
    // A replaced connection keeps where its key must go: its consumers now need the new key.
    if (current?.consumers?.length) connection.consumers = current.consumers;
    const secrets = await ctx.secrets();
    // Read before writing, so that a failed replacement can put the old secret back. An entry that does not
    // decode is what --force is advised for (decodeAccessKeyPair's hint): it is replaced, not restored.
    const previous = current ? await secrets.get(name).catch(unlessUndecodable) : undefined;
    await secrets.set(name, pair);
    try {
      await connections.put(connection);
    } catch (error) {
      const undoFailed = await restoreSecret(ctx, name, previous);
      if (undoFailed && error instanceof CliError) {
        // The metadata error says "nothing was changed"; with the secret left behind, that is no longer true.
        throw new CliError(
          `${error.message.replace(/; nothing was changed$/, '')}; the secret of ${JSON.stringify(name)} was stored and could not be taken back (${undoFailed.message.replace(/; nothing was changed$/, '')})`,
          error.exitCode,
          {
            hint: `${error.hint ?? ''} Then run \`datablast-aws remove ${shellWord(name)}\` to remove that secret, or add the connection again${previous ? ' with --force' : ''}.`.trim(),
            cause: error,
          },
        );
      }
      throw error;
    }
  });
  return {
    connection: connectionJson(connection),
    tested: identity !== undefined,
    replaced,
    notes,
  };
}

/** An account name no connection can have (names are at most 64 characters), for the store check. */
const STORE_CHECK_ACCOUNT = `datablast-aws store check, removed at once: not a connection ${'.'.repeat(8)}`;

/**
 * Proves the secret store can take a secret before anything is created in AWS: lists it (an unreachable
 * or locked keychain, a wrong passphrase fail here) and writes then removes a throw-away entry (a missing
 * passphrase, a read-only file or keyring fail here). Its error is the store's own (exit 6).
 */
export async function checkSecretStore(ctx: Context): Promise<void> {
  const secrets = await ctx.secrets();
  await secrets.list();
  const filler = randomUUID();
  rememberSecret(filler);
  await secrets.set(STORE_CHECK_ACCOUNT, { accessKeyId: filler, secretAccessKey: filler });
  await secrets.delete(STORE_CHECK_ACCOUNT);
}

/** The error for a connection name in use (exit 3), with the flag that replaces it. */
export function connectionExists(name: string): ConfigError {
  return new ConfigError(`connection ${JSON.stringify(name)} exists`, {
    hint: `Add --force to replace it, or choose another name. \`datablast-aws show ${shellWord(name)}\` shows the one stored.`,
  });
}

/** Proves the key with STS GetCallerIdentity; a failure keeps aws/errors.ts's diagnosis and adds that nothing was stored. */
async function proveKey(ctx: Context, pair: AccessKeyPair, region: string): Promise<Identity> {
  progress(ctx, `testing ${maskAccessKeyId(pair.accessKeyId)} with AWS STS GetCallerIdentity`);
  try {
    return await (await (await ctx.aws()).as(pair, region)).sts.getCallerIdentity();
  } catch (error) {
    if (!(error instanceof CredentialsRejectedError || error instanceof AwsError)) throw error;
    const Kind = error instanceof CredentialsRejectedError ? CredentialsRejectedError : AwsError;
    // A rejected key must not be stored, so --no-test is offered only when AWS could not answer.
    const hint =
      error instanceof AwsError
        ? `${error.hint ?? 'Check the network and --endpoint-url, then try again.'} Or add --no-test to store the key without checking it.`
        : error.hint;
    throw new Kind(`${error.message}; nothing was stored`, {
      hint,
      awsCode: error.awsCode,
      requestId: error.requestId,
      diagnosis: error.diagnosis,
      cause: error,
    });
  }
}

/**
 * When the key was created, from IAM ListAccessKeys signed by the key itself. Best effort: the
 * self-rotation policy allows it, other users may be denied, and a missing date only means
 * `list` counts the key's age from when it was added.
 */
async function keyCreationDate(
  ctx: Context,
  pair: AccessKeyPair,
  region: string,
  userName: string,
): Promise<string | undefined> {
  try {
    const keys = await (await (await ctx.aws()).as(pair, region)).iam.listAccessKeys(userName);
    return keys.find((k) => k.accessKeyId === pair.accessKeyId)?.createDate;
  } catch (error) {
    if (error instanceof CliError) return undefined;
    throw error;
  }
}

/** Reads a damaged entry as absent; any other failure (a locked or unreachable store) stands. */
function unlessUndecodable(error: unknown): undefined {
  if (isUndecodableEntry(error)) return undefined;
  throw error;
}

/** Puts the secret store back as it was before a failed save; returns the failure when it could not. */
async function restoreSecret(
  ctx: Context,
  name: string,
  previous: AccessKeyPair | undefined,
): Promise<Error | undefined> {
  try {
    if (previous) await (await ctx.secrets()).set(name, previous);
    else await (await ctx.secrets()).delete(name);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
