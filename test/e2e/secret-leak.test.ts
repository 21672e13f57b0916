import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { startMoto, type Moto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { runBin, tempConfigDir, type ProcessResult } from '../support/cli-process.js';

let moto: Moto;
let keyring: Keyring;

beforeAll(async () => {
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
});

afterAll(async () => {
  await Promise.all([moto?.stop(), keyring?.stop()]);
});

function allFileBytes(dir: string): Array<{ path: string; bytes: Buffer }> {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => ({ path: join(e.parentPath, e.name), bytes: readFileSync(join(e.parentPath, e.name)) }));
}

describe.each(['keychain', 'file'] as const)('secret hygiene with the %s store', (store) => {
  it('never prints, logs or writes the secret, except where credential-process and env must print it', async () => {
    const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' } });
    await iam.send(new CreateUserCommand({ UserName: `leak-${store}` }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: `leak-${store}` }));
    iam.destroy();
    const id = AccessKey!.AccessKeyId!;
    const secret = AccessKey!.SecretAccessKey!;
    const configDir = tempConfigDir();
    const env = {
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: store,
      DATABLAST_AWS_PASSPHRASE: 'leak test passphrase',
      AWS_ENDPOINT_URL: moto.url,
      ...(store === 'keychain' ? keyring.env : {}),
    };
    const runs: Array<{ args: string[]; result: ProcessResult; mayPrintSecret: boolean }> = [];
    const run = async (args: string[], opts: { stdin?: string; env?: Record<string, string>; mayPrintSecret?: boolean } = {}) => {
      for (const debug of [[], ['--debug']]) {
        const result = await runBin([...args, ...debug], { env: { ...env, ...opts.env }, stdin: opts.stdin });
        runs.push({ args: [...args, ...debug], result, mayPrintSecret: opts.mayPrintSecret ?? false });
      }
      return runs[runs.length - 1]!.result;
    };

    // Every input mode, both outcomes, every command of the foundation.
    await run(['add-connection', 'leak', '--access-key-id', id, '--secret-stdin', '--force'], { stdin: secret });
    await run(['add-connection', 'leak-json', '--access-key-id', id, '--secret-stdin', '--json', '--force'], { stdin: secret });
    await run(['add-connection', 'leak-env', '--from-env', '--force'], { env: { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret } });
    await run(['add-connection', 'leak-untested', '--access-key-id', id, '--no-test', '--force'], { env: { AWS_SECRET_ACCESS_KEY: secret } });
    await run(['add-connection', 'leak', '--access-key-id', id, '--secret-stdin'], { stdin: secret }); // exists: exit 3
    await run(['add-connection', 'bad', '--access-key-id', id, '--secret-stdin'], { stdin: `${secret}x` }); // malformed: exit 2
    await run(['add-connection', 'bad', '--access-key-id', id.replace(/^AKIA/, 'AKIO'), '--secret-stdin'], { stdin: secret });
    await run(['list']);
    await run(['list', '--json']);
    await run(['show', 'leak']);
    await run(['show', 'leak', '--json']);
    await run(['show', 'missing']);
    await run(['credential-process', 'leak'], { mayPrintSecret: true });
    await run(['env', 'leak'], { mayPrintSecret: true });
    await moto.enforceAuth(0);
    await run(['add-connection', 'wrong', '--access-key-id', id, '--secret-stdin'], { stdin: secret.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) });
    await moto.disableAuth();
    await run(['remove', 'leak-env', '--yes']);
    await run(['remove', 'leak-json', '--yes', '--json']);

    expect(runs.length).toBeGreaterThanOrEqual(30);
    for (const { args, result, mayPrintSecret } of runs) {
      const label = args.join(' ');
      expect(result.stderr.includes(secret), `stderr of ${label}`).toBe(false);
      if (!mayPrintSecret) expect(result.stdout.includes(secret), `stdout of ${label}`).toBe(false);
      if (!args.includes('--debug')) expect(result.stderr, `no stack trace without --debug: ${label}`).not.toMatch(/\n\s+at /);
    }
    expect(runs.find((r) => r.args[0] === 'credential-process')!.result.stdout).toContain(secret);
    for (const file of allFileBytes(configDir)) {
      expect(file.bytes.includes(Buffer.from(secret)), file.path).toBe(false);
      expect(file.bytes.includes(Buffer.from(secret, 'utf16le')), file.path).toBe(false);
    }
    console.log(`secret hygiene (${store}): ${runs.length} runs checked, ${allFileBytes(configDir).length} files scanned, 0 leaks`);
  });
});
