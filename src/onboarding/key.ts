import type { Context } from '../ports.js';
import type { AccessKeyPair, Connection, ConnectionJson } from '../domain/connection.js';
import { AwsError, CancelledError, ConfigError, CredentialsRejectedError } from '../errors.js';
import { maskAccessKeyId, userNameFromArn } from '../domain/access-key.js';
import { poll, type BackoffPolicy } from '../domain/backoff.js';
import { rememberSecret } from '../domain/redact.js';
import { critical } from '../signals.js';
import { warn } from '../ui/output.js';
import { step } from '../ui/progress.js';
import type { AdminSession } from './admin.js';
import { saveConnection } from './connection.js';

/** Where a named connection stands relative to the user it should belong to. */
export type ConnectionState = { state: 'absent' } | { state: 'ready'; connection: Connection };

/** What a new key is saved as. */
export interface NewKeyInput {
  userName: string;
  connection: string;
  region: string;
  description?: string;
  services?: string[];
  buckets?: string[];
}

const AWS_KEYS_PER_USER = 2;

/**
 * Looks at an existing connection before anything changes. Absent: we may create it. Present and
 * holding a working key of this user: nothing to do (a re-run converges). Present otherwise: exit 3,
 * since replacing it would orphan or steal a key.
 */
export async function inspectConnection(ctx: Context, name: string, userName: string): Promise<ConnectionState> {
  const connection = await (await ctx.connections()).get(name);
  if (!connection) return { state: 'absent' };
  const hint = `Choose another connection name, or remove it first: datablast-aws remove "${name}".`;
  const pair = await (await ctx.secrets()).get(name);
  if (!pair)
    throw new ConfigError(`connection ${name} exists but its secret is missing from the secret store`, { hint });
  rememberSecret(pair.secretAccessKey);
  let arn: string;
  try {
    const session = await (await ctx.aws()).as(pair, connection.region);
    arn = (
      await step(
        ctx,
        `checking the key of connection ${name}`,
        () => session.sts.getCallerIdentity(),
        () => 'works',
      )
    ).arn;
  } catch (error) {
    if (error instanceof CredentialsRejectedError) {
      throw new ConfigError(`connection ${name} exists but AWS rejects its key (${error.awsCode ?? 'rejected'})`, {
        hint: `Diagnose it with datablast-aws test "${name}", or remove it first: datablast-aws remove "${name}".`,
        awsCode: error.awsCode,
        cause: error,
      });
    }
    throw error;
  }
  const holder = userNameFromArn(arn);
  if (holder !== userName) {
    throw new ConfigError(`connection ${name} already exists and holds a key of ${arn}, not of user ${userName}`, {
      hint,
    });
  }
  return { state: 'ready', connection };
}

/** Lists the user's keys and refuses to create a third: AWS allows two per user, and we never delete a key here. */
export async function assertRoomForKey(ctx: Context, admin: AdminSession, userName: string): Promise<void> {
  const keys = await step(
    ctx,
    `listing access keys of ${userName}`,
    () => admin.iam.listAccessKeys(userName),
    (k) => `${k.length} of ${AWS_KEYS_PER_USER}`,
  );
  if (keys.length < AWS_KEYS_PER_USER) return;
  const list = keys.map((k) => `${k.accessKeyId} (${k.status.toLowerCase()})`).join(', ');
  throw new AwsError(`user ${userName} already holds two access keys: ${list}; AWS allows two per user`, {
    awsCode: 'LimitExceeded',
    hint:
      'datablast-aws never deletes a key here. Delete the one no longer in use (aws iam delete-access-key ' +
      `--user-name ${userName} --access-key-id ID), or rotate a connection that holds one: datablast-aws rotate NAME.`,
  });
}

/**
 * Creates an access key and saves it as a connection through add-connection's own code (which tests
 * it). The secret goes from AWS's answer straight into the secret store. If saving fails, the new key
 * is deleted again so that no key exists whose secret nobody holds.
 */
