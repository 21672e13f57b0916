import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretListing, SecretsManager } from '../ports.js';
import { lazy } from '../lazy.js';
import { CliError } from '../errors.js';
import type { CallFacts } from './errors.js';
import { addDebugLogging, call, type AwsDeps } from './clients.js';
import type { SessionConfig } from './probes.js';

/** The Secrets Manager client with its module, built on the first call. */
interface SecretsManagerParts {
  client: SecretsManagerClient;
  sdk: typeof import('@aws-sdk/client-secrets-manager');
}

/**
 * The domain-shaped Secrets Manager gateway of one session in one region: the session's credentials, retries,
 * timeouts and proxy-aware HTTP handler; the endpoint from --endpoint-url, AWS_ENDPOINT_URL_SECRETS_MANAGER or
 * AWS_ENDPOINT_URL. Every failure goes through the one error table. @aws-sdk/client-secrets-manager is loaded
 * with `await import()` on the first call only.
 */
export function secretsManagerGateway(
  ctx: AwsDeps,
  config: SessionConfig,
  facts: CallFacts,
  region: string,
): SecretsManager {
  const parts = lazy(async (): Promise<SecretsManagerParts> => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const client = new sdk.SecretsManagerClient({ ...(await config('secrets_manager')), region });
    addDebugLogging(ctx, client, 'secrets_manager');
    return { client, sdk };
  });
  const regional: CallFacts = { ...facts, region };
  const send = async <T>(
    action: string,
    work: (p: SecretsManagerParts, abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> => {
    const p = await parts();
    return call(action, regional, (abortSignal) => work(p, abortSignal));
  };
  const notFound = (error: unknown) => error instanceof CliError && error.awsCode === 'ResourceNotFoundException';

  return {
    async listByPrefix(namePrefix) {
      const found: SecretListing[] = [];
      let nextToken: string | undefined;
      do {
        const token = nextToken;
        const out = await send('secretsmanager:ListSecrets', (p, abortSignal) =>
          p.client.send(
            new p.sdk.ListSecretsCommand({
              Filters: [{ Key: 'name', Values: [namePrefix] }],
              MaxResults: 100,
              ...(token ? { NextToken: token } : {}),
            }),
            { abortSignal },
          ),
        );
        for (const entry of out.SecretList ?? []) {
          // The name filter is a prefix match that AWS documents loosely: keep only exact prefixes.
          if (!entry.Name?.startsWith(namePrefix)) continue;
          found.push({
            arn: entry.ARN ?? entry.Name,
            name: entry.Name,
            tags: tagsOf(entry.Tags),
            description: entry.Description,
            versionStages: entry.SecretVersionsToStages ?? {},
          });
        }
        nextToken = out.NextToken || undefined;
      } while (nextToken);
      return found;
    },

    async describe(secretId) {
      try {
        const out = await send('secretsmanager:DescribeSecret', (p, abortSignal) =>
          p.client.send(new p.sdk.DescribeSecretCommand({ SecretId: secretId }), { abortSignal }),
        );
        return {
          arn: out.ARN ?? secretId,
          name: out.Name ?? secretId,
          tags: tagsOf(out.Tags),
          ...(out.DeletedDate ? { deletedDate: out.DeletedDate.toISOString() } : {}),
        };
      } catch (error) {
        if (notFound(error)) return undefined;
        throw error;
      }
    },

    async create(name, value, options) {
      const out = await send('secretsmanager:CreateSecret', (p, abortSignal) =>
        p.client.send(
          new p.sdk.CreateSecretCommand({
            Name: name,
            SecretString: value,
            ClientRequestToken: options.clientRequestToken,
            Description: options.description ?? 'An AWS access key handed over by datablast-aws',
            Tags: Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value })),
            ...(options.kmsKeyId ? { KmsKeyId: options.kmsKeyId } : {}),
          }),
          { abortSignal },
        ),
      );
      if (!out.ARN || !out.VersionId)
        throw new CliError('AWS answered secretsmanager:CreateSecret without an ARN or version', 5);
      return { arn: out.ARN, versionId: out.VersionId };
    },

    async put(secretId, value, clientRequestToken, stages) {
      const out = await send('secretsmanager:PutSecretValue', (p, abortSignal) =>
        p.client.send(
          new p.sdk.PutSecretValueCommand({
            SecretId: secretId,
            SecretString: value,
            ClientRequestToken: clientRequestToken,
            ...(stages ? { VersionStages: stages } : {}),
          }),
          { abortSignal },
        ),
      );
      if (!out.VersionId) throw new CliError('AWS answered secretsmanager:PutSecretValue without a version', 5);
      return { versionId: out.VersionId };
    },

    async moveStage(secretId, stage, moveToVersionId, removeFromVersionId) {
      await send('secretsmanager:UpdateSecretVersionStage', (p, abortSignal) =>
        p.client.send(
          new p.sdk.UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: stage,
            MoveToVersionId: moveToVersionId,
            RemoveFromVersionId: removeFromVersionId,
          }),
          { abortSignal },
        ),
      );
    },

    async setDescription(secretId, description) {
      await send('secretsmanager:UpdateSecret', (p, abortSignal) =>
        p.client.send(new p.sdk.UpdateSecretCommand({ SecretId: secretId, Description: description }), {
          abortSignal,
        }),
      );
    },

    async deleteNow(secretId) {
      try {
        await send('secretsmanager:DeleteSecret', (p, abortSignal) =>
          p.client.send(new p.sdk.DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }), {
            abortSignal,
          }),
        );
        return true;
      } catch (error) {
        if (notFound(error)) return false;
        throw error;
      }
    },

    async removeStage(secretId, stage, fromVersionId) {
      await send('secretsmanager:UpdateSecretVersionStage', (p, abortSignal) =>
        p.client.send(
          new p.sdk.UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: stage,
            RemoveFromVersionId: fromVersionId,
          }),
          { abortSignal },
        ),
      );
    },

    async getValue(secretId, version) {
      try {
        const out = await send('secretsmanager:GetSecretValue', (p, abortSignal) =>
          p.client.send(
            // AWSCURRENT named, not implied: moto answers an unqualified read with the version last put, not the label.
            new p.sdk.GetSecretValueCommand({
              SecretId: secretId,
              ...(version && 'versionId' in version
                ? { VersionId: version.versionId }
                : { VersionStage: version?.stage ?? 'AWSCURRENT' }),
            }),
            { abortSignal },
          ),
        );
        if (out.SecretString === undefined || !out.VersionId) return undefined;
        return { value: out.SecretString, versionId: out.VersionId };
      } catch (error) {
        if (notFound(error)) return undefined;
        throw error;
      }
    },
  };
}

function tagsOf(
  list: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined,
): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of list ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? '';
  return tags;
}
