import type { Identity } from '../domain/iam.js';
import { UsageError } from '../errors.js';
import { isRootArn } from './access-key.js';

/**
 * Refuses the AWS account root user as the admin identity (the onboarding guide: never use root
 * credentials). Exit 2, not 5: AWS refused nothing; the credentials we were given are the wrong
 * kind of input, and the fix is to give others (--profile).
 */
export function assertNotRoot(identity: Identity): Identity {
  if (isRootArn(identity.arn)) {
    throw new UsageError(`refusing to work as the root user of account ${identity.account} (${identity.arn})`, {
      hint:
        'The root user should have no access keys and is not for everyday work. Use an IAM user or role with IAM ' +
        'permissions instead (e.g. --profile admin, or AWS SSO) and run this again.',
    });
  }
  return identity;
}
