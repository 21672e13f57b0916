import type { Aws, AwsSession } from '../ports.js';
import { lazy } from '../lazy.js';
import type { Credentials } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { translateAwsError, type CallFacts } from './errors.js';
import {
  addDebugLogging,
  type AwsDeps,
  buildHttpHandler,
  MAX_ATTEMPTS,
  proxyFor,
  quietSdkNotices,
  resolveEndpoint,
  resolveRegion,
  sdkLogger,
  SkewObserver,
  type Service,
} from './clients.js';
import { iamGateway, type IamParts } from './iam.js';
import { diagnosticGateways } from './probes.js';
import { secretsManagerGateway } from './secrets-manager.js';
import { stsGateway, type StsParts } from './sts.js';

/** Credentials as the SDK takes them: fixed, or a provider it calls when it needs them. */
interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
type CredentialSource = AwsCredentialIdentity | ((props?: Record<string, unknown>) => Promise<AwsCredentialIdentity>);

/**
 * The real AWS gateways. `admin()` signs with the standard credential chain (--profile, AWS_PROFILE,
 * environment, shared files, SSO, role profiles), never with a stored connection; `as()` signs with
 * exactly the credentials given. Nothing of the SDK is loaded until a gateway makes its first call.
 */
export function sdkAws(ctx: AwsDeps): Aws {
  const http = lazy(async () => {
    quietSdkNotices();
    return buildHttpHandler(ctx, await proxyAgentFor(ctx));
  });

  const admin = lazy(async (): Promise<AwsSession> => {
    const region = resolveRegion(ctx);
    const profile = ctx.globals.profile ?? (ctx.env.AWS_PROFILE || undefined);
    const facts: CallFacts = { signer: 'admin', region, ...(profile ? { profile } : {}) };
    const credentials = await adminCredentials(ctx, profile, region, http);
    return session(ctx, http, credentials, region, facts);
  });

  return {
    admin,
    async as(credentials: Credentials, region?: string): Promise<AwsSession> {
      rememberSecret(credentials.secretAccessKey);
      rememberSecret(credentials.sessionToken);
      // A static identity: the SDK then never consults the environment, files or profiles.
      const identity: AwsCredentialIdentity = {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
      };
      const resolved = resolveRegion(ctx, region);
      return session(ctx, http, identity, resolved, { signer: 'key', region: resolved }, credentials.accessKeyId);
    },
  };
}

/** The admin credential chain; a failure to find any surfaces on the first call, through the error table. */
async function adminCredentials(
  ctx: AwsDeps,
  profile: string | undefined,
  region: string,
  http: () => Promise<unknown>,
): Promise<CredentialSource> {
  const env = ctx.env;
  // The SDK's environment provider reads process.env; the context's environment is what this run was given.
  if (!profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    rememberSecret(env.AWS_SECRET_ACCESS_KEY);
    rememberSecret(env.AWS_SESSION_TOKEN);
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const stsEndpoint = resolveEndpoint(ctx, 'sts');
  const provider = fromNodeProviderChain({
    ...(profile ? { profile } : {}),
    ...(env.AWS_SHARED_CREDENTIALS_FILE ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE } : {}),
    ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
    logger: sdkLogger(ctx),
    // The STS client that role profiles assume roles with: same bounds, region and endpoint as ours.
    clientConfig: {
      region,
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: (await http()) as never,
      ...(stsEndpoint ? { endpoint: stsEndpoint } : {}),
    },
  });
  return async (props) => {
    const identity = await provider(props);
    rememberSecret(identity.secretAccessKey);
    rememberSecret(identity.sessionToken);
    return identity;
  };
}

/** One pair of gateways signed by one set of credentials; each service's SDK client is built on its first call. */
function session(
  ctx: AwsDeps,
  http: () => Promise<unknown>,
  credentials: CredentialSource,
  region: string,
  facts: CallFacts,
  signerKeyId?: string,
): AwsSession {
  const config = async (service: Service, observer?: SkewObserver) => {
    const endpoint = resolveEndpoint(ctx, service);
    return {
      region,
      credentials,
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: (observer ?? (await http())) as never,
      ...(endpoint ? { endpoint } : {}),
    };
  };
  const stsParts = lazy(async (): Promise<StsParts> => {
    const sdk = await import('@aws-sdk/client-sts');
    const observer = new SkewObserver((await http()) as never);
    const client = new sdk.STSClient(await config('sts', observer));
    addDebugLogging(ctx, client, 'sts');
    return { client, sdk, observer };
  });
  const iamParts = lazy(async (): Promise<IamParts> => {
    const sdk = await import('@aws-sdk/client-iam');
    const client = new sdk.IAMClient(await config('iam'));
    const once = new sdk.IAMClient({ ...(await config('iam')), maxAttempts: 1 });
    addDebugLogging(ctx, client, 'iam');
    addDebugLogging(ctx, once, 'iam');
    return { client, once, sdk };
  });
  return {
    sts: stsGateway(stsParts, facts),
    iam: iamGateway(iamParts, facts, ctx.clock, signerKeyId),
    ...diagnosticGateways(ctx, http, config, facts),
    secretsManager: (secretRegion) => secretsManagerGateway(ctx, config, facts, secretRegion),
  };
}

/**
 * An HTTPS agent that tunnels through HTTPS_PROXY, when one applies to the AWS endpoints; the proxy code
 * is loaded only then. The endpoints of one context share their host rules, so STS's endpoint decides.
 */
async function proxyAgentFor(ctx: AwsDeps): Promise<{ agent: unknown; shownAs: string } | undefined> {
  const probe = resolveEndpoint(ctx, 'sts') ?? 'https://sts.amazonaws.com';
  const proxy = proxyFor(ctx.env, probe);
  if (!proxy) return undefined;
  try {
    const { ProxyAgent } = await import('./proxy.js');
    const agent = new ProxyAgent(proxy, ctx.env);
    return { agent, shownAs: agent.shownAs };
  } catch (error) {
    throw translateAwsError(error, 'the proxy setup');
  }
}
