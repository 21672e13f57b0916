import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { startMoto, type Moto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';
import { motoUserWithKey } from '../support/moto-iam.js';

let moto: Moto;
let keyring: Keyring;

beforeAll(async () => {
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
});

afterAll(async () => {
  await Promise.all([moto?.stop(), keyring?.stop()]);
});

/** A user with one access key in moto. */
const motoKey = (userName: string) => motoUserWithKey(moto.url, userName);

/** Every file under a directory, with its bytes. */
function filesUnder(dir: string): Array<{ path: string; bytes: Buffer; mode: number }> {
  const out: Array<{ path: string; bytes: Buffer; mode: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ path, bytes: readFileSync(path), mode: statSync(path).mode & 0o777 });
  }
  return out;
}

const stores = [
  { store: 'keychain', extraEnv: () => keyring.env },
  { store: 'file', extraEnv: () => ({ DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple' }) },
] as const;

describe.each(stores)('with the $store secret store', ({ store, extraEnv }) => {
  it('adds a connection moto issued, lists it, serves it to credential_process and env, and removes it', async () => {
    const key = await motoKey(`e2e-${store}`);
    const configDir = tempConfigDir();
    const env = {
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: store,
      AWS_ENDPOINT_URL: moto.url,
      ...extraEnv(),
    };
    const name = 'AWS Production';

    const added = await runBin(
      ['add-connection', name, '--access-key-id', key.accessKeyId, '--secret-stdin', '--region', 'eu-west-1', '--json'],
      { env, stdin: `${key.secretAccessKey}\n` },
    );
    expect(added.stderr).not.toContain('at ');
    expect(added.exitCode).toBe(0);
    const connection = JSON.parse(added.stdout);
    expect(connection).toMatchObject({
      name,
      accessKeyId: key.accessKeyId,
      region: 'eu-west-1',
      userName: `e2e-${store}`,
      accountId: '123456789012',
    });

    const listed = await runBin(['list', '--json'], { env });
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout).map((c: { name: string }) => c.name)).toEqual([name]);

    const shown = await runBin(['show', name], { env });
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain(`e2e-${store}`);

    const credentials = await runBin(['credential-process', name], { env });
    expect(credentials.exitCode).toBe(0);
    expect(JSON.parse(credentials.stdout)).toEqual({
      Version: 1,
      AccessKeyId: key.accessKeyId,
      SecretAccessKey: key.secretAccessKey,
      Expiration: expect.any(String),
    });

    const exported = await runBin(['env', name], { env });
    expect(exported.exitCode).toBe(0);
    expect(exported.stdout).toContain(`export AWS_ACCESS_KEY_ID=${key.accessKeyId}`);
    expect(exported.stdout).toContain('AWS_REGION=eu-west-1');

    // Metadata only in the config dir: never the secret, files 0600.
    for (const file of filesUnder(configDir)) {
      expect(file.bytes.includes(Buffer.from(key.secretAccessKey)), file.path).toBe(false);
      expect(file.mode, file.path).toBe(0o600);
    }

    const removed = await runBin(['remove', name, '--yes'], { env });
    expect(removed.exitCode).toBe(0);
    const after = await runBin(['credential-process', name], { env });
    expect(after.exitCode).toBe(3);
    expect(after.stdout).toBe('');
    expect(JSON.parse((await runBin(['list', '--json'], { env })).stdout)).toEqual([]);
  });

  it('rejects a wrong secret with exit 4 and stores nothing', async () => {
    const key = await motoKey(`e2e-wrong-${store}`);
    const configDir = tempConfigDir();
    const env = {
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: store,
      AWS_ENDPOINT_URL: moto.url,
      ...extraEnv(),
    };
    await moto.enforceAuth(0);
    try {
      const wrong = `${key.secretAccessKey.slice(0, 39)}${key.secretAccessKey.endsWith('A') ? 'B' : 'A'}`;
      const result = await runBin(['add-connection', 'wrong', '--access-key-id', key.accessKeyId, '--secret-stdin'], {
        env,
        stdin: wrong,
      });
      expect(result.exitCode).toBe(4);
      expect(result.stderr).toMatch(/secret/i);
      expect(result.stderr).not.toContain(wrong);
      const listed = await runBin(['list', '--json'], { env });
      expect(JSON.parse(listed.stdout)).toEqual([]);
      const lookup = await runBin(['credential-process', 'wrong'], { env });
      expect(lookup.exitCode).toBe(3);
    } finally {
      await moto.disableAuth();
    }
  });
});

describe('list and show when the file store cannot be read', () => {
  /** A connection stored in the file store, without calling AWS. */
  async function stored(): Promise<{ env: Record<string, string>; configDir: string }> {
    const configDir = tempConfigDir();
    const env = {
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple',
    };
    const added = await runBin(
      ['add-connection', 'prod', '--access-key-id', 'AKIAIOSFODNN7EXAMPLE', '--secret-stdin', '--no-test'],
      { env, stdin: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    );
    expect(added.exitCode, added.stderr).toBe(0);
    return { env, configDir };
  }

  it('says "unknown: secret store unavailable" and exits 6 with a wrong passphrase, never ok', async () => {
    const { env } = await stored();
    const wrong = { ...env, DATABLAST_AWS_PASSPHRASE: 'not the passphrase at all' };
    const listed = await runBin(['list', '--json'], { env: wrong });
    expect(listed.exitCode).toBe(6);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'prod', status: 'unknown: secret store unavailable' }]);
    const shown = await runBin(['show', 'prod'], { env: wrong });
    expect(shown.exitCode).toBe(6);
    expect(shown.stdout).toMatch(/status\s+unknown: secret store unavailable/);
    expect(shown.stderr).not.toContain('at ');
  });

  it('says "unknown: secret store unavailable" and exits 6 when secrets.enc is damaged', async () => {
    const { env, configDir } = await stored();
    const file = readdirSync(configDir).find((f) => f.endsWith('.enc'))!;
    writeFileSync(join(configDir, file), 'this is not an encrypted store', { mode: 0o600 });
    const listed = await runBin(['list', '--json'], { env });
    expect(listed.exitCode).toBe(6);
    expect(JSON.parse(listed.stdout)[0].status).toBe('unknown: secret store unavailable');
  });
});

