import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { runBin, tempConfigDir } from '../support/cli-process.js';
import { motoUserWithKey } from '../support/moto-iam.js';

// A new user's path: add a key moto issued, export it as a profile, and let the real AWS SDK for
// JavaScript and the real AWS CLI, configured by nothing but that profile, call STS with it.

const run = promisify(execFile);
const SDK_CALLER = resolve(import.meta.dirname, 'fixtures/sdk-caller-identity.mjs');
/** A name that sh would expand, shlex would split and the JS SDK's INI parser would cut, if quoted naively. */
const NAME = 'Prod #1 "$HOME" `x`; it\'s';

let moto: Moto;
let dir: string;
let env: Record<string, string>;
/** Another shell: none of the DATABLAST_AWS_* variables the profile was exported with. */
let otherShell: Record<string, string>;
let key: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  moto = await startMoto();
  key = await motoUserWithKey(moto.url, 'datablast-reader');
  // From here on moto checks every signature: only the real secret gets an answer.
  await moto.enforceAuth();
  dir = tempConfigDir('dbaws-export-e2e-');
  env = {
    // node on PATH for the bin script's shebang, as on a user's machine; not datablast-aws itself.
    PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: dir,
    LANG: 'C.UTF-8',
    DATABLAST_AWS_CONFIG_DIR: join(dir, 'datablast'),
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE_FILE: join(dir, 'passphrase'),
    AWS_CONFIG_FILE: join(dir, 'aws', 'config'),
    // Nothing but the profile: no shared credentials file, no key in the environment, no IMDS.
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws', 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  writeFileSync(env.DATABLAST_AWS_PASSPHRASE_FILE!, 'export-profile e2e passphrase\n', { mode: 0o600 });
  otherShell = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('DATABLAST_AWS_')));
  const added = await runBin(
    [
      'add-connection',
      NAME,
      '--access-key-id',
      key.accessKeyId,
      '--secret-stdin',
      '--region',
      'eu-west-1',
      '--endpoint-url',
      moto.url,
    ],
    { env, stdin: key.secretAccessKey },
  );
  expect(added.exitCode, added.stderr).toBe(0);
  const exported = await runBin(['export-profile', NAME, '--profile-name', 'p', '--json'], { env });
  expect(exported.exitCode, exported.stderr).toBe(0);
  expect(JSON.parse(exported.stdout)).toMatchObject({
    profile: 'p',
    path: env.AWS_CONFIG_FILE,
    written: true,
    backup: null,
  });
}, 120_000);

afterAll(async () => {
  await moto?.stop();
});

