import type { SecretDescription, SecretListing, SecretsManager } from '../../src/ports.js';
import { CliError } from '../../src/errors.js';

interface Version {
  value: string;
  stages: string[];
}

interface Secret {
  arn: string;
  tags: Record<string, string>;
  description: string | undefined;
  versions: Map<string, Version>;
}

/** An AWS error as the gateway raises it. */
function awsError(code: string, message: string): CliError {
  const error = new CliError(message, 5, { awsCode: code });
  return error;
}

/**
 * Secrets Manager in memory, with AWS's label rules: a label is on at most one version; putting a version with a
 * label takes it off the others; UpdateSecretVersionStage with RemoveFromVersionId refuses (InvalidParameterException)
 * when the label is not on that version. `calls` counts each operation, to prove what a command reads.
 */
export class MemorySecretsManager implements SecretsManager {
  readonly secrets = new Map<string, Secret>();
  readonly calls: string[] = [];

  private secret(id: string): Secret {
    const secret = this.secrets.get(id);
    if (!secret) throw awsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret ${id}`);
    return secret;
  }

  private label(secret: Secret, versionId: string, stages: readonly string[]): void {
    for (const version of secret.versions.values())
      version.stages = version.stages.filter((stage) => !stages.includes(stage));
    secret.versions.get(versionId)!.stages.push(...stages);
  }

  async listByPrefix(namePrefix: string): Promise<SecretListing[]> {
    this.calls.push('ListSecrets');
    return [...this.secrets]
      .filter(([name]) => name.startsWith(namePrefix))
      .map(([name, s]) => ({
        arn: s.arn,
        name,
        tags: { ...s.tags },
        description: s.description,
        versionStages: Object.fromEntries([...s.versions].map(([id, v]) => [id, [...v.stages]])),
      }));
  }

  async describe(secretId: string): Promise<SecretDescription | undefined> {
    this.calls.push('DescribeSecret');
    const s = this.secrets.get(secretId);
    return s && { arn: s.arn, name: secretId, tags: { ...s.tags } };
  }

  async create(
    name: string,
    value: string,
    options: { tags: Record<string, string>; kmsKeyId?: string; clientRequestToken: string; description?: string },
  ): Promise<{ arn: string; versionId: string }> {
    this.calls.push('CreateSecret');
    if (this.secrets.has(name)) throw awsError('ResourceExistsException', `the secret ${name} already exists`);
    const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;
    const versions = new Map([[options.clientRequestToken, { value, stages: ['AWSCURRENT'] }]]);
    this.secrets.set(name, { arn, tags: { ...options.tags }, description: options.description, versions });
    return { arn, versionId: options.clientRequestToken };
  }

  async put(
    secretId: string,
    value: string,
    clientRequestToken: string,
    stages: string[] = ['AWSCURRENT'],
  ): Promise<{ versionId: string }> {
    this.calls.push('PutSecretValue');
    const secret = this.secret(secretId);
    const existing = secret.versions.get(clientRequestToken);
    if (existing && existing.value !== value)
      throw awsError('ResourceExistsException', 'a version with this client request token holds another value');
    if (!existing) secret.versions.set(clientRequestToken, { value, stages: [] });
    this.label(secret, clientRequestToken, stages);
    return { versionId: clientRequestToken };
  }

  async moveStage(secretId: string, stage: string, moveToVersionId: string, removeFromVersionId: string) {
    this.calls.push('UpdateSecretVersionStage');
    const secret = this.secret(secretId);
    if (!secret.versions.get(removeFromVersionId)?.stages.includes(stage))
      throw awsError('InvalidParameterException', `Version stage ${stage} not found in version ${removeFromVersionId}`);
    if (!secret.versions.has(moveToVersionId))
      throw awsError('InvalidParameterException', `Not a valid version: ${moveToVersionId}`);
    this.label(secret, moveToVersionId, [stage]);
  }

  async removeStage(secretId: string, stage: string, fromVersionId: string) {
    this.calls.push('UpdateSecretVersionStage');
    const version = this.secret(secretId).versions.get(fromVersionId);
    if (!version?.stages.includes(stage))
      throw awsError('InvalidParameterException', `Version stage ${stage} not found in version ${fromVersionId}`);
    version.stages = version.stages.filter((s) => s !== stage);
  }

  async setDescription(secretId: string, description: string) {
    this.calls.push('UpdateSecret');
    this.secret(secretId).description = description;
  }

  async deleteNow(secretId: string): Promise<boolean> {
    this.calls.push('DeleteSecret');
    return this.secrets.delete(secretId);
  }

  async getValue(
    secretId: string,
    version?: { versionId: string } | { stage: string },
  ): Promise<{ value: string; versionId: string } | undefined> {
    this.calls.push('GetSecretValue');
    const secret = this.secrets.get(secretId);
    if (!secret) return undefined;
    for (const [id, v] of secret.versions) {
      const match =
        version && 'versionId' in version
          ? id === version.versionId
          : v.stages.includes(version?.stage ?? 'AWSCURRENT');
      if (match) return { value: v.value, versionId: id };
    }
    return undefined;
  }
}
