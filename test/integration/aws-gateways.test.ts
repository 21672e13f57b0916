import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aws, Context, GlobalOptions } from '../../src/ports.js';
import { createContext } from '../../src/context.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';
import { AwsError, CredentialsRejectedError } from '../../src/errors.js';
import { bufferedIO, type BufferedIO } from '../../src/ui/io.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { rejection } from '../support/rejection.js';

let moto: Moto;

/** Dummy admin credentials: moto accepts any key while signature checking is off. */
const DUMMY_ADMIN = {
  AWS_ACCESS_KEY_ID: 'AKIAADMINADMINADMIN2',
  AWS_SECRET_ACCESS_KEY: 'dummydummydummydummydummydummydummydummy',
};

function world(
  env: Record<string, string | undefined> = {},
  globals: Partial<GlobalOptions> = {},
): { ctx: Context; io: BufferedIO; aws: () => Promise<Aws> } {
  const io = bufferedIO();
  const ctx = createContext(
    {
      json: false,
      input: false,
      color: false,
      profile: undefined,
      region: undefined,
      endpointUrl: undefined,
      debug: false,
      ...globals,
    },
    { io, env: { AWS_ENDPOINT_URL: moto.url, ...DUMMY_ADMIN, ...env } },
  );
  return { ctx, io, aws: () => ctx.aws() };
}

