import type { AccessKeyInfo, Identity } from '../domain/iam.js';
import { CliError, type CheckId } from '../errors.js';
import { maskAccessKeyId, userNameFromArn, validateAccessKeyId, validateSecretAccessKey } from './access-key.js';
import type { AccessKeyPair } from './connection.js';
import { shellWord } from './shell-word.js';
import type { BackoffPolicy } from './backoff.js';
import { ageInDays, ROTATION_PERIOD_DAYS } from './connection.js';
import { unusedWarning } from './lifecycle.js';

/**
 * The onboarding guide's troubleshooting checklist: ids and titles, and `diagnose`, which turns what
 * `test` observed (the local format check, the outcomes of its AWS calls) into the checklist with each
 * item passed, failed or not checked, and the cause and fix of the first failure. Pure: no I/O. The
 * error table in aws/errors.ts tags every failure with one of these ids.
 */

/** One item of the guide's troubleshooting checklist (declared in errors.ts, which carries it). */
export type { CheckId };

/** Every checklist item, in the order the guide lists them and `test` checks them. */
export const CHECK_IDS: readonly CheckId[] = [
  'format',
  'network',
  'credentials',
  'key-status',
  'clock',
  'region',
  'permissions',
  'ip-restriction',
];

/** Each item's title, in the guide's words. */
export const CHECK_TITLES: Readonly<Record<CheckId, string>> = {
  format: 'No extra spaces or characters in the credentials',
  network: 'Network connectivity to AWS',
  credentials: 'Access Key ID and Secret Access Key are correct',
  'key-status': 'The key is active, not expired or rotated',
  clock: 'The system clock is correct',
  region: 'Correct region, and the service is available there',
  permissions: 'The IAM user has the required permissions',
  'ip-restriction': 'No IP restrictions block this machine',
};

/** AWS refuses signatures more than five minutes off its own clock; past this, the clock item fails. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** True for a string that names a checklist item. */
export function isCheckId(value: unknown): value is CheckId {
  return typeof value === 'string' && (CHECK_IDS as readonly string[]).includes(value);
}

/** How one checklist item came out. */
export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One item of the checklist, as `test` prints it and `--json` reports it. */
export interface Check {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** One line: what was seen, or why the item was not checked. */
  detail: string;
}

/** A failed AWS call as aws/errors.ts `classify` describes it (its Classification fits this shape). */
export interface Failure {
  /** The AWS error code or Node network code (InvalidClientTokenId, ENOTFOUND...). */
  code: string;
  exitCode: number;
  diagnosis: CheckId;
  /** Our words, naming the action. */
  message: string;
  /** The next step. */
  hint: string;
}

/** What a call gave: its value, or its classified failure. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; failure: Failure };

/** The local check of a stored key: well-formed, or what is wrong and how to fix it. */
export type FormatOutcome = { ok: true } | { ok: false; problem: string; fix: string };

/** The services `test --service` can probe. */
export type ProbeService = 's3' | 'rds' | 'lambda';

/** Every probeable service, in the order `test` probes them. */
export const PROBE_SERVICES: readonly ProbeService[] = ['s3', 'rds', 'lambda'];

/** The IAM action each service's probe needs; a denial names it. */
export const PROBE_ACTIONS: Readonly<Record<ProbeService, string>> = {
  s3: 's3:ListAllMyBuckets',
  rds: 'rds:DescribeDBInstances',
  lambda: 'lambda:ListFunctions',
};

/** The IAM action of the per-bucket listing probe (S3 HeadBucket, ListObjectsV2). */
export const BUCKET_PROBE_ACTION = 's3:ListBucket';

/** The IAM action of the per-bucket location probe (S3 GetBucketLocation): the bucket's region. */
export const LOCATION_PROBE_ACTION = 's3:GetBucketLocation';

/** How a bucket probe names itself: "s3:ListBucket on reports", or "… on reports/daily/" under a prefix. */
export function bucketAction(action: string, bucket: string, prefix?: string): string {
  return `${action} on ${bucket}${prefix ? `/${prefix}` : ''}`;
}

/** What the items of a listing probe are called, for the detail line. */
const PROBE_NOUNS: Readonly<Record<ProbeService, string>> = { s3: 'bucket', rds: 'DB instance', lambda: 'function' };

