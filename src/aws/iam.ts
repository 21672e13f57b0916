import type { IAMClient, Tag } from '@aws-sdk/client-iam';
import type { Iam } from '../ports.js';
import type { AccessKeyInfo, IamUser } from '../domain/iam.js';
import type { AccessKeyPair } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { AwsError, CliError } from '../errors.js';
import { poll, retry, type BackoffClock, type BackoffPolicy } from '../domain/backoff.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import type { CallFacts } from './errors.js';
import { call, MAX_ATTEMPTS } from './clients.js';

/** IAM clients with their module, built lazily on the first call. */
export interface IamParts {
  client: IAMClient;
  /**
   * A client that never retries by itself, for CreateAccessKey: a retried create whose first answer was
   * lost would leave a key whose secret nobody holds. We retry only what surely never reached AWS.
   */
  once: IAMClient;
  sdk: typeof import('@aws-sdk/client-iam');
}

/** Error codes after which a CreateAccessKey surely created nothing, so retrying is safe. */
const SAFE_TO_RETRY = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Retrying a CreateAccessKey that surely created nothing: AWS's guidance for throttling, exponential
 * backoff with full jitter, within the attempts every other call gets.
 */
export const CREATE_KEY_RETRY: BackoffPolicy = {
  initialDelayMs: 400,
  maxDelayMs: 3_200,
  timeoutMs: 20_000,
  maxAttempts: MAX_ATTEMPTS,
  jitter: true,
};

/** Reading back a retired key until ListAccessKeys shows it inactive or gone (IAM is eventually consistent). */
export const RETIRE_CONFIRM: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 2_000, timeoutMs: 10_000 };

