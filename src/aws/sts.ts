import type { STSClient } from '@aws-sdk/client-sts';
import type { Sts } from '../ports.js';
import type { Identity } from '../domain/iam.js';
import { AwsError } from '../errors.js';
import type { CallFacts } from './errors.js';
import { call, type SkewObserver } from './clients.js';

/** An STS client with its module, built lazily on the first call. */
export interface StsParts {
  client: STSClient;
  sdk: typeof import('@aws-sdk/client-sts');
  /** Reads the server's Date header of each answer (absent when the transport is mocked). */
  observer?: SkewObserver;
}

/** The domain-shaped STS gateway over one SDK client. */
export function stsGateway(parts: () => Promise<StsParts>, facts: CallFacts): Sts {
  return {
    async getCallerIdentity(): Promise<Identity> {
      const { client, sdk, observer } = await parts();
      const out = await call('sts:GetCallerIdentity', facts, (abortSignal) =>
        client.send(new sdk.GetCallerIdentityCommand({}), { abortSignal }),
      );
      // An identity is what AWS vouches for: an answer without one is never "ok".
      if (!out.Account?.trim() || !out.Arn?.trim() || !out.UserId?.trim())
        throw new AwsError(
          'the answer to sts:GetCallerIdentity names no identity (empty ARN, account or user id): something other than AWS answered',
          {
            hint: 'A captive portal, a proxy or a wrong --endpoint-url answered instead of AWS: check the network, HTTPS_PROXY and --endpoint-url.',
            awsCode: 'NotAwsResponse',
            diagnosis: 'network',
          },
        );
      const identity: Identity = { account: out.Account, arn: out.Arn, userId: out.UserId };
      if (observer?.skewMs !== undefined) identity.clockSkewMs = observer.skewMs;
      return identity;
    },
  };
}
