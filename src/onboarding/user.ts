import type { Context } from '../ports.js';
import type { IamUser } from '../domain/iam.js';
import { AwsError } from '../errors.js';
import { MANAGED_BY_TAG } from '../domain/policies.js';
import { warn } from '../ui/output.js';
import { step } from '../ui/progress.js';
import type { AdminSession } from './admin.js';

/** The user as we found or made it. */
export interface EnsuredUser {
  user: IamUser;
  created: boolean;
  managed: boolean;
}

/** What a new user is made with (an existing one is left where it is). */
export interface UserSpec {
  userName: string;
  /** IAM path for a new user. */
  path?: string;
  /** Extra tags, besides managed-by=datablast-aws. */
  tags?: Record<string, string>;
}

/**
 * Finds the user or creates it tagged managed-by=datablast-aws. An existing user is reported, not an
 * error. A user without our tag was made by someone else: we leave its tags and path alone (adding our
 * tag would claim it) and say so; keys and policies are still added when asked for explicitly.
 */
export async function ensureUser(
  ctx: Context,
  admin: AdminSession,
  opts: UserSpec,
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
  opts: Pick<UserSpec, 'path'>,
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
