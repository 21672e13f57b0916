import { UsageError } from '../errors.js';

/** The services Datablast reads, each granted through an AWS managed read-only policy. */
export const SERVICES = ['s3', 'rds', 'lambda'] as const;

/** One of the services Datablast reads. */
export type ServiceName = (typeof SERVICES)[number];

/** The AWS managed read-only policy of each service (what the onboarding guide attaches in the console). */
export const SERVICE_POLICIES: Readonly<Record<ServiceName, { policyArn: string; title: string }>> = {
  s3: { policyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', title: 'Amazon S3, every bucket, read-only' },
  rds: { policyArn: 'arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess', title: 'Amazon RDS, read-only' },
  lambda: { policyArn: 'arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess', title: 'AWS Lambda, read-only' },
};

/** The tag every user we create carries, so that we (and an auditor) can tell our users from others. */
export const MANAGED_BY_TAG = { key: 'managed-by', value: 'datablast-aws' } as const;

/** The name of the generated bucket policy (one per user: re-running with other buckets replaces it). */
export const BUCKET_POLICY_NAME = 'datablast-s3-buckets';

/** The name of the inline policy that lets a user rotate its own keys. */
export const SELF_ROTATION_POLICY_NAME = 'datablast-self-rotation';

/** AWS quota: managed policies attached to one IAM user. */
export const MAX_MANAGED_POLICIES_PER_USER = 10;

/** AWS quota: characters of all inline policies of one IAM user together, whitespace not counted. */
export const MAX_INLINE_POLICY_CHARS_PER_USER = 2048;

/** An IAM policy document (the parts we generate and check). */
export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement | PolicyStatement[];
  Id?: string;
}

/** One statement of a policy document. */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
  [key: string]: unknown;
}

/** Parses a `--service` value: exit 2 listing the choices when unknown. */
export function parseService(value: string): ServiceName {
  const normalized = value.trim().toLowerCase();
  if ((SERVICES as readonly string[]).includes(normalized)) return normalized as ServiceName;
  throw new UsageError(`unknown service ${JSON.stringify(value)}; choose one of ${SERVICES.join('|')}`, {
    hint: 'Repeat --service for several (e.g. --service s3 --service rds); use --bucket NAME to grant single S3 buckets instead of all of S3.',
  });
}

/** Checks an IAM user name: 1–64 of A–Z a–z 0–9 and + = , . @ _ - (IAM's own rule). */
export function validateUserName(name: string): string {
  if (name.length === 0)
    throw new UsageError('the IAM user name is empty', {
      hint: 'Give a name of 1 to 64 characters, e.g. datablast-integration.',
    });
  if (name.length > 64) {
    throw new UsageError(`the IAM user name is ${name.length} characters long; IAM allows 64`, {
      hint: 'Choose a shorter name.',
    });
  }
  const bad = [...name].filter((c) => !/[A-Za-z0-9+=,.@_-]/.test(c));
  if (bad.length) {
    throw new UsageError(
      `the IAM user name ${JSON.stringify(name)} contains ${describeChars(bad)}, which IAM does not allow`,
      {
        hint: 'Use only letters, digits and + = , . @ _ - (e.g. datablast-integration).',
      },
    );
  }
  return name;
}

/** Checks an IAM path: "/" or "/a/b/" of printable ASCII, at most 512 characters (IAM's own rule). */
export function validatePath(path: string): string {
  if (path.length > 512)
    throw new UsageError(`the IAM path is ${path.length} characters long; IAM allows 512`, {
      hint: 'Choose a shorter path, e.g. /integrations/.',
    });
  if (path !== '/' && !/^\/[\u0021-\u007e]+\/$/.test(path)) {
    throw new UsageError(
      `the IAM path ${JSON.stringify(path)} must start and end with "/" and hold printable characters without spaces`,
      {
        hint: 'For example --path /integrations/ (or leave it out for "/").',
      },
    );
  }
  if (path.includes('//'))
    throw new UsageError(`the IAM path ${JSON.stringify(path)} has an empty segment ("//")`, {
      hint: 'For example --path /integrations/datablast/.',
    });
  return path;
}

/** Parses one `--tag key=value`: IAM's tag rules, and our own managed-by tag is not the caller's to set. */
export function parseTag(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new UsageError(`the tag ${JSON.stringify(text)} is not key=value`, {
      hint: 'For example --tag team=data --tag env=prod.',
    });
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  validateTagKey(key);
  validateTagValue(value, `the value of tag ${key}`);
  if (key === MANAGED_BY_TAG.key)
    throw new UsageError(`the tag ${key} is set by datablast-aws itself`, {
      hint: 'Leave it out; every user we create carries managed-by=datablast-aws.',
    });
  return [key, value];
}

