import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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
    DATABLAST_AWS_PASSPHRASE: 'export-profile e2e passphrase',
    AWS_CONFIG_FILE: join(dir, 'aws', 'config'),
    // Nothing but the profile: no shared credentials file, no key in the environment, no IMDS.
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws', 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
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
  it('names the absolute path of the built bin script and the quoted connection name', () => {
    const config = readFileSync(env.AWS_CONFIG_FILE!, 'utf8');
    expect(config).toMatch(
      /^\[profile p\]\ncredential_process = \/\S+\/bin\/datablast-aws\.js credential-process .+\nregion = eu-west-1\n$/,
    );
  });

  it('lets the AWS SDK for JavaScript, configured only by that profile, call STS as the stored key', async () => {
    // AWS_PROFILE=p reaches credential-process too: it never consults the AWS chain, so it cannot call itself.
    const { stdout } = await run(process.execPath, [SDK_CALLER, moto.url], {
      env: { ...env, AWS_PROFILE: 'p' },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      arn: 'arn:aws:iam::123456789012:user/datablast-reader',
      account: '123456789012',
      accessKeyId: key.accessKeyId,
      region: 'eu-west-1',
    });
  });

  it('lets the AWS CLI call STS with --profile p', async () => {
    const { stdout } = await run(
      'aws',
      ['sts', 'get-caller-identity', '--profile', 'p', '--endpoint-url', moto.url, '--output', 'json'],
      {
        env: { ...env, PATH: `${env.PATH}:${process.env.PATH}` },
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
        env: { ...wrong, AWS_CONFIG_FILE: config, AWS_PROFILE: 'p' },
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
