import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_KEY, hashTree, looksLikeCrash, mapLimit, runIn, scratchDir, sweepEnv } from '../support/sweep.js';

/**
 * The bad-input sweep (issue 7): malformed invocations of every command against the built binary, a real
 * config dir and the real encrypted file store holding a seeded connection. Each must end with the
 * documented exit code, a message naming the field, no stack trace, and every file of the config dir
 * byte-for-byte as it was. AWS points at a closed port: input that reaches AWS fails the sweep with exit 5.
 */

const ID = EXAMPLE_KEY.accessKeyId;
const SECRET = EXAMPLE_KEY.secretAccessKey;
const LONG = 'x'.repeat(10_240);
const LONG_ID = `AKIA${'A'.repeat(10_236)}`;

interface Case {
  /** Why this input is wrong, for the failure message. */
  what: string;
  args: string[];
  stdin?: string;
  env?: Record<string, string | undefined>;
  /** The documented exit code. */
  code: number;
  /** What the message must name: the flag, argument, variable or file at fault. */
  names: RegExp;
}

let template: string;
let home: string;
let files: string;

/** Input files: credential CSVs and policy documents, each wrong in its own way. */
function writeInputFiles(dir: string): Record<string, string> {
  const paths: Record<string, string> = {};
  const put = (name: string, data: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, data);
    paths[name] = path;
  };
  const header = 'Access key ID,Secret access key';
  put('empty.csv', '');
  put('blank-lines.csv', '\n\r\n\n');
  put('binary.csv', Buffer.from([0x00, 0x13, 0xff, 0xfe, 0x80, 0x00, 0x41]));
  put('zip.csv', Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(40, 7)]));
  put(
    'latin1.csv',
    Buffer.concat([Buffer.from(`${header}\n`), Buffer.from([0x41, 0x4b, 0xe9, 0xe8]), Buffer.from(`,${SECRET}\n`)]),
  );
  put(
    'utf16.csv',
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${header}\r\n${ID},${SECRET}\r\n`, 'utf16le')]),
  );
  put(
    'utf16be.csv',
    Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`${header}\r\n${ID},${SECRET}\r\n`, 'utf16le').swap16()]),
  );
  put('utf16-no-bom.csv', Buffer.from(`${header}\r\n${ID},${SECRET}\r\n`, 'utf16le'));
  put('header-only.csv', `${header}\n`);
  put('missing-secret-column.csv', `Access key ID\n${ID}\n`);
  put('missing-both-columns.csv', `User name,Password\nalice,hunter2\n`);
  put('no-header.csv', `${ID},${SECRET}\n`);
  put('extra-columns-shifted.csv', `${header}\nalice,${ID},${SECRET}\n`);
  put('short-row.csv', `User name,Password,Access key ID,Secret access key,Console login link\nalice,pw\n`);
  put(
    'several-rows.csv',
    `${header}\n${ID},${SECRET}\nAKIAI44QHXDHBEXAMPLE,je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n`,
  );
  put('unclosed-quote.csv', `${header}\n"${ID},${SECRET}\n`);
  put('quote-inside.csv', `${header}\nAK"IA,${SECRET}\n`);
  put('empty-fields.csv', `${header}\n,\n`);
  put('lowercase-id.csv', `${header}\n${ID.toLowerCase()},${SECRET}\n`);
  put('short-secret.csv', `${header}\n${ID},${SECRET.slice(0, 30)}\n`);
  put('control-char.csv', `${header}\n${ID},${SECRET.slice(0, 20)}\u0007${SECRET.slice(21)}\n`);
  put('huge.csv', `${header}\n${ID},${SECRET}\n${'#'.repeat(100_000)}\n`);
  mkdirSync(join(dir, 'a-directory.csv'));
  paths['a-directory.csv'] = join(dir, 'a-directory.csv');
  put('policy-not-json.json', '{"Version": "2012-10-17", Statement: [}');
  put('policy-empty.json', '');
  put('policy-array.json', '[{"Effect":"Allow"}]');
  put('policy-string.json', '"s3:*"');
  put(
    'policy-no-version.json',
    JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }),
  );
  put(
    'policy-bad-version.json',
    JSON.stringify({ Version: '2024-01-01', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }),
  );
  put(
    'policy-bad-effect.json',
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 's3:GetObject', Resource: '*' }] }),
  );
  put(
    'policy-no-action.json',
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Resource: '*' }] }),
  );
  put('policy-no-statement.json', JSON.stringify({ Version: '2012-10-17', Statement: [] }));
  put('policy-binary.json', Buffer.from([0x00, 0xff, 0x10, 0x80]));
  put(
    'policy-utf16.json',
    Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(JSON.stringify({ Version: '2012-10-17', Statement: [] }), 'utf16le'),
    ]),
  );
  return paths;
}

