import type { Aws, AwsSession, Iam, Sts } from '../ports.js';
import { retry, type BackoffClock, type BackoffPolicy } from '../domain/backoff.js';
import type { AdaptiveLimit } from '../domain/concurrency.js';
import { AwsError, CliError } from '../errors.js';
import { isThrottling } from './errors.js';

/**
 * Retrying a throttled call, after the SDK's own attempts (standard mode) gave up: AWS's guidance,
 * exponential backoff with full jitter, from the SDK's base delay for throttling (500 ms) to its cap
 * (20 s). IAM's request rate is shared by the whole account, so a long wait is the normal case under
 * load: only a long stretch of nothing but throttling gives up.
 */
export const THROTTLE_RETRY: BackoffPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 20_000,
  timeoutMs: 10 * 60_000,
  jitter: true,
};

/**
 * What the paced gateways saw: answers per service, and the throttling answers retried. A call is one
 * gateway call: the SDK's own retries and a gateway's read-backs inside it are more HTTP requests.
 */
export interface PacingCounts {
  /** IAM calls answered (success or a refusal other than throttling). */
  iam: number;
  /** STS calls answered. */
  sts: number;
  /** Throttling answers (each one retried). */
  throttled: number;
}

/**
 * The Aws port, paced: every IAM and STS call tells `limit` how AWS answered (a throttling answer halves
 * it, a run of successes grows it) and a throttled call is sent again under THROTTLE_RETRY, so that
 * throttling alone never fails a rotation. Past the policy's time the call fails with exit 5.
 */
export function pacedAws(
  aws: Aws,
  limit: Pick<AdaptiveLimit, 'epoch' | 'record'>,
  clock: BackoffClock,
  counts: PacingCounts,
  options: {
    random?: () => number;
    policy?: BackoffPolicy;
    /** Told before each pause after a throttling answer (e.g. for a progress line). */
    onWait?: (action: string, delayMs: number) => void;
  } = {},
): Aws {
  const policy = options.policy ?? THROTTLE_RETRY;
  const paced = async <T>(service: 'iam' | 'sts', name: string, send: () => Promise<T>): Promise<T> => {
    try {
      return await retry(
        clock,
        policy,
        async () => {
          const epoch = limit.epoch;
          try {
            const value = await send();
            counts[service] += 1;
            limit.record({ kind: 'ok' });
            return value;
          } catch (error) {
            if (!isThrottling(error)) {
              counts[service] += 1;
              throw error;
            }
            counts.throttled += 1;
            limit.record({ kind: 'throttled', epoch });
            throw error;
          }
        },
        isThrottling,
        {
          ...(options.random ? { random: options.random } : {}),
          onWait: (info) => options.onWait?.(actionName(service, name), info.delayMs),
        },
      );
    } catch (error) {
      if (!isThrottling(error)) throw error;
      const cli = error instanceof CliError ? error : undefined;
      throw new AwsError(
        `AWS kept throttling ${actionName(service, name)} for ${Math.round(policy.timeoutMs / 1000)} s, retrying with backoff all along (${cli?.awsCode ?? 'Throttling'})`,
        {
          cause: error,
          awsCode: cli?.awsCode ?? 'Throttling',
          ...(cli?.requestId ? { requestId: cli.requestId } : {}),
          diagnosis: 'region',
          hint: "The account's IAM request rate is shared by everything that calls IAM in it: run again later, or with a lower --concurrency.",
        },
      );
    }
  };
  const wrap = (session: AwsSession): AwsSession => {
    const iam = {} as Record<string, unknown>;
    for (const [name, method] of Object.entries(session.iam) as Array<[string, (...a: unknown[]) => Promise<unknown>]>)
      iam[name] = (...args: unknown[]) => paced('iam', name, () => method.apply(session.iam, args));
    const sts: Sts = {
      getCallerIdentity: () => paced('sts', 'getCallerIdentity', () => session.sts.getCallerIdentity()),
    };
    return { ...session, iam: iam as unknown as Iam, sts };
  };
  return {
    admin: async () => wrap(await aws.admin()),
    as: async (credentials, region) => wrap(await aws.as(credentials, region)),
  };
}

/** "iam:ListAccessKeys" for the gateway method `listAccessKeys`. */
function actionName(service: string, method: string): string {
  return `${service}:${method.charAt(0).toUpperCase()}${method.slice(1)}`;
}
