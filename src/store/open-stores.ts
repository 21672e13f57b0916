import type { Context, StoreKind, Stores } from '../ports.js';
import { resolveRegion } from '../domain/region.js';
import { validateKmsKeyId } from '../domain/kms-key.js';
import { AwsError } from '../errors.js';
import { openConnectionStore } from './connections.js';
import { DEFAULT_SECRETS_PREFIX, openSecretsManagerStore } from './aws-secrets-manager.js';
import { openSecretStore } from './secret-store.js';

/**
 * A fresh pair of stores of `kind` (move-store's source and destination, and its read-back): the keychain or the
 * file store with the local metadata file, or the aws-secrets-manager store, which holds both.
 */
export async function openStores(ctx: Context, kind: StoreKind): Promise<Stores> {
  if (kind === 'aws-secrets-manager') return openSharedStore(ctx);
  const connections = await openConnectionStore(ctx.env);
  const secrets = await openSecretStore({ ...ctx.env, DATABLAST_AWS_SECRET_STORE: kind }, connections.dir);
  return { secrets, connections };
}

/**
 * The `aws-secrets-manager` store over the context's ports: Secrets Manager signed by the host's own credentials
 * (the standard chain: instance role, SSO, a profile; never stored), in the region of AWS_REGION or
 * AWS_DEFAULT_REGION (else us-east-1) — never --region, which names a connection's region; prefix
 * DATABLAST_AWS_SECRETS_PREFIX; new secrets encrypted with DATABLAST_AWS_KMS_KEY_ID when set. The rotation
 * journals and locks live in the secrets too, so that hosts sharing the store share one rotation.
 */
export async function openSharedStore(ctx: Context): Promise<Stores> {
  const env = ctx.env;
  const local = await openConnectionStore(env);
  const region = resolveRegion({ env }).region;
  const kms = env.DATABLAST_AWS_KMS_KEY_ID || undefined;
  return openSecretsManagerStore({
    prefix: env.DATABLAST_AWS_SECRETS_PREFIX || DEFAULT_SECRETS_PREFIX,
    region,
    kmsKeyId: kms === undefined ? undefined : validateKmsKeyId(kms, 'DATABLAST_AWS_KMS_KEY_ID'),
    dir: local.dir,
    clock: ctx.clock,
    secretsManager: async () => {
      const session = await (await ctx.aws()).admin();
      if (!session.secretsManager)
        throw new AwsError('this build has no AWS Secrets Manager gateway', { hint: 'Report it as a bug.' });
      return session.secretsManager(region);
    },
  });
}