function cases(f: Record<string, string>): Case[] {
  const csv = (name: string, names: RegExp, code = 2): Case => ({
    what: `CSV ${name}`,
    args: ['add-connection', 'from-csv', '--from-csv', f[name]!, '--no-test'],
    code,
    names,
  });
  const policy = (name: string, names: RegExp): Case => ({
    what: `policy file ${name}`,
    args: ['attach-policy', 'datablast-integration', '--policy-file', f[name]!, '--policy-name', 'extra'],
    code: 2,
    names,
  });
  const key = (what: string, id: string, secret: string, names: RegExp): Case => ({
    what,
    args: ['add-connection', 'new', '--access-key-id', id, '--secret-stdin', '--no-test'],
    stdin: secret,
    code: 2,
    names,
  });
  const name = (what: string, value: string, names = /connection name/): Case => ({
    what,
    args: ['add-connection', value, '--access-key-id', ID, '--secret-stdin', '--no-test'],
    stdin: SECRET,
    code: 2,
    names,
  });
  const region = (what: string, value: string): Case => ({
    what,
    args: ['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test', '--region', value],
    stdin: SECRET,
    code: 2,
    names: /--region/,
  });
  const olderThan = (value: string): Case => ({
    what: `--older-than ${JSON.stringify(value)}`,
    args: ['rotate', '--all', '--older-than', value],
    code: 2,
    names: /--older-than/,
  });
  return [
    // Global options and the command line itself.
    { what: 'an unknown option', args: ['list', '--bogus'], code: 2, names: /--bogus/ },
    {
      what: 'an unknown global option before the command',
      args: ['--frobnicate', 'list'],
      code: 2,
      names: /--frobnicate/,
    },
    { what: 'an unknown command', args: ['frobnicate'], code: 2, names: /frobnicate/ },
    { what: 'a misspelt command', args: ['lst'], code: 2, names: /lst/ },
    { what: 'an extra argument', args: ['list', 'extra'], code: 2, names: /too many arguments|extra/ },
    { what: '--region without its value', args: ['list', '--region'], code: 2, names: /--region/ },
    { what: '--profile without its value', args: ['create-user', 'u', '--profile'], code: 2, names: /--profile/ },
    {
      what: '--endpoint-url that is not a URL',
      args: ['--endpoint-url', 'not a url', 'list'],
      code: 2,
      names: /--endpoint-url/,
    },
    {
      what: '--endpoint-url with another scheme',
      args: ['--endpoint-url', 'ftp://127.0.0.1', 'test', 'prod'],
      code: 2,
      names: /--endpoint-url/,
    },
    {
      what: 'AWS_ENDPOINT_URL that is not a URL',
      args: ['list'],
      env: { AWS_ENDPOINT_URL: 'localhost:5000' },
      code: 2,
      names: /--endpoint-url|AWS_ENDPOINT_URL/,
    },
    {
      what: 'an unknown secret store',
      args: ['credential-process', 'prod'],
      env: { DATABLAST_AWS_SECRET_STORE: 'vault' },
      code: 2,
      names: /DATABLAST_AWS_SECRET_STORE/,
    },
    {
      what: 'a wrong passphrase',
      args: ['credential-process', 'prod'],
      env: { DATABLAST_AWS_PASSPHRASE: 'not the passphrase' },
      code: 6,
      names: /secrets\.enc/,
    },
    {
      what: 'no passphrase for the file store',
      args: ['credential-process', 'prod'],
      env: { DATABLAST_AWS_PASSPHRASE: undefined },
      code: 6,
      names: /DATABLAST_AWS_PASSPHRASE/,
    },

    // add-connection: names.
    { what: 'add-connection without a name', args: ['add-connection'], code: 2, names: /name/ },
    name('an empty name', ''),
    name('a 65-character name', 'n'.repeat(65)),
    name('a 10 kB name', LONG),
    name('a name with a newline', 'prod\nstaging'),
    name('a name with a tab', 'prod\tstaging'),
    name('a name with a terminal escape', 'prod\u001b[31m'),
    name('a name with a bell', 'prod\u0007'),
    name('a name with a line separator', 'prod\u2028x'),
    name('a name with a C1 control', 'prod\u0085'),
    name('a name with a leading space', ' prod'),
    name('a name with a trailing space', 'prod '),
    {
      what: 'an existing name without --force',
      args: ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'],
      stdin: SECRET,
      code: 3,
      names: /"prod" exists/,
    },
    {
      what: 'a name with quotes and slashes, no key under --no-input',
      args: ['add-connection', `../"quoted"/'x'`, '--no-input'],
      code: 2,
      names: /--access-key-id/,
    },

    // add-connection: where the key comes from.
    {
      what: 'no key at all under --no-input',
      args: ['add-connection', 'new', '--no-input'],
      code: 2,
      names: /--access-key-id/,
    },
    {
      what: 'a key id but no secret under --no-input',
      args: ['add-connection', 'new', '--access-key-id', ID, '--no-input'],
      code: 2,
      names: /--secret-stdin|AWS_SECRET_ACCESS_KEY/,
    },
    {
      what: '--access-key-id without its value',
      args: ['add-connection', 'new', '--access-key-id'],
      code: 2,
      names: /--access-key-id/,
    },
    {
      what: '--secret-stdin without --access-key-id',
      args: ['add-connection', 'new', '--secret-stdin'],
      stdin: SECRET,
      code: 2,
      names: /--access-key-id/,
    },
    {
      what: 'a secret on the command line',
      args: ['add-connection', 'new', '--access-key-id', ID, '--secret-access-key', SECRET],
      code: 2,
      names: /--secret-access-key/,
    },
    {
      what: 'a secret as --secret',
      args: ['add-connection', 'new', '--access-key-id', ID, '--secret', SECRET],
      code: 2,
      names: /--secret/,
    },
    {
      what: 'two key sources',
      args: ['add-connection', 'new', '--from-env', '--from-csv', f['no-header.csv']!],
      code: 2,
      names: /--from-env and --from-csv/,
    },
    {
      what: '--from-env without the variables',
      args: ['add-connection', 'new', '--from-env', '--no-test'],
      code: 2,
      names: /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    },
    {
      what: '--from-env without the secret',
      args: ['add-connection', 'new', '--from-env', '--no-test'],
      env: { AWS_ACCESS_KEY_ID: ID },
      code: 2,
      names: /AWS_SECRET_ACCESS_KEY/,
    },
    {
      what: '--from-env with a session token',
      args: ['add-connection', 'new', '--from-env', '--no-test'],
      env: { AWS_ACCESS_KEY_ID: ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: 'token' },
      code: 2,
      names: /AWS_SESSION_TOKEN/,
    },
    {
      what: '--from-env with a malformed key id',
      args: ['add-connection', 'new', '--from-env', '--no-test'],
      env: { AWS_ACCESS_KEY_ID: 'AKIA-not-a-key', AWS_SECRET_ACCESS_KEY: SECRET },
      code: 2,
      names: /AWS_ACCESS_KEY_ID/,
    },
    {
      what: '--from-env with a malformed secret',
      args: ['add-connection', 'new', '--from-env', '--no-test'],
      env: { AWS_ACCESS_KEY_ID: ID, AWS_SECRET_ACCESS_KEY: 'short' },
      code: 2,
      names: /AWS_SECRET_ACCESS_KEY/,
    },
    {
      what: 'AWS_SECRET_ACCESS_KEY that is malformed',
      args: ['add-connection', 'new', '--access-key-id', ID, '--no-test'],
      env: { AWS_SECRET_ACCESS_KEY: `${SECRET} x` },
      code: 2,
      names: /AWS_SECRET_ACCESS_KEY/,
    },

    // add-connection: malformed key ids and secrets.
    key('an empty stdin', ID, '', /--secret-stdin/),
    key('stdin of blank lines', ID, '\n\n', /--secret-stdin/),
    key('an empty key id', '', SECRET, /--access-key-id/),
    key('a lower-case key id', ID.toLowerCase(), SECRET, /--access-key-id/),
    key('a key id with the digit 0', 'AKIAI0SFODNN7EXAMPLE', SECRET, /--access-key-id/),
    key('a key id one character short', ID.slice(0, -1), SECRET, /--access-key-id/),
    key('a 10 kB key id', LONG_ID, SECRET, /--access-key-id/),
    key('a key id with a Cyrillic letter', 'AKIAIOSFODNN7EXAMPLЕ', SECRET, /--access-key-id/),
    key(
      'a key id with a control character',
      'AKIAIOSFODNN7EXAMP\u0000E'.replace('\u0000', '\u0001'),
      SECRET,
      /--access-key-id/,
    ),
    key('a key id with a zero-width space', 'AKIAIOSFODNN7\u200bEXAMPLE', SECRET, /--access-key-id/),
    key('a key id in quotes', `"${ID}"`, SECRET, /--access-key-id/),
    key('a user id instead of a key id', 'AIDAJQABLZS4A3QDU576Q', SECRET, /--access-key-id/),
    key('the secret in the key id field', SECRET, SECRET, /--access-key-id/),
    key('a temporary ASIA key', 'ASIAIOSFODNN7EXAMPLE', SECRET, /ASIA|temporary/),
    key('a secret one character short', ID, SECRET.slice(0, -1), /secret access key/),
    key('a 10 kB secret', ID, 'a'.repeat(10_240), /secret access key/),
    key('a secret with an inner space', ID, `${SECRET.slice(0, 20)} ${SECRET.slice(21)}`, /secret access key/),
    key('a secret with a non-ASCII letter', ID, `${SECRET.slice(0, -1)}é`, /secret access key/),
    key('a secret with an emoji', ID, `${SECRET.slice(0, -2)}🔑`, /secret access key/),
    key('a secret in quotes', ID, `'${SECRET.slice(1, -1)}'`, /secret access key/),
    key('a secret with a NUL byte', ID, `${SECRET.slice(0, -1)}\u0000`, /secret access key/),
    key('a key id where the secret belongs', ID, ID, /secret access key/),

    // add-connection: regions and descriptions.
    region('a region that does not exist', 'mars-east-1'),
    region('a region with an unknown direction', 'us-middle-1'),
    region('a region numbered 0', 'us-east-0'),
    region('an availability zone', 'us-east-1a'),
    region('an upper-case region', 'US-EAST-1'),
    region('a region without a number', 'eu-west'),
    region('a 10 kB region', LONG),
    region('an empty region', ''),
    {
      what: 'AWS_REGION that is not a region',
      args: ['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test'],
      stdin: SECRET,
      env: { AWS_REGION: 'Frankfurt' },
      code: 2,
      names: /AWS_REGION/,
    },
    {
      what: 'a description with a terminal escape',
      args: [
        'add-connection',
        'new',
        '--access-key-id',
        ID,
        '--secret-stdin',
        '--no-test',
        '--description',
        'x\u001b]0;pwned\u0007',
      ],
      stdin: SECRET,
      code: 2,
      names: /--description/,
    },
    {
      what: 'a 10 kB description',
      args: ['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test', '--description', LONG],
      stdin: SECRET,
      code: 2,
      names: /--description/,
    },

    // add-connection --from-csv: every way a credentials file can be wrong.
    {
      what: 'a CSV that does not exist',
      args: ['add-connection', 'new', '--from-csv', join(files, 'nope.csv'), '--no-test'],
      code: 2,
      names: /--from-csv .*nope\.csv/,
    },
    {
      what: '--from-csv without its value',
      args: ['add-connection', 'new', '--from-csv'],
      code: 2,
      names: /--from-csv/,
    },
    csv('empty.csv', /--from-csv .*empty\.csv.*empty/),
    csv('blank-lines.csv', /--from-csv .*blank-lines\.csv/),
    csv('binary.csv', /--from-csv .*binary\.csv/),
    csv('zip.csv', /--from-csv .*zip\.csv/),
    csv('latin1.csv', /--from-csv .*latin1\.csv.*UTF-8/),
    csv('utf16.csv', /--from-csv .*utf16\.csv.*UTF-16/),
    csv('utf16be.csv', /--from-csv .*utf16be\.csv.*UTF-16/),
    csv('utf16-no-bom.csv', /--from-csv .*utf16-no-bom\.csv/),
    csv('header-only.csv', /--from-csv .*header-only\.csv/),
    csv('missing-secret-column.csv', /--from-csv .*"Secret access key"/),
    csv('missing-both-columns.csv', /--from-csv .*"Access key ID"/),
    csv('no-header.csv', /--from-csv .*column names/),
    csv('extra-columns-shifted.csv', /--from-csv .*extra-columns-shifted\.csv.*Access key ID/),
    csv('short-row.csv', /--from-csv .*short-row\.csv.*fields/),
    csv('several-rows.csv', /--from-csv .*2 keys/),
    csv('unclosed-quote.csv', /--from-csv .*never closed/),
    csv('quote-inside.csv', /--from-csv .*quote/),
    csv('empty-fields.csv', /--from-csv .*empty/),
    csv('lowercase-id.csv', /--from-csv .*lowercase-id\.csv.*Access key ID/),
    csv('short-secret.csv', /--from-csv .*short-secret\.csv.*Secret access key/),
    csv('control-char.csv', /--from-csv .*control-char\.csv.*Secret access key/),
    csv('huge.csv', /--from-csv .*huge\.csv.*more than 64 KiB/),
    csv('a-directory.csv', /--from-csv .*a-directory\.csv.*directory/),

    // test.
    { what: 'test an unknown service', args: ['test', 'prod', '--service', 'ftp'], code: 2, names: /--service/ },
    { what: 'test a NAME and --all', args: ['test', 'prod', '--all'], code: 2, names: /--all/ },
    { what: 'test without NAME under --no-input', args: ['test', '--no-input'], code: 2, names: /NAME|--all/ },
    { what: 'test a connection that does not exist', args: ['test', 'staging'], code: 3, names: /"staging"/ },
    { what: 'test a name with a newline', args: ['test', 'prod\n'], code: 2, names: /connection name/ },

    // rotate.
    { what: 'rotate without NAME', args: ['rotate'], code: 2, names: /NAME|--all/ },
    { what: 'rotate a NAME and --all', args: ['rotate', 'prod', '--all'], code: 2, names: /--all/ },
    olderThan('-5'),
    olderThan('-1'),
    olderThan('abc'),
    olderThan('1.5'),
    olderThan('1e3'),
    olderThan('９０'),
    olderThan('9999999'),
    olderThan(''),
    olderThan('90 days'),
    {
      what: '--older-than without its value',
      args: ['rotate', '--all', '--older-than'],
      code: 2,
      names: /--older-than/,
    },
    { what: '--concurrency 0', args: ['rotate', '--all', '--concurrency', '0'], code: 2, names: /--concurrency/ },
    {
      what: '--concurrency without --all',
      args: ['rotate', 'prod', '--concurrency', '2'],
      code: 2,
      names: /--concurrency/,
    },
    { what: 'rotate a connection that does not exist', args: ['rotate', 'staging'], code: 3, names: /"staging"/ },
    {
      what: 'rotate a name with a control character',
      args: ['rotate', 'pr\u0000od'.replace('\u0000', '\u0008')],
      code: 2,
      names: /connection name/,
    },

    // list, show, remove, credential-process, env.
    { what: 'show without NAME', args: ['show'], code: 2, names: /name/ },
    { what: 'show a connection that does not exist', args: ['show', 'staging'], code: 3, names: /"staging"/ },
    { what: 'show a name with quotes', args: ['show', 'pro"d'], code: 3, names: /"pro\\"d"/ },
    { what: 'show a path-like name', args: ['show', '../../etc/passwd'], code: 3, names: /"..\/..\/etc\/passwd"/ },
    { what: 'show a name in the wrong case', args: ['show', 'PROD'], code: 3, names: /"PROD".*\n.*"prod"/ },
    { what: 'remove without NAME', args: ['remove', '--yes'], code: 2, names: /name/ },
    {
      what: 'remove a connection that does not exist',
      args: ['remove', 'staging', '--yes'],
      code: 3,
      names: /"staging"/,
    },
    { what: 'remove a 10 kB name', args: ['remove', LONG, '--yes'], code: 3, names: /no connection named/ },
    { what: 'credential-process without NAME', args: ['credential-process'], code: 2, names: /name/ },
    {
      what: 'credential-process of a connection that does not exist',
      args: ['credential-process', 'staging'],
      code: 3,
      names: /"staging"/,
    },
    { what: 'env of a connection that does not exist', args: ['env', 'staging'], code: 3, names: /"staging"/ },
    { what: 'env with a malformed --region', args: ['env', 'prod', '--region', 'moon-1'], code: 2, names: /--region/ },

    // export-profile and completion.
    { what: 'export-profile without NAME', args: ['export-profile'], code: 2, names: /name/ },
    {
      what: 'export-profile of a connection that does not exist',
      args: ['export-profile', 'staging', '--print'],
      code: 3,
      names: /"staging"/,
    },
    {
      what: 'export-profile with a profile name holding a space',
      args: ['export-profile', 'prod', '--profile-name', 'my profile', '--print'],
      code: 2,
      names: /--profile-name/,
    },
    {
      what: 'export-profile with a profile name holding a bracket',
      args: ['export-profile', 'prod', '--profile-name', 'x]\n[default', '--print'],
      code: 2,
      names: /--profile-name/,
    },
    {
      what: 'export-profile with a 10 kB profile name',
      args: ['export-profile', 'prod', '--profile-name', LONG],
      code: 2,
      names: /--profile-name/,
    },
    {
      what: 'export-profile with a malformed --region',
      args: ['export-profile', 'prod', '--region', 'EU', '--print'],
      code: 2,
      names: /--region/,
    },
    { what: 'completion for an unknown shell', args: ['completion', 'tcsh'], code: 2, names: /tcsh/ },
    { what: 'completion without a shell', args: ['completion'], code: 2, names: /shell/ },

    // create-user.
    { what: 'create-user without USER', args: ['create-user'], code: 2, names: /user/ },
    { what: 'create-user with a space in USER', args: ['create-user', 'data blast'], code: 2, names: /IAM user name/ },
    { what: 'create-user with a 10 kB USER', args: ['create-user', LONG], code: 2, names: /IAM user name/ },
    { what: 'create-user with a unicode USER', args: ['create-user', 'dätablast'], code: 2, names: /IAM user name/ },
    {
      what: 'create-user with a bad --path',
      args: ['create-user', 'u', '--path', 'integrations'],
      code: 2,
      names: /IAM path/,
    },
    {
      what: 'create-user with a tag that is not key=value',
      args: ['create-user', 'u', '--tag', 'team'],
      code: 2,
      names: /tag/,
    },
    {
      what: 'create-user with a reserved tag',
      args: ['create-user', 'u', '--tag', 'aws:team=x'],
      code: 2,
      names: /aws:/,
    },
    {
      what: 'create-user with our own tag',
      args: ['create-user', 'u', '--tag', 'managed-by=me'],
      code: 2,
      names: /managed-by/,
    },
    {
      what: 'create-user --connection without --create-key',
      args: ['create-user', 'u', '--connection', 'c'],
      code: 2,
      names: /--create-key/,
    },
    {
      what: 'create-user --create-key without --connection',
      args: ['create-user', 'u', '--create-key'],
      code: 2,
      names: /--connection/,
    },
    {
      what: 'create-user --create-key with a bad connection name',
      args: ['create-user', 'u', '--create-key', '--connection', 'a\nb'],
      code: 2,
      names: /connection name/,
    },
    {
      what: 'create-user --create-key with a bad region',
      args: ['create-user', 'u', '--create-key', '--connection', 'c', '--region', 'eu-west'],
      code: 2,
      names: /--region/,
    },
    {
      what: 'create-user --create-key with a control character in --description',
      args: ['create-user', 'u', '--create-key', '--connection', 'c', '--description', 'a\u001bb'],
      code: 2,
      names: /description/,
    },

    // attach-policy.
    {
      what: 'attach-policy an unknown service',
      args: ['attach-policy', 'u', '--service', 'ec2'],
      code: 2,
      names: /"ec2"/,
    },
    { what: 'attach-policy with nothing to attach', args: ['attach-policy', 'u'], code: 2, names: /--service/ },
    {
      what: 'attach-policy a bad user name',
      args: ['attach-policy', 'a/b', '--service', 's3'],
      code: 2,
      names: /IAM user name/,
    },
    {
      what: 'attach-policy an ARN that is not a policy',
      args: ['attach-policy', 'u', '--policy-arn', 'arn:aws:iam::123456789012:user/u'],
      code: 2,
      names: /policy ARN/,
    },
    {
      what: 'attach-policy an s3:// URL as bucket',
      args: ['attach-policy', 'u', '--bucket', 's3://exports'],
      code: 2,
      names: /bucket name/,
    },
    {
      what: 'attach-policy an upper-case bucket',
      args: ['attach-policy', 'u', '--bucket', 'Exports'],
      code: 2,
      names: /bucket name/,
    },
    {
      what: 'attach-policy a wildcard prefix',
      args: ['attach-policy', 'u', '--bucket', 'exports', '--prefix', 'daily/*'],
      code: 2,
      names: /prefix/,
    },
    {
      what: 'attach-policy --prefix without --bucket',
      args: ['attach-policy', 'u', '--prefix', 'daily/'],
      code: 2,
      names: /--bucket/,
    },
    {
      what: 'attach-policy --policy-name without --policy-file',
      args: ['attach-policy', 'u', '--policy-name', 'x'],
      code: 2,
      names: /--policy-file/,
    },
    {
      what: 'attach-policy --policy-file without --policy-name',
      args: ['attach-policy', 'u', '--policy-file', f['policy-array.json']!],
      code: 2,
      names: /--policy-name/,
    },
    {
      what: 'attach-policy a reserved policy name',
      args: [
        'attach-policy',
        'u',
        '--policy-file',
        f['policy-array.json']!,
        '--policy-name',
        'datablast-self-rotation',
      ],
      code: 2,
      names: /reserved/,
    },
    {
      what: 'attach-policy a policy file that does not exist',
      args: ['attach-policy', 'u', '--policy-file', join(files, 'nope.json'), '--policy-name', 'x'],
      code: 2,
      names: /nope\.json/,
    },
    policy('policy-not-json.json', /policy-not-json\.json.*not valid JSON/),
    policy('policy-empty.json', /policy-empty\.json/),
    policy('policy-array.json', /policy-array\.json.*not an IAM policy/),
    policy('policy-string.json', /policy-string\.json.*not an IAM policy/),
    policy('policy-no-version.json', /policy-no-version\.json.*"Version"/),
    policy('policy-bad-version.json', /policy-bad-version\.json.*"Version"/),
    policy('policy-bad-effect.json', /policy-bad-effect\.json.*"Effect"/),
    policy('policy-no-action.json', /policy-no-action\.json.*"Action"/),
    policy('policy-no-statement.json', /policy-no-statement\.json.*"Statement"/),
    policy('policy-binary.json', /policy-binary\.json/),
    policy('policy-utf16.json', /policy-utf16\.json/),

    // init.
    {
      what: 'init under --no-input without services',
      args: ['init', '--no-input', '--connection', 'c'],
      code: 2,
      names: /--service/,
    },
    {
      what: 'init under --no-input without a connection',
      args: ['init', '--no-input', '--service', 's3'],
      code: 2,
      names: /--connection/,
    },
    {
      what: 'init an unknown service',
      args: ['init', '--no-input', '--service', 'dynamodb', '--connection', 'c'],
      code: 2,
      names: /"dynamodb"/,
    },
    {
      what: 'init a bad user name',
      args: ['init', '--no-input', '--user', 'data blast', '--service', 's3', '--connection', 'c'],
      code: 2,
      names: /IAM user name/,
    },
    {
      what: 'init a bad bucket',
      args: ['init', '--no-input', '--bucket', 'my_bucket', '--connection', 'c'],
      code: 2,
      names: /bucket name/,
    },
    {
      what: 'init --prefix without --bucket',
      args: ['init', '--no-input', '--service', 's3', '--prefix', 'x/', '--connection', 'c'],
      code: 2,
      names: /--bucket/,
    },
    {
      what: 'init a bad connection name',
      args: ['init', '--no-input', '--service', 's3', '--connection', 'tab\there'],
      code: 2,
      names: /connection name/,
    },
    {
      what: 'init a bad region',
      args: ['init', '--no-input', '--service', 's3', '--connection', 'c', '--region', 'us_east_1'],
      code: 2,
      names: /--region/,
    },
  ];
}

beforeAll(async () => {
  home = scratchDir('dbaws-sweep-home-');
  files = scratchDir('dbaws-sweep-files-');
  template = scratchDir('dbaws-sweep-config-');
  const env = sweepEnv(template, home);
  const seeded = await runIn(
    env,
    ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test', '--description', 'seeded'],
    { stdin: SECRET },
  );
  expect(seeded.exitCode, seeded.stderr).toBe(0);
  const second = await runIn(
    env,
    ['add-connection', 'AWS Production', '--access-key-id', 'AKIAI44QHXDHBEXAMPLE', '--secret-stdin', '--no-test'],
    { stdin: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' },
  );
  expect(second.exitCode, second.stderr).toBe(0);
});

describe('the bad-input sweep (built binary, real config dir and encrypted file store)', () => {
  it('answers every malformed invocation with its documented exit code and a message naming the field, and changes nothing', async () => {
    const table = cases(writeInputFiles(files));
    const before = hashTree(template);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['config.json', 'secrets.enc']));
    const started = Date.now();
    const failures: string[] = [];
    await mapLimit(table, 4, async (c, i) => {
      // Each case gets its own copy of the seeded state, so a change is pinned on the case that made it.
      const dir = join(scratchDir('dbaws-sweep-case-'), 'config');
      cpSync(template, dir, { recursive: true });
      const result = await runIn(sweepEnv(dir, home), c.args, { stdin: c.stdin, env: c.env });
      const label = `#${i} ${c.what} (${c.args.map((a) => (a.length > 40 ? `${a.slice(0, 20)}…[${a.length}]` : JSON.stringify(a))).join(' ')})`;
      if (result.exitCode !== c.code)
        failures.push(`${label}: exit ${result.exitCode}, expected ${c.code}\n${result.stderr.slice(0, 600)}`);
      else if (!c.names.test(result.stderr))
        failures.push(`${label}: the message does not name the field (${c.names})\n${result.stderr.slice(0, 600)}`);
      if (looksLikeCrash(result.stderr))
        failures.push(`${label}: a stack trace or internal error\n${result.stderr.slice(0, 600)}`);
      if (result.stdout !== '') failures.push(`${label}: a failure printed on stdout: ${result.stdout.slice(0, 200)}`);
      const after = hashTree(dir);
      if (JSON.stringify(after) !== JSON.stringify(before))
        failures.push(
          `${label}: the config dir changed\nbefore ${JSON.stringify(before)}\nafter  ${JSON.stringify(after)}`,
        );
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
    expect(table.length).toBeGreaterThanOrEqual(80);
    const commands = [
      'init',
      'create-user',
      'attach-policy',
      'add-connection',
      'test',
      'rotate',
      'list',
      'show',
      'remove',
      'credential-process',
      'env',
      'export-profile',
      'completion',
    ];
    for (const command of commands)
      expect(
        table.some((c) => c.args.includes(command)),
        command,
      ).toBe(true);
    console.log(
      `bad-input sweep: ${table.length} inputs tried over ${commands.length} commands, ${Object.keys(before).length} files hashed per case, 0 changed, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 240_000);
});
