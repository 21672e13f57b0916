import { UsageError } from '../errors.js';
import type { AccessKeyPair } from './connection.js';

/** Length of an access key id: a 4-letter prefix plus 16 base32 characters. */
export const ACCESS_KEY_ID_LENGTH = 20;
/** Length of a secret access key. */
export const SECRET_ACCESS_KEY_LENGTH = 40;

const KEY_ID = /^(AKIA|ASIA)[A-Z2-7]{16}$/;
const SECRET_CHARS = /^[A-Za-z0-9/+]*$/;
const KEY_ID_FLAG = '--access-key-id';
const KEY_ID_HINT = 'An access key id is 20 characters: AKIA followed by 16 of A–Z and 2–7, e.g. AKIAIOSFODNN7EXAMPLE.';
const SECRET_HINT =
  'A secret access key is 40 characters of letters, digits, / and +. It is shown once, when the key is created; copy it again from the CSV file or create a new key.';

/** Prefixes of other IAM unique ids that people paste where a key id belongs (IAM "unique identifiers"). */
const OTHER_ID_PREFIXES: Record<string, string> = {
  AIDA: 'an IAM user id',
  AROA: 'an IAM role id',
  AGPA: 'an IAM group id',
  ANPA: 'a managed policy id',
  ANVA: 'a policy version id',
  AIPA: 'an EC2 instance profile id',
  APKA: 'a CloudFront public key id',
  ASCA: 'a certificate id',
  ACCA: 'a context-specific credential id',
  ABIA: 'an STS service bearer token id',
};

/** Digits people type for look-alike letters; none of them is in the base32 alphabet of key ids. */
const DIGIT_TYPOS: Record<string, string> = {
  '0': 'the digit 0, which never appears in a key id: did you mean the letter O?',
  '1': 'the digit 1, which never appears in a key id: did you mean the letter I?',
  '8': 'the digit 8, which never appears in a key id: did you mean the letter B?',
  '9': 'the digit 9, which never appears in a key id (only 2–7 do)',
};

/**
 * Checks an access key id (AKIA/ASIA + 16 base32 characters) and names the likely typo.
 * Returns the id unchanged; throws a UsageError naming `source`, where the value came from
 * (--access-key-id by default; AWS_ACCESS_KEY_ID or a CSV column when it came from there).
 */
