import type { Context } from '../ports.js';
import type { IamUser } from '../domain/iam.js';
import { UsageError } from '../errors.js';
import {
  BUCKET_POLICY_NAME,
  SELF_ROTATION_POLICY_NAME,
  SERVICE_POLICIES,
  bucketPolicy,
  checkInlinePolicyQuota,
  checkManagedPolicyQuota,
  parsePolicyDocument,
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
import { step } from '../ui/progress.js';
import type { AdminSession } from './admin.js';

/** What a user should be granted, as the flags (or the wizard's answers) say it. */
export interface GrantRequest {
  userName: string;
  services?: ServiceName[];
  policyArns?: string[];
  buckets?: string[];
  prefix?: string;
  /** A custom inline policy: its text and where it came from. */
  policyFile?: { path: string; text: string };
  policyName?: string;
  selfRotation?: boolean;
}

/** What a user should end up with: managed ARNs and inline documents by name. */
export interface DesiredPolicies {
  managed: string[];
  inline: Record<string, string>;
}

/** What a user holds now: managed ARNs and inline documents by name. */
export interface CurrentGrants {
  managed: string[];
  inline: Record<string, string>;
}

/** What must change, worked out (and checked against the quotas) before anything changes. */
export interface PolicyPlan {
  userName: string;
  toAttach: string[];
  alreadyAttached: string[];
  toPut: Record<string, string>;
  alreadyInline: string[];
  /** Managed policies to detach (--exact: the service policies not asked for). */
  toDetach: string[];
  /** Inline policies to delete (--exact: our generated ones not asked for). */
  toDelete: string[];
  /** Grants beyond what was asked that stay: managed ARNs and inline policy names. */
  extra: string[];
  /** Characters of inline policy the user holds afterwards (whitespace not counted; AWS allows 2,048). */
  inlineCharacters: number;
}

/** What applying a plan did. */
export interface PolicyChanges {
  userName: string;
  /** Managed policy ARNs attached by this run. */
  attached: string[];
  /** Managed policy ARNs that were attached already. */
  alreadyAttached: string[];
  /** Inline policy names written by this run (new, or replaced because they differed). */
  inline: string[];
  /** Inline policy names already present with the same document. */
  alreadyInline: string[];
  /** Managed policy ARNs detached by this run (--exact). */
  detached: string[];
  /** Inline policy names deleted by this run (--exact). */
  deletedInline: string[];
  /** Grants beyond what was asked that the user still holds (ARNs and inline names). */
  extra: string[];
  inlineCharacters: number;
}

/** Managed policies that --exact may detach: the service presets, which datablast-aws itself attaches. */
const REMOVABLE_MANAGED: readonly string[] = Object.values(SERVICE_POLICIES).map((p) => p.policyArn);
/** Inline policies that --exact may delete: the ones datablast-aws generates. */
const REMOVABLE_INLINE: readonly string[] = [BUCKET_POLICY_NAME, SELF_ROTATION_POLICY_NAME];

/**
 * Works out, from the flags alone and before any call, what the user should hold. `path` is the
 * user's IAM path (the self-rotation policy names the user's ARN, which includes it).
 */
export function desiredPolicies(opts: GrantRequest, path = '/'): DesiredPolicies {
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

/** Reads the user's managed and inline policies (nothing for a user that does not exist yet). */
export async function readGrants(
  ctx: Context,
  admin: AdminSession,
  userName: string,
  user: IamUser | undefined,
): Promise<CurrentGrants> {
  if (!user) return { managed: [], inline: {} };
  const managed = (
    await step(
      ctx,
      `listing managed policies of ${userName}`,
      () => admin.iam.listAttachedUserPolicies(userName),
      (p) => `${p.length} attached`,
    )
  ).map((p) => p.policyArn);
  const names = await step(
    ctx,
    `listing inline policies of ${userName}`,
    () => admin.iam.listUserPolicies(userName),
    (n) => `${n.length} found`,
  );
  const inline: Record<string, string> = {};
  for (const name of names) inline[name] = (await admin.iam.getUserPolicy(userName, name)) ?? '';
  return { managed, inline };
}

/** Whether `--exact` removes this grant when not asked for: a service preset or one of our generated inline policies. */
export function isRemovableGrant(grant: string): boolean {
  return REMOVABLE_MANAGED.includes(grant) || REMOVABLE_INLINE.includes(grant);
}

/**
 * Compares what the user holds with what it should hold and checks AWS's per-user quotas
 * (10 managed policies, 2,048 inline characters) before anything is changed. Grants beyond the
 * desired ones are reported as extra; with `exact`, those datablast-aws manages (the service
 * presets and its generated inline policies) are planned for removal instead.
 */
export function planPolicies(
  userName: string,
  current: CurrentGrants,
  desired: DesiredPolicies,
  options: { exact?: boolean } = {},
): PolicyPlan {
  const toAttach = desired.managed.filter((arn) => !current.managed.includes(arn));
  const alreadyAttached = desired.managed.filter((arn) => current.managed.includes(arn));
  const toPut = Object.fromEntries(
    Object.entries(desired.inline).filter(
      ([name, text]) => current.inline[name] === undefined || !samePolicy(current.inline[name]!, text),
    ),
  );
  const alreadyInline = Object.keys(desired.inline).filter((name) => !(name in toPut));
  const extraManaged = current.managed.filter((arn) => !desired.managed.includes(arn));
  const extraInline = Object.keys(current.inline).filter((name) => !(name in desired.inline));
  const toDetach = options.exact ? extraManaged.filter(isRemovableGrant) : [];
  const toDelete = options.exact ? extraInline.filter(isRemovableGrant) : [];
  const extra = [
    ...extraManaged.filter((arn) => !toDetach.includes(arn)),
    ...extraInline.filter((name) => !toDelete.includes(name)),
  ];
  checkManagedPolicyQuota(
    userName,
    current.managed.filter((arn) => !toDetach.includes(arn)),
    toAttach,
  );
  const kept = Object.fromEntries(Object.entries(current.inline).filter(([name]) => !toDelete.includes(name)));
  const inlineCharacters = checkInlinePolicyQuota(userName, kept, toPut);
  return { userName, toAttach, alreadyAttached, toPut, alreadyInline, toDetach, toDelete, extra, inlineCharacters };
}

/** True when the plan changes nothing. */
export function planIsEmpty(plan: PolicyPlan): boolean {
  return plan.toAttach.length + Object.keys(plan.toPut).length + plan.toDetach.length + plan.toDelete.length === 0;
}

/** Carries out a plan, one AWS call per policy, each shown as a step: grants first, removals after. */
export async function applyPolicies(ctx: Context, admin: AdminSession, plan: PolicyPlan): Promise<PolicyChanges> {
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
  for (const arn of plan.toDetach) {
    await step(
      ctx,
      `detaching ${shortArn(arn)} from ${plan.userName} (not asked for)`,
      () => admin.iam.detachUserPolicy(plan.userName, arn),
      () => 'detached',
    );
  }
  for (const name of plan.toDelete) {
    await step(
      ctx,
      `deleting inline policy ${name} of ${plan.userName} (not asked for)`,
      () => admin.iam.deleteUserPolicy(plan.userName, name),
      () => 'deleted',
    );
  }
  return {
    userName: plan.userName,
    attached: plan.toAttach,
    alreadyAttached: plan.alreadyAttached,
    inline: Object.keys(plan.toPut),
    alreadyInline: plan.alreadyInline,
    detached: plan.toDetach,
    deletedInline: plan.toDelete,
    extra: plan.extra,
    inlineCharacters: plan.inlineCharacters,
  };
}

/** An AWS managed policy by its name, any other by its full ARN: for progress lines and summaries. */
export function shortArn(arn: string): string {
  return arn.startsWith('arn:aws:iam::aws:policy/') ? arn.slice('arn:aws:iam::aws:policy/'.length) : arn;
}
