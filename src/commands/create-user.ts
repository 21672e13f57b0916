import type { Command } from 'commander';
import { collect, createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import type { IamUser } from '../domain/iam.js';
import type { AccessKeyPair } from '../domain/connection.js';
import { CancelledError, ConfigError, AwsError, CredentialsRejectedError, UsageError } from '../errors.js';
import { connectionJson, validateConnectionName, type Connection, type ConnectionJson } from '../domain/connection.js';
import { maskAccessKeyId, userNameFromArn, validateRegion } from '../domain/access-key.js';
import { MANAGED_BY_TAG, parseTags, validatePath, validateTagValue, validateUserName } from '../domain/policies.js';
import { rememberSecret } from '../domain/redact.js';
import { critical } from '../signals.js';
import { present, warn, type Style } from '../ui/output.js';
import { note, step } from '../ui/progress.js';
import { openAdmin, type AdminSession } from './admin-session.js';
import { defaultRegion, saveConnection } from './add-connection.js';

/** What `create-user` is asked to do. */
export interface CreateUserOptions {
  userName: string;
  path?: string;
  /** Extra tags (`--tag k=v`), besides managed-by=datablast-aws. */
  tags?: Record<string, string>;
  createKey?: boolean;
  connection?: string;
  region?: string;
  description?: string;
}

/** The result: `{userName, arn, created, connection?}` (CLI.md), plus whether the user is ours. */
export interface CreateUserResult {
  userName: string;
  arn: string;
  created: boolean;
  /** The user carries managed-by=datablast-aws. */
  managed: boolean;
  /** The connection holding the user's key (with --create-key). */
  connection?: ConnectionJson;
  /** True when a new access key was created; false when the connection already held a working key of this user. */
  keyCreated?: boolean;
}

/** The user as we found or made it. */
export interface EnsuredUser {
  user: IamUser;
  created: boolean;
  managed: boolean;
}

/** Where a named connection stands relative to the user it should belong to. */
export type ConnectionState = { state: 'absent' } | { state: 'ready'; connection: Connection };

const AWS_KEYS_PER_USER = 2;

/** Wires `create-user USER`. */
export function createUserCommand(ctx: Context): Command {
  return createCommand('create-user')
    .description(
      'Create a dedicated IAM user for Datablast (tagged managed-by=datablast-aws); with --create-key, also its access key, saved straight into the secret store.',
    )
    .argument('<user>', 'IAM user name (1–64 of A–Z a–z 0–9 + = , . @ _ -)')
    .option('--path <path>', 'IAM path for a new user, e.g. /integrations/')
    .option('--tag <key=value>', 'tag the new user (repeatable)', collect)
    .option('--create-key', 'also create an access key and save it as a connection (the secret is never printed)')
    .option('--connection <name>', 'with --create-key: the connection to save the key as')
    .option(
      '--description <text>',
      "with --create-key: the connection's description (also the key's description tag on the user, as the console does)",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  datablast-aws create-user datablast-integration\n  datablast-aws create-user datablast-integration --create-key --connection "AWS Production" --region eu-west-1\n',
    )
    .action(
      async (
        userName: string,
        flags: { path?: string; tag?: string[]; createKey?: boolean; connection?: string; description?: string },
      ) => {
        if (!flags.createKey && (flags.connection !== undefined || flags.description !== undefined)) {
          throw new UsageError(
            `${flags.connection !== undefined ? '--connection' : '--description'} needs --create-key`,
            {
              hint: "Add --create-key to create the user's access key and save it as that connection.",
            },
          );
        }
        const opts: CreateUserOptions = {
          userName,
          path: flags.path,
          tags: parseTags(flags.tag ?? []),
          createKey: flags.createKey === true,
          connection: flags.connection,
          region: ctx.globals.region,
          description: flags.description,
        };
        present(ctx, await createUser(ctx, opts), renderCreateUser);
      },
    );
}

/** Checks every input before any call, so that a typo never leaves half a setup behind. */
export function validateCreateUserOptions(opts: CreateUserOptions): CreateUserOptions {
  validateUserName(opts.userName);
  if (opts.path !== undefined) validatePath(opts.path);
  if (opts.createKey) {
    if (opts.connection === undefined) {
      throw new UsageError('--create-key needs --connection NAME', {
        hint: 'Name the connection the key is saved as, e.g. --connection "AWS Production".',
      });
    }
    validateConnectionName(opts.connection);
    if (opts.region !== undefined) validateRegion(opts.region);
    if (opts.description !== undefined)
      validateTagValue(opts.description, 'the description (stored as a tag on the user, as the console does)');
  }
  return opts;
}

/** Creates the user (or reports it), and with --create-key its access key, saved as a connection. */
export async function createUser(ctx: Context, opts: CreateUserOptions): Promise<CreateUserResult> {
  validateCreateUserOptions(opts);
  const admin = await openAdmin(ctx);
  const existing = opts.createKey ? await inspectConnection(ctx, opts.connection!, opts.userName) : undefined;
  const ensured = await ensureUser(ctx, admin, opts);
  const result: CreateUserResult = {
    userName: ensured.user.userName,
    arn: ensured.user.arn,
    created: ensured.created,
    managed: ensured.managed,
  };
  if (existing?.state === 'ready') {
    note(
      ctx,
      `connection ${existing.connection.name} already holds a working key of ${opts.userName}: already set up, no new key created`,
    );
    return { ...result, connection: connectionJson(existing.connection), keyCreated: false };
  }
  if (opts.createKey) {
    const connection = await createKeyAndSave(ctx, admin, {
      userName: opts.userName,
      connection: opts.connection!,
      region: opts.region ?? defaultRegion(ctx),
      description: opts.description,
    });
    return { ...result, connection, keyCreated: true };
  }
  return result;
}

/**
 * Finds the user or creates it tagged managed-by=datablast-aws. An existing user is reported, not an
 * error. A user without our tag was made by someone else: we leave its tags and path alone (adding our
 * tag would claim it) and say so; keys and policies are still added when asked for explicitly.
 */
export async function ensureUser(
  ctx: Context,
  admin: AdminSession,
  opts: Pick<CreateUserOptions, 'userName' | 'path' | 'tags'>,
  /** What a caller already looked up (init does, to plan), so the user is not fetched twice. */
  known?: { user: IamUser | undefined },
): Promise<EnsuredUser> {
  const { userName } = opts;
  const tags = opts.tags ?? {};
  const found = known ? known.user : await lookUpUser(ctx, admin, userName);
  if (!found) {
    try {
      const user = await step(
        ctx,
        `creating IAM user ${userName}`,
        () =>
          admin.iam.createUser(userName, {
            path: opts.path,
            tags: { ...tags, [MANAGED_BY_TAG.key]: MANAGED_BY_TAG.value },
          }),
        () => 'created',
      );
      return { user, created: true, managed: true };
    } catch (error) {
      // Someone created it between our look-up and our call: report it like any existing user.
      if (!(error instanceof AwsError && error.awsCode === 'EntityAlreadyExists')) throw error;
      const raced = await admin.iam.getUser(userName);
      if (!raced) throw error;
      return describeExisting(ctx, admin, raced, opts, tags);
    }
  }
  return describeExisting(ctx, admin, found, opts, tags);
}

/** GetUser as a step: undefined when there is no such user. */
export function lookUpUser(ctx: Context, admin: AdminSession, userName: string): Promise<IamUser | undefined> {
  return step(
    ctx,
    `looking up IAM user ${userName}`,
    () => admin.iam.getUser(userName),
    (u) => (u ? 'exists' : 'not found'),
  );
}

async function describeExisting(
  ctx: Context,
  admin: AdminSession,
  user: IamUser,
  opts: Pick<CreateUserOptions, 'path'>,
  tags: Record<string, string>,
): Promise<EnsuredUser> {
  const managed = user.tags[MANAGED_BY_TAG.key] === MANAGED_BY_TAG.value;
  if (opts.path !== undefined && opts.path !== user.path) {
    warn(
      ctx,
      `user ${user.userName} already exists under path ${user.path}, not ${opts.path}; datablast-aws does not move users`,
    );
  }
  if (!managed) {
    warn(
      ctx,
      `user ${user.userName} exists but was not created by datablast-aws (no ${MANAGED_BY_TAG.key}=${MANAGED_BY_TAG.value} tag); its tags are left as they are`,
    );
    return { user, created: false, managed };
  }
  const changed = Object.fromEntries(Object.entries(tags).filter(([k, v]) => user.tags[k] !== v));
  if (Object.keys(changed).length) {
    await step(ctx, `tagging IAM user ${user.userName} (${Object.keys(changed).join(', ')})`, () =>
      admin.iam.tagUser(user.userName, changed),
    );
    user = { ...user, tags: { ...user.tags, ...changed } };
  }
  return { user, created: false, managed };
}

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
export async function createKeyAndSave(
  ctx: Context,
  admin: AdminSession,
  input: {
    userName: string;
    connection: string;
    region: string;
    description?: string;
    services?: string[];
    buckets?: string[];
  },
): Promise<ConnectionJson> {
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
  input: {
    userName: string;
    connection: string;
    region: string;
    description?: string;
    services?: string[];
    buckets?: string[];
  },
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
/** How long IAM may take to make a new key usable before we give up and delete it. */
const PROPAGATION_TIMEOUT_MS = 120_000;

/**
 * IAM is eventually consistent: a new key is often rejected by STS for a few seconds. Polls STS with
 * the key, backing off, until it is accepted several times in a row; returns the number of calls.
 */
async function waitUntilAccepted(ctx: Context, pair: AccessKeyPair, region: string): Promise<number> {
  const session = await (await ctx.aws()).as(pair, region);
  const deadline = ctx.clock.now().getTime() + PROPAGATION_TIMEOUT_MS;
  let calls = 0;
  let inARow = 0;
  let delay = 0;
  for (;;) {
    calls += 1;
    try {
      await session.sts.getCallerIdentity();
      inARow += 1;
      if (inARow >= ACCEPTED_IN_A_ROW) return calls;
    } catch (error) {
      if (!(error instanceof CredentialsRejectedError)) throw error;
      inARow = 0;
      if (ctx.clock.now().getTime() >= deadline) {
        throw new AwsError(
          `AWS still rejects the new key after ${PROPAGATION_TIMEOUT_MS / 1000} s (${error.awsCode ?? 'rejected'})`,
          {
            awsCode: error.awsCode,
            hint: 'IAM may be slow right now: run the same command again in a few minutes.',
            cause: error,
          },
        );
      }
    }
    delay = delay === 0 ? 250 : Math.min(2_000, delay * 2);
    await ctx.clock.sleep(delay);
  }
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

/** Human text for `create-user`. */
export function renderCreateUser(result: CreateUserResult, io: IO, style: Style): void {
  const who = `${style.bold(result.userName)} (${result.arn})`;
  io.out(
    result.created
      ? `${style.green('created')} IAM user ${who}\n`
      : `IAM user ${who} already exists${result.managed ? '' : ', not managed by datablast-aws'}\n`,
  );
  if (result.connection) {
    const c = result.connection;
    io.out(
      result.keyCreated
        ? `${style.green('saved')} its new access key ${maskAccessKeyId(c.accessKeyId)} as connection ${style.bold(c.name)} (${c.region}); the secret is in the secret store only\n`
        : `connection ${style.bold(c.name)} already holds its working key ${maskAccessKeyId(c.accessKeyId)}: already set up\n`,
    );
  }
}