export async function createKeyAndSave(ctx: Context, admin: AdminSession, input: NewKeyInput): Promise<ConnectionJson> {
  const { userName } = input;
  await assertRoomForKey(ctx, admin, userName);
  // From CreateAccessKey until the secret is stored or the key deleted again, Ctrl-C must not cut in:
  // it would leave a key whose secret nobody holds. It cancels the wait instead, which deletes the key.
  const { key, saved } = await critical(() => createAndSave(ctx, admin, input));
  if (input.description) {
    // The console keeps a key's description as a user tag keyed by the key id. Cosmetic: a failure here
    // must not undo a saved, working key, so it is a warning.
    try {
      await step(ctx, `describing key ${maskAccessKeyId(key.accessKeyId)} on user ${userName}`, () =>
        admin.iam.tagUser(userName, { [key.accessKeyId]: input.description! }),
      );
    } catch (error) {
      warn(ctx, `could not tag user ${userName} with the key's description: ${(error as Error).message}`);
    }
  }
  return saved.connection;
}

/** CreateAccessKey, then the wait for AWS to accept the key and the save; any failure deletes the key again. */
async function createAndSave(
  ctx: Context,
  admin: AdminSession,
  input: NewKeyInput,
): Promise<{ key: { accessKeyId: string }; saved: Awaited<ReturnType<typeof saveConnection>> }> {
  const { userName } = input;
  const key = await step(
    ctx,
    `creating an access key for ${userName}`,
    () => admin.iam.createAccessKey(userName),
    (k) => maskAccessKeyId(k.accessKeyId),
  );
  rememberSecret(key.secretAccessKey);
  const pair: AccessKeyPair = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  try {
    await step(
      ctx,
      `waiting for AWS to accept the new key ${maskAccessKeyId(key.accessKeyId)}`,
      () => waitUntilAccepted(ctx, pair, input.region),
      (n) => `accepted after ${n} call${n === 1 ? '' : 's'}`,
    );
    const saved = await saveConnection(ctx, {
      name: input.connection,
      pair,
      region: input.region,
      description: input.description,
      test: true,
      force: false,
      services: input.services,
      buckets: input.buckets,
      keyCreatedAt: key.createDate,
      userName,
    });
    return { key, saved };
  } catch (error) {
    await deleteUnsavedKey(ctx, admin, userName, key.accessKeyId, error);
    throw error;
  }
}

/** Successful STS calls in a row that show a new key has propagated (saveConnection's own test makes one more). */
const ACCEPTED_IN_A_ROW = 2;

/** How long IAM may take to make a new key usable before we give up and delete it (pauses 0.25 s doubling to 2 s). */
export const NEW_KEY_PROPAGATION: BackoffPolicy = { initialDelayMs: 250, maxDelayMs: 2_000, timeoutMs: 120_000 };

/**
 * IAM is eventually consistent: a new key is often rejected by STS for a few seconds. Polls STS with
 * the key until it is accepted several times in a row; returns the number of calls.
 */
async function waitUntilAccepted(ctx: Context, pair: AccessKeyPair, region: string): Promise<number> {
  const session = await (await ctx.aws()).as(pair, region);
  let inARow = 0;
  let lastRejection: CredentialsRejectedError | undefined;
  const result = await poll<number>(ctx.clock, NEW_KEY_PROPAGATION, async (attempt) => {
    try {
      await session.sts.getCallerIdentity();
      inARow += 1;
      return inARow >= ACCEPTED_IN_A_ROW ? { done: true, value: attempt } : { done: false };
    } catch (error) {
      if (!(error instanceof CredentialsRejectedError)) throw error;
      inARow = 0;
      lastRejection = error;
      return { done: false };
    }
  });
  if (result.done) return result.value;
  throw new AwsError(
    `AWS still rejects the new key after ${NEW_KEY_PROPAGATION.timeoutMs / 1000} s (${lastRejection?.awsCode ?? 'rejected'})`,
    {
      awsCode: lastRejection?.awsCode,
      hint: 'IAM may be slow right now: run the same command again in a few minutes.',
      cause: lastRejection,
    },
  );
}

async function deleteUnsavedKey(
  ctx: Context,
  admin: AdminSession,
  userName: string,
  accessKeyId: string,
  why: unknown,
): Promise<void> {
  const reason = why instanceof CancelledError ? 'cancelled' : 'saving it failed';
  try {
    await step(
      ctx,
      `deleting the new key ${maskAccessKeyId(accessKeyId)} again (${reason}), so no key is left whose secret nobody holds`,
      () => admin.iam.deleteAccessKey(userName, accessKeyId),
    );
  } catch (error) {
    warn(
      ctx,
      `could not delete the new key ${accessKeyId} of ${userName} (${(error as Error).message}); nobody holds its secret: ` +
        `delete it with aws iam delete-access-key --user-name ${userName} --access-key-id ${accessKeyId}`,
    );
  }
}
