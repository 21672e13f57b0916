import { randomUUID } from 'node:crypto';
import type { Consumer, DeliveryOutcome, SecretsManager } from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { CliError } from '../errors.js';
import { redact } from '../domain/redact.js';

/** The tag every secret we create carries, and that marks a secret as ours to overwrite. */
export const MANAGED_BY_TAG = { key: 'managed-by', value: 'datablast-aws' } as const;

/** What the Secrets Manager consumer needs: the gateway of the secret's region (admin-signed) and a token source. */
export interface SecretsManagerConsumerDeps {
  secretsManager: () => Promise<SecretsManager>;
  /** Idempotency tokens for CreateSecret and PutSecretValue (default: random UUIDs). */
  token?: () => string;
}

/** The JSON a consumer's secret holds: what Datablast, or any AWS SDK user, reads back. */
export function secretValue(connection: Connection, pair: AccessKeyPair): string {
  return JSON.stringify({
    AccessKeyId: pair.accessKeyId,
    SecretAccessKey: pair.secretAccessKey,
    Region: connection.region,
  });
}

/**
 * The `aws-secrets-manager:SECRET_ID` consumer: puts the key as JSON {AccessKeyId, SecretAccessKey, Region}
 * into the secret (created when absent, tagged managed-by=datablast-aws, with the KMS key if one is given) and
 * proves it by reading back the very version it wrote. A secret that exists but is not ours (untagged, holding
 * something else) is left alone.
 */
export function secretsManagerConsumer(
  secretId: string,
  options: { kmsKeyId?: string | undefined },
  deps: SecretsManagerConsumerDeps,
): Consumer {
  const token = deps.token ?? randomUUID;
  return {
    async deliver(connection, pair) {
      const value = secretValue(connection, pair);
      try {
        const sm = await deps.secretsManager();
        const found = await sm.describe(secretId);
        let target: string;
        let versionId: string;
        let created = false;
        if (!found) {
          if (secretId.startsWith('arn:'))
            return failed(
              `the secret ${secretId} does not exist`,
              'An ARN names an existing secret; to have it created, give its name instead.',
            );
          try {
            ({ versionId } = await sm.create(secretId, value, {
              tags: { [MANAGED_BY_TAG.key]: MANAGED_BY_TAG.value, 'datablast-connection': connection.name },
              clientRequestToken: token(),
              ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
            }));
            created = true;
          } catch (error) {
            // Another run created it between our look and our create: write a version instead.
            if (!(error instanceof CliError && error.awsCode === 'ResourceExistsException')) throw error;
            ({ versionId } = await sm.put(secretId, value, token()));
          }
          target = secretId;
        } else {
          if (found.deletedDate)
            return failed(
              `the secret ${found.name} is scheduled for deletion`,
              `Restore it first: aws secretsmanager restore-secret --secret-id ${found.name}`,
            );
          const current = await sm.getValue(found.arn);
          if (!isOurs(found.tags, current?.value))
            return failed(
              `the secret ${found.name} exists and does not look like one datablast-aws writes (no managed-by=datablast-aws tag, and its value is not an access key)`,
              'Name another secret, or tag this one managed-by=datablast-aws if it may be overwritten.',
            );
          if (current && sameKey(current.value, value))
            return {
              status: 'delivered',
              detail: `${found.name} already holds this key (version ${current.versionId})`,
            };
          ({ versionId } = await sm.put(found.arn, value, token()));
          target = found.arn;
        }
        const back = await sm.getValue(target, { versionId });
        if (!back || !sameKey(back.value, value))
          return failed(
            `reading back version ${versionId} of ${secretId} did not return the key that was written`,
            'Something else writes to this secret, or a resource policy or KMS key hides it; check the secret, then deliver again.',
          );
        return {
          status: 'delivered',
          detail: `${created ? 'created' : 'updated'} ${secretId}: version ${versionId} read back and matches`,
        };
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        return failed(error.message, error.hint);
      }
    },
  };
}

function failed(message: string, hint?: string): DeliveryOutcome {
  return { status: 'failed', message: redact(message), ...(hint ? { hint } : {}) };
}

/** True for a secret we may overwrite: tagged as ours, empty, or already holding an access key. */
function isOurs(tags: Record<string, string>, value: string | undefined): boolean {
  if (tags[MANAGED_BY_TAG.key] === MANAGED_BY_TAG.value || value === undefined) return true;
  const parsed = parseObject(value);
  return typeof parsed?.AccessKeyId === 'string' && typeof parsed.SecretAccessKey === 'string';
}

/** True when two secret values carry the same key and region. */
function sameKey(a: string, b: string): boolean {
  const x = parseObject(a);
  const y = parseObject(b);
  return (
    x !== undefined &&
    y !== undefined &&
    x.AccessKeyId === y.AccessKeyId &&
    x.SecretAccessKey === y.SecretAccessKey &&
    x.Region === y.Region
  );
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