/** Parses every `--tag`: duplicate keys are an error rather than a silent last-wins. */
export function parseTags(texts: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const text of texts) {
    const [key, value] = parseTag(text);
    if (key in tags && tags[key] !== value)
      throw new UsageError(`the tag ${key} is given twice with different values`, { hint: 'Give each tag key once.' });
    tags[key] = value;
  }
  // IAM allows 50 tags per user; ours and the key-description tag need room too.
  if (Object.keys(tags).length > 40)
    throw new UsageError(`${Object.keys(tags).length} tags given; datablast-aws accepts 40 (IAM allows 50 per user)`, {
      hint: 'Give fewer tags.',
    });
  return tags;
}

const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

function validateTagKey(key: string): void {
  if (key.length > 128)
    throw new UsageError(
      `the tag key ${JSON.stringify(key.slice(0, 20))}… is ${key.length} characters long; IAM allows 128`,
      { hint: 'Choose a shorter key.' },
    );
  if (!TAG_CHARS.test(key))
    throw new UsageError(`the tag key ${JSON.stringify(key)} holds a character IAM does not allow in tags`, {
      hint: 'Tags allow letters, digits, spaces and _ . : / = + - @.',
    });
  if (key.toLowerCase().startsWith('aws:'))
    throw new UsageError(`the tag key ${JSON.stringify(key)} uses the prefix aws:, which AWS reserves`, {
      hint: 'Choose another key.',
    });
}

/**
 * Checks a tag value (IAM: up to 256 of letters, digits, spaces and _ . : / = + - @). Also used for the
 * key description, which the console stores as a tag on the user.
 */
export function validateTagValue(value: string, what: string): string {
  if (value.length > 256)
    throw new UsageError(`${what} is ${value.length} characters long; IAM allows 256 in a tag`, {
      hint: 'Shorten it.',
    });
  if (!TAG_CHARS.test(value)) {
    const bad = [...value].filter((c) => !TAG_CHARS.test(c));
    throw new UsageError(`${what} contains ${describeChars(bad)}, which IAM does not allow in a tag`, {
      hint: 'Tags allow letters, digits, spaces and _ . : / = + - @.',
    });
  }
  return value;
}

/** Checks an S3 bucket name against S3's naming rules (general purpose buckets). */
export function validateBucketName(name: string): string {
  const problem = bucketNameProblem(name);
  if (problem) {
    throw new UsageError(`${JSON.stringify(name)} is not a valid S3 bucket name: ${problem}`, {
      hint: 'Give the bucket name only (e.g. --bucket my-exports), not an ARN or an s3:// URL.',
    });
  }
  return name;
}

function bucketNameProblem(name: string): string | undefined {
  if (name.startsWith('s3://') || name.startsWith('arn:')) return 'give the bare name, not a URL or ARN';
  if (name.length < 3 || name.length > 63) return `it is ${name.length} characters long; S3 allows 3 to 63`;
  if (!/^[a-z0-9.-]+$/.test(name)) return 'only lower-case letters, digits, dots and hyphens are allowed';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'it must start and end with a letter or digit';
  if (name.includes('..')) return 'it must not contain two dots in a row';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'it must not look like an IP address';
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-'])
    if (name.startsWith(prefix)) return `the prefix ${prefix} is reserved`;
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'])
    if (name.endsWith(suffix)) return `the suffix ${suffix} is reserved`;
  return undefined;
}

/** Checks a `--prefix`: a key prefix without wildcards (they would widen the grant) and without a leading "/". */
export function validatePrefix(prefix: string): string {
  if (prefix.length === 0)
    throw new UsageError('the prefix is empty', {
      hint: 'Leave --prefix out to grant whole buckets, or give e.g. --prefix exports/.',
    });
  if (prefix.length > 1024)
    throw new UsageError(`the prefix is ${prefix.length} characters long; S3 keys are at most 1024`, {
      hint: 'Give a shorter prefix.',
    });
  if (/[*?]/.test(prefix))
    throw new UsageError(`the prefix ${JSON.stringify(prefix)} contains a wildcard (* or ?)`, {
      hint: 'Give a literal key prefix such as exports/; the policy adds the wildcard itself.',
    });
  if (prefix.startsWith('/'))
    throw new UsageError(`the prefix ${JSON.stringify(prefix)} starts with "/"; S3 keys usually do not`, {
      hint: `Did you mean --prefix ${prefix.replace(/^\/+/, '')}?`,
    });

  if (/[\u0000-\u001f\u007f]/.test(prefix))
    throw new UsageError('the prefix contains a control character', { hint: 'Give a printable key prefix.' });
  return prefix;
}