/** The domain-shaped IAM gateway over the SDK; every error goes through the one error table. */
export function iamGateway(
  parts: () => Promise<IamParts>,
  facts: CallFacts,
  clock: BackoffClock,
  /** The access key id that signs these calls, when it is a connection's own key. */
  signerKeyId?: string,
): Iam {
  const send = async <T>(action: string, work: (p: IamParts, abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const p = await parts();
    return call(action, facts, (abortSignal) => work(p, abortSignal));
  };

  const gateway: Iam = {
    async getUser(userName) {
      try {
        const out = await send('iam:GetUser', (p, abortSignal) =>
          p.client.send(new p.sdk.GetUserCommand(userName ? { UserName: userName } : {}), { abortSignal }),
        );
        return out.User ? toUser(out.User) : undefined;
      } catch (error) {
        if (error instanceof CliError && error.awsCode === 'NoSuchEntity') return undefined;
        throw error;
      }
    },

    async createUser(userName, options) {
      const out = await send('iam:CreateUser', (p, abortSignal) =>
        p.client.send(
          new p.sdk.CreateUserCommand({
            UserName: userName,
            ...(options.path ? { Path: options.path } : {}),
            Tags: toTags(options.tags),
          }),
          { abortSignal },
        ),
      );
      if (!out.User) throw new CliError(`AWS answered iam:CreateUser for ${userName} without a user`, 5);
      return toUser(out.User);
    },

    async tagUser(userName, tags) {
      await send('iam:TagUser', (p, abortSignal) =>
        p.client.send(new p.sdk.TagUserCommand({ UserName: userName, Tags: toTags(tags) }), { abortSignal }),
      );
    },

    async listAccessKeys(userName) {
      const keys: AccessKeyInfo[] = [];
      let marker: string | undefined;
      do {
        const out = await send('iam:ListAccessKeys', (p, abortSignal) =>
          p.client.send(new p.sdk.ListAccessKeysCommand({ UserName: userName, Marker: marker }), { abortSignal }),
        );
        for (const k of out.AccessKeyMetadata ?? []) {
          if (k.AccessKeyId)
            keys.push({
              accessKeyId: k.AccessKeyId,
              status: k.Status === 'Inactive' ? 'Inactive' : 'Active',
              createDate: iso(k.CreateDate),
            });
        }
        marker = out.IsTruncated ? out.Marker : undefined;
      } while (marker);
      return keys;
    },

    async createAccessKey(userName) {
      return retry(
        clock,
        CREATE_KEY_RETRY,
        async () => {
          const out = await send('iam:CreateAccessKey', (p, abortSignal) =>
            p.once.send(new p.sdk.CreateAccessKeyCommand({ UserName: userName }), { abortSignal }),
          );
          const key = out.AccessKey;
          if (!key?.AccessKeyId || !key.SecretAccessKey)
            throw new CliError('AWS answered iam:CreateAccessKey without a key', 5);
          rememberSecret(key.SecretAccessKey);
          const pair: AccessKeyPair & { createDate: string | undefined } = {
            accessKeyId: key.AccessKeyId,
            secretAccessKey: key.SecretAccessKey,
            createDate: iso(key.CreateDate),
          };
          return pair;
        },
        (error) => error instanceof CliError && SAFE_TO_RETRY.has(error.awsCode ?? ''),
      );
    },

    async updateAccessKey(userName, accessKeyId, status) {
      await send('iam:UpdateAccessKey', (p, abortSignal) =>
        p.client.send(
          new p.sdk.UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: status }),
          { abortSignal },
        ),
      );
      if (status === 'Inactive') await confirmRetired(gateway, clock, userName, accessKeyId, 'inactive', signerKeyId);
    },

    async deleteAccessKey(userName, accessKeyId) {
      await send('iam:DeleteAccessKey', (p, abortSignal) =>
        p.client.send(new p.sdk.DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }), {
          abortSignal,
        }),
      );
      await confirmRetired(gateway, clock, userName, accessKeyId, 'deleted', signerKeyId);
    },

    async getAccessKeyLastUsed(accessKeyId) {
      const out = await send('iam:GetAccessKeyLastUsed', (p, abortSignal) =>
        p.client.send(new p.sdk.GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }), { abortSignal }),
      );
      const used = out.AccessKeyLastUsed;
      // IAM says "N/A" for a key never used.
      const known = (value: string | undefined) => (value && value !== 'N/A' ? value : undefined);
      return {
        lastUsedDate: iso(used?.LastUsedDate),
        serviceName: known(used?.ServiceName),
        region: known(used?.Region),
      };
    },

    async listAttachedUserPolicies(userName) {
      const policies: Array<{ policyArn: string; policyName: string }> = [];
      let marker: string | undefined;
      do {
        const out = await send('iam:ListAttachedUserPolicies', (p, abortSignal) =>
          p.client.send(new p.sdk.ListAttachedUserPoliciesCommand({ UserName: userName, Marker: marker }), {
            abortSignal,
          }),
        );
        for (const policy of out.AttachedPolicies ?? []) {
          if (policy.PolicyArn)
            policies.push({
              policyArn: policy.PolicyArn,
              policyName: policy.PolicyName ?? policy.PolicyArn.split('/').pop() ?? policy.PolicyArn,
            });
        }
        marker = out.IsTruncated ? out.Marker : undefined;
      } while (marker);
      return policies;
    },

    async attachUserPolicy(userName, policyArn) {
      await send('iam:AttachUserPolicy', (p, abortSignal) =>
        p.client.send(new p.sdk.AttachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }), { abortSignal }),
      );
    },

    async detachUserPolicy(userName, policyArn) {
      await send('iam:DetachUserPolicy', (p, abortSignal) =>
        p.client.send(new p.sdk.DetachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }), { abortSignal }),
      );
    },

    async listUserPolicies(userName) {
      const names: string[] = [];
      let marker: string | undefined;
      do {
        const out = await send('iam:ListUserPolicies', (p, abortSignal) =>
          p.client.send(new p.sdk.ListUserPoliciesCommand({ UserName: userName, Marker: marker }), { abortSignal }),
        );
        names.push(...(out.PolicyNames ?? []));
        marker = out.IsTruncated ? out.Marker : undefined;
      } while (marker);
      return names;
    },

    async getUserPolicy(userName, policyName) {
      try {
        const out = await send('iam:GetUserPolicy', (p, abortSignal) =>
          p.client.send(new p.sdk.GetUserPolicyCommand({ UserName: userName, PolicyName: policyName }), {
            abortSignal,
          }),
        );
        return out.PolicyDocument === undefined ? undefined : decodePolicy(out.PolicyDocument);
      } catch (error) {
        if (error instanceof CliError && error.awsCode === 'NoSuchEntity') return undefined;
        throw error;
      }
    },

    async putUserPolicy(userName, policyName, document) {
      await send('iam:PutUserPolicy', (p, abortSignal) =>
        p.client.send(
          new p.sdk.PutUserPolicyCommand({ UserName: userName, PolicyName: policyName, PolicyDocument: document }),
          { abortSignal },
        ),
      );
    },

    async deleteUserPolicy(userName, policyName) {
      await send('iam:DeleteUserPolicy', (p, abortSignal) =>
        p.client.send(new p.sdk.DeleteUserPolicyCommand({ UserName: userName, PolicyName: policyName }), {
          abortSignal,
        }),
      );
    },
  };
  return gateway;
}

