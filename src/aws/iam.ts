import type { IAMClient, Tag } from '@aws-sdk/client-iam';
import type { Iam } from '../ports.js';
import type { AccessKeyInfo, IamUser } from '../domain/iam.js';
import type { AccessKeyPair } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { CliError } from '../errors.js';
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

/** The domain-shaped IAM gateway over the SDK; every error goes through the one error table. */
export function iamGateway(
  parts: () => Promise<IamParts>,
  facts: CallFacts,
  sleep: (ms: number) => Promise<void>,
): Iam {
  const send = async <T>(action: string, work: (p: IamParts, abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const p = await parts();
    return call(action, facts, (abortSignal) => work(p, abortSignal));
  };

  return {
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
      for (let attempt = 1; ; attempt += 1) {
        try {
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
        } catch (error) {
          if (attempt >= MAX_ATTEMPTS || !(error instanceof CliError) || !SAFE_TO_RETRY.has(error.awsCode ?? ''))
            throw error;
          await sleep(200 * 2 ** attempt);
        }
      }
    },

    async updateAccessKey(userName, accessKeyId, status) {
      await send('iam:UpdateAccessKey', (p, abortSignal) =>
        p.client.send(
          new p.sdk.UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: status }),
          { abortSignal },
        ),
      );
    },

    async deleteAccessKey(userName, accessKeyId) {
      await send('iam:DeleteAccessKey', (p, abortSignal) =>
        p.client.send(new p.sdk.DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }), {
          abortSignal,
        }),
      );
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
