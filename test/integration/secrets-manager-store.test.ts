import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { startMoto, type Moto } from '../support/moto.js';
import { startAwsRecorder, type AwsRecorder } from '../support/aws-recorder.js';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';
import { main } from '../../src/main.js';
import { bufferedIO } from '../../src/ui/io.js';
import { openSecretsManagerStore } from '../../src/store/aws-secrets-manager.js';
import { sdkAws } from '../../src/aws/gateways.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import { FixedClock } from '../fakes/fixed-clock.js';
import type { GlobalOptions } from '../../src/ports.js';

// The aws-secrets-manager store through the commands, against moto's Secrets Manager (real versions and staging
// labels), with a recorder in front of moto that lists every call and can answer one with an AWS error.

const HOST = {
  AWS_ACCESS_KEY_ID: 'AKIAHOSTROLEEXAMPLE1',
  AWS_SECRET_ACCESS_KEY: 'host/credentials/for/moto/only/0000000000',
};
const REGION = 'eu-west-1';
const NAME = 'AWS Production';
const SECRET_ID = 'datablast-aws/AWS=20Production';

let moto: Moto;
let recorder: AwsRecorder;
let key: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  moto = await startMoto();
  recorder = await startAwsRecorder(moto.url);
});
afterAll(async () => {
  await recorder?.stop();
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
  recorder.calls.length = 0;
  const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: creds() });
  await iam.send(new CreateUserCommand({ UserName: 'datablast' }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'datablast' }));
  key = { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  iam.destroy();
});

function creds() {
  return { accessKeyId: HOST.AWS_ACCESS_KEY_ID, secretAccessKey: HOST.AWS_SECRET_ACCESS_KEY };
}

function sm(): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint: moto.url, region: REGION, credentials: creds() });
}

/** One machine: its own config dir, the shared store, the host's own AWS credentials. */
function host(extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    ...HOST,
    DATABLAST_AWS_CONFIG_DIR: tempConfigDir('dbaws-sm-'),
    DATABLAST_AWS_SECRET_STORE: 'aws-secrets-manager',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: recorder.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
  return {
    env,
    async run(argv: string[], stdin?: string) {
      const io = bufferedIO(stdin === undefined ? {} : { stdin });
      recorder.calls.length = 0;
      const exitCode = await main(['node', 'datablast-aws', ...argv], { io, env });
      const calls = recorder.calls.filter((c) => c.startsWith('secretsmanager.'));
      return { exitCode, stdout: io.stdout, stderr: io.stderr, calls };
    },
  };
}

async function rawValue(secretId = SECRET_ID): Promise<Record<string, unknown>> {
  // AWSCURRENT named: moto answers an unqualified read with the version last put, not the label.
  const out = await sm().send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
  return JSON.parse(out.SecretString!) as Record<string, unknown>;
}

async function addOn(machine: ReturnType<typeof host>, args: string[] = []) {
  const added = await machine.run(
    ['add-connection', NAME, '--access-key-id', key.accessKeyId, '--secret-stdin', '--region', 'us-east-1', ...args],
    key.secretAccessKey,
  );
  expect(added.stderr).not.toMatch(/error/);
  expect(added.exitCode).toBe(0);
  return added;
}

