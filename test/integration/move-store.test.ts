import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startMoto, type Moto } from '../support/moto.js';
import { startAwsRecorder, type AwsRecorder } from '../support/aws-recorder.js';
import { tempConfigDir } from '../support/cli-process.js';
import { main } from '../../src/main.js';
import { bufferedIO } from '../../src/ui/io.js';

// move-store between the encrypted-file store and moto's Secrets Manager, through the command, with failures
// injected by a recorder in front of moto.

const HOST = {
  AWS_ACCESS_KEY_ID: 'AKIAHOSTROLEEXAMPLE1',
  AWS_SECRET_ACCESS_KEY: 'host/credentials/for/moto/only/0000000000',
};
const REGION = 'eu-west-1';
const KEYS = {
  'AWS Production': {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
  staging: { accessKeyId: 'AKIAI44QH2DHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' },
};

let moto: Moto;
let recorder: AwsRecorder;
let dir: string;

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
  dir = tempConfigDir('dbaws-move-');
});

function sm(): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: moto.url,
    region: REGION,
    credentials: { accessKeyId: HOST.AWS_ACCESS_KEY_ID, secretAccessKey: HOST.AWS_SECRET_ACCESS_KEY },
  });
}

async function run(store: 'file' | 'aws-secrets-manager', argv: string[], stdin?: string) {
  const env: Record<string, string> = {
    ...HOST,
    DATABLAST_AWS_CONFIG_DIR: dir,
    DATABLAST_AWS_SECRET_STORE: store,
    DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: recorder.url,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const io = bufferedIO(stdin === undefined ? {} : { stdin });
  const exitCode = await main(['node', 'datablast-aws', ...argv], { io, env });
  return { exitCode, stdout: io.stdout, stderr: io.stderr };
}

async function add(store: 'file' | 'aws-secrets-manager', name: keyof typeof KEYS) {
  const key = KEYS[name];
  const added = await run(
    store,
    [
      'add-connection',
      name,
      '--access-key-id',
      key.accessKeyId,
      '--secret-stdin',
      '--no-test',
      '--region',
      'us-east-1',
    ],
    key.secretAccessKey,
  );
  expect(added.exitCode).toBe(0);
}

async function names(store: 'file' | 'aws-secrets-manager'): Promise<string[]> {
  const listed = await run(store, ['list', '--json']);
  expect(listed.stderr).toBe('');
  return (JSON.parse(listed.stdout) as Array<{ name: string }>).map((c) => c.name);
}

async function credentials(store: 'file' | 'aws-secrets-manager', name: keyof typeof KEYS) {
  const cp = await run(store, ['credential-process', name]);
  return cp.exitCode === 0 ? (JSON.parse(cp.stdout) as { AccessKeyId: string; SecretAccessKey: string }) : undefined;
}

async function secretNames(): Promise<string[]> {
  const out = await sm().send(new ListSecretsCommand({ IncludePlannedDeletion: true }));
  return (out.SecretList ?? []).map((s) => s.Name!);
}

describe('move-store', () => {
  it('moves every connection from the file store to Secrets Manager, leaving nothing behind', async () => {
    await add('file', 'AWS Production');
    await add('file', 'staging');
    const moved = await run('file', ['move-store', '--to', 'aws-secrets-manager', '--all', '--json']);
    expect(moved.stderr).not.toMatch(/error/);
    expect(moved.exitCode).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({
      from: 'file',
      to: 'aws-secrets-manager',
      moved: [
        { name: 'AWS Production', status: 'moved' },
        { name: 'staging', status: 'moved' },
      ],
    });
    expect(await names('aws-secrets-manager')).toEqual(['AWS Production', 'staging']);
    expect(await credentials('aws-secrets-manager', 'staging')).toMatchObject({
      AccessKeyId: KEYS.staging.accessKeyId,
      SecretAccessKey: KEYS.staging.secretAccessKey,
    });
    // The file store: no connection, and no orphan secret (list would warn about one).
    expect(await names('file')).toEqual([]);
    expect(await credentials('file', 'staging')).toBeUndefined();
  });

  it('moves one connection back from Secrets Manager to the file store and deletes its secret', async () => {
    await add('aws-secrets-manager', 'AWS Production');
    await add('aws-secrets-manager', 'staging');
    const moved = await run('aws-secrets-manager', ['move-store', '--to', 'file', 'AWS Production']);
    expect(moved.stderr).not.toMatch(/error/);
    expect(moved.exitCode).toBe(0);
    expect(await names('file')).toEqual(['AWS Production']);
    expect(await credentials('file', 'AWS Production')).toMatchObject({
      AccessKeyId: KEYS['AWS Production'].accessKeyId,
      SecretAccessKey: KEYS['AWS Production'].secretAccessKey,
    });
    expect(await secretNames()).toEqual(['datablast-aws/staging']);
  });

  it('a failure while writing Secrets Manager takes back what was written and leaves the file store intact', async () => {
    await add('file', 'AWS Production');
    recorder.inject({
      target: 'secretsmanager.PutSecretValue',
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: secretsmanager:PutSecretValue',
    });
    const moved = await run('file', ['move-store', '--to', 'aws-secrets-manager', 'AWS Production']);
    expect(moved.exitCode).toBe(5);
    expect(moved.stderr).toMatch(/nothing was moved, the source store still holds it/);
    expect(await names('file')).toEqual(['AWS Production']);
    expect(await credentials('file', 'AWS Production')).toMatchObject({
      SecretAccessKey: KEYS['AWS Production'].secretAccessKey,
    });
    expect(await secretNames()).toEqual([]);
  });

  it('a failure while clearing the source leaves both holding the key, and the next run finishes the move', async () => {
    await add('aws-secrets-manager', 'staging');
    recorder.inject({
      target: 'secretsmanager.DeleteSecret',
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: secretsmanager:DeleteSecret',
    });
    const first = await run('aws-secrets-manager', ['move-store', '--to', 'file', 'staging']);
    expect(first.exitCode).toBe(5);
    // Both stores hold the working key: no instant without one.
    expect(await credentials('file', 'staging')).toMatchObject({ SecretAccessKey: KEYS.staging.secretAccessKey });
    const value = await sm().send(
      new GetSecretValueCommand({ SecretId: 'datablast-aws/staging', VersionStage: 'AWSCURRENT' }),
    );
    expect(value.SecretString).toContain(KEYS.staging.secretAccessKey);

    const again = await run('aws-secrets-manager', ['move-store', '--to', 'file', 'staging', '--json']);
    expect(again.stderr).not.toMatch(/error/);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ moved: [{ name: 'staging', status: 'finished' }] });
    expect(await secretNames()).toEqual([]);
    expect(await credentials('file', 'staging')).toMatchObject({ SecretAccessKey: KEYS.staging.secretAccessKey });
  });

  it('refuses a move within the local stores and one without a name or --all', async () => {
    expect((await run('file', ['move-store', '--to', 'keychain', '--all'])).exitCode).toBe(2);
    expect((await run('file', ['move-store', '--to', 'aws-secrets-manager'])).exitCode).toBe(2);
    expect((await run('file', ['move-store', '--to', 'file', '--all'])).exitCode).toBe(2);
  });
});
