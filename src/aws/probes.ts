import type { ProbeCount, Probes, Sts } from '../ports.js';
import { lazy } from '../lazy.js';
import {
  BUCKET_PROBE_ACTION,
  bucketAction,
  GLOBAL_STS_REGION,
  LOCATION_PROBE_ACTION,
  PROBE_ACTIONS,
} from '../domain/diagnosis.js';
import { addDebugLogging, call, resolveEndpoint, SkewObserver, type AwsDeps, type Service } from './clients.js';
import type { CallFacts } from './errors.js';
import { stsGateway, type StsParts } from './sts.js';

/**
 * The gateways only `test` uses: STS at the global endpoint (to recognise an opt-in region) and
 * read-only service probes (`--service`). They share the session's client settings (region,
 * credentials, retries, timeouts, the proxy-aware HTTP handler, endpoint rules); each SDK module
 * (@aws-sdk/client-s3, -rds, -lambda) is loaded with `await import()` on its first probe only.
 */

/** The global STS endpoint; an endpoint override (--endpoint-url, AWS_ENDPOINT_URL[_STS]) replaces it. */
export const GLOBAL_STS_ENDPOINT = 'https://sts.amazonaws.com';

/** Items asked for on a listing probe's first page: enough to say "allowed", cheap to answer. */
const PAGE = 50;

/** The SDK client settings of one session for one service; `observer` wraps the HTTP handler to read Date headers. */
export type SessionConfig = (service: Service, observer?: SkewObserver) => Promise<Record<string, unknown>>;

/** The shared HTTP handler of the context, for a SkewObserver to wrap. */
export type SharedHandler = () => Promise<unknown>;

/** The global STS gateway and the service probes of one session. */
export function diagnosticGateways(
  ctx: AwsDeps,
  http: SharedHandler,
  config: SessionConfig,
  facts: CallFacts,
): { globalSts: Sts; probes: Probes } {
  const globalParts = lazy(async (): Promise<StsParts> => {
    const sdk = await import('@aws-sdk/client-sts');
    const observer = new SkewObserver((await http()) as never);
    const base = await config('sts', observer);
    // Signed for us-east-1, which is never an opt-in region; the override endpoint keeps local endpoints working.
    const client = new sdk.STSClient({
      ...base,
      region: GLOBAL_STS_REGION,
      endpoint: resolveEndpoint(ctx, 'sts') ?? GLOBAL_STS_ENDPOINT,
    });
    addDebugLogging(ctx, client, 'sts');
    return { client, sdk, observer };
  });
  return {
    globalSts: stsGateway(globalParts, { ...facts, region: GLOBAL_STS_REGION }),
    probes: probesGateway(ctx, config, facts),
  };
}

/** The read-only probes of `test --service`; every failure goes through the one error table, naming the IAM action. */
export function probesGateway(ctx: AwsDeps, config: SessionConfig, facts: CallFacts): Probes {
  const s3 = lazy(async () => {
    const sdk = await import('@aws-sdk/client-s3');
    const base = await config('s3');
    // A custom endpoint (moto, MinIO, a VPC endpoint) has no per-bucket DNS names; AWS itself prefers virtual hosts.
    const client = new sdk.S3Client({
      ...base,
      forcePathStyle: base.endpoint !== undefined,
      followRegionRedirects: true,
    });
    addDebugLogging(ctx, client, 's3');
    return { client, sdk };
  });
  const rds = lazy(async () => {
    const sdk = await import('@aws-sdk/client-rds');
    const client = new sdk.RDSClient(await config('rds'));
    addDebugLogging(ctx, client, 'rds');
    return { client, sdk };
  });
  const lambda = lazy(async () => {
    const sdk = await import('@aws-sdk/client-lambda');
    const client = new sdk.LambdaClient(await config('lambda'));
    addDebugLogging(ctx, client, 'lambda');
    return { client, sdk };
  });

  return {
    async listBuckets(): Promise<ProbeCount> {
      const { client, sdk } = await s3();
      const out = await call(PROBE_ACTIONS.s3, facts, (abortSignal) =>
        client.send(new sdk.ListBucketsCommand({}), { abortSignal }),
      );
      return { count: out.Buckets?.length ?? 0, more: Boolean(out.ContinuationToken) };
    },

    async headBucket(bucket: string): Promise<void> {
      const { client, sdk } = await s3();
      await call(`${BUCKET_PROBE_ACTION} on ${bucket}`, facts, async (abortSignal) => {
        try {
          await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }), { abortSignal });
        } catch (error) {
          throw headBucketError(error, bucket);
        }
      });
    },

    async bucketRegion(bucket: string): Promise<string> {
      const { client, sdk } = await s3();
      const out = await call(bucketAction(LOCATION_PROBE_ACTION, bucket), facts, async (abortSignal) => {
        try {
          return await client.send(new sdk.GetBucketLocationCommand({ Bucket: bucket }), { abortSignal });
        } catch (error) {
          throw headBucketError(error, bucket);
        }
      });
      // S3 names us-east-1 by no constraint at all, and eu-west-1 by its old name EU.
      const constraint = out.LocationConstraint as string | undefined;
      return !constraint ? 'us-east-1' : constraint === 'EU' ? 'eu-west-1' : constraint;
    },

    async listObjects(bucket: string, prefix?: string): Promise<ProbeCount> {
      const { client, sdk } = await s3();
      const out = await call(bucketAction(BUCKET_PROBE_ACTION, bucket, prefix), facts, async (abortSignal) => {
        try {
          return await client.send(
            new sdk.ListObjectsV2Command({ Bucket: bucket, MaxKeys: PAGE, ...(prefix ? { Prefix: prefix } : {}) }),
            { abortSignal },
          );
        } catch (error) {
          throw headBucketError(error, bucket);
        }
      });
      return { count: out.KeyCount ?? out.Contents?.length ?? 0, more: Boolean(out.IsTruncated) };
    },

    async describeDbInstances(): Promise<ProbeCount> {
      const { client, sdk } = await rds();
      const out = await call(PROBE_ACTIONS.rds, facts, (abortSignal) =>
        client.send(new sdk.DescribeDBInstancesCommand({ MaxRecords: PAGE }), { abortSignal }),
      );
      return { count: out.DBInstances?.length ?? 0, more: Boolean(out.Marker) };
    },

    async listFunctions(): Promise<ProbeCount> {
      const { client, sdk } = await lambda();
      const out = await call(PROBE_ACTIONS.lambda, facts, (abortSignal) =>
        client.send(new sdk.ListFunctionsCommand({ MaxItems: PAGE }), { abortSignal }),
      );
      return { count: out.Functions?.length ?? 0, more: Boolean(out.NextMarker) };
    },
  };
}

/**
 * A HEAD answer has no body, so the SDK names its error after the status alone ("Forbidden", "NotFound",
 * or "Unknown"): give it the code AWS would have sent, so the error table words it.
 */
function headBucketError(error: unknown, bucket: string): unknown {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number; requestId?: string } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  // Only a bodiless answer is named after its status; an AWS error code (and its message) is kept.
  if (!['Forbidden', 'NotFound', 'Unknown', 'UnknownError', 'Error', undefined].includes(e?.name)) return error;
  if (status === 403)
    return Object.assign(new Error(`Access Denied to bucket ${bucket}`), {
      name: 'AccessDenied',
      $metadata: e!.$metadata,
      cause: error,
    });
  if (status === 404)
    return Object.assign(new Error(`The bucket ${bucket} does not exist`), {
      name: 'NoSuchBucket',
      $metadata: e!.$metadata,
      cause: error,
    });
  return error;
}