describe('the aws-secrets-manager store, through the commands', () => {
  it('add-connection on one host; list, show, credential-process, env and test on another see the same connection', async () => {
    const laptop = host();
    const ci = host();
    await addOn(laptop);

    const value = await rawValue();
    expect(value).toMatchObject({
      format: 'datablast-aws/connection@1',
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      connection: { name: NAME, accessKeyId: key.accessKeyId, region: 'us-east-1' },
    });
    const described = await sm().send(new DescribeSecretCommand({ SecretId: SECRET_ID }));
    expect(described.Tags).toContainEqual({ Key: 'managed-by', Value: 'datablast-aws' });

    const listed = await ci.run(['list', '--json']);
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: NAME, accessKeyId: key.accessKeyId, status: 'ok' }]);
    // One paged ListSecrets, and no secret value read.
    expect(listed.calls).toEqual(['secretsmanager.ListSecrets']);

    const shown = await ci.run(['show', NAME, '--json']);
    expect(shown.exitCode).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: NAME, region: 'us-east-1', status: 'ok' });

    const cp = await ci.run(['credential-process', NAME]);
    expect(cp.exitCode).toBe(0);
    expect(JSON.parse(cp.stdout)).toMatchObject({
      Version: 1,
      AccessKeyId: key.accessKeyId,
      SecretAccessKey: key.secretAccessKey,
    });
    expect(cp.calls).toEqual(['secretsmanager.GetSecretValue']);

    const env = await ci.run(['env', NAME]);
    expect(env.exitCode).toBe(0);
    expect(env.stdout).toContain(`export AWS_ACCESS_KEY_ID=${key.accessKeyId}`);

    const tested = await ci.run(['test', NAME, '--json']);
    expect(tested.stderr).toBe('');
    expect(tested.exitCode).toBe(0);
    // The test date written on the CI host is what the laptop lists.
    const after = JSON.parse((await laptop.run(['list', '--json'])).stdout) as Array<{ lastTestedAt: string }>;
    const stored = (await rawValue()) as { connection: { lastTestedAt: string } };
    expect(after[0]!.lastTestedAt).toBe(stored.connection.lastTestedAt);
    expect(after[0]!.lastTestedAt).not.toBeNull();
  });

  it('deliver records the consumer in the shared secret, and remove deletes the secret with nothing left behind', async () => {
    const laptop = host();
    await addOn(laptop, ['--no-test']);
    const delivered = await laptop.run(['deliver', NAME, '--deliver-to', 'exec:true', '--json']);
    expect(delivered.stderr).not.toMatch(/error/);
    expect(delivered.exitCode).toBe(0);
    expect((await rawValue()).connection).toMatchObject({
      consumers: [expect.objectContaining({ spec: 'exec:true' })],
    });

    const other = host();
    const removed = await other.run(['remove', NAME, '--yes']);
    expect(removed.stderr).not.toMatch(/error/);
    expect(removed.exitCode).toBe(0);
    const left = await sm().send(new ListSecretsCommand({ IncludePlannedDeletion: true }));
    expect(left.SecretList ?? []).toEqual([]);
    expect((await laptop.run(['list', '--json'])).stdout.trim()).toBe('[]');
  });

  it('a secret under the prefix that is not ours is reported, listed around, and never written', async () => {
    const laptop = host();
    await addOn(laptop, ['--no-test']);
    const foreign = 'datablast-aws/Someone=20Else';
    await sm().send(new CreateSecretCommand({ Name: foreign, SecretString: 'hunter2-not-ours' }));

    const listed = await laptop.run(['list', '--json']);
    expect(listed.exitCode).toBe(3);
    expect(listed.stderr).toMatch(/datablast-aws\/Someone=20Else: no managed-by=datablast-aws tag/);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: NAME }]);

    const cp = await laptop.run(['credential-process', 'Someone Else']);
    expect(cp.exitCode).toBe(3);
    expect(cp.stderr).toMatch(/the secret datablast-aws\/Someone=20Else does not hold a datablast-aws connection/);
    expect(cp.stderr).not.toContain('hunter2');

    const forced = await laptop.run(
      ['add-connection', 'Someone Else', '--access-key-id', key.accessKeyId, '--secret-stdin', '--no-test', '--force'],
      key.secretAccessKey,
    );
    expect(forced.exitCode).toBe(3);
    expect(forced.calls).not.toContain('secretsmanager.PutSecretValue');
    const still = await sm().send(new GetSecretValueCommand({ SecretId: foreign }));
    expect(still.SecretString).toBe('hunter2-not-ours');
  });

  it('a malformed value of ours gives a clear error and touches nothing', async () => {
    const laptop = host();
    await sm().send(
      new CreateSecretCommand({
        Name: 'datablast-aws/broken',
        SecretString: '{"format":"datablast-aws/connection@1","accessKeyId":"AKIA"}',
        Tags: [{ Key: 'managed-by', Value: 'datablast-aws' }],
      }),
    );
    const cp = await laptop.run(['credential-process', 'broken']);
    expect(cp.exitCode).toBe(3);
    expect(cp.stderr).toMatch(/does not hold a datablast-aws connection \(its key pair is incomplete\)/);
    expect(cp.calls).toEqual(['secretsmanager.GetSecretValue']);
  });

  it('KMS refusing to decrypt names the permission the host lacks', async () => {
    const laptop = host({ DATABLAST_AWS_KMS_KEY_ID: 'alias/datablast' });
    await addOn(laptop, ['--no-test']);
    recorder.inject({
      target: 'secretsmanager.GetSecretValue',
      type: 'AccessDeniedException',
      message: 'Access to KMS is not allowed',
    });
    const cp = await laptop.run(['credential-process', NAME]);
    expect(cp.exitCode).toBe(5);
    expect(cp.stderr).toMatch(/AWS KMS refused to decrypt the secret datablast-aws\/AWS=20Production/);
    expect(cp.stderr).toMatch(/kms:Decrypt on the secret's KMS key \(alias\/datablast\)/);
    expect(cp.stdout).toBe('');
  });
});