export function validateAccessKeyId(raw: string, source: string = KEY_ID_FLAG): string {
  if (KEY_ID.test(raw)) return raw;
  const fail = (problem: string, hint = KEY_ID_HINT): never => {
    throw new UsageError(`${source}: ${problem}`, { hint });
  };
  if (raw.length === 0) fail('the access key id is empty');
  // A secret pasted into the key id field: never echo any of it.
  if (looksLikeSecret(raw.trim())) {
    fail(
      'this looks like a secret access key, not an access key id',
      'Give the key id (20 characters, starting with AKIA) with --access-key-id, and the secret through --secret-stdin, AWS_SECRET_ACCESS_KEY or the prompt.',
    );
  }
  // Anything much longer than a key id may be something secret: describe it without quoting it.
  const quotable = raw.length <= ACCESS_KEY_ID_LENGTH + 4;
  if (/["'`\u2018\u2019\u201c\u201d]/u.test(raw)) fail('the access key id contains quote characters; remove them');
  if (raw.trim() !== raw)
    fail('the access key id starts or ends with whitespace', 'Remove the spaces or line breaks around it.');
  const embedded = /(?<![A-Z2-7])(AKIA|ASIA)[A-Z2-7]{16}(?![A-Z2-7])/.exec(raw);
  if (embedded) fail('the value has other text around the access key id', `Did you mean ${embedded[0]}?`);
  const space = raw.search(/\s/u);
  if (space >= 0)
    fail(
      `the access key id contains whitespace at character ${space + 1}`,
      'Remove the space or line break: key ids have none.',
    );
  if (raw.length === ACCESS_KEY_ID_LENGTH && KEY_ID.test(raw.toUpperCase())) {
    fail(
      'the access key id contains lower-case letters; key ids are upper-case',
      quotable ? `Did you mean ${raw.toUpperCase()}?` : KEY_ID_HINT,
    );
  }
  const chars = [...raw];
  const digit = chars.findIndex((c) => c in DIGIT_TYPOS);
  if (quotable && digit >= 0 && (raw.startsWith('AKIA') || raw.startsWith('ASIA') || digit >= 4)) {
    fail(`character ${digit + 1} is ${DIGIT_TYPOS[chars[digit]!]}`);
  }
  const prefix = raw.slice(0, 4).toUpperCase();
  if (prefix !== 'AKIA' && prefix !== 'ASIA') {
    const other = OTHER_ID_PREFIXES[prefix];
    if (other) fail(`this is ${other} (it starts with ${prefix}), not an access key id`);
    fail(
      quotable
        ? `the access key id must start with AKIA (or ASIA), not ${JSON.stringify(raw.slice(0, 4))}`
        : 'the access key id must start with AKIA (or ASIA)',
    );
  }
  const lower = chars.findIndex((c) => /[a-z]/.test(c));
  if (quotable && lower >= 0) fail(`character ${lower + 1} is a lower-case letter; key ids are upper-case`);
  const bad = chars.findIndex((c) => !/[A-Z2-7]/.test(c));
  if (quotable && bad >= 0)
    fail(`character ${bad + 1} is ${describeChar(chars[bad]!, quotable)}, which cannot appear in an access key id`);
  fail(
    `the access key id is ${chars.length} characters long; it should be ${ACCESS_KEY_ID_LENGTH}`,
    raw.length > ACCESS_KEY_ID_LENGTH
      ? 'Did you copy something next to it?'
      : 'Part of it seems missing; copy it again.',
  );
  return raw;
}

/**
 * Checks a secret access key (exactly 40 of A–Z a–z 0–9 / +). The message says what is wrong
 * (length, a character class, whitespace, position) and never contains the secret or any part of it;
 * it starts with `source`, where the value came from (--secret-stdin, AWS_SECRET_ACCESS_KEY, a CSV column).
 */
export function validateSecretAccessKey(raw: string, source = 'secret access key'): string {
  if (raw.length === SECRET_ACCESS_KEY_LENGTH && SECRET_CHARS.test(raw)) return raw;
  const fail = (problem: string, hint = SECRET_HINT): never => {
    throw new UsageError(`${source}: ${problem}`, { hint });
  };
  if (raw.length === 0) fail('the secret access key is empty');
  if (KEY_ID.test(raw.trim()) || KEY_ID.test(raw.trim().toUpperCase())) {
    fail(
      'this is an access key id, not the secret access key',
      'Give the key id with --access-key-id; the secret is the other, 40-character value.',
    );
  }
  if (/["'`\u2018\u2019\u201c\u201d]/u.test(raw)) fail('the secret access key contains quote characters; remove them');
  if (raw.trim() !== raw)
    fail('the secret access key starts or ends with whitespace', 'Remove the spaces or line breaks around it.');
  const chars = [...raw];
  const space = chars.findIndex((c) => /\s/u.test(c));
  if (space >= 0)
    fail(
      `the secret access key contains whitespace at character ${space + 1}`,
      'Remove the space or line break: secrets have none. A line break often comes from copying a wrapped line.',
    );
  const bad = chars.findIndex((c) => !/[A-Za-z0-9/+]/.test(c));
  if (bad >= 0)
    fail(
      `character ${bad + 1} of the secret access key is ${describeChar(chars[bad]!, false)}, which cannot appear in a secret access key`,
    );
  fail(
    `the secret access key is ${chars.length} characters long; it should be ${SECRET_ACCESS_KEY_LENGTH}`,
    chars.length > SECRET_ACCESS_KEY_LENGTH
      ? 'Did you copy something next to it?'
      : 'Part of it seems missing; copy it again.',
  );
  return raw;
}

/** A key pair ready to store, and what we changed on the way (for the user to read). */
export interface NormalizedKeyPair {
  pair: AccessKeyPair;
  notes: string[];
}

/** Where each half of a key pair came from, for messages (the validators' defaults when absent). */
export interface KeyPairSources {
  accessKeyId?: string;
  secretAccessKey?: string;
}

/**
 * Trims surrounding whitespace from both halves (saying so, never echoing the secret),
 * then validates them; an error names the source of the faulty half.
 */
export function normalizeKeyPair(raw: AccessKeyPair, sources: KeyPairSources = {}): NormalizedKeyPair {
  const notes: string[] = [];
  const accessKeyId = raw.accessKeyId.trim();
  const secretAccessKey = raw.secretAccessKey.trim();
  if (accessKeyId !== raw.accessKeyId) notes.push('removed whitespace around the access key id');
  if (secretAccessKey !== raw.secretAccessKey) notes.push('removed whitespace around the secret access key');
  return {
    pair: {
      accessKeyId: validateAccessKeyId(accessKeyId, sources.accessKeyId),
      secretAccessKey: validateSecretAccessKey(secretAccessKey, sources.secretAccessKey),
    },
    notes,
  };
}

/** Masks a key id for human output: first 4 and last 4 characters (AKIA************MPLE). */
export function maskAccessKeyId(id: string): string {
  if (id.length <= 8) return '*'.repeat(id.length);
  return `${id.slice(0, 4)}${'*'.repeat(id.length - 8)}${id.slice(-4)}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The AWS account id encoded in an AKIA/ASIA key id, or undefined when it is not decodable.
 * Keys issued since about 2019 carry it: base32-decode the 16 characters after the prefix,
 * take the first 6 bytes big-endian, mask 0x7fffffffff80 and shift right by 7 (research by
 * Tal Be'ery, "A short note on AWS KEY ID", 2023). Older keys (like AWS's documented
 * AKIAIOSFODNN7EXAMPLE) have the top bit clear and carry no account id.
 */
export function accountIdFromAccessKeyId(id: string): string | undefined {
  if (!KEY_ID.test(id)) return undefined;
  let bits = 0n;
  // 10 characters are 50 bits: enough for the first 6 bytes (48 bits).
  for (const c of id.slice(4, 14)) bits = (bits << 5n) | BigInt(BASE32.indexOf(c));
  const first6 = bits >> 2n;
  if ((first6 & 0x800000000000n) === 0n) return undefined;
  const account = (first6 & 0x7fffffffff80n) >> 7n;
  if (account > 999_999_999_999n) return undefined;
  return account.toString().padStart(12, '0');
}

const REGION =
  /^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$/;

/**
 * Checks an AWS region name (us-east-1, eu-central-2, us-gov-west-1, cn-north-1...).
 * `source` names where the value came from (--region, AWS_REGION).
 */
export function validateRegion(name: string, source = '--region'): string {
  if (REGION.test(name)) return name;
  const shown = name.length <= 40 ? JSON.stringify(name) : 'the value';
  const hint = 'Give a region name such as us-east-1, eu-central-1 or ap-southeast-2.';
  if (name.trim() === '') throw new UsageError(`${source}: the region is empty`, { hint });
  if (REGION.test(name.trim()))
    throw new UsageError(`${source}: ${shown} has whitespace around it`, { hint: `Did you mean ${name.trim()}?` });
  if (REGION.test(name.toLowerCase()))
    throw new UsageError(`${source}: region names are lower-case`, { hint: `Did you mean ${name.toLowerCase()}?` });
  if (/^[a-z]/.test(name) && REGION.test(name.slice(0, -1)) && /[a-z]$/.test(name)) {
    throw new UsageError(`${source}: ${shown} is an availability zone, not a region`, {
      hint: `Did you mean ${name.slice(0, -1)}?`,
    });
  }
  throw new UsageError(`${source}: ${shown} is not an AWS region name`, { hint });
}

/**
 * The IAM user name in an ARN such as arn:aws:iam::123456789012:user/path/name, or
 * undefined for the root user, assumed roles and anything else.
 */
export function userNameFromArn(arn: string): string | undefined {
  const match = /^arn:aws[a-z-]*:iam::\d{12}:user\/(.+)$/.exec(arn);
  if (!match) return undefined;
  const name = match[1]!.split('/').pop();
  return name ? name : undefined;
}

/** True when an ARN names an account's root user. */
export function isRootArn(arn: string): boolean {
  return /^arn:aws[a-z-]*:iam::\d{12}:root$/.test(arn);
}

function looksLikeSecret(value: string): boolean {
  return value.length === SECRET_ACCESS_KEY_LENGTH && SECRET_CHARS.test(value) && !KEY_ID.test(value);
}

/** Names a character without quoting it when it may belong to something secret. */
function describeChar(c: string, quotable: boolean): string {
  const names: Record<string, string> = {
    '-': 'a hyphen',
    _: 'an underscore',
    '=': 'an equals sign',
    '.': 'a full stop',
    ',': 'a comma',
    ':': 'a colon',
    ';': 'a semicolon',
    '\\': 'a backslash',
    '!': 'an exclamation mark',
    '@': 'an at sign',
    '#': 'a hash sign',
    $: 'a dollar sign',
    '%': 'a percent sign',
    '&': 'an ampersand',
    '*': 'an asterisk',
    '(': 'a parenthesis',
    ')': 'a parenthesis',
    '<': 'an angle bracket',
    '>': 'an angle bracket',
    '?': 'a question mark',
    '|': 'a vertical bar',
    '~': 'a tilde',
    '^': 'a caret',
    '[': 'a bracket',
    ']': 'a bracket',
    '{': 'a brace',
    '}': 'a brace',
    '/': 'a slash',
    '+': 'a plus sign',
  };
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  if (names[c]) return `${names[c]} (${code})`;
  if (/[a-z]/.test(c)) return quotable ? `the lower-case letter ${c}` : 'a lower-case letter';
  if (/[0-9]/.test(c)) return quotable ? `the digit ${c}` : 'a digit';
  if (/\p{Cc}|\p{Cf}/u.test(c)) return `an invisible control character (${code})`;
  return `a non-ASCII or special character (${code})`;
}
