import { existsSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  ListUsersCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';
import { bucketPolicy, selfRotationPolicy } from '../../src/domain/policies.js';

let moto: Moto;
/** Any key works as admin while moto does not check signatures; this is AWS's documented example id. */
const ADMIN = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const S3 = 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess';
const RDS = 'arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess';

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

let configDir: string;
beforeEach(async () => {
  await moto.disableAuth();
  await moto.reset();
  configDir = tempConfigDir('dbaws-onboarding-');
});

/** Runs the built CLI against moto with the admin credentials in the environment and a file secret store. */
function cli(args: string[], admin: { accessKeyId: string; secretAccessKey: string } = ADMIN) {
  return runBin(args, {
    env: {
      AWS_ACCESS_KEY_ID: admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: admin.secretAccessKey,
      AWS_ENDPOINT_URL: moto.url,
      AWS_REGION: 'us-east-1',
      DATABLAST_AWS_CONFIG_DIR: configDir,
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple',
    },
    timeoutMs: 60_000,
  });
}

function iam(credentials = ADMIN): IAMClient {
  return new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials });
}

describe('onboarding against moto', () => {
  it('create-user --create-key stores a key that credential-process serves and AWS accepts', async () => {
    const created = await cli([
      'create-user',
      'datablast-integration',
      '--create-key',
      '--connection',
      'AWS Production',
      '--description',
      'nightly sync',
      '--json',
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    const result = JSON.parse(created.stdout);
    expect(result).toMatchObject({
      userName: 'datablast-integration',
      arn: 'arn:aws:iam::123456789012:user/datablast-integration',
      created: true,
      keyCreated: true,
    });
    expect(created.stderr).toContain('arn:aws:sts::123456789012:user/moto');

    const served = await cli(['credential-process', 'AWS Production']);
    expect(served.exitCode, served.stderr).toBe(0);
    const creds = JSON.parse(served.stdout);
    expect(creds.AccessKeyId).toBe(result.connection.accessKeyId);
    // Neither the creation's output nor its progress ever showed the secret.
    expect(created.stdout + created.stderr).not.toContain(creds.SecretAccessKey);

    // moto checks keys and signatures from here on: the stored key must be the real one.
    await moto.enforceAuth();
    const sts = new STSClient({
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey },
    });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    expect(identity.Arn).toBe('arn:aws:iam::123456789012:user/datablast-integration');
    await moto.disableAuth();

    const tags = await iam().send(new ListUserTagsCommand({ UserName: 'datablast-integration' }));
    expect(tags.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'managed-by', Value: 'datablast-aws' },
        { Key: creds.AccessKeyId, Value: 'nightly sync' },
      ]),
    );
  });

  it('create-user run twice reports the existing user and keeps one key', async () => {
    const argv = ['create-user', 'dbx', '--create-key', '--connection', 'c', '--json'];
    expect((await cli(argv)).exitCode).toBe(0);
    const again = await cli(argv);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, keyCreated: false });
    const keys = await iam().send(new ListAccessKeysCommand({ UserName: 'dbx' }));
    expect(keys.AccessKeyMetadata).toHaveLength(1);
  });

  it('create-user stops with exit 5 when the user holds two keys', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'dbx' }));
    await iam().send(new CreateAccessKeyCommand({ UserName: 'dbx' }));
    await iam().send(new CreateAccessKeyCommand({ UserName: 'dbx' }));
    const { exitCode, stderr } = await cli(['create-user', 'dbx', '--create-key', '--connection', 'c']);
    expect(exitCode).toBe(5);
    expect(stderr).toContain('already holds two access keys');
    expect((await iam().send(new ListAccessKeysCommand({ UserName: 'dbx' }))).AccessKeyMetadata).toHaveLength(2);
  });

  it('attach-policy results are visible in IAM, and a second run changes nothing', async () => {
    expect((await cli(['create-user', 'dbx'])).exitCode).toBe(0);
    const argv = [
      'attach-policy',
      'dbx',
      '--service',
      's3',
      '--service',
      'rds',
      '--bucket',
      'exports',
      '--prefix',
      'daily/',
      '--self-rotation',
      '--json',
    ];
    const first = await cli(argv);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      attached: [S3, RDS],
      inline: ['datablast-s3-buckets', 'datablast-self-rotation'],
    });

    const attached = await iam().send(new ListAttachedUserPoliciesCommand({ UserName: 'dbx' }));
    expect(attached.AttachedPolicies!.map((p) => p.PolicyArn).sort()).toEqual([RDS, S3]);
    const inline = await iam().send(new ListUserPoliciesCommand({ UserName: 'dbx' }));
    expect(inline.PolicyNames!.sort()).toEqual(['datablast-s3-buckets', 'datablast-self-rotation']);
    const doc = await iam().send(new GetUserPolicyCommand({ UserName: 'dbx', PolicyName: 'datablast-self-rotation' }));
    expect(JSON.parse(decodeURIComponent(doc.PolicyDocument!))).toEqual(selfRotationPolicy());
    const buckets = await iam().send(new GetUserPolicyCommand({ UserName: 'dbx', PolicyName: 'datablast-s3-buckets' }));
    expect(JSON.parse(decodeURIComponent(buckets.PolicyDocument!))).toEqual(bucketPolicy(['exports'], 'daily/'));

    const second = await cli(argv);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      attached: [],
      alreadyAttached: [S3, RDS],
      inline: [],
      alreadyInline: ['datablast-s3-buckets', 'datablast-self-rotation'],
    });
    expect((await iam().send(new ListAttachedUserPoliciesCommand({ UserName: 'dbx' }))).AttachedPolicies).toHaveLength(
      2,
    );
  });

  it('init with flags goes from nothing to a tested connection, and converges when run again', async () => {
    const argv = [
      'init',
      '--no-input',
      '--user',
      'dbx',
      '--service',
      's3',
      '--connection',
      'ci',
      '--region',
      'eu-west-1',
      '--json',
    ];
    const first = await cli(argv);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      userCreated: true,
      attached: [S3],
      inline: ['datablast-self-rotation'],
      keyCreated: true,
      connection: { name: 'ci', region: 'eu-west-1', userName: 'dbx' },
    });
    const second = await cli(argv);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      userCreated: false,
      attached: [],
      alreadyAttached: [S3],
      keyCreated: false,
      alreadySetUp: true,
    });
    expect((await iam().send(new ListAccessKeysCommand({ UserName: 'dbx' }))).AccessKeyMetadata).toHaveLength(1);
    const listed = await cli(['list', '--json']);
    expect(JSON.parse(listed.stdout)).toHaveLength(1);
  });

  it('exits 5 naming the missing permission when the admin has no IAM rights', async () => {
    await iam().send(new CreateUserCommand({ UserName: 'powerless' }));
    const { AccessKey } = await iam().send(new CreateAccessKeyCommand({ UserName: 'powerless' }));
    await moto.enforceAuth();
    const { exitCode, stderr } = await cli(['create-user', 'dbx'], {
      accessKeyId: AccessKey!.AccessKeyId!,
      secretAccessKey: AccessKey!.SecretAccessKey!,
    });
    expect(exitCode).toBe(5);
    expect(stderr).toContain('arn:aws:iam::123456789012:user/powerless');
    // The first IAM call a powerless admin makes is the look-up of the user.
    expect(stderr).toContain('AWS denied iam:GetUser');
    await moto.disableAuth();
    const users = await iam().send(new ListUsersCommand({}));
    expect(users.Users!.map((u) => u.UserName)).toEqual(['powerless']);
  });

  it('attach-policy exits 5 naming iam:AttachUserPolicy for an admin allowed only to read', async () => {
    expect((await cli(['create-user', 'dbx'])).exitCode).toBe(0);
    await iam().send(new CreateUserCommand({ UserName: 'reader' }));
    await iam().send(
      new PutUserPolicyCommand({
        UserName: 'reader',
        PolicyName: 'read-iam',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['iam:Get*', 'iam:List*'], Resource: '*' }],
        }),
      }),
    );
    const { AccessKey } = await iam().send(new CreateAccessKeyCommand({ UserName: 'reader' }));
    await moto.enforceAuth();
    const { exitCode, stderr } = await cli(['attach-policy', 'dbx', '--service', 's3'], {
      accessKeyId: AccessKey!.AccessKeyId!,
      secretAccessKey: AccessKey!.SecretAccessKey!,
    });
    expect(exitCode, stderr).toBe(5);
    expect(stderr).toContain('iam:AttachUserPolicy');
    await moto.disableAuth();
    expect((await iam().send(new ListAttachedUserPoliciesCommand({ UserName: 'dbx' }))).AttachedPolicies).toEqual([]);
  });
});