/** Checks an IAM managed policy ARN: arn:PARTITION:iam::(aws|ACCOUNT):policy/[PATH/]NAME. */
export function validatePolicyArn(arn: string): string {
  if (!/^arn:aws(-[a-z]+)*:iam::(aws|\d{12}):policy\/([\u0021-\u007e]+\/)?[\w+=,.@-]{1,128}$/.test(arn)) {
    throw new UsageError(`${JSON.stringify(arn)} is not an IAM managed policy ARN`, {
      hint: 'It looks like arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/MyPolicy; use --service for the read-only presets.',
    });
  }
  return arn;
}

/** Checks an inline policy name: 1–128 of letters, digits and + = , . @ _ - (IAM's own rule). */
export function validatePolicyName(name: string): string {
  if (!/^[\w+=,.@-]{1,128}$/.test(name)) {
    throw new UsageError(`the policy name ${JSON.stringify(name)} is not valid`, {
      hint: 'Use 1 to 128 letters, digits and + = , . @ _ -, e.g. datablast-extra.',
    });
  }
  if (name === BUCKET_POLICY_NAME || name === SELF_ROTATION_POLICY_NAME) {
    throw new UsageError(`the policy name ${name} is reserved for the policy datablast-aws generates`, {
      hint: 'Choose another --policy-name.',
    });
  }
  return name;
}

/**
 * The least-privilege bucket policy: list and locate the buckets, read their objects; nothing else.
 * With a prefix, listing is limited by the s3:prefix condition and reading by the object ARN.
 * GetBucketLocation has no s3:prefix key, so it sits in its own statement (a condition would deny it).
 */
export function bucketPolicy(buckets: string[], prefix?: string): PolicyDocument {
  const names = [...new Set(buckets)].sort();
  if (names.length === 0) throw new UsageError('no bucket given', { hint: 'Give --bucket NAME (repeatable).' });
  const bucketArns = names.map((b) => `arn:aws:s3:::${b}`);
  const list: PolicyStatement = { Sid: 'ListBuckets', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArns };
  if (prefix !== undefined) list.Condition = { StringLike: { 's3:prefix': `${prefix}*` } };
  return {
    Version: '2012-10-17',
    Statement: [
      list,
      { Sid: 'LocateBuckets', Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: bucketArns },
      {
        Sid: 'ReadObjects',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: names.map((b) => `arn:aws:s3:::${b}/${prefix ?? ''}*`),
      },
    ],
  };
}

/** What a bucket grant reaches, for plans and summaries: `s3://bucket/prefix*` for each bucket. */
export function describeBucketScope(buckets: readonly string[], prefix?: string): string {
  return [...new Set(buckets)]
    .sort()
    .map((b) => `s3://${b}/${prefix ?? ''}*`)
    .join(', ');
}

/** The buckets and prefix of a bucket policy we generated (read back from IAM); undefined for any other document. */
export function bucketScope(text: string): { buckets: string[]; prefix?: string } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const statements = (doc as PolicyDocument | null)?.Statement;
  const read = (Array.isArray(statements) ? statements : [statements]).find((s) => s?.Sid === 'ReadObjects');
  const resources = read?.Resource === undefined ? [] : [read.Resource].flat();
  const parsed = resources.map((r) => /^arn:aws:s3:::([^/]+)\/(.*)\*$/.exec(r));
  if (parsed.length === 0 || parsed.some((m) => !m)) return undefined;
  const prefix = parsed[0]![2]!;
  return { buckets: parsed.map((m) => m![1]!), ...(prefix ? { prefix } : {}) };
}

/** The IAM actions a user needs to rotate its own access keys (what `rotate` calls without --admin). */
export const SELF_ROTATION_ACTIONS = [
  'iam:CreateAccessKey',
  'iam:DeleteAccessKey',
  'iam:UpdateAccessKey',
  'iam:ListAccessKeys',
  'iam:GetAccessKeyLastUsed',
] as const;

/**
 * The self-rotation policy: the user may manage its own keys and no one else's. `${aws:username}` is
 * resolved by IAM at evaluation time; a user under a path has the path in its ARN, so it goes in too.
 */
export function selfRotationPolicy(path = '/'): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RotateOwnAccessKeys',
        Effect: 'Allow',
        Action: [...SELF_ROTATION_ACTIONS],
        Resource: `arn:aws:iam::*:user${path}\${aws:username}`,
      },
    ],
  };
}

