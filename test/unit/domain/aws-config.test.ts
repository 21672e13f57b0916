import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  commandLineWord,
  credentialProcessLine,
  defaultProfileName,
  isOurCredentialProcess,
  parseAwsIni,
  profileSections,
  upsertProfileBlock,
  validateProfileName,
} from '../../../src/domain/aws-config.js';
import { UsageError } from '../../../src/errors.js';

const ours = [
  ['credential_process', '/opt/datablast-aws/bin/datablast-aws.js credential-process "AWS Production"'],
  ['region', 'eu-west-1'],
] as const;
const BLOCK =
  '[profile p]\ncredential_process = /opt/datablast-aws/bin/datablast-aws.js credential-process "AWS Production"\nregion = eu-west-1\n';

const SAMPLE = `# my AWS config
[default]
region = us-east-1
output = json

[profile admin]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Admin
s3 =
  max_concurrent_requests = 20

# corp SSO
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
`;

describe('parseAwsIni', () => {
  it('reads sections of every kind with their keys, as the AWS SDK for JavaScript reads values', () => {
    const parsed = parseAwsIni(
      '[default]\nregion = us-east-1 # home\n[profile "q"]\nrole_arn=arn:aws:iam::1:role/r\n[sso-session s]\n[services x]\n[weird]\n',
    );
    expect(parsed.sections.map((s) => [s.kind, s.name])).toEqual([
      ['default', 'default'],
      ['profile', 'q'],
      ['sso-session', 's'],
      ['services', 'x'],
      ['other', 'weird'],
    ]);
    expect(parsed.sections[0]!.entries.get('region')).toBe('us-east-1');
    expect(parsed.sections[1]!.entries.get('role_arn')).toBe('arn:aws:iam::1:role/r');
  });

  it('ends a section at its last key: the comment and blank line before the next header belong to what follows', () => {
    const parsed = parseAwsIni(SAMPLE);
    const admin = profileSections(parsed, 'admin')[0]!;
    expect(parsed.lines.slice(admin.start, admin.contentEnd).join('')).toBe(
      '[profile admin]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\ns3 =\n  max_concurrent_requests = 20\n',
    );
    expect(admin.entries.has('max_concurrent_requests')).toBe(false);
  });

  it('reads every [x] of the credentials file as profile x', () => {
    const parsed = parseAwsIni('[p]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n', 'credentials');
    expect(profileSections(parsed, 'p')).toHaveLength(1);
  });

  it('finds the default profile under [default] and [profile default]', () => {
    expect(profileSections(parseAwsIni('[default]\n'), 'default')).toHaveLength(1);
    expect(profileSections(parseAwsIni('[profile default]\n'), 'default')).toHaveLength(1);
  });
});

