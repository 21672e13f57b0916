import { UsageError } from '../errors.js';

/**
 * The shared AWS config file, edited the way a person would: find one `[profile x]` block, replace
 * or append it, and keep every other byte (comments, blank lines, `[sso-session]` blocks, CRLF)
 * exactly as it was. Only what export-profile needs; not a general INI library.
 */

/** What a section header names (the config file's section kinds, plus `[x]` of the credentials file). */
export type SectionKind = 'default' | 'profile' | 'sso-session' | 'services' | 'other';

/** One `[...]` section of the file. */
export interface IniSection {
  kind: SectionKind;
  /** The profile, session or service name; the raw header text for `other`. */
  name: string;
  /** Index of the header line. */
  start: number;
  /** Index after the last key or continuation line: trailing blank and comment lines belong to what follows. */
  contentEnd: number;
  /** Top-level `key = value` pairs, values as the AWS SDK for JavaScript reads them (inline ` #`/` ;` comments cut). */
  entries: Map<string, string>;
}

/** A parsed file: its lines (each with its own line ending) and sections. */
export interface ParsedIni {
  lines: string[];
  sections: IniSection[];
  /** The line ending new lines get: the file's own, else `\n`. */
  eol: '\n' | '\r\n';
}

/** Keys by which a profile gets credentials some other way than our credential_process. */
export const CREDENTIAL_KEYS: readonly string[] = [
  'aws_access_key_id',
  'aws_secret_access_key',
  'aws_session_token',
  'role_arn',
  'source_profile',
  'credential_source',
  'web_identity_token_file',
  'credential_process',
  'sso_session',
  'sso_start_url',
  'sso_account_id',
  'sso_role_name',
  'sso_region',
  'login_session',
];

// Python's configparser (botocore, the AWS CLI) takes `[` … the last `]` of a line as a header and ignores
// what follows, so `[profile x] (old)` is profile x to botocore: it must be to us too, or a second block
// gets appended and botocore then refuses the whole file as a duplicate section.
const HEADER = /^\s*\[(.+)\]/;

/**
 * Parses the config file (`file: 'config'`: `[default]`, `[profile x]`, `[sso-session x]`, `[services x]`)
 * or the credentials file (`file: 'credentials'`: every `[x]` is profile x).
 */