/**
 * Parses and checks a custom policy document before any call: JSON, an object with Version and
 * Statement, each statement with Effect Allow or Deny and an action and a resource element.
 */
export function parsePolicyDocument(text: string, source: string): PolicyDocument {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    // Our own words: the parser's message quotes the text, and the wrong file may hold a secret.
    const at = /position (\d+)/.exec((error as Error).message);
    const where = at ? ` (${lineAndColumn(text.replace(/^\uFEFF/, ''), Number(at[1]))})` : '';
    throw new UsageError(`${source} is not valid JSON${where}`, {
      hint: 'Check the file with a JSON linter; IAM policies are JSON documents.',
    });
  }
  const fail = (what: string) =>
    new UsageError(`${source} is not an IAM policy document: ${what}`, {
      hint: 'A policy looks like {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}]}.',
    });
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail('the top level is not a JSON object');
  const doc = value as Record<string, unknown>;
  if (!('Version' in doc)) throw fail('"Version" is missing');
  if (doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17')
    throw fail(`"Version" is ${JSON.stringify(doc.Version)}; IAM knows "2012-10-17" (and the old "2008-10-17")`);
  if (!('Statement' in doc)) throw fail('"Statement" is missing');
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (statements.length === 0) throw fail('"Statement" is empty');
  statements.forEach((s, i) => {
    const where = `statement ${i + 1}`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw fail(`${where} is not an object`);
    const st = s as Record<string, unknown>;
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny')
      throw fail(`${where} has "Effect" ${JSON.stringify(st.Effect)}; it must be "Allow" or "Deny"`);
    if (!('Action' in st) && !('NotAction' in st)) throw fail(`${where} has no "Action"`);
    if (!('Resource' in st) && !('NotResource' in st)) throw fail(`${where} has no "Resource"`);
  });
  return doc as unknown as PolicyDocument;
}

/** "line L, column C" of a character offset, without quoting any of the text. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
}

/** The text we send for a document: compact JSON, so it costs as little of the inline quota as possible. */
export function policyText(doc: PolicyDocument): string {
  return JSON.stringify(doc);
}

/** How much of the inline quota a document uses: AWS does not count whitespace. */
export function inlinePolicySize(text: string): number {
  return text.replace(/\s+/g, '').length;
}

/** True when two policy texts say the same thing (AWS may return a document reformatted or with keys reordered). */
export function samePolicy(a: string, b: string): boolean {
  try {
    return canonical(JSON.parse(a)) === canonical(JSON.parse(b));
  } catch {
    return a === b;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Refuses to attach more managed policies than AWS allows a user, before anything is attached. */
export function checkManagedPolicyQuota(userName: string, current: string[], toAttach: string[]): void {
  const total = new Set([...current, ...toAttach]).size;
  if (total > MAX_MANAGED_POLICIES_PER_USER) {
    throw new UsageError(
      `user ${userName} would have ${total} managed policies attached (${current.length} now, ${toAttach.length} to add); AWS allows ${MAX_MANAGED_POLICIES_PER_USER} per user. Nothing was changed`,
      {
        hint: 'Detach policies the user no longer needs, or use --bucket for a small inline policy instead of whole-service policies.',
      },
    );
  }
}

/**
 * Refuses inline policies whose total size (all of the user's inline documents after the change,
 * whitespace not counted, as AWS counts) exceeds the per-user quota, before anything is written.
 */
export function checkInlinePolicyQuota(
  userName: string,
  existing: Record<string, string>,
  toPut: Record<string, string>,
): number {
  const after = { ...existing, ...toPut };
  const total = Object.values(after).reduce((sum, text) => sum + inlinePolicySize(text), 0);
  if (total > MAX_INLINE_POLICY_CHARS_PER_USER) {
    const parts = Object.entries(after)
      .map(([name, text]) => `${name} ${inlinePolicySize(text)}`)
      .join(', ');
    throw new UsageError(
      `user ${userName} would have ${total} characters of inline policy (${parts}); AWS allows ${MAX_INLINE_POLICY_CHARS_PER_USER} per user. Nothing was changed`,
      {
        hint: 'Use fewer buckets or a shorter custom policy, or create a customer managed policy and attach it with --policy-arn.',
      },
    );
  }
  return total;
}

function describeChars(chars: string[]): string {
  const unique = [...new Set(chars)];
  const shown = unique
    .slice(0, 5)
    .map((c) => (c === ' ' ? 'a space' : /\s/.test(c) ? 'a whitespace character' : JSON.stringify(c)));
  return unique.length === 1 ? shown[0]! : `the characters ${shown.join(', ')}`;
}