/**
 * Reads a retired key back with ListAccessKeys until IAM shows it inactive or gone: an answer to
 * UpdateAccessKey or DeleteAccessKey is not proof enough that the key stopped working. When the retired
 * key itself signs, AWS refusing it (exit 4) is that proof. Throws when AWS never confirms.
 */
async function confirmRetired(
  iam: Pick<Iam, 'listAccessKeys'>,
  clock: BackoffClock,
  userName: string,
  accessKeyId: string,
  want: 'inactive' | 'deleted',
  signerKeyId: string | undefined,
): Promise<void> {
  let seen = 'still listed';
  const result = await poll(clock, RETIRE_CONFIRM, async () => {
    let keys;
    try {
      keys = await iam.listAccessKeys(userName);
    } catch (error) {
      if (error instanceof CliError && error.exitCode === 4 && signerKeyId === accessKeyId)
        return { done: true, value: undefined };
      throw error;
    }
    const key = keys.find((k) => k.accessKeyId === accessKeyId);
    if (!key || (want === 'inactive' && key.status === 'Inactive')) return { done: true, value: undefined };
    seen = `still listed as ${key.status.toLowerCase()}`;
    return { done: false };
  });
  if (result.done) return;
  const masked = maskAccessKeyId(accessKeyId);
  throw new AwsError(
    `AWS answered, but does not confirm that access key ${masked} of user ${userName} is ${want}: iam:ListAccessKeys shows it ${seen}`,
    {
      hint: `Check the key in the IAM console or with \`aws iam list-access-keys --user-name ${userName}\`, then retry.`,
      awsCode: 'NotConfirmed',
      diagnosis: 'key-status',
    },
  );
}

/** IAM returns policy documents URL-encoded (RFC 3986); a document that is not encoded is returned as is. */
export function decodePolicy(document: string): string {
  try {
    return decodeURIComponent(document);
  } catch {
    return document;
  }
}

function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function toUser(user: {
  UserName?: string;
  Arn?: string;
  UserId?: string;
  Path?: string;
  CreateDate?: Date;
  Tags?: Tag[];
}): IamUser {
  const tags: Record<string, string> = {};
  for (const tag of user.Tags ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? '';
  return {
    userName: user.UserName ?? '',
    arn: user.Arn ?? '',
    userId: user.UserId ?? '',
    path: user.Path ?? '/',
    createDate: iso(user.CreateDate),
    tags,
  };
}

function iso(date: Date | undefined): string | undefined {
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
}
