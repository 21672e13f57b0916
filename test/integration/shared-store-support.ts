import {
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import type { Moto } from '../support/moto.js';
import { tempConfigDir } from '../support/cli-process.js';
import { MotoWorld } from './rotate-support.js';
import {
  DEFAULT_SECRETS_PREFIX,
  decodeName,
  describe as summarise,
  encodeName,
  type StoredRecord,
} from '../../src/store/aws-secrets-manager.js';
import { pendingAccount } from '../../src/domain/rotation.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/**
 * A MotoWorld whose CLI keeps its connections in moto's Secrets Manager (the aws-secrets-manager store), signed by
 * the "host's own" credentials (moto's admin). Each host has its own config dir; `host()` makes another host
 * sharing the same moto, admin and secrets.
 */
export class SharedWorld extends MotoWorld {
  constructor(moto: Moto, configDir = tempConfigDir('dbaws-shared-')) {
    super(moto, configDir, { DATABLAST_AWS_SECRET_STORE: 'aws-secrets-manager', AWS_EC2_METADATA_DISABLED: 'true' });
  }

  /** Another host: its own config dir, the same AWS. */
  host(): SharedWorld {
    const other = new SharedWorld(this.moto);
    other.admin = this.admin;
    return other;
  }

  /** The host's own credentials are always there: they reach Secrets Manager (never the connection's IAM calls). */
  override env(options: { admin?: boolean; endpoint?: string } = {}): Record<string, string> {
    return {
      ...super.env(options),
      AWS_ACCESS_KEY_ID: this.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.admin.secretAccessKey,
    };
  }

  sm(): SecretsManagerClient {
    return new SecretsManagerClient({
      endpoint: this.moto.url,
      region: 'us-east-1',
      credentials: this.admin,
      maxAttempts: 1,
    });
  }

  /** The secret of connection `name`. */
  secretId(name: string): string {
    return `${DEFAULT_SECRETS_PREFIX}${encodeName(name)}`;
  }

  /** The record a version of the connection's secret holds (AWSCURRENT by default), or undefined. */
  async record(name: string, stage = 'AWSCURRENT'): Promise<StoredRecord | undefined> {
    try {
      const out = await this.sm().send(
        new GetSecretValueCommand({ SecretId: this.secretId(name), VersionStage: stage }),
      );
      return JSON.parse(out.SecretString!) as StoredRecord;
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /** Every connection name under the prefix. */
  async names(): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.sm().send(new ListSecretsCommand({ NextToken: token, IncludePlannedDeletion: false }));
      for (const secret of page.SecretList ?? []) {
        if (!secret.Name?.startsWith(DEFAULT_SECRETS_PREFIX)) continue;
        const name = decodeName(secret.Name.slice(DEFAULT_SECRETS_PREFIX.length));
        if (name !== undefined) names.push(name);
      }
      token = page.NextToken;
    } while (token);
    return names.sort();
  }

  /** Every key pair the shared store holds, current and pending, by account. */
  override async secrets(): Promise<Map<string, AccessKeyPair>> {
    const all = new Map<string, AccessKeyPair>();
    for (const name of await this.names()) {
      for (const [account, stage] of [
        [name, 'AWSCURRENT'],
        [pendingAccount(name), 'AWSPENDING'],
      ] as const) {
        const record = await this.record(name, stage);
        if (record?.accessKeyId && record.secretAccessKey)
          all.set(account, { accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey });
      }
    }
    return all;
  }

  override async state(name: string) {
    const current = await this.record(name);
    return { secrets: await this.secrets(), journal: current?.rotation, connection: current?.connection };
  }

  /** Rewrites AWSCURRENT with `change` applied (a new version and its summary), as if it had been so for long. */
  async rewrite(name: string, change: (record: StoredRecord) => void): Promise<void> {
    const id = this.secretId(name);
    const read = await this.sm().send(new GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }));
    const record = JSON.parse(read.SecretString!) as StoredRecord;
    change(record);
    const version = randomUUID();
    // Put aside, then AWSCURRENT moved, as the store writes: moto's PutSecretValue straight to AWSCURRENT leaves the
    // label on two versions once it was moved by UpdateSecretVersionStage (it tracks a default version of its own).
    await this.sm().send(
      new PutSecretValueCommand({
        SecretId: id,
        SecretString: JSON.stringify(record),
        ClientRequestToken: version,
        VersionStages: ['TEST_WRITE'],
      }),
    );
    await this.sm().send(
      new UpdateSecretVersionStageCommand({
        SecretId: id,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: version,
        RemoveFromVersionId: read.VersionId!,
      }),
    );
    await this.sm().send(new UpdateSecretCommand({ SecretId: id, Description: summarise(record, version) }));
  }

  /** Makes the connection's key look `days` old. */
  async ageKey(name: string, days: number): Promise<void> {
    await this.rewrite(name, (record) => {
      record.connection!.keyCreatedAt = new Date(Date.now() - days * 86_400_000).toISOString();
    });
  }
}
