import type { Aws, AwsSession, Iam, Probes, Sts } from '../../src/ports.js';
import type { AccessKeyInfo, IamUser, Identity } from '../../src/domain/iam.js';
import type { AccessKeyPair, Credentials } from '../../src/domain/connection.js';
import { translateAwsError } from '../../src/aws/errors.js';
import { AwsError } from '../../src/errors.js';

/** The IAM gateway's answer when ListAccessKeys does not show a retirement that AWS (or something) said was done. */
function notConfirmed(accessKeyId: string, want: 'inactive' | 'deleted'): AwsError {
  return new AwsError(`AWS answered, but does not confirm that access key ${accessKeyId} is ${want} (injected)`, {
    awsCode: 'NotConfirmed',
  });
}

/** An SDK-shaped service error, as the real SDK throws it (name, $fault, $metadata). */
export function sdkError(name: string, message = name, httpStatusCode = 400): Error {
  const error = new Error(message) as Error & {
    $fault: string;
    $metadata: { httpStatusCode: number; requestId: string };
  };
  error.name = name;
  error.$fault = httpStatusCode >= 500 ? 'server' : 'client';
  error.$metadata = { httpStatusCode, requestId: 'fake-request-id' };
  return error;
}

interface FakeKey extends AccessKeyPair {
  userName: string;
  status: 'Active' | 'Inactive';
  createDate: string;
  /** How many more STS calls with this key fail as not-yet-propagated. */
  invisibleFor: number;
}

interface FakeUser extends IamUser {
  attached: Array<{ policyArn: string; policyName: string }>;
  inline: Map<string, string>;
}

type IamMethod = keyof Iam;
type StsMethod = keyof Sts;
type ProbeMethod = keyof Probes;

/**
 * A stateful IAM + STS: users, keys, policies; enforces AWS's two-keys-per-user limit,
 * rejects unknown, wrong, inactive and not-yet-propagated keys, and can fail the next call.
 * Every error passes through the same translation table as the real adapters.
 */
export class FakeAws implements Aws {
  readonly accountId = '123456789012';
  readonly users = new Map<string, FakeUser>();
  readonly keys = new Map<string, FakeKey>();
  /** What GetAccessKeyLastUsed answers per key id (absent: never used). */
  readonly lastUsed = new Map<string, { lastUsedDate?: string; serviceName?: string; region?: string }>();
  /** Every call, as "iam:createAccessKey" / "sts:getCallerIdentity", in order. */
  readonly calls: string[] = [];
  /** New keys are rejected by STS for this many calls (IAM eventual consistency). */
  propagationDelayCalls = 0;
  /** The admin identity; `undefined` simulates no admin credentials. */
  adminArn: string | undefined = 'arn:aws:iam::123456789012:user/admin';
  /** Server time minus local time that STS answers report (the Date header); undefined: no Date header. */
  clockSkewMs: number | undefined = undefined;
  /** Opt-in regions not enabled for the account: a key is unknown there, but works on the global STS endpoint. */
  readonly disabledRegions = new Set<string>();
  /** Probe actions (e.g. "s3:ListAllMyBuckets") AWS denies, with the message it sends. */
  readonly deniedActions = new Map<string, string>();
  /** Buckets that exist, for the HeadBucket probe. */
  readonly buckets = new Set<string>();
  /** The region of a bucket, for the GetBucketLocation probe (default us-east-1). */
  readonly bucketRegions = new Map<string, string>();
  private injected: Array<{ method: string; error: Error; afterCalls: number }> = [];
  /** Throttling mode: IAM's token bucket over the fake clock (see `throttleIam`). */
  private bucket: { rate: number; burst: number; tokens: number; at: number } | undefined;
  /** IAM calls answered `Throttling` in throttling mode. */
  throttledCalls = 0;
  /** The most IAM calls under way at once. */
  peakIamInFlight = 0;
  private iamInFlight = 0;
  private hollow: string[] = [];
  private keyCounter = 0;
  private now: () => Date;