describe('upsertProfileBlock', () => {
  it('writes the block alone into an empty file', () => {
    expect(upsertProfileBlock('', 'p', ours)).toBe(BLOCK);
  });

  it('appends after a blank line and keeps every byte before it', () => {
    expect(upsertProfileBlock(SAMPLE, 'p', ours)).toBe(`${SAMPLE}\n${BLOCK}`);
  });

  it('adds the missing final newline of a file before appending', () => {
    expect(upsertProfileBlock('[default]\nregion = us-east-1', 'p', ours)).toBe(
      `[default]\nregion = us-east-1\n\n${BLOCK}`,
    );
  });

  it('does not add a second blank line after one that is there', () => {
    expect(upsertProfileBlock('[default]\n\n', 'p', ours)).toBe(`[default]\n\n${BLOCK}`);
  });

  it('replaces its own block in place, keeping the comment that introduces the next section', () => {
    const before =
      '[profile p]\ncredential_process = old\nregion = us-east-1\n\n# corp SSO\n[sso-session corp]\nsso_region = eu-west-1\n';
    expect(upsertProfileBlock(before, 'p', ours)).toBe(
      `${BLOCK}\n# corp SSO\n[sso-session corp]\nsso_region = eu-west-1\n`,
    );
  });

  it("keeps the file's CRLF line endings, in the new block too", () => {
    const crlf = '[default]\r\nregion = us-east-1\r\n';
    expect(upsertProfileBlock(crlf, 'p', ours)).toBe(`${crlf}\r\n${BLOCK.replace(/\n/g, '\r\n')}`);
  });

  it('reads a lone CR as a line break, as the AWS CLI does: its own block in such a file is replaced, not written twice', () => {
    // Found by the property test in parsers-properties.test.ts (seed 59928593).
    const oldMac = '[profile "p"]\r# c\r';
    expect(profileSections(parseAwsIni(oldMac), 'p')).toHaveLength(1);
    const written = upsertProfileBlock(oldMac, 'p', ours);
    expect(profileSections(parseAwsIni(written), 'p')).toHaveLength(1);
    expect(written).toBe(`${BLOCK}# c\r`);
    const appended = upsertProfileBlock('[default]\rregion = us-east-1\r', 'p', ours);
    expect(appended).toBe(`[default]\rregion = us-east-1\r\n${BLOCK}`);
    expect(parseAwsIni(appended).sections.map((section) => section.name)).toEqual(['default', 'p']);
  });

  it('writes the default profile as [default]', () => {
    expect(upsertProfileBlock('', 'default', ours)).toMatch(/^\[default\]\n/);
  });

  it('refuses a profile defined twice, which AWS tools merge', () => {
    expect(() => upsertProfileBlock('[profile p]\nregion = a\n[profile p]\nregion = b\n', 'p', ours)).toThrow(
      UsageError,
    );
  });

  it('is idempotent and leaves every other section as it was, for any file of sections and comments', () => {
    const line = fc.oneof(
      fc.constantFrom(
        '',
        '# comment',
        '; comment',
        'output = json',
        'region = us-east-1',
        '  nested = 1',
        'sso_start_url = https://x',
      ),
      fc.stringMatching(/^[a-z_]{1,8} = [a-z0-9 #;]{0,12}$/),
    );
    const header = fc.constantFrom('[default]', '[profile admin]', '[profile q]', '[sso-session corp]', '[services s]');
    const section = fc.tuple(header, fc.array(line, { maxLength: 4 })).map(([h, ls]) => [h, ...ls].join('\n'));
    const file = fc.tuple(
      fc.array(line, { maxLength: 2 }),
      fc.uniqueArray(section, { maxLength: 4, selector: (s) => s.split('\n')[0] }),
      fc.constantFrom('\n', '\r\n'),
      fc.boolean(),
    );
    fc.assert(
      fc.property(file, ([preamble, sections, eol, finalNewline]) => {
        const text = [...preamble, ...sections].join('\n').replace(/\n/g, eol) + (finalNewline ? eol : '');
        const once = upsertProfileBlock(text, 'p', ours);
        expect(upsertProfileBlock(once, 'p', ours)).toBe(once);
        const parsed = parseAwsIni(once);
        const mine = profileSections(parsed, 'p');
        expect(mine).toHaveLength(1);
        expect(Object.fromEntries(mine[0]!.entries)).toEqual(Object.fromEntries(ours));
        // Everything that is not our block is the original, byte for byte.
        const rest = [...parsed.lines.slice(0, mine[0]!.start), ...parsed.lines.slice(mine[0]!.contentEnd)].join('');
        expect(rest.startsWith(text)).toBe(true);
        expect(rest.slice(text.length)).toMatch(/^(\r?\n){0,2}$/);
      }),
      { numRuns: 300 },
    );
  });
});

describe('profile names', () => {
  it.each([
    ['AWS Production', 'datablast-aws-production'],
    ['prod', 'datablast-prod'],
    ['Datablast Prod', 'datablast-prod'],
    ['Ünïcödé  test!', 'datablast-unicode-test'],
  ])('exports %j as %s by default', (name, profile) => {
    expect(defaultProfileName(name)).toBe(profile);
  });

  it('gives a name without ASCII letters a stable profile of its own', () => {
    expect(defaultProfileName('生产')).toMatch(/^datablast-[0-9a-f]{8}$/);
    expect(defaultProfileName('生产')).toBe(defaultProfileName('生产'));
    expect(defaultProfileName('生产')).not.toBe(defaultProfileName('测试'));
  });

  it('accepts the characters every AWS SDK reads in a profile name', () => {
    expect(validateProfileName('datablast-prod_2@team+x.y%z:a/b')).toBe('datablast-prod_2@team+x.y%z:a/b');
  });

  it.each(['has space', '', 'semi;colon', '__proto__', 'x'.repeat(129)])('refuses %j with exit 2', (name) => {
    expect(() => validateProfileName(name)).toThrow(UsageError);
  });
});

describe('section headers as botocore reads them', () => {
  it('takes [ … the last ] of a line as the header, ignoring trailing text, as Python configparser does', () => {
    const parsed = parseAwsIni('[profile x] (old)\na = 1\n[profile y]] z\nb = 2\n');
    expect(parsed.sections.map((s) => s.name)).toEqual(['x', 'y]']);
    expect(profileSections(parsed, 'x')[0]!.entries.get('a')).toBe('1');
  });
});

describe('credential_process command lines', () => {
  it('leaves plain words bare and double-quotes the rest', () => {
    expect(credentialProcessLine(['/usr/lib/node_modules/datablast-aws/bin/datablast-aws.js'], 'prod')).toBe(
      '/usr/lib/node_modules/datablast-aws/bin/datablast-aws.js credential-process prod',
    );
    expect(credentialProcessLine(['/home/me/My Tools/bin/datablast-aws.js'], 'AWS Production')).toBe(
      '"/home/me/My Tools/bin/datablast-aws.js" credential-process "AWS Production"',
    );
  });

  it('starts with /usr/bin/env and quoted NAME=value words when variables are carried', () => {
    expect(credentialProcessLine(['/opt/d.js'], 'prod', 'posix', [['DATABLAST_AWS_CONFIG_DIR', '/a b/$x']])).toBe(
      '/usr/bin/env "DATABLAST_AWS_CONFIG_DIR=/a b/"\\$"x" /opt/d.js credential-process prod',
    );
    expect(() => credentialProcessLine(['node', 'd.js'], 'prod', 'win32', [['A', 'b']])).toThrow(/Windows/);
  });

  it('ends the options with -- before a name that starts with a dash, and only then', () => {
    expect(credentialProcessLine(['/opt/datablast-aws.js'], '-x')).toBe(
      '/opt/datablast-aws.js credential-process -- -x',
    );
    expect(credentialProcessLine(['/opt/datablast-aws.js'], 'a-x')).toBe(
      '/opt/datablast-aws.js credential-process a-x',
    );
  });

  it.each([
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['cost $5', '"cost "\\$"5"'],
    ['$HOME', '\\$"HOME"'],
    ['tick`x`', '"tick"\\`"x"\\`'],
    ['team #1', '"team "\\#"1"'],
    ['a #', '"a "\\#'],
    ['a#b c;d', '"a#b c;d"'],
    ['a ;b', '"a "\\;"b"'],
  ])('writes %j as %s (POSIX)', (name, word) => {
    expect(commandLineWord(name)).toBe(word);
  });

  it.each([
    ['AWS Production', '"AWS Production"'],
    ['team #1', '"team "#"1"'],
    ['ends\\', '"ends\\\\"'],
    ['C:\\Program Files\\nodejs\\node.exe', '"C:\\Program Files\\nodejs\\node.exe"'],
  ])('writes %j as %s (Windows)', (name, word) => {
    expect(commandLineWord(name, 'win32')).toBe(word);
  });

  it.each(['100%', 'say "hi"'])('refuses %j on Windows, where cmd.exe cannot be told', (name) => {
    expect(() => commandLineWord(name, 'win32')).toThrow(UsageError);
  });

  it('recognises its own line, whatever the path', () => {
    expect(isOurCredentialProcess('"/a b/bin/datablast-aws.js" credential-process "x"')).toBe(true);
    expect(isOurCredentialProcess('datablast-aws credential-process prod')).toBe(true);
    expect(isOurCredentialProcess('aws-vault exec prod --json')).toBe(false);
    expect(isOurCredentialProcess(undefined)).toBe(false);
  });
});
