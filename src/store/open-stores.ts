import type { Context, StoreKind, Stores } from '../ports.js';
import { resolveRegion } from '../domain/region.js';
import { validateKmsKeyId } from '../domain/kms-key.js';
import { isOurCredentialProcess } from '../domain/aws-config.js';
import { adminProfileSetting } from '../aws/config-file.js';
import { AwsError, ConfigError } from '../errors.js';
import { openConnectionStore } from './connections.js';
import { DEFAULT_SECRETS_PREFIX, openSecretsManagerStore } from './aws-secrets-manager.js';
import { openSecretStore } from './secret-store.js';

/** The store cannot be signed by credentials it holds itself. */
function selfCalling(what: string): ConfigError {
  return new ConfigError(
    `${what}: the host's AWS credentials for the shared store (AWS Secrets Manager) cannot come from the store itself, which would call itself without end`,
    {
      hint: 'Give the host credentials of its own for the store (an instance or task role, SSO, or a profile with keys: --profile or AWS_PROFILE); keep the credential_process profiles for the tools that use the connections.',
    },
  );
}

/** Set while this process signs Secrets Manager calls with the host's credentials (see openSharedStore). */
export const SHARED_STORE_CALLER = 'DATABLAST_AWS_SHARED_STORE_CALLER';

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
  const caller = env[SHARED_STORE_CALLER];
  if (caller)
    throw selfCalling(
      `this datablast-aws was started by another one (pid ${caller.slice(0, 12)}) to give it the AWS credentials for the shared store`,
    );
  // Environment keys come first in the SDK's chain; else the profile: one whose credential_process is ours would
  // have the SDK start datablast-aws to sign the store's own calls. Said before anything is started.
  const viaProfile = ctx.globals.profile !== undefined || !env.AWS_ACCESS_KEY_ID;
  if (viaProfile && isOurCredentialProcess(await adminProfileSetting(ctx, 'credential_process'))) {
    const profile = ctx.globals.profile ?? (env.AWS_PROFILE || 'default');
    throw selfCalling(`the AWS profile "${profile}" gets its credentials from datablast-aws credential-process`);
  }
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
      // A credential_process the AWS SDK starts to sign these calls inherits process.env (our own children get
      // ctx.env, which lacks it): a datablast-aws started so refuses at once instead of starting another.
      process.env[SHARED_STORE_CALLER] = String(process.pid);
      const session = await (await ctx.aws()).admin();
      if (!session.secretsManager)
        throw new AwsError('this build has no AWS Secrets Manager gateway', { hint: 'Report it as a bug.' });
      return session.secretsManager(region);
    },
  });
}