  constructor(options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /** Makes the next call of `method` (e.g. "createAccessKey", "getCallerIdentity") throw `error`; `afterCalls` lets that many through first. */
  failNext(
    method: IamMethod | StsMethod | ProbeMethod,
    error: Error = sdkError('ServiceFailure', 'injected failure', 500),
    afterCalls = 0,
  ): void {
    this.injected.push({ method, error, afterCalls });
  }

  /**
   * Throttling mode: IAM admits `rate` calls a second (a token bucket of `burst` on this fake's clock) and
   * answers the rest as IAM does, HTTP 400 `Throttling` "Rate exceeded"; every IAM call takes `latencyMs`
   * (waited on the fake clock's `sleep`, when given) so that calls overlap as they do for real.
   */
  throttleIam(rate: number, burst = rate, latency?: { ms: number; sleep: (ms: number) => Promise<void> }): void {
    this.bucket = { rate, burst, tokens: burst, at: this.now().getTime() };
    this.latency = latency;
  }

  private latency: { ms: number; sleep: (ms: number) => Promise<void> } | undefined;

  /** Takes a token from the bucket, or throws IAM's throttling answer. */
  private admit(): void {
    const b = this.bucket;
    if (!b) return;
    const now = this.now().getTime();
    b.tokens = Math.min(b.burst, b.tokens + ((now - b.at) / 1000) * b.rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    this.throttledCalls += 1;
    throw sdkError('Throttling', 'Rate exceeded', 400);
  }

  /**
   * The next call of `method` answers success without doing anything: what a proxy's or captive portal's
   * `200 text/html` looks like. The real gateway (aws/iam.ts) then reads the key back and refuses to call
   * it retired; this fake answers as the gateway does: an AwsError NotConfirmed (exit 5), nothing changed.
   */
  succeedWithoutEffect(method: 'updateAccessKey' | 'deleteAccessKey'): void {
    this.hollow.push(method);
  }

  /** True (once) when the call of `method` is to answer without effect. */
  private hollowCall(method: string): boolean {
    const index = this.hollow.indexOf(method);
    if (index < 0) return false;
    this.hollow.splice(index, 1);
    return true;
  }

  /** Creates a user directly (test setup), optionally with a key; returns the key. */
  seedUser(
    userName: string,
    options: { withKey?: boolean; tags?: Record<string, string> } = {},
  ): AccessKeyPair | undefined {
    this.users.set(userName, this.newUser(userName, '/', options.tags ?? {}));
    return options.withKey ? this.issueKey(userName, 0) : undefined;
  }

  /** Issues a key for an existing user (test setup), bypassing the limit check. */
  issueKey(userName: string, invisibleFor = this.propagationDelayCalls, createDate?: string): AccessKeyPair {
    this.keyCounter += 1;
    // The counter in base 32 over the key-id alphabet, so ids stay distinct however many keys a test
    // issues (the first seven are the ids earlier tests know: …AAAQ, …AAA2 to …AAA7).
    const accessKeyId = `AKIA${[...this.keyCounter.toString(32)]
      .map((d) => 'AQ234567BCDEFGHIJKLMNOPRSTUVWXYZ'[parseInt(d, 32)])
      .join('')
      .padStart(16, 'A')}`;
    const secretAccessKey = `fakeSecret${String(this.keyCounter).padStart(30, 'x')}`;
    this.keys.set(accessKeyId, {
      accessKeyId,
      secretAccessKey,
      userName,
      status: 'Active',
      createDate: createDate ?? this.now().toISOString(),
      invisibleFor,
    });
    return { accessKeyId, secretAccessKey };
  }

  /** Keys a user holds in IAM. */
  keysOf(userName: string): FakeKey[] {
    return [...this.keys.values()].filter((k) => k.userName === userName);
  }

  async admin(): Promise<AwsSession> {
    return this.session(undefined);
  }

  async as(credentials: Credentials, region?: string): Promise<AwsSession> {
    return this.session(credentials, region);
  }

  private session(credentials: Credentials | undefined, region = 'us-east-1'): AwsSession {
    /** `service` as logged in `calls`; "sts-global" is the global STS endpoint. */
    const call = async <T>(
      service: 'iam' | 'sts' | 'sts-global' | 's3' | 'rds' | 'lambda',
      method: string,
      action: string,
      work: () => T,
    ): Promise<T> => {
      this.calls.push(`${service}:${method}`);
      if (service === 'iam') {
        this.iamInFlight += 1;
        this.peakIamInFlight = Math.max(this.peakIamInFlight, this.iamInFlight);
      }
      try {
        if (service === 'iam' && this.latency) await this.latency.sleep(this.latency.ms);
        if (service === 'iam') this.admit();
        const injected = this.injected.findIndex((i) => i.method === method);
        if (injected >= 0) {
          const entry = this.injected[injected]!;
          if (entry.afterCalls > 0) entry.afterCalls -= 1;
          else {
            this.injected.splice(injected, 1);
            throw entry.error;
          }
        }
        this.authenticate(credentials, service === 'sts' || service === 'sts-global');
        // IAM and the global STS endpoint are not regional; everything else is refused in a disabled region.
        if (credentials && this.disabledRegions.has(region) && service !== 'iam' && service !== 'sts-global') {
          throw sdkError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
        }
        const denial = this.deniedActions.get(action);
        if (denial !== undefined) throw sdkError('AccessDenied', denial, 403);
        return work();
      } catch (error) {
        throw translateAwsError(error, action);
      } finally {
        if (service === 'iam') this.iamInFlight -= 1;
      }
    };
    const sts: Sts = {
      getCallerIdentity: () =>
        call('sts', 'getCallerIdentity', 'sts:GetCallerIdentity', () => this.identity(credentials)),
    };
    const globalSts: Sts = {
      getCallerIdentity: () =>
        call('sts-global', 'getCallerIdentity', 'sts:GetCallerIdentity', () => this.identity(credentials)),
    };
    const probes: Probes = {
      listBuckets: () =>
        call('s3', 'listBuckets', 's3:ListAllMyBuckets', () => ({ count: this.buckets.size, more: false })),
      headBucket: (bucket) =>
        call('s3', 'headBucket', `s3:ListBucket on ${bucket}`, () => {
          if (!this.buckets.has(bucket)) throw sdkError('NoSuchBucket', `The bucket ${bucket} does not exist`, 404);
        }),
      bucketRegion: (bucket) =>
        call('s3', 'bucketRegion', `s3:GetBucketLocation on ${bucket}`, () => {
          if (!this.buckets.has(bucket)) throw sdkError('NoSuchBucket', `The bucket ${bucket} does not exist`, 404);
          return this.bucketRegions.get(bucket) ?? 'us-east-1';
        }),
      listObjects: (bucket, prefix) =>
        call('s3', 'listObjects', `s3:ListBucket on ${bucket}${prefix ? `/${prefix}` : ''}`, () => {
          if (!this.buckets.has(bucket)) throw sdkError('NoSuchBucket', `The bucket ${bucket} does not exist`, 404);
          return { count: 0, more: false };
        }),
      describeDbInstances: () =>
        call('rds', 'describeDbInstances', 'rds:DescribeDBInstances', () => ({ count: 0, more: false })),
      listFunctions: () => call('lambda', 'listFunctions', 'lambda:ListFunctions', () => ({ count: 0, more: false })),
    };
    const iam: Iam = {
      getUser: (userName) =>
        call('iam', 'getUser', 'iam:GetUser', () => {
          const name = userName ?? this.keys.get(credentials?.accessKeyId ?? '')?.userName;
          const user = name ? this.users.get(name) : undefined;
          return user ? this.publicUser(user) : undefined;
        }),
      createUser: (userName, options) =>
        call('iam', 'createUser', 'iam:CreateUser', () => {
          if (this.users.has(userName))
            throw sdkError('EntityAlreadyExists', `User with name ${userName} already exists.`, 409);
          const user = this.newUser(userName, options.path ?? '/', options.tags);
          this.users.set(userName, user);
          return this.publicUser(user);
        }),
      tagUser: (userName, tags) =>
        call('iam', 'tagUser', 'iam:TagUser', () => {
          Object.assign(this.requireUser(userName).tags, tags);
        }),
      listAccessKeys: (userName) =>
        call('iam', 'listAccessKeys', 'iam:ListAccessKeys', () => {
          this.requireUser(userName);
          return this.keysOf(userName).map((k): AccessKeyInfo => ({
            accessKeyId: k.accessKeyId,
            status: k.status,
            createDate: k.createDate,
          }));
        }),
      createAccessKey: (userName) =>
        call('iam', 'createAccessKey', 'iam:CreateAccessKey', () => {
          this.requireUser(userName);
          if (this.keysOf(userName).length >= 2)
            throw sdkError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409);
          const pair = this.issueKey(userName);
          return { ...pair, createDate: this.keys.get(pair.accessKeyId)!.createDate };
        }),
      updateAccessKey: (userName, accessKeyId, status) =>
        call('iam', 'updateAccessKey', 'iam:UpdateAccessKey', () => {
          if (this.hollowCall('updateAccessKey')) throw notConfirmed(accessKeyId, 'inactive');
          const key = this.keys.get(accessKeyId);
          if (!key || key.userName !== userName)
            throw sdkError('NoSuchEntity', `The Access Key with id ${accessKeyId} cannot be found.`, 404);
          key.status = status;
        }),
      deleteAccessKey: (userName, accessKeyId) =>
        call('iam', 'deleteAccessKey', 'iam:DeleteAccessKey', () => {
          if (this.hollowCall('deleteAccessKey')) throw notConfirmed(accessKeyId, 'deleted');
          const key = this.keys.get(accessKeyId);
          if (!key || key.userName !== userName)
            throw sdkError('NoSuchEntity', `The Access Key with id ${accessKeyId} cannot be found.`, 404);
          this.keys.delete(accessKeyId);
        }),
      getAccessKeyLastUsed: (accessKeyId) =>
        call('iam', 'getAccessKeyLastUsed', 'iam:GetAccessKeyLastUsed', () => {
          if (!this.keys.has(accessKeyId))
            throw sdkError('NoSuchEntity', `The Access Key with id ${accessKeyId} cannot be found.`, 404);
          const used = this.lastUsed.get(accessKeyId);
          return { lastUsedDate: used?.lastUsedDate, serviceName: used?.serviceName, region: used?.region };
        }),
      listAttachedUserPolicies: (userName) =>
        call('iam', 'listAttachedUserPolicies', 'iam:ListAttachedUserPolicies', () => [
          ...this.requireUser(userName).attached,
        ]),
      attachUserPolicy: (userName, policyArn) =>
        call('iam', 'attachUserPolicy', 'iam:AttachUserPolicy', () => {
          const user = this.requireUser(userName);
          if (user.attached.length >= 10)
            throw sdkError('LimitExceeded', 'Cannot exceed quota for PoliciesPerUser: 10', 409);
          if (!user.attached.some((p) => p.policyArn === policyArn))
            user.attached.push({ policyArn, policyName: policyArn.split('/').pop() ?? policyArn });
        }),
      detachUserPolicy: (userName, policyArn) =>
        call('iam', 'detachUserPolicy', 'iam:DetachUserPolicy', () => {
          const user = this.requireUser(userName);
          const index = user.attached.findIndex((p) => p.policyArn === policyArn);
          if (index < 0) throw sdkError('NoSuchEntity', `Policy ${policyArn} was not found.`, 404);
          user.attached.splice(index, 1);
        }),
      listUserPolicies: (userName) =>
        call('iam', 'listUserPolicies', 'iam:ListUserPolicies', () => [...this.requireUser(userName).inline.keys()]),
      getUserPolicy: (userName, policyName) =>
        call('iam', 'getUserPolicy', 'iam:GetUserPolicy', () => this.requireUser(userName).inline.get(policyName)),
      putUserPolicy: (userName, policyName, document) =>
        call('iam', 'putUserPolicy', 'iam:PutUserPolicy', () => {
          this.requireUser(userName).inline.set(policyName, document);
        }),
      deleteUserPolicy: (userName, policyName) =>
        call('iam', 'deleteUserPolicy', 'iam:DeleteUserPolicy', () => {
          if (!this.requireUser(userName).inline.delete(policyName))
            throw sdkError('NoSuchEntity', `The user policy with name ${policyName} cannot be found.`, 404);
        }),
    };
    return { sts, iam, globalSts, probes };
  }

  private authenticate(credentials: Credentials | undefined, isSts: boolean): void {
    if (!credentials) {
      if (!this.adminArn)
        throw sdkError('CredentialsProviderError', 'Could not load credentials from any providers', 0);
      return;
    }
    const key = this.keys.get(credentials.accessKeyId);
    // AWS answers an unknown, deleted or inactive key id alike.
    if (!key || key.status === 'Inactive')
      throw sdkError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    if (key.secretAccessKey !== credentials.secretAccessKey)
      throw sdkError(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
        403,
      );
    if (isSts && key.invisibleFor > 0) {
      key.invisibleFor -= 1;
      throw sdkError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    }
  }

  private identity(credentials: Credentials | undefined): Identity {
    const skew = this.clockSkewMs === undefined ? {} : { clockSkewMs: this.clockSkewMs };
    if (!credentials) return { account: this.accountId, arn: this.adminArn!, userId: 'AIDAADMINADMINADMIN', ...skew };
    const key = this.keys.get(credentials.accessKeyId)!;
    const user = this.users.get(key.userName)!;
    return { account: this.accountId, arn: user.arn, userId: user.userId, ...skew };
  }

  private requireUser(userName: string): FakeUser {
    const user = this.users.get(userName);
    if (!user) throw sdkError('NoSuchEntity', `The user with name ${userName} cannot be found.`, 404);
    return user;
  }

  private newUser(userName: string, path: string, tags: Record<string, string>): FakeUser {
    return {
      userName,
      path,
      arn: `arn:aws:iam::${this.accountId}:user${path}${userName}`,
      userId: `AIDA${userName
        .toUpperCase()
        .replace(/[^A-Z]/g, 'X')
        .padEnd(17, 'X')
        .slice(0, 17)}`,
      createDate: this.now().toISOString(),
      tags: { ...tags },
      attached: [],
      inline: new Map(),
    };
  }

  private publicUser(user: FakeUser): IamUser {
    return {
      userName: user.userName,
      arn: user.arn,
      userId: user.userId,
      path: user.path,
      createDate: user.createDate,
      tags: { ...user.tags },
    };
  }
}