export function parseAwsIni(text: string, file: 'config' | 'credentials' = 'config'): ParsedIni {
  // Universal newlines, as the AWS CLI (Python) reads the file: CRLF, LF, and a lone CR each end a line.
  const lines = text.match(/[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$/g) ?? [];
  const eol = /\r\n/.test(text) ? '\r\n' : '\n';
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  lines.forEach((raw, index) => {
    const line = raw.replace(/(?:\r\n|\n|\r)$/, '');
    const header = HEADER.exec(line);
    if (header) {
      current = { ...classify(header[1]!.trim(), file), start: index, contentEnd: index + 1, entries: new Map() };
      sections.push(current);
      return;
    }
    if (!current || /^\s*(?:[#;].*)?$/.test(line)) return;
    current.contentEnd = index + 1;
    // An indented line continues the key above it (e.g. `s3 =` sub-keys): content, not a key of its own.
    if (/^\s/.test(line)) return;
    const equals = line.indexOf('=');
    if (equals <= 0) return;
    const key = line.slice(0, equals).trim();
    const value = line
      .slice(equals + 1)
      .split(/(?:^|\s)[;#]/)[0]!
      .trim();
    if (!current.entries.has(key)) current.entries.set(key, value);
  });
  return { lines, sections, eol };
}

function classify(inner: string, file: 'config' | 'credentials'): Pick<IniSection, 'kind' | 'name'> {
  if (file === 'credentials') return { kind: inner === 'default' ? 'default' : 'profile', name: unquote(inner) };
  if (inner === 'default') return { kind: 'default', name: 'default' };
  const prefixed = /^(profile|sso-session|services)\s+(.+)$/.exec(inner);
  if (!prefixed) return { kind: 'other', name: inner };
  return { kind: prefixed[1] as SectionKind, name: unquote(prefixed[2]!.trim()) };
}

function unquote(text: string): string {
  const quoted = /^(["'])(.*)\1$/.exec(text);
  return quoted ? quoted[2]! : text;
}

/** Every section that defines this profile: `[profile x]`, and for "default" also `[default]`. */
export function profileSections(parsed: ParsedIni, profile: string): IniSection[] {
  return parsed.sections.filter(
    (s) => (s.kind === 'profile' && s.name === profile) || (profile === 'default' && s.kind === 'default'),
  );
}

/** The header a profile gets in the config file: `[default]` for the default profile, else `[profile x]`. */
export function profileHeader(profile: string): string {
  return profile === 'default' ? '[default]' : `[profile ${profile}]`;
}

/** A profile block: its header and `key = value` lines, each ending with `eol`. */
export function renderProfileBlock(
  profile: string,
  entries: ReadonlyArray<readonly [string, string]>,
  eol = '\n',
): string {
  return [profileHeader(profile), ...entries.map(([k, v]) => `${k} = ${v}`)].map((l) => l + eol).join('');
}

/**
 * The file with this profile's block in place: the one existing block replaced (its header through its
 * last key; comments and blank lines after it stay), or the block appended after a blank line.
 * Everything else is kept byte for byte. Throws when the profile is defined more than once.
 */
export function upsertProfileBlock(
  text: string,
  profile: string,
  entries: ReadonlyArray<readonly [string, string]>,
): string {
  const parsed = parseAwsIni(text);
  const existing = profileSections(parsed, profile);
  if (existing.length > 1) {
    throw new UsageError(
      `profile ${JSON.stringify(profile)} is defined ${existing.length} times in the AWS config file`,
      {
        hint: 'Merge its blocks by hand first: AWS tools read them as one profile.',
      },
    );
  }
  const block = renderProfileBlock(profile, entries, parsed.eol);
  const section = existing[0];
  if (section) {
    return [...parsed.lines.slice(0, section.start), block, ...parsed.lines.slice(section.contentEnd)].join('');
  }
  if (text === '') return block;
  // A blank line before our block, unless the file already ends with one.
  const ended = /[\r\n]$/.test(text) ? text : text + parsed.eol;
  const separated = /^[ \t]*(?:\r\n|\n|\r)?$/.test(parsed.lines.at(-1) ?? '') ? ended : ended + parsed.eol;
  return separated + block;
}

/** Characters a profile name may have, so that every AWS SDK reads the section (the JS SDK's own rule). */
const PROFILE_NAME = /^[A-Za-z0-9_\-@+.%:/]{1,128}$/;

/** Checks a profile name given with --profile-name. */
export function validateProfileName(name: string): string {
  if (!PROFILE_NAME.test(name) || name === '__proto__') {
    throw new UsageError(`--profile-name ${JSON.stringify(name)} is not a profile name every AWS tool reads`, {
      hint: 'Use 1–128 of letters, digits and _ - @ + . % : / (no spaces), e.g. datablast-prod.',
    });
  }
  return name;
}

/** The profile a connection is exported as by default: `datablast-` and a slug of its name ("AWS Production" → datablast-aws-production). */
export function defaultProfileName(connectionName: string): string {
  const slug = connectionName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  if (slug === '') return `datablast-${fnv1a(connectionName)}`;
  return slug === 'datablast' || slug.startsWith('datablast-') ? slug : `datablast-${slug}`;
}

/** A short stable hash, so a name with no ASCII letters still gets a distinct profile. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** Which rules a credential_process line must satisfy: POSIX (`sh -c` and the AWS CLI's shlex split) or Windows (cmd.exe and the C runtime's argv rules). */
export type CommandLineFlavour = 'posix' | 'win32';

/**
 * One argument of a credential_process line. The same line is run by `sh -c` (the JS, Go and Rust SDKs),
 * split by Python's shlex (the AWS CLI), and first read by INI parsers, some of which (the JS SDK's)
 * cut a value at a `#` or `;` that follows a space. So: double quotes, with `"` and `\` escaped (all
 * agree on those), and `$`, a backquote, and a `#`/`;` after a space taken outside the quotes with a
 * backslash (sh and shlex agree; the INI parsers no longer see a comment).
 */
export function commandLineWord(value: string, flavour: CommandLineFlavour = 'posix'): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value) && !(flavour === 'win32' && value.includes('%'))) return value;
  if (/[\r\n\0]/.test(value)) throw unrepresentable(value, 'it contains a line break');
  return flavour === 'win32' ? windowsWord(value) : posixWord(value);
}

function posixWord(value: string): string {
  let out = '"';
  const chars = [...value];
  chars.forEach((c, i) => {
    const afterSpace = i > 0 && /\s/.test(chars[i - 1]!);
    if (c === '$' || c === '`' || ((c === '#' || c === ';') && afterSpace)) out += `"\\${c}"`;
    else if (c === '"' || c === '\\') out += `\\${c}`;
    else out += c;
  });
  return `${out}"`.replace(/(?<!\\)""/g, '');
}

function windowsWord(value: string): string {
  // cmd.exe expands %VAR% even inside quotes and has no escape for it there; the C runtime has no
  // escape for a quote that cmd.exe would not also see. Such names cannot be written safely.
  if (value.includes('%')) throw unrepresentable(value, 'cmd.exe would expand the %');
  if (value.includes('"')) throw unrepresentable(value, 'it contains a double quote');
  let out = '"';
  const chars = [...value];
  chars.forEach((c, i) => {
    const afterSpace = i > 0 && /\s/.test(chars[i - 1]!);
    out += (c === '#' || c === ';') && afterSpace ? `"${c}"` : c;
  });
  // Backslashes before the closing quote are doubled, or the C runtime reads \" as a quote.
  return out.replace(/(\\+)$/, '$1$1') + '"';
}

function unrepresentable(value: string, why: string): UsageError {
  return new UsageError(`${JSON.stringify(value)} cannot be written into a credential_process line: ${why}`, {
    hint: 'Use --print and write the line by hand, or add the key again under a simpler connection name.',
  });
}

/** The program that sets variables for the command it runs: an absolute path, since credential_process runs without a shell in the AWS CLI. */
export const ENV_PROGRAM = '/usr/bin/env';

/**
 * The credential_process value: the program (already absolute paths), `credential-process`, and the quoted
 * connection name, after `--` when it starts with a dash (names made before such names were refused).
 * With `variables`, the line starts with `/usr/bin/env NAME=value…`: the AWS CLI runs the line without a
 * shell (shlex split, then exec) and the SDKs through `sh -c`, and both run `env` alike.
 */
export function credentialProcessLine(
  program: readonly string[],
  connectionName: string,
  flavour: CommandLineFlavour = 'posix',
  variables: ReadonlyArray<readonly [string, string]> = [],
): string {
  if (variables.length > 0 && flavour === 'win32') {
    throw new UsageError('a credential_process line cannot set environment variables on Windows', {
      hint: 'Set the DATABLAST_AWS_* variables in your user environment (System settings), then export the profile again from a shell without them.',
    });
  }
  return [
    ...(variables.length > 0 ? [ENV_PROGRAM, ...variables.map(([k, v]) => commandLineWord(`${k}=${v}`, flavour))] : []),
    ...program.map((p) => commandLineWord(p, flavour)),
    'credential-process',
    ...(connectionName.startsWith('-') ? ['--'] : []),
    commandLineWord(connectionName, flavour),
  ].join(' ');
}

/** True when a credential_process value runs our own `credential-process` command. */
export function isOurCredentialProcess(value: string | undefined): boolean {
  return value !== undefined && /datablast-aws(?:\.js|\.cmd)?["']?\s+credential-process\s/.test(value);
}