describe('env in the real shells', () => {
  it('sets the key and both region variables in bash and in fish, and refuses a tampered region in both', async () => {
    const configDir = tempConfigDir();
    const env = {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: configDir,
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple',
    };
    const added = await runBin(
      [
        'add-connection',
        'r',
        '--access-key-id',
        'AKIAIOSFODNN7EXAMPLE',
        '--secret-stdin',
        '--no-test',
        '--region',
        'eu-west-3',
      ],
      { env, stdin: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    );
    expect(added.exitCode, added.stderr).toBe(0);
    const bin = `'${process.execPath}' '${BIN}'`;
    const show = 'echo "$AWS_ACCESS_KEY_ID $AWS_REGION $AWS_DEFAULT_REGION"';
    const expected = 'AKIAIOSFODNN7EXAMPLE eu-west-3 eu-west-3\n';
    expect(execFileSync('bash', ['-c', `eval "$(${bin} env r)"; ${show}`], { env, encoding: 'utf8' })).toBe(expected);
    expect(
      execFileSync('fish', ['--no-config', '-c', `eval (${bin} env r --shell fish); ${show}`], {
        env,
        encoding: 'utf8',
      }),
    ).toBe(expected);

    const file = join(configDir, 'config.json');
    const data = JSON.parse(readFileSync(file, 'utf8'));
    data.connections.r.region = "eu-west-3'; touch PWNED; '(touch PWNED)";
    writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
    for (const [shell, script] of [
      ['bash', `cd '${configDir}'; eval "$(${bin} env r)"`],
      ['fish', `cd '${configDir}'; eval (${bin} env r --shell fish)`],
    ] as const) {
      const args = shell === 'fish' ? ['--no-config', '-c', script] : ['-c', script];
      try {
        execFileSync(shell, args, { env, encoding: 'utf8', stdio: 'pipe' });
      } catch {
        // eval of nothing may or may not fail; what matters is that nothing ran.
      }
      expect(readdirSync(configDir), shell).not.toContain('PWNED');
    }
  });
});