/** One probe that `test` ran. */
export interface ProbeOutcome {
  service: ProbeService;
  /** The IAM action, e.g. s3:ListAllMyBuckets or "s3:ListBucket on reports". */
  action: string;
  /** What it saw: a count for listings, nothing for a bucket. */
  outcome: Outcome<{ count: number; more: boolean } | undefined>;
  /** For a location probe that AWS answered: the bucket and the region it lives in. */
  location?: { bucket: string; region: string };
}

/** What `--admin` learnt from IAM about the connection's user (ListAccessKeys, signed by the admin credentials). */
export type AdminKeyFacts = { userName: string; keys: Outcome<AccessKeyInfo[]> } | { userName: undefined };

/** Everything `diagnose` needs: what `test` observed for one connection. */
export interface DiagnosisFacts {
  /** The connection's name, quoted for a shell, for the commands in the fixes. */
  nameArg: string;
  /** The connection's IAM user, when known, for the repair commands. */
  userName?: string;
  accessKeyId: string;
  region: string;
  format: FormatOutcome;
  /** STS GetCallerIdentity at the regional endpoint (the last attempt); absent when the format check failed. */
  sts?: Outcome<Identity>;
  /** Calls made to STS: more than one when a young key was retried. */
  attempts?: number;
  /** Time spent waiting between those calls. */
  waitedMs?: number;
  /** STS at the global endpoint, asked only after a regional failure the region could explain. */
  globalSts?: Outcome<Identity>;
  /** Present only under --admin. */
  admin?: AdminKeyFacts;
  /** The services asked for (--service, else the connection's). */
  services: readonly ProbeService[];
  probes: readonly ProbeOutcome[];
}

/** The checklist for one connection and its verdict. */
export interface Diagnosis {
  ok: boolean;
  /** Who AWS says the key belongs to, when it accepted the key. */
  identity: { account: string; arn: string; userId: string } | null;
  checks: Check[];
  /** The first failure's cause and fix, in checklist order; null when nothing failed. */
  cause: string | null;
  fix: string | null;
  /** 0, or the exit code of the first failure (CLI.md: 2 malformed, 4 rejected, 5 denied or unreachable). */
  exitCode: number;
}

/** A new key is rejected for a few seconds while IAM spreads it; `test` retries a key younger than this. */
export const YOUNG_KEY_MS = 2 * 60_000;

/**
 * How long `test` waits out a young key's rejection: IAM spreads a new key within seconds, so half a
 * minute tells propagation from a key that is gone (a deleted key once took 118.8 s to diagnose).
 */
export const YOUNG_KEY_POLICY: BackoffPolicy = { initialDelayMs: 1_000, maxDelayMs: 5_000, timeoutMs: 30_000 };