beforeAll(async () => {
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

describe('the IAM and STS gateways against moto, signature checking off', () => {
  it('creates, reads and tags a user; an unknown user is undefined', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    const created = await iam.createUser('alice', { tags: { 'managed-by': 'datablast-aws' } });
    expect(created).toMatchObject({ userName: 'alice', path: '/', tags: { 'managed-by': 'datablast-aws' } });
    expect(created.arn).toMatch(/^arn:aws:iam::\d{12}:user\/alice$/);
    expect(created.createDate).toMatch(/^\d{4}-\d\d-\d\dT/);
    await iam.tagUser('alice', { team: 'data' });
    expect((await iam.getUser('alice'))?.tags).toEqual({ 'managed-by': 'datablast-aws', team: 'data' });
    expect(await iam.getUser('nobody')).toBeUndefined();
    const again = await rejection(iam.createUser('alice', { tags: {} }));
    expect(again).toBeInstanceOf(AwsError);
    expect(again.awsCode).toBe('EntityAlreadyExists');
  });

  it('creates, lists, deactivates, reports and deletes access keys; a third key hits the limit', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('bob', { tags: {} });
    const first = await iam.createAccessKey('bob');
    expect(first.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(first.secretAccessKey).toHaveLength(40);
    const second = await iam.createAccessKey('bob');
    const limit = await rejection(iam.createAccessKey('bob'));
    expect(limit).toMatchObject({ exitCode: 5, awsCode: 'LimitExceeded', diagnosis: 'key-status' });
    expect(limit.message).toContain('iam:CreateAccessKey');

    await iam.updateAccessKey('bob', first.accessKeyId, 'Inactive');
    const keys = await iam.listAccessKeys('bob');
    expect(keys.map((k) => [k.accessKeyId, k.status]).sort()).toEqual(
      [
        [first.accessKeyId, 'Inactive'],
        [second.accessKeyId, 'Active'],
      ].sort(),
    );
    expect(keys[0]!.createDate).toMatch(/^\d{4}-/);

    const lastUsed = await iam.getAccessKeyLastUsed(second.accessKeyId);
    expect(lastUsed).toHaveProperty('lastUsedDate');
    expect(lastUsed.serviceName).not.toBe('N/A');

    await iam.deleteAccessKey('bob', first.accessKeyId);
    expect((await iam.listAccessKeys('bob')).map((k) => k.accessKeyId)).toEqual([second.accessKeyId]);
    const gone = await rejection(iam.deleteAccessKey('bob', first.accessKeyId));
    expect(gone).toMatchObject({ exitCode: 5, awsCode: 'NoSuchEntity' });
    expect(gone.message).toContain('iam:DeleteAccessKey');
  });

  it('attaches managed policies and round-trips an inline policy document', async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('carol', { tags: {} });
    await iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/ReadOnlyAccess');
    await iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess');
    expect(
      (await iam.listAttachedUserPolicies('carol')).sort((a, b) => a.policyName.localeCompare(b.policyName)),
    ).toEqual([
      { policyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', policyName: 'AmazonS3ReadOnlyAccess' },
      { policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess', policyName: 'ReadOnlyAccess' },
    ]);
    const document = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::my bucket+100%/*'] }],
    });
    await iam.putUserPolicy('carol', 'datablast-s3', document);
    expect(await iam.listUserPolicies('carol')).toEqual(['datablast-s3']);
    expect(JSON.parse((await iam.getUserPolicy('carol', 'datablast-s3'))!)).toEqual(JSON.parse(document));
    expect(await iam.getUserPolicy('carol', 'nope')).toBeUndefined();
    const unknownPolicy = await rejection(iam.attachUserPolicy('carol', 'arn:aws:iam::aws:policy/DoesNotExist'));
    expect(unknownPolicy).toMatchObject({ exitCode: 5, diagnosis: 'permissions' });
  });

  it('signs as a connection key: STS answers with that user, and the clock skew is measured', async () => {
    await moto.reset();
    const aws = await world().aws();
    const { iam } = await aws.admin();
    const user = await iam.createUser('dave', { tags: {} });
    const key = await iam.createAccessKey('dave');
    const identity = await (await aws.as(key, 'eu-west-1')).sts.getCallerIdentity();
    expect(identity.arn).toBe(user.arn);
    expect(identity.account).toMatch(/^\d{12}$/);
    expect(identity.userId).toBeTruthy();
    expect(typeof identity.clockSkewMs).toBe('number');
    expect(Math.abs(identity.clockSkewMs!)).toBeLessThan(5_000);
  });

  it('logs each call under --debug without the secret it returned', async () => {
    await moto.reset();
    const { aws, io } = world({}, { debug: true });
    const { iam } = await (await aws()).admin();
    await iam.createUser('erin', { tags: {} });
    const key = await iam.createAccessKey('erin');
    expect(io.stderr).toMatch(/aws: iam CreateUser http 200 request-id \S+ \(1 attempt, \d+ ms\)/);
    expect(io.stderr).toMatch(/aws: iam CreateAccessKey http 200/);
    expect(io.stderr).not.toContain(key.secretAccessKey);
    expect(io.stderr).not.toContain(DUMMY_ADMIN.AWS_SECRET_ACCESS_KEY);
    expect(io.stdout).toBe('');
  });

  it('stays silent on stderr without --debug', async () => {
    await moto.reset();
    const { aws, io } = world();
    const { iam, sts } = await (await aws()).admin();
    await iam.createUser('frank', { tags: {} });
    await sts.getCallerIdentity();
    expect(io.stderr).toBe('');
  });

  it('fails fast with a network diagnosis when nothing listens on the endpoint', async () => {
    const port = await freePort();
    const { aws } = world({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const session = await (
      await aws()
    ).as({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    const started = Date.now();
    const error = await rejection(session.sts.getCallerIdentity());
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(AwsError);
    expect(error).toMatchObject({ exitCode: 5, awsCode: 'ECONNREFUSED', diagnosis: 'network' });
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(elapsed).toBeLessThan(10_000);
    console.info(`network failure (connection refused, 3 attempts) reported in ${elapsed} ms`);
  });
});

describe('the gateways against moto with signature checking on', () => {
  let good: AccessKeyPair;
  let deleted: AccessKeyPair;
  let powerless: AccessKeyPair;
  let adminKey: AccessKeyPair;
  let userArn: string;

  beforeAll(async () => {
    await moto.reset();
    const { iam } = await (await world().aws()).admin();
    await iam.createUser('admin', { tags: {} });
    await iam.attachUserPolicy('admin', 'arn:aws:iam::aws:policy/AdministratorAccess');
    adminKey = await iam.createAccessKey('admin');
    userArn = (await iam.createUser('worker', { tags: {} })).arn;
    good = await iam.createAccessKey('worker');
    deleted = await iam.createAccessKey('worker');
    await iam.deleteAccessKey('worker', deleted.accessKeyId);
    await iam.createUser('powerless', { tags: {} });
    powerless = await iam.createAccessKey('powerless');
    await moto.enforceAuth(0);
  });

  afterAll(async () => {
    // Later files get their own moto; this only keeps a failed run from confusing a re-run in watch mode.
    await moto.reset();
  });

  it('accepts the right key', async () => {
    const identity = await (await (await world().aws()).as(good)).sts.getCallerIdentity();
    expect(identity.arn).toBe(userArn);
  });

  it('rejects a wrong secret with exit 4 (SignatureDoesNotMatch)', async () => {
    // Change the last character to another one (a fixed 'X' would match a secret that already ends in X).
    const wrong = {
      accessKeyId: good.accessKeyId,
      secretAccessKey: `${good.secretAccessKey.slice(0, 39)}${good.secretAccessKey.endsWith('X') ? 'Y' : 'X'}`,
    };
    const error = await rejection((await (await world().aws()).as(wrong)).sts.getCallerIdentity());
    expect(error).toBeInstanceOf(CredentialsRejectedError);
    expect(error).toMatchObject({ exitCode: 4, awsCode: 'SignatureDoesNotMatch', diagnosis: 'credentials' });
    expect(error.message).not.toContain(good.secretAccessKey);
  });

  it('rejects an unknown key id with exit 4 (InvalidClientTokenId)', async () => {
    const error = await rejection(
      (
        await (await world().aws()).as({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: good.secretAccessKey })
      ).sts.getCallerIdentity(),
    );
    expect(error).toMatchObject({ exitCode: 4, awsCode: 'InvalidClientTokenId', diagnosis: 'credentials' });
  });

  it('rejects a deleted key with exit 4', async () => {
    const error = await rejection((await (await world().aws()).as(deleted)).sts.getCallerIdentity());
    expect(error).toBeInstanceOf(CredentialsRejectedError);
    expect(error.exitCode).toBe(4);
  });

  it('refuses iam:CreateUser to a user without IAM rights with exit 5, naming the action', async () => {
    const error = await rejection((await (await world().aws()).as(powerless)).iam.createUser('intruder', { tags: {} }));
    expect(error).toBeInstanceOf(AwsError);
    expect(error).toMatchObject({ exitCode: 5, diagnosis: 'permissions' });
    expect(error.message).toContain('iam:CreateUser');
  });

  it('lets the admin chain sign with credentials from the environment', async () => {
    const { aws } = world({ AWS_ACCESS_KEY_ID: adminKey.accessKeyId, AWS_SECRET_ACCESS_KEY: adminKey.secretAccessKey });
    const { iam, sts } = await (await aws()).admin();
    expect((await sts.getCallerIdentity()).arn).toMatch(/:user\/admin$/);
    expect((await iam.createUser('newcomer', { tags: {} })).userName).toBe('newcomer');
  });

  it('rejects the dummy admin credentials as the admin, with exit 4', async () => {
    const error = await rejection((await (await world().aws()).admin()).iam.getUser('worker'));
    expect(error).toMatchObject({ exitCode: 4, diagnosis: 'credentials' });
    expect(error.message).toContain('the admin credentials');
    expect(error.hint).toContain('--profile');
  });
});