describe('a profile written by export-profile', () => {
  it('names the absolute path of the built bin script, the quoted connection name, and what the store needs', () => {
    const config = readFileSync(env.AWS_CONFIG_FILE!, 'utf8');
    expect(config).toMatch(
      /^\[profile p\]\ncredential_process = \/usr\/bin\/env DATABLAST_AWS_SECRET_STORE=file DATABLAST_AWS_CONFIG_DIR=\/\S+ DATABLAST_AWS_PASSPHRASE_FILE=\/\S+ \/\S+\/bin\/datablast-aws\.js credential-process .+\nregion = eu-west-1\n$/,
    );
    expect(config).not.toContain('export-profile e2e passphrase');
  });

  it('refuses to export from a shell that opens the file store with DATABLAST_AWS_PASSPHRASE (exit 3), writing nothing', async () => {
    const config = join(dir, 'aws', 'passphrase-config');
    const result = await runBin(['export-profile', NAME, '--profile-name', 'q'], {
      env: {
        ...otherShell,
        AWS_CONFIG_FILE: config,
        DATABLAST_AWS_SECRET_STORE: 'file',
        DATABLAST_AWS_CONFIG_DIR: env.DATABLAST_AWS_CONFIG_DIR!,
        DATABLAST_AWS_PASSPHRASE: 'export-profile e2e passphrase',
      },
    });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('DATABLAST_AWS_PASSPHRASE_FILE');
    expect(existsSync(config)).toBe(false);
  });

  it('lets the AWS SDK for JavaScript, configured only by that profile, call STS as the stored key from another shell', async () => {
    // AWS_PROFILE=p reaches credential-process too: it never consults the AWS chain, so it cannot call itself.
    const { stdout } = await run(process.execPath, [SDK_CALLER, moto.url], {
      env: { ...otherShell, AWS_PROFILE: 'p' },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      arn: 'arn:aws:iam::123456789012:user/datablast-reader',
      account: '123456789012',
      accessKeyId: key.accessKeyId,
      region: 'eu-west-1',
    });
  });

  it('lets the AWS CLI call STS with --profile p from another shell', async () => {
    const { stdout } = await run(
      'aws',
      ['sts', 'get-caller-identity', '--profile', 'p', '--endpoint-url', moto.url, '--output', 'json'],
      {
        env: { ...otherShell, PATH: `${env.PATH}:${process.env.PATH}` },
        timeout: 60_000,
      },
    );
    expect(JSON.parse(stdout)).toMatchObject({
      Arn: 'arn:aws:iam::123456789012:user/datablast-reader',
      Account: '123456789012',
    });
  });

  it('is refused by moto when the stored secret is wrong, so the calls above proved the real key', async () => {
    const wrong = { ...env, DATABLAST_AWS_CONFIG_DIR: join(dir, 'wrong') };
    const bad = `${key.secretAccessKey.slice(0, -1)}${key.secretAccessKey.endsWith('A') ? 'B' : 'A'}`;
    expect(
      (
        await runBin(['add-connection', NAME, '--access-key-id', key.accessKeyId, '--secret-stdin', '--no-test'], {
          env: wrong,
          stdin: bad,
        })
      ).exitCode,
    ).toBe(0);
    const config = join(dir, 'aws', 'wrong-config');
    writeFileSync(config, '');
    expect(
      (await runBin(['export-profile', NAME, '--profile-name', 'p'], { env: { ...wrong, AWS_CONFIG_FILE: config } }))
        .exitCode,
    ).toBe(0);
    await expect(
      run(process.execPath, [SDK_CALLER, moto.url], {
        env: { ...otherShell, AWS_CONFIG_FILE: config, AWS_PROFILE: 'p' },
        timeout: 30_000,
      }),
    ).rejects.toThrow(/SignatureDoesNotMatch|signature/i);
  });

  it('is reported as already there when exported again', async () => {
    const again = await runBin(['export-profile', NAME, '--profile-name', 'p', '--json'], { env });
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ written: false, status: 'unchanged' });
  });
});

describe('export-profile and the AWS config file it meets', () => {
  it('replaces a block whose header has trailing text, so botocore still reads the file (no duplicate section)', async () => {
    const config = join(dir, 'aws', 'old-header-config');
    writeFileSync(config, '[profile p2] (old)\nregion = us-east-1\n\n[profile other]\nregion = eu-central-1\n');
    const files = { ...env, AWS_CONFIG_FILE: config };
    const refused = await runBin(['export-profile', NAME, '--profile-name', 'p2'], { env: files });
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain('already exists');
    const forced = await runBin(['export-profile', NAME, '--profile-name', 'p2', '--force'], { env: files });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(readFileSync(config, 'utf8').match(/\[profile p2\]/g)).toHaveLength(1);
    const { stdout } = await run('aws', ['configure', 'get', 'region', '--profile', 'p2'], {
      env: { ...otherShell, AWS_CONFIG_FILE: config, PATH: `${env.PATH}:${process.env.PATH}` },
      timeout: 60_000,
    });
    expect(stdout.trim()).toBe('eu-west-1');
  });

  it('says what to do (exit 3, not "a bug") when the directory of the config file is read-only', async () => {
    const aws = join(dir, 'ro-aws');
    mkdirSync(aws);
    // A real read-only file system: these tests run as root, whom chmod would not stop.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=65536,mode=0700', 'tmpfs', aws]);
    try {
      execFileSync('mount', ['-o', 'remount,ro', aws]);
      const result = await runBin(['export-profile', NAME, '--profile-name', 'ro'], {
        env: { ...env, AWS_CONFIG_FILE: join(aws, 'config') },
      });
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toContain('the file system is read-only');
      expect(result.stderr).toContain('--print');
      expect(result.stderr).not.toMatch(/bug|--debug/);
    } finally {
      execFileSync('umount', ['-l', aws]);
    }
  });
});
