import type { AwsSession, Context } from '../ports.js';
import type { Identity } from '../domain/iam.js';
import { assertNotRoot } from '../domain/admin.js';
import { note, step } from '../ui/progress.js';

/** The admin's IAM and STS gateways, and who they sign as (checked: not the root user). */
export interface AdminSession extends AwsSession {
  identity: Identity;
}

/**
 * Opens the admin gateways (the standard AWS chain via --profile; never a stored connection) and,
 * before any change, asks STS who they are: prints account and ARN on stderr, refuses the root user.
 * Shared by create-user, attach-policy and init, so the check reads the same everywhere.
 */
export async function openAdmin(ctx: Context): Promise<AdminSession> {
  const session = await (await ctx.aws()).admin();
  const identity = await step(ctx, 'checking who you are (sts:GetCallerIdentity)', () =>
    session.sts.getCallerIdentity(),
  );
  note(ctx, `working in account ${identity.account} as ${identity.arn}`);
  assertNotRoot(identity);
  return { ...session, identity };
}
