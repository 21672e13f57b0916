import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { collect, createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import type { IamUser } from '../domain/iam.js';
import { AwsError, UsageError } from '../errors.js';
import {
  BUCKET_POLICY_NAME,
  MAX_INLINE_POLICY_CHARS_PER_USER,
  SELF_ROTATION_POLICY_NAME,
  SERVICE_POLICIES,
  bucketPolicy,
  checkInlinePolicyQuota,
  checkManagedPolicyQuota,
  parsePolicyDocument,
  parseService,
  policyText,
  samePolicy,
  selfRotationPolicy,
  validateBucketName,
  validatePolicyArn,
  validatePolicyName,
  validatePrefix,
  validateUserName,
  type ServiceName,
} from '../domain/policies.js';
import { present, type Style } from '../ui/output.js';
import { step } from '../ui/progress.js';
import { openAdmin, type AdminSession } from './admin-session.js';
import { lookUpUser } from './create-user.js';

/** What `attach-policy` is asked to grant. */
export interface AttachPolicyOptions {
  userName: string;
  services?: ServiceName[];
  policyArns?: string[];
  buckets?: string[];
  prefix?: string;
  /** A custom inline policy: its text (read by the command wiring) and where it came from. */
  policyFile?: { path: string; text: string };
  policyName?: string;
  selfRotation?: boolean;
}

/** The result: `{userName, attached, inline}` (CLI.md) plus what already existed. */
export interface AttachPolicyResult {
  userName: string;
  /** Managed policy ARNs attached by this run. */
  attached: string[];
  /** Managed policy ARNs that were attached already. */
  alreadyAttached: string[];
  /** Inline policy names written by this run (new, or replaced because they differed). */
  inline: string[];
  /** Inline policy names already present with the same document. */
  alreadyInline: string[];
  /** Characters of inline policy the user holds afterwards (whitespace not counted; AWS allows 2,048). */
  inlineCharacters: number;
}

/** What a user should end up with: managed ARNs and inline documents by name. */
export interface DesiredPolicies {
  managed: string[];
  inline: Record<string, string>;
}

/** What must change, worked out (and checked against the quotas) before anything changes. */
export interface AttachPlan {
  userName: string;
  toAttach: string[];
  alreadyAttached: string[];
  toPut: Record<string, string>;
  alreadyInline: string[];
  inlineCharacters: number;
}

/** Wires `attach-policy USER`. */
export function attachPolicyCommand(ctx: Context): Command {
  return createCommand('attach-policy')
    .description(
      'Give an IAM user what Datablast needs to read, and nothing more. Idempotent: what is already there is reported, not repeated.',
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
    .addHelpText(
      'after',
      '\nExamples:\n  datablast-aws attach-policy datablast-integration --service s3 --service rds --self-rotation\n' +
        '  datablast-aws attach-policy datablast-integration --bucket my-exports --prefix daily/\n',
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
        };
        if (flags.policyFile !== undefined) {
          opts.policyFile = { path: flags.policyFile, text: await readPolicyFile(flags.policyFile) };
        }
        present(ctx, await attachPolicy(ctx, opts), renderAttachPolicy);
      },
    );
}