/** Codes of a credentials rejection that a young key may outgrow (and that an opt-in region also gives). */
const UNKNOWN_KEY_CODES = new Set([
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'AuthFailure',
  'InvalidToken',
]);
const WRONG_SECRET_CODES = new Set(['SignatureDoesNotMatch', 'InvalidSignatureException']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TIMEOUT_CODES = new Set([
  'TimeoutError',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const DENIAL_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'NotAuthorized',
]);
const TLS_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** True when a rejection of a young key may be IAM's eventual consistency rather than a bad key. */
export function mayBePropagating(failure: Failure): boolean {
  return failure.exitCode === 4 && failure.diagnosis === 'credentials';
}

/** True when a regional STS failure could be the region's fault: then the global endpoint is asked. */
export function regionMayExplain(failure: Failure, region: string): boolean {
  if (region === GLOBAL_STS_REGION) return false;
  return UNKNOWN_KEY_CODES.has(failure.code) || DNS_CODES.has(failure.code) || failure.diagnosis === 'region';
}

/** The region the global STS endpoint signs for; never an opt-in region. */
export const GLOBAL_STS_REGION = 'us-east-1';

/**
 * Checks a stored key locally, before any call: the access-key validators name the problem (whitespace,
 * quotes, a look-alike digit, the length) without ever quoting the secret.
 */
export function checkFormat(pair: AccessKeyPair, nameArg: string): FormatOutcome {
  const again = `Then store the key again: \`datablast-aws add-connection ${nameArg} --force\` (it trims and checks a key before storing it).`;
  try {
    validateAccessKeyId(pair.accessKeyId);
    validateSecretAccessKey(pair.secretAccessKey);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const problem = error.message.replace(/^--access-key-id: /, 'access key id: ');
    return { ok: false, problem, fix: `${error.hint ?? ''} ${again}`.trim() };
  }
  if (pair.accessKeyId.startsWith('ASIA')) {
    return {
      ok: false,
      problem:
        'access key id: this is a temporary key (ASIA…), which needs a session token that connections do not store',
      fix: `Store a long-term access key of an IAM user (AKIA…). ${again}`,
    };
  }
  return { ok: true };
}

interface Item {
  status: CheckStatus;
  detail: string;
  /** For a failure: what the summary says and the exit code. */
  cause?: string;
  fix?: string;
  exitCode?: number;
}

const pass = (detail: string): Item => ({ status: 'pass', detail });
const skip = (reason: string): Item => ({ status: 'skip', detail: `not checked — ${reason}` });
const fail = (detail: string, cause: string, fix: string, exitCode: number): Item => ({
  status: 'fail',
  detail,
  cause,
  fix,
  exitCode,
});
const failWith = (failure: Failure, detail = failure.message): Item =>
  fail(detail, failure.message, failure.hint, failure.exitCode);

/**
 * Builds the checklist from what `test` observed. Every item is passed, failed, or explicitly not
 * checked with the reason; the first failure in the guide's order gives the cause, the fix and the exit code.
 */
export function diagnose(facts: DiagnosisFacts): Diagnosis {
  const items = new Map<CheckId, Item>();
  const masked = maskAccessKeyId(facts.accessKeyId);
  let identity: Identity | undefined;

  if (!facts.format.ok) {
    items.set(
      'format',
      fail(facts.format.problem, `the stored key is malformed: ${facts.format.problem}`, facts.format.fix, 2),
    );
    for (const id of CHECK_IDS)
      if (id !== 'format') items.set(id, skip('the stored key is malformed, so AWS was not called'));
    return verdict(items, undefined);
  }
  items.set('format', pass(`${masked}: a well-formed key id and a 40-character secret, no spaces or stray characters`));

  const sts = facts.sts;
  if (!sts) {
    for (const id of CHECK_IDS) if (id !== 'format') items.set(id, skip('AWS was not called'));
    return verdict(items, undefined);
  }

  if (sts.ok) {
    identity = sts.value;
    items.set('network', pass(`AWS STS answered in ${facts.region}`));
    items.set('credentials', pass(`AWS accepted the key as ${identity.arn}${retryNote(facts, true)}`));
    items.set('key-status', keyStatusWhenAccepted(facts, masked));
    items.set('clock', clockItem(identity));
    items.set('region', pass(`${facts.region}: STS answered there`));
    probeItems(facts, items, userNameFromArn(identity.arn));
    return verdict(items, identity);
  }

  const failure = sts.failure;
  const global = facts.globalSts;
  if (global?.ok) {
    // The key works on the global endpoint: the region is what rejects it.
    identity = global.value;
    items.set('network', pass('the global STS endpoint answered'));
    items.set('credentials', pass(`AWS accepted the key as ${identity.arn} on the global STS endpoint`));
    items.set('key-status', pass('active: the global STS endpoint accepted it'));
    items.set('clock', clockItem(identity));
    items.set('region', regionRejects(facts, failure));
    const reason = `the key does not work in ${facts.region}, so no service was probed`;
    items.set('permissions', skip(reason));
    items.set('ip-restriction', skip(reason));
    return verdict(items, identity);
  }

  if (failure.diagnosis === 'network') {
    items.set('network', failWith(failure, `${networkKind(failure)}: ${failure.message}`));
    for (const id of ['credentials', 'key-status', 'clock', 'region', 'permissions', 'ip-restriction'] as const)
      items.set(id, skip('AWS could not be reached'));
    return verdict(items, undefined);
  }

  items.set('network', pass(`AWS STS answered in ${facts.region} (and refused the call)`));
  const refused = 'AWS refused sts:GetCallerIdentity before this could be checked';
  if (failure.diagnosis === 'credentials') {
    credentialItems(facts, failure, masked, items);
  } else {
    for (const id of ['credentials', 'key-status', 'clock', 'region'] as const) items.set(id, skip(refused));
    items.set(failure.diagnosis, failWith(failure));
  }
  if (!items.has('clock') || items.get('clock')!.status !== 'fail')
    items.set('clock', skip('AWS accepted no call, so there is no answer to compare times with'));
  if (!items.has('region')) items.set('region', regionWhenRejected(facts, failure));
  for (const id of ['permissions', 'ip-restriction'] as const)
    if (!items.has(id) || items.get(id)!.status !== 'fail')
      items.set(id, skip('the key does not work, so no service was probed'));
  return verdict(items, undefined);
}

/** The items a credentials rejection decides: what the key is (wrong, unknown, inactive, deleted, rotated). */
function credentialItems(facts: DiagnosisFacts, failure: Failure, masked: string, items: Map<CheckId, Item>): void {
  const unknownId = UNKNOWN_KEY_CODES.has(failure.code);
  const detail = `${credentialWords(failure)}${retryNote(facts, false)}`;
  const admin = facts.admin;
  const name = facts.nameArg;

  if (admin?.userName !== undefined && admin.keys.ok) {
    const user = admin.userName;
    const keys = admin.keys.value;
    const ours = keys.find((k) => k.accessKeyId === facts.accessKeyId);
    if (ours?.status === 'Inactive') {
      items.set('credentials', skip('AWS does not check the secret of an inactive key'));
      items.set(
        'key-status',
        fail(
          `${masked} of user ${user} is inactive in IAM (deactivated)`,
          `the access key ${masked} of user ${user} has been deactivated`,
          `If that was a mistake, reactivate it: \`aws iam update-access-key --user-name ${user} --access-key-id ${facts.accessKeyId} --status Active\`. Otherwise store the user's current key: \`datablast-aws add-connection ${name} --force\`.`,
          4,
        ),
      );
      return;
    }
    if (!ours) {
      items.set('credentials', skip(`the key no longer exists in IAM`));
      const others = keys
        .map(
          (k) =>
            `${maskAccessKeyId(k.accessKeyId)} (${k.status.toLowerCase()}${k.createDate ? `, created ${k.createDate.slice(0, 10)}` : ''})`,
        )
        .join(', ');
      if (keys.length > 0) {
        items.set(
          'key-status',
          fail(
            `rotated elsewhere: IAM now holds ${others} for user ${user}, not ${masked}`,
            `the key ${masked} was rotated elsewhere: user ${user} now holds ${others}`,
            `Store the key IAM now holds, with its secret: \`datablast-aws add-connection ${name} --force\`. If nobody has its secret, create a new key for ${user} in IAM and store that.`,
            4,
          ),
        );
      } else {
        items.set(
          'key-status',
          fail(
            `deleted: user ${user} holds no access keys any more`,
            `the key ${masked} was deleted in IAM; user ${user} has no access key`,
            `Let datablast-aws create a new key for ${user} and store it: ${recreateKey(facts, user)}.`,
            4,
          ),
        );
      }
      return;
    }
    items.set('key-status', pass(`IAM lists ${masked} as active for user ${user}`));
    items.set('credentials', fail(detail, failure.message, credentialFix(failure, facts, true), failure.exitCode));
    return;
  }

  if (admin?.userName !== undefined && !admin.keys.ok && admin.keys.failure.code === 'NoSuchEntity') {
    const user = admin.userName;
    items.set('credentials', skip(`user ${user} no longer exists`));
    items.set(
      'key-status',
      fail(
        `user ${user} no longer exists in IAM (deleted, and its keys with it)`,
        `the IAM user ${user} of this key was deleted`,
        `Onboard again: \`datablast-aws init\`, or \`datablast-aws create-user USER --create-key --connection NAME\`, then remove this connection: \`datablast-aws remove ${name}\`.`,
        4,
      ),
    );
    return;
  }

  items.set(
    'credentials',
    fail(detail, failure.message, credentialFix(failure, facts, admin !== undefined), failure.exitCode),
  );
  if (WRONG_SECRET_CODES.has(failure.code)) {
    items.set('key-status', pass('the key id is known to AWS and active (AWS went on to check the signature)'));
  } else if (!unknownId) {
    items.set(
      'key-status',
      skip(
        /Signature|AuthenticationToken/.test(failure.code)
          ? 'AWS stopped at the signature'
          : 'the credentials were refused before AWS looked at the key',
      ),
    );
  } else if (admin === undefined) {
    items.set(
      'key-status',
      skip(
        'not fully checkable without admin credentials: AWS answers an unknown, deleted and inactive key alike; add --admin (with --profile) to ask IAM',
      ),
    );
  } else if (admin.userName === undefined) {
    items.set('key-status', skip('the connection does not know its IAM user, so --admin could not list its keys'));
  } else {
    items.set(
      'key-status',
      skip(
        `the admin credentials could not list the keys of ${admin.userName}: ${(admin.keys as { ok: false; failure: Failure }).failure.message}`,
      ),
    );
  }
}

/** A few words for each way AWS rejects credentials. */
function credentialWords(failure: Failure): string {
  if (UNKNOWN_KEY_CODES.has(failure.code)) return `AWS does not recognise the access key id (${failure.code})`;
  if (WRONG_SECRET_CODES.has(failure.code)) return `the secret access key does not match the key id (${failure.code})`;
  if (failure.code === 'IncompleteSignature' || /^MissingAuthenticationToken/.test(failure.code))
    return `the request signature is incomplete (${failure.code}): the key id or secret is cut short or malformed`;
  return failure.message;
}

/**
 * The repair this tool makes itself for a key that is gone: a new key created straight into the secret
 * store (never `aws iam create-access-key`, which prints the secret).
 */
function recreateKey(facts: DiagnosisFacts, user = facts.userName): string {
  const name = facts.nameArg;
  return `\`datablast-aws remove ${name}\`, then \`datablast-aws create-user ${user ? shellWord(user) : 'USER'} --create-key --connection ${name} --region ${facts.region} --profile ADMIN\` (the new secret goes straight into the secret store, never on screen)`;
}

function credentialFix(failure: Failure, facts: DiagnosisFacts, adminAsked: boolean): string {
  const name = facts.nameArg;
  const store = `store the right key: \`datablast-aws add-connection ${name} --force\``;
  if (UNKNOWN_KEY_CODES.has(failure.code)) {
    return adminAsked
      ? `Check the key id for typos against the IAM console (Users › Security credentials); if it is right, ${store}. If the key is gone, let datablast-aws make a new one: ${recreateKey(facts)}.`
      : `Check the key id against the IAM console (Users › Security credentials). If it is listed there as inactive or not at all, the key was deactivated, deleted or rotated elsewhere: \`datablast-aws test ${name} --admin --profile ADMIN\` tells which. Then ${store}; if the key was deleted, let datablast-aws make a new one: ${recreateKey(facts)}.`;
  }
  if (WRONG_SECRET_CODES.has(failure.code))
    return `The secret was mistyped, or belongs to another key. Store the right one: \`datablast-aws add-connection ${name} --force\`; if the secret is lost, create a new key for the user.`;
  return `${failure.hint} Then ${store}.`.replace('. Then', '; then');
}

/** Under the credentials detail: how a young key's retries went. */
function retryNote(facts: DiagnosisFacts, accepted: boolean): string {
  const attempts = facts.attempts ?? 1;
  if (attempts <= 1) return '';
  const waited = formatDuration(facts.waitedMs ?? 0);
  return accepted
    ? ` (on attempt ${attempts}, after ${waited}: a new key takes a few seconds to reach every AWS region)`
    : ` (still rejected after ${attempts} attempts over ${waited}; a key younger than two minutes is retried for up to ${formatDuration(YOUNG_KEY_POLICY.timeoutMs)})`;
}

function keyStatusWhenAccepted(facts: DiagnosisFacts, masked: string): Item {
  const admin = facts.admin;
  if (!admin) return pass('active: AWS accepted it');
  if (admin.userName === undefined)
    return pass('active: AWS accepted it (the ARN names no IAM user, so --admin listed no keys)');
  if (!admin.keys.ok)
    return pass(
      `active: AWS accepted it (the admin credentials could not list the keys of ${admin.userName}: ${admin.keys.failure.message})`,
    );
  const others = admin.keys.value.filter((k) => k.accessKeyId !== facts.accessKeyId);
  const also = others.length
    ? `; the user also holds ${others.map((k) => `${maskAccessKeyId(k.accessKeyId)} (${k.status.toLowerCase()})`).join(', ')}`
    : '';
  return pass(
    `active: IAM lists ${masked} as ${admin.keys.value.find((k) => k.accessKeyId === facts.accessKeyId)?.status.toLowerCase() ?? 'accepted'} for user ${admin.userName}${also}`,
  );
}

/** The clock item from an accepted answer's Date header: the SDK corrects skew silently, so we report it. */
function clockItem(identity: Identity): Item {
  const skew = identity.clockSkewMs;
  if (skew === undefined) return skip("AWS's answer carried no Date header to compare with");
  const off = formatDuration(Math.abs(skew));
  if (Math.abs(skew) <= MAX_CLOCK_SKEW_MS) return pass(`within ${off} of AWS's time`);
  const way = skew > 0 ? 'behind' : 'ahead of';
  return fail(
    `this machine's clock is ${off} ${way} AWS's; the AWS SDK corrected for it silently, other tools will fail`,
    `this machine's clock is ${off} ${way} AWS's time, more than the 5 minutes AWS allows`,
    'Set the system clock right (turn on NTP, e.g. `timedatectl set-ntp true`): AWS refuses requests signed more than 5 minutes off, and not every client corrects for it.',
    4,
  );
}

function regionRejects(facts: DiagnosisFacts, failure: Failure): Item {
  const region = facts.region;
  const enable = `Enable ${region} for the account (AWS console › Account › AWS Regions), or use an enabled region: \`datablast-aws test ${facts.nameArg} --region us-east-1\` checks one, \`datablast-aws add-connection ${facts.nameArg} --force --region REGION\` stores it.`;
  if (failure.diagnosis === 'network') {
    return fail(
      `STS in ${region} is unreachable (${failure.code}) while the global endpoint answers`,
      `${failure.message}, while the global STS endpoint answers: ${region} may not be a region name, or not one this network reaches`,
      `Check the region name. ${enable}`,
      5,
    );
  }
  return fail(
    `AWS rejects the key in ${region} (${failure.code}) but accepts it on the global STS endpoint: ${region} is an opt-in region not enabled for the account`,
    `${region} is an opt-in region that is not enabled for this account: the key works on the global STS endpoint but not there (${failure.code})`,
    enable,
    5,
  );
}

function regionWhenRejected(facts: DiagnosisFacts, failure: Failure): Item {
  if (facts.region === GLOBAL_STS_REGION) return pass(`${facts.region} is never an opt-in region`);
  if (facts.globalSts && !facts.globalSts.ok)
    return skip(
      `the global STS endpoint refuses the key too (${facts.globalSts.failure.code}), so the region is not the cause`,
    );
  return skip(`AWS refused the key (${failure.code}) for a reason the region does not explain`);
}

/** The permissions, ip-restriction (and, for a service missing in the region, region and network) items from the probes. */
function probeItems(facts: DiagnosisFacts, items: Map<CheckId, Item>, userName: string | undefined): void {
  if (facts.probes.length === 0) {
    items.set(
      'permissions',
      skip('no service to probe: add --service s3|rds|lambda (sts:GetCallerIdentity needs no permission)'),
    );
    items.set(
      'ip-restriction',
      skip('no service was probed, and policies never deny sts:GetCallerIdentity; add --service to check'),
    );
    return;
  }
  const allowed: string[] = [];
  const denied: Failure[] = [];
  const deniedActions: string[] = [];
  let grant: string | undefined;
  const ipDenied: Failure[] = [];
  const notProbed: string[] = [];
  for (const probe of facts.probes) {
    if (probe.outcome.ok) {
      allowed.push(`${probe.action}${countNote(probe)}`);
      continue;
    }
    const failure = probe.outcome.failure;
    if (failure.diagnosis === 'permissions') {
      denied.push(failure);
      deniedActions.push(DENIAL_CODES.has(failure.code) ? probe.action : `${probe.action} (${failure.code})`);
      if (DENIAL_CODES.has(failure.code)) grant ??= grantFix(probe, userName);
    } else if (failure.diagnosis === 'ip-restriction') ipDenied.push(failure);
    else {
      notProbed.push(probe.action);
      if (DNS_CODES.has(failure.code) || failure.diagnosis === 'region') {
        if (items.get('region')?.status !== 'fail') {
          items.set(
            'region',
            fail(
              `${probe.service} did not answer in ${facts.region}: ${failure.message}`,
              `AWS ${probe.service} is not reachable in ${facts.region}: ${failure.message}`,
              failure.diagnosis === 'region'
                ? failure.hint
                : `Check that ${probe.service} is offered in ${facts.region} (https://aws.amazon.com/about-aws/global-infrastructure/regional-product-services/), or test another region with --region.`,
              failure.exitCode,
            ),
          );
        }
      } else if (items.get(failure.diagnosis)?.status !== 'fail') {
        const prefix =
          failure.diagnosis === 'network'
            ? `STS answered, but ${probe.service} did not: ${networkKind(failure)}: `
            : '';
        items.set(failure.diagnosis, failWith(failure, `${prefix}${failure.message}`));
      }
    }
  }
  bucketRegionItem(facts, items);
  const parts = [
    denied.length ? `denied: ${deniedActions.join(', ')}` : '',
    allowed.length ? `allowed: ${allowed.join(', ')}` : '',
    notProbed.length ? `not probed: ${notProbed.join(', ')}` : '',
  ].filter(Boolean);
  if (denied.length) {
    const first = denied[0]!;
    items.set('permissions', fail(parts.join('; '), first.message, grant ?? first.hint, first.exitCode));
  } else if (allowed.length) {
    items.set('permissions', pass(parts.join('; ')));
  } else if (items.get('permissions')?.status !== 'fail') {
    items.set(
      'permissions',
      skip(
        ipDenied.length
          ? 'an IP restriction denied every probe first'
          : `no probe got an answer (${notProbed.join(', ')})`,
      ),
    );
  }

  if (ipDenied.length) {
    items.set('ip-restriction', failWith(ipDenied[0]!));
  } else if (denied.length) {
    const explicit = denied.some((f) => /explicit deny/i.test(f.message));
    items.set(
      'ip-restriction',
      skip(
        explicit
          ? 'AWS returned an explicit deny without naming its condition; an aws:SourceIp condition is one possible reason, so check the policy'
          : 'no explicit deny was returned; an Allow limited to some IP addresses (aws:SourceIp) would look the same',
      ),
    );
  } else if (allowed.length) {
    items.set('ip-restriction', pass('AWS allowed the probes from this machine'));
  } else {
    items.set('ip-restriction', skip('no probe got an answer'));
  }
}

/** How to grant what a probe was denied: the attach-policy flags that cover it. */
function grantFix(probe: ProbeOutcome, userName: string | undefined): string {
  const scoped = /^s3:[A-Za-z]+ on ([^/]+)(?:\/(.+))?$/.exec(probe.action);
  const flag = scoped
    ? `--bucket ${scoped[1]}${scoped[2] ? ` --prefix ${shellWord(scoped[2])}` : ''}`
    : `--service ${probe.service}`;
  const user = userName ?? 'USER';
  return `Grant ${probe.action} to ${userName ? `user ${userName}` : 'the IAM user'}: \`datablast-aws attach-policy ${user} ${flag}\` with admin credentials (--profile), or ask your AWS administrator.`;
}

/**
 * The region item from the buckets' locations: a bucket in another region than the connection's is
 * reached only through a redirect that not every client follows, so it fails the item.
 */
function bucketRegionItem(facts: DiagnosisFacts, items: Map<CheckId, Item>): void {
  const located = facts.probes.flatMap((p) => (p.location ? [p.location] : []));
  if (located.length === 0 || items.get('region')?.status === 'fail') return;
  const elsewhere = located.find((l) => l.region !== facts.region);
  if (elsewhere) {
    items.set(
      'region',
      fail(
        `bucket ${elsewhere.bucket} is in ${elsewhere.region}, not in the connection's region ${facts.region}`,
        `the bucket ${elsewhere.bucket} is in ${elsewhere.region}, but the connection's region is ${facts.region}`,
        `Store the connection with the bucket's region: \`datablast-aws add-connection ${facts.nameArg} --force --region ${elsewhere.region}\` (\`datablast-aws test ${facts.nameArg} --region ${elsewhere.region}\` checks it first).`,
        5,
      ),
    );
    return;
  }
  const names = located.map((l) => l.bucket).join(', ');
  items.set(
    'region',
    pass(
      `${facts.region}: STS answered there, and bucket${located.length === 1 ? '' : 's'} ${names} ${located.length === 1 ? 'is' : 'are'} there`,
    ),
  );
}

function countNote(probe: ProbeOutcome): string {
  if (probe.location) return ` (${probe.location.region})`;
  if (!probe.outcome.ok || !probe.outcome.value) return '';
  const { count, more } = probe.outcome.value;
  const noun = PROBE_NOUNS[probe.service];
  return ` (${count}${more ? '+' : ''} ${noun}${count === 1 && !more ? '' : 's'})`;
}

/** Which kind of network failure: the classification's code tells DNS, TCP, TLS, proxy and timeout apart. */
export function networkKind(failure: Failure): string {
  if (/^Proxy/.test(failure.code) || /^the proxy\b/.test(failure.message)) return 'proxy';
  if (DNS_CODES.has(failure.code)) return 'DNS';
  if (TIMEOUT_CODES.has(failure.code)) return 'timeout';
  if (failure.code === 'NotAwsResponse' || failure.code === 'ResponseTooLarge') return 'not AWS';
  if (TLS_CODE.test(failure.code)) return 'TLS';
  if (/^E[A-Z]+$/.test(failure.code)) return 'TCP';
  return 'network';
}

function verdict(items: Map<CheckId, Item>, identity: Identity | undefined): Diagnosis {
  const checks: Check[] = CHECK_IDS.map((id) => {
    const item = items.get(id) ?? skip('nothing to check it with');
    return { id, title: CHECK_TITLES[id], status: item.status, detail: item.detail };
  });
  const first = CHECK_IDS.map((id) => items.get(id)).find((item) => item?.status === 'fail');
  return {
    ok: first === undefined,
    identity: identity ? { account: identity.account, arn: identity.arn, userId: identity.userId } : null,
    checks,
    cause: first?.cause ?? null,
    fix: first?.fix ?? null,
    exitCode: first?.exitCode ?? 0,
  };
}

/** A duration for people: "800 ms", "42 s", "10 min 3 s", "2 h 5 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** When IAM says a key was last used, or why we do not know. */
export type LastUsed =
  | { ok: true; date: string | undefined; service: string | undefined; region: string | undefined }
  | { ok: false; reason: string };

/** One line of key hygiene under the checklist; `warning` lines are highlighted. */
export interface HygieneLine {
  text: string;
  warning: boolean;
}

/**
 * The key hygiene lines: the key's age (a warning past the guide's 90-day rotation period) and, when
 * asked for, when it was last used. `createdAt` is the key's creation date when known (metadata, or IAM
 * under --admin); `addedAt` (when the connection was added) is a lower bound otherwise.
 */
export function keyHygiene(input: {
  createdAt: string | undefined;
  addedAt: string;
  now: Date;
  nameArg: string;
  lastUsed?: LastUsed;
}): HygieneLine[] {
  const lines: HygieneLine[] = [];
  const known = input.createdAt !== undefined;
  const age = ageInDays(input.createdAt ?? input.addedAt, input.now);
  if (age !== undefined) {
    const days = `${known ? '' : 'at least '}${age} day${age === 1 ? '' : 's'}`;
    const when = known
      ? ` (created ${input.createdAt!.slice(0, 10)})`
      : " (counted from when the connection was added; the key's creation date is unknown)";
    const old = age > ROTATION_PERIOD_DAYS;
    lines.push({
      text: old
        ? `key age: ${days}${when}, past the ${ROTATION_PERIOD_DAYS}-day rotation period: rotate it with \`datablast-aws rotate ${input.nameArg}\``
        : `key age: ${days}${when}`,
      warning: old,
    });
  }
  const used = input.lastUsed;
  if (used?.ok) {
    const where = [used.service, used.region].filter(Boolean).join(' in ');
    // The guide's usage monitoring, in the same words and by the same count as show's (domain/lifecycle.ts).
    const unused = unusedWarning(used.date === undefined ? {} : { at: used.date }, input.now, input.createdAt);
    lines.push({
      text: `last used: ${used.date ? `${used.date.slice(0, 10)}${where ? ` (${where})` : ''}` : 'never, as far as IAM knows'}${unused ? `: ${unused}` : ''}`,
      warning: unused !== undefined,
    });
  } else if (used) {
    lines.push({ text: `last use unknown: ${used.reason}`, warning: false });
  }
  return lines;
}