describe('a description that lags its secret', () => {
  it('is not trusted: list reads that one secret and shows what AWSCURRENT holds', async () => {
    const laptop = host();
    await addOn(laptop, ['--no-test', '--description', 'before']);
    // The write succeeds up to the description, which AWS refuses.
    recorder.inject({
      target: 'secretsmanager.UpdateSecret',
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: secretsmanager:UpdateSecret',
    });
    const replaced = await laptop.run(
      [
        'add-connection',
        NAME,
        '--access-key-id',
        'AKIAI44QH2DHBEXAMPLE',
        '--secret-stdin',
        '--no-test',
        '--force',
        '--description',
        'after',
      ],
      'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
    );
    expect(replaced.exitCode).toBe(5);
    const listed = await host().run(['list', '--json']);
    expect(listed.calls).toEqual(['secretsmanager.ListSecrets', 'secretsmanager.GetSecretValue']);
    const [entry] = JSON.parse(listed.stdout) as Array<{ accessKeyId: string; description: string; status: string }>;
    const stored = (await rawValue()) as {
      accessKeyId: string;
      connection: { accessKeyId: string; description: string };
    };
    expect(entry).toMatchObject({
      accessKeyId: stored.connection.accessKeyId,
      description: stored.connection.description,
    });
    expect(listed.exitCode).toBe(stored.accessKeyId === stored.connection.accessKeyId ? 0 : 3);
  });
});

describe('writes are a compare-and-swap on AWSCURRENT', () => {
  it("a host writing from a stale read re-reads, so another host's new key is never lost", async () => {
    const globals: GlobalOptions = defaultGlobals();
    const open = () => {
      const ctx = createContext(globals, { io: bufferedIO(), env: { ...host().env } });
      const aws = sdkAws(ctx);
      return openSecretsManagerStore({
        prefix: 'datablast-aws/',
        region: REGION,
        dir: tempConfigDir('dbaws-sm-'),
        clock: new FixedClock(),
        secretsManager: async () => (await aws.admin()).secretsManager!(REGION),
      });
    };
    const a = open();
    const b = open();
    const connection = {
      name: NAME,
      accessKeyId: key.accessKeyId,
      region: 'us-east-1',
      createdAt: '2026-01-01T00:00:00Z',
    };
    await a.secrets.set(NAME, key);
    await a.connections.put(connection);
    expect(await b.connections.get(NAME)).toMatchObject({ accessKeyId: key.accessKeyId });
    // A read it, B writes a new key, then A writes metadata from its stale read.
    const next = { accessKeyId: 'AKIAI44QH8DHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' };
    await b.secrets.set(NAME, next);
    await a.connections.put({ ...connection, lastTestedAt: '2026-02-01T00:00:00Z' });
    const value = await rawValue();
    expect(value).toMatchObject({
      accessKeyId: next.accessKeyId,
      connection: { lastTestedAt: '2026-02-01T00:00:00Z' },
    });
  });
});

describe('a host whose AWS profile would have the store sign its calls with datablast-aws itself', () => {
  it('is refused at once with the reason; behind a wrapper script, the started datablast-aws refuses instead of recursing', async () => {
    const dir = tempConfigDir('dbaws-self-');
    const config = join(dir, 'aws-config');
    const env = {
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_PROFILE: 'loop',
      DATABLAST_AWS_SECRET_STORE: 'aws-secrets-manager',
      DATABLAST_AWS_CONFIG_DIR: join(dir, 'config'),
      AWS_ENDPOINT_URL: recorder.url,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    writeFileSync(
      config,
      `[profile loop]\nregion = us-east-1\ncredential_process = ${process.execPath} ${BIN} credential-process prod\n`,
    );
    const direct = await runBin(['list'], { env });
    expect(direct.exitCode, direct.stderr).toBe(3);
    expect(direct.stderr).toMatch(/the AWS profile "loop" gets its credentials from datablast-aws credential-process/);
    expect(direct.stderr).toMatch(/cannot come from the store itself/);

    // A script in between hides it from the profile check: the datablast-aws the SDK starts refuses at once.
    const wrapper = join(dir, 'credentials.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" credential-process prod\n`, { mode: 0o755 });
    writeFileSync(config, `[profile loop]\nregion = us-east-1\ncredential_process = ${wrapper}\n`);
    const wrapped = await runBin(['list'], { env, timeoutMs: 60_000 });
    expect(wrapped.signal, 'no endless chain of processes').toBeNull();
    expect(wrapped.exitCode, wrapped.stderr).toBe(3);
    expect(wrapped.stderr).toMatch(/no admin credentials from the AWS profile "loop"/);
    expect(recorder.calls).toEqual([]);
  }, 90_000);
});
