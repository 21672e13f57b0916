import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { startMoto, type Moto } from '../support/moto.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import { bufferedIO } from '../../src/ui/io.js';
import { openConsumer } from '../../src/consumers/open.js';
import { secretsManagerConsumer } from '../../src/consumers/aws-secrets-manager.js';
import { consumerRecord, parseConsumerSpec } from '../../src/domain/consumer.js';
import type { Connection } from '../../src/domain/connection.js';
import type { GlobalOptions, SecretsManager } from '../../src/ports.js';

// The aws-secrets-manager consumer through the real gateway and SDK against moto's Secrets Manager.

const PAIR = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const NEXT = { accessKeyId: 'AKIAI44QH8DHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' };
const CONNECTION: Connection = {
  name: 'AWS Production',
  accessKeyId: PAIR.accessKeyId,
  region: 'eu-west-1',
  createdAt: '2026-01-01T00:00:00Z',
};
const ADMIN = {
  AWS_ACCESS_KEY_ID: 'AKIAADMINEXAMPLE0001',
  AWS_SECRET_ACCESS_KEY: 'admin/secret/for/moto/only/000000000000',
};
const globals: GlobalOptions = defaultGlobals();

let moto: Moto;

beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
});

function sm(region = 'eu-central-1'): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: moto.url,
    region,
    credentials: { accessKeyId: ADMIN.AWS_ACCESS_KEY_ID, secretAccessKey: ADMIN.AWS_SECRET_ACCESS_KEY },
  });
}

function consumerFor(spec: string, extra: { region?: string; kmsKeyId?: string } = { region: 'eu-central-1' }) {
  // Only the service-specific endpoint variable points at moto: it is the one the SDKs document for Secrets Manager.
  const ctx = createContext(globals, {
    io: bufferedIO(),
    env: { ...ADMIN, AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.url, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  return openConsumer(ctx, consumerRecord(parseConsumerSpec(spec), extra));
}

async function current(name: string, region = 'eu-central-1') {
  const out = await sm(region).send(new GetSecretValueCommand({ SecretId: name }));
  return JSON.parse(out.SecretString!) as Record<string, string>;
}

describe('the aws-secrets-manager consumer', () => {
  it('creates the secret in the recorded region, tagged and with the KMS key, and proves it by reading back', async () => {
    const consumer = consumerFor('aws-secrets-manager:datablast/prod', {
      region: 'eu-central-1',
      kmsKeyId: 'alias/datablast',
    });
    const outcome = await consumer.deliver(CONNECTION, PAIR);
    expect(outcome).toMatchObject({ status: 'delivered' });
    expect(outcome.status === 'delivered' && outcome.detail).toMatch(
      /^created datablast\/prod: version \S+ read back and matches$/,
    );
    expect(await current('datablast/prod')).toEqual({
      AccessKeyId: PAIR.accessKeyId,
      SecretAccessKey: PAIR.secretAccessKey,
      Region: 'eu-west-1',
    });
    const described = await sm().send(new DescribeSecretCommand({ SecretId: 'datablast/prod' }));
    expect(described.Tags).toContainEqual({ Key: 'managed-by', Value: 'datablast-aws' });
    expect(described.Tags).toContainEqual({ Key: 'datablast-connection', Value: 'AWS Production' });
    expect(described.KmsKeyId).toBe('alias/datablast');
    expect(JSON.stringify(outcome)).not.toContain(PAIR.secretAccessKey);
  });

  it('puts a new version on rotation, and leaves a secret that already holds the key as it is', async () => {
    const consumer = consumerFor('aws-secrets-manager:datablast/prod');
    await consumer.deliver(CONNECTION, PAIR);
    expect((await consumer.deliver(CONNECTION, PAIR)).status === 'delivered').toBe(true);
    const versions = async () =>
      (await sm().send(new ListSecretVersionIdsCommand({ SecretId: 'datablast/prod' }))).Versions ?? [];
    expect(await versions()).toHaveLength(1);
    const outcome = await consumer.deliver(CONNECTION, NEXT);
    expect(outcome.status === 'delivered' && outcome.detail).toMatch(/^updated /);
    expect((await current('datablast/prod')).AccessKeyId).toBe(NEXT.accessKeyId);
    expect(await versions()).toHaveLength(2);
  });

  it('writes to an existing secret named by its ARN, in the ARN region', async () => {
    const created = await sm('us-west-2').send(
      new CreateSecretCommand({
        Name: 'shared/key',
        SecretString: '{}',
        Tags: [{ Key: 'managed-by', Value: 'datablast-aws' }],
      }),
    );
    const consumer = consumerFor(`aws-secrets-manager:${created.ARN!}`, { region: 'us-west-2' });
    expect((await consumer.deliver(CONNECTION, PAIR)).status).toBe('delivered');
    expect((await current('shared/key', 'us-west-2')).AccessKeyId).toBe(PAIR.accessKeyId);
  });

  it('leaves alone a secret that is not ours', async () => {
    await sm().send(new CreateSecretCommand({ Name: 'db/password', SecretString: 'hunter2hunter2' }));
    const outcome = await consumerFor('aws-secrets-manager:db/password').deliver(CONNECTION, PAIR);
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome.status === 'failed' && outcome.message).toContain('does not look like one datablast-aws writes');
    const out = await sm().send(new GetSecretValueCommand({ SecretId: 'db/password' }));
    expect(out.SecretString).toBe('hunter2hunter2');
  });

  it('fails in words, without a stack, when AWS cannot be reached', async () => {
    const ctx = createContext(globals, {
      io: bufferedIO(),
      env: { ...ADMIN, AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9' },
    });
    const consumer = openConsumer(
      ctx,
      consumerRecord(parseConsumerSpec('aws-secrets-manager:x'), { region: 'eu-west-1' }),
    );
    const outcome = await consumer.deliver(CONNECTION, PAIR);
    expect(outcome.status).toBe('failed');
    expect(outcome.status === 'failed' && outcome.message).toMatch(/secretsmanager:DescribeSecret/);
  });
});

describe('the read-back proof', () => {
  it('fails the delivery when the version read back does not hold the key written', async () => {
    const written: string[] = [];
    const fake: SecretsManager = {
      describe: async () => undefined,
      create: async (_name, value) => {
        written.push(value);
        return { arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf', versionId: 'v1' };
      },
      put: async () => ({ versionId: 'v2' }),
      listByPrefix: async () => [],
      moveStage: async () => {},
      removeStage: async () => {},
      setDescription: async () => {},
      deleteNow: async () => false,
      // Something else wrote over it between our write and our read.
      getValue: async () => ({
        value: JSON.stringify({ AccessKeyId: 'AKIAOTHER', SecretAccessKey: 'x', Region: 'eu-west-1' }),
        versionId: 'v1',
      }),
    };
    const outcome = await secretsManagerConsumer('x', {}, { secretsManager: async () => fake }).deliver(
      CONNECTION,
      PAIR,
    );
    expect(written).toHaveLength(1);
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome.status === 'failed' && outcome.message).toBe(
      'reading back version v1 of x did not return the key that was written',
    );
  });
});