async function readPolicyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read the policy file ${path}${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`,
      { hint: 'Give the path of a JSON policy document.' },
    );
  }
}

/**
 * Works out, from the flags alone and before any call, what the user should hold. `path` is the
 * user's IAM path (the self-rotation policy names the user's ARN, which includes it).
 */
export function desiredPolicies(opts: AttachPolicyOptions, path = '/'): DesiredPolicies {
  validateUserName(opts.userName);
  const buckets = (opts.buckets ?? []).map(validateBucketName);
  if (opts.prefix !== undefined) {
    validatePrefix(opts.prefix);
    if (buckets.length === 0)
      throw new UsageError('--prefix needs --bucket', {
        hint: 'The prefix narrows the generated bucket policy: give --bucket NAME too.',
      });
  }
  if (opts.policyName !== undefined && opts.policyFile === undefined) {
    throw new UsageError('--policy-name needs --policy-file FILE', {
      hint: 'Give the JSON document of the inline policy with --policy-file.',
    });
  }
  const managed = [
    ...new Set([
      ...(opts.services ?? []).map((s) => SERVICE_POLICIES[s].policyArn),
      ...(opts.policyArns ?? []).map(validatePolicyArn),
    ]),
  ];
  const inline: Record<string, string> = {};
  if (buckets.length) inline[BUCKET_POLICY_NAME] = policyText(bucketPolicy(buckets, opts.prefix));
  if (opts.selfRotation) inline[SELF_ROTATION_POLICY_NAME] = policyText(selfRotationPolicy(path));
  if (opts.policyFile) {
    if (opts.policyName === undefined)
      throw new UsageError('--policy-file needs --policy-name NAME', {
        hint: 'Name the inline policy, e.g. --policy-name datablast-extra.',
      });
    inline[validatePolicyName(opts.policyName)] = policyText(
      parsePolicyDocument(opts.policyFile.text, opts.policyFile.path),
    );
  }
  if (managed.length === 0 && Object.keys(inline).length === 0) {
    throw new UsageError('nothing to attach', {
      hint: 'Give --service s3|rds|lambda, --policy-arn ARN, --bucket NAME, --policy-file FILE --policy-name NAME or --self-rotation.',
    });
  }
  return { managed, inline };
}

/**
 * Compares what the user holds with what it should hold and checks AWS's per-user quotas
 * (10 managed policies, 2,048 inline characters) before anything is changed. `user` undefined means
 * the user does not exist yet: it holds nothing.
 */
export async function planAttachPolicy(
  ctx: Context,
  admin: AdminSession,
  userName: string,
  user: IamUser | undefined,
  desired: DesiredPolicies,
): Promise<AttachPlan> {
  const attachedNow = user
    ? (
        await step(
          ctx,
          `listing managed policies of ${userName}`,
          () => admin.iam.listAttachedUserPolicies(userName),
          (p) => `${p.length} attached`,
        )
      ).map((p) => p.policyArn)
    : [];
  const inlineNow: Record<string, string> = {};
  if (user) {
    const names = await step(
      ctx,
      `listing inline policies of ${userName}`,
      () => admin.iam.listUserPolicies(userName),
      (n) => `${n.length} found`,
    );
    for (const name of names) inlineNow[name] = (await admin.iam.getUserPolicy(userName, name)) ?? '';
  }
  const toAttach = desired.managed.filter((arn) => !attachedNow.includes(arn));
  const alreadyAttached = desired.managed.filter((arn) => attachedNow.includes(arn));
  const toPut = Object.fromEntries(
    Object.entries(desired.inline).filter(
      ([name, text]) => inlineNow[name] === undefined || !samePolicy(inlineNow[name]!, text),
    ),
  );
  const alreadyInline = Object.keys(desired.inline).filter((name) => !(name in toPut));
  checkManagedPolicyQuota(userName, attachedNow, toAttach);
  const inlineCharacters = checkInlinePolicyQuota(userName, inlineNow, toPut);
  return { userName, toAttach, alreadyAttached, toPut, alreadyInline, inlineCharacters };
}

/** Carries out a plan, one AWS call per policy, each shown as a step. */
export async function applyAttachPolicy(
  ctx: Context,
  admin: AdminSession,
  plan: AttachPlan,
): Promise<AttachPolicyResult> {
  for (const arn of plan.toAttach) {
    await step(
      ctx,
      `attaching ${shortArn(arn)} to ${plan.userName}`,
      () => admin.iam.attachUserPolicy(plan.userName, arn),
      () => 'attached',
    );
  }
  for (const [name, text] of Object.entries(plan.toPut)) {
    await step(
      ctx,
      `writing inline policy ${name} on ${plan.userName}`,
      () => admin.iam.putUserPolicy(plan.userName, name, text),
      () => 'written',
    );
  }
  return {
    userName: plan.userName,
    attached: plan.toAttach,
    alreadyAttached: plan.alreadyAttached,
    inline: Object.keys(plan.toPut),
    alreadyInline: plan.alreadyInline,
    inlineCharacters: plan.inlineCharacters,
  };
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
  const plan = await planAttachPolicy(ctx, admin, opts.userName, user, desiredPolicies(opts, user.path));
  return applyAttachPolicy(ctx, admin, plan);
}

/** Human text for `attach-policy`. */
export function renderAttachPolicy(result: AttachPolicyResult, io: IO, style: Style): void {
  for (const arn of result.attached) io.out(`${style.green('attached')} ${arn}\n`);
  for (const arn of result.alreadyAttached) io.out(`${style.dim('already attached')} ${arn}\n`);
  for (const name of result.inline) io.out(`${style.green('wrote inline policy')} ${name}\n`);
  for (const name of result.alreadyInline) io.out(`${style.dim('inline policy already in place')} ${name}\n`);
  io.out(
    `user ${style.bold(result.userName)} holds ${result.inlineCharacters} of ${MAX_INLINE_POLICY_CHARS_PER_USER} characters of inline policy\n`,
  );
}

/** An AWS managed policy by its name, any other by its full ARN: for progress lines and summaries. */
export function shortArn(arn: string): string {
  return arn.startsWith('arn:aws:iam::aws:policy/') ? arn.slice('arn:aws:iam::aws:policy/'.length) : arn;
}
