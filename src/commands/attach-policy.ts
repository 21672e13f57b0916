import type { Command } from 'commander';
import { collect, createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { AwsError, UsageError } from '../errors.js';
import { MAX_INLINE_POLICY_CHARS_PER_USER, parseService } from '../domain/policies.js';
import { present, type Style } from '../ui/output.js';
import { readFileUpTo } from '../ui/io.js';
import { openAdmin } from '../onboarding/admin.js';
import { lookUpUser } from '../onboarding/user.js';
import {
  applyPolicies,
  desiredPolicies,
  planPolicies,
  readGrants,
  isRemovableGrant,
  type GrantRequest,
  type PolicyChanges,
} from '../onboarding/policies.js';

/** What `attach-policy` is asked to grant. */
export interface AttachPolicyOptions extends GrantRequest {
  /** Also remove what was not asked for: the service policies and our generated inline policies. */
  exact?: boolean;
}

/** The result: `{userName, attached, inline}` (CLI.md) plus what already existed, what was removed and what is extra. */
export type AttachPolicyResult = PolicyChanges;

/**
 * IAM's largest policy document is 10,240 characters (a role's inline policies); a user's inline policies
 * may hold 2,048 without whitespace (checked later, as AWS counts). A bigger file is the wrong file.
 */
const MAX_POLICY_FILE_BYTES = 10_240;

/** Wires `attach-policy USER`. */
export function attachPolicyCommand(ctx: Context): Command {
  return createCommand('attach-policy')
    .description(
      'Give an IAM user what Datablast needs to read, and nothing more. Idempotent: what is already there is reported, not repeated; what the user holds beyond it is reported as extra.',
    )
    .argument('<user>', 'IAM user name')
    .option('--service <service>', 'the AWS managed read-only policy of a service: s3|rds|lambda (repeatable)', collect)
    .option('--policy-arn <arn>', 'attach this managed policy (repeatable)', collect)
    .option('--bucket <name>', 'a generated inline policy: list and read only these S3 buckets (repeatable)', collect)
    .option('--prefix <prefix>', 'with --bucket: only objects under this key prefix, e.g. exports/')
    .option('--policy-file <file>', 'a custom inline policy document (JSON), checked before any call')
    .option('--policy-name <name>', "with --policy-file: the inline policy's name")
    .option(
      '--self-rotation',
      'an inline policy letting the user list, create, deactivate and delete its own access keys (so `rotate` needs no admin)',
    )
    .option(
      '--exact',
      'also remove what was not asked for: detach the s3|rds|lambda read-only policies and delete the inline policies datablast-aws generates (others are reported, never touched)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  datablast-aws attach-policy datablast-integration --service s3 --service rds --self-rotation\n' +
        '  datablast-aws attach-policy datablast-integration --bucket my-exports --prefix daily/\n' +
        '  datablast-aws attach-policy datablast-integration --service s3 --self-rotation --exact   # and drop the rest\n',
    )
    .action(
      async (
        userName: string,
        flags: {
          service?: string[];
          policyArn?: string[];
          bucket?: string[];
          prefix?: string;
          policyFile?: string;
          policyName?: string;
          selfRotation?: boolean;
          exact?: boolean;
        },
      ) => {
        const opts: AttachPolicyOptions = {
          userName,
          services: (flags.service ?? []).map(parseService),
          policyArns: flags.policyArn,
          buckets: flags.bucket,
          prefix: flags.prefix,
          policyName: flags.policyName,
          selfRotation: flags.selfRotation === true,
          exact: flags.exact === true,
        };
        if (flags.policyFile !== undefined) {
          opts.policyFile = { path: flags.policyFile, text: await readPolicyFile(flags.policyFile) };
        }
        present(ctx, await attachPolicy(ctx, opts), renderAttachPolicy);
      },
    );
}

async function readPolicyFile(path: string): Promise<string> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readFileUpTo(path, MAX_POLICY_FILE_BYTES);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read the policy file ${path}${code === 'ENOENT' ? ': no such file' : code === 'EISDIR' ? ': this is a directory' : code ? ` (${code})` : ''}`,
      { hint: 'Give the path of a JSON policy document.' },
    );
  }
  if (bytes === undefined)
    throw new UsageError(
      `the policy file ${path} holds more than ${MAX_POLICY_FILE_BYTES} bytes; IAM policies are at most ${MAX_POLICY_FILE_BYTES} characters (a user's inline policies ${MAX_INLINE_POLICY_CHARS_PER_USER} together)`,
      {
        hint: 'Give the JSON policy document itself; split a large policy into a customer managed policy (--policy-arn).',
      },
    );
  return bytes.toString('utf8');
}

/** Grants the user what the options describe; what it already holds is reported, not repeated. */
export async function attachPolicy(ctx: Context, opts: AttachPolicyOptions): Promise<AttachPolicyResult> {
  // Every flag is checked before the first call; the documents are built again once the user's path is known.
  desiredPolicies(opts);
  const admin = await openAdmin(ctx);
  const user = await lookUpUser(ctx, admin, opts.userName);
  if (!user) {
    throw new AwsError(`IAM user ${opts.userName} does not exist in account ${admin.identity.account}`, {
      awsCode: 'NoSuchEntity',
      hint: `Create it first: datablast-aws create-user ${opts.userName} (or run datablast-aws init).`,
    });
  }
  const current = await readGrants(ctx, admin, opts.userName, user);
  const plan = planPolicies(opts.userName, current, desiredPolicies(opts, user.path), { exact: opts.exact === true });
  return applyPolicies(ctx, admin, plan);
}

/** Human text for `attach-policy`. */
export function renderAttachPolicy(result: AttachPolicyResult, io: IO, style: Style): void {
  for (const arn of result.attached) io.out(`${style.green('attached')} ${arn}\n`);
  for (const arn of result.alreadyAttached) io.out(`${style.dim('already attached')} ${arn}\n`);
  for (const name of result.inline) io.out(`${style.green('wrote inline policy')} ${name}\n`);
  for (const name of result.alreadyInline) io.out(`${style.dim('inline policy already in place')} ${name}\n`);
  for (const arn of result.detached) io.out(`${style.yellow('detached')} ${arn} (not asked for)\n`);
  for (const name of result.deletedInline) io.out(`${style.yellow('deleted inline policy')} ${name} (not asked for)\n`);
  for (const grant of result.extra)
    io.out(
      `${style.yellow('also holds')} ${grant} (not asked for${isRemovableGrant(grant) ? '; --exact removes it' : '; left as it is'})\n`,
    );
  io.out(
    `user ${style.bold(result.userName)} holds ${result.inlineCharacters} of ${MAX_INLINE_POLICY_CHARS_PER_USER} characters of inline policy\n`,
  );
}
