import { resolveRegion as regionRule } from '../domain/region.js';
import type { Context } from '../ports.js';
import { translateAwsError, type CallFacts } from './errors.js';
import { AnswerGuard } from './guard.js';

/**
 * What every SDK client of ours shares: region and endpoint rules (CLI.md, "Global options"),
 * bounded network time, a retry policy, clock-skew measurement and --debug call logging.
 * The SDK itself is loaded here with `await import()` only when a gateway is first used.
 */

/**
 * The AWS services our gateways call (s3, rds and lambda only for `test --service` probes), spelt so that
 * AWS_ENDPOINT_URL_<SERVICE> is the SDKs' own variable (AWS_ENDPOINT_URL_SECRETS_MANAGER).
 */
export type Service = 'iam' | 'sts' | 's3' | 'rds' | 'lambda' | 'secrets_manager';

/** Bound on establishing a TCP connection (per attempt). */
export const CONNECT_TIMEOUT_MS = 3_000;
/** Bound on waiting for an answer once connected (per attempt). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Attempts per call; the standard retry mode backs off on throttling and transient failures. */
export const MAX_ATTEMPTS = 3;
/** Bound on one call, retries included, so nothing ever hangs. */
export const CALL_DEADLINE_MS = 15_000;
/** IAM is global, but the SDK still needs a region to sign with. */
export { DEFAULT_REGION } from '../domain/region.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What the AWS adapter uses of the Context: the environment, the global options, the clock, stderr for --debug. */
export type AwsDeps = Pick<Context, 'env' | 'globals' | 'clock' | 'io'>;

const set = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

/** The region of a call, by the one region rule (domain/region.ts) without the profile's region: IAM signs anywhere. */
export function resolveRegion(ctx: Pick<Context, 'globals' | 'env'>, connectionRegion?: string): string {
  return regionRule({ flag: ctx.globals.region, connection: connectionRegion, env: ctx.env }).region;
}

/**
 * The endpoint of a service: the --endpoint-url flag wins; then AWS_ENDPOINT_URL_IAM / _STS; then
 * AWS_ENDPOINT_URL; none means the SDK's own. `ctx.globals.endpointUrl` merges the flag with
 * AWS_ENDPOINT_URL, so it came from the flag when it differs from that variable.
 */
export function resolveEndpoint(ctx: Pick<Context, 'globals' | 'env'>, service: Service): string | undefined {
  const generic = set(ctx.env.AWS_ENDPOINT_URL);
  const merged = set(ctx.globals.endpointUrl) ?? generic;
  if (merged !== undefined && merged !== generic) return merged;
  // The AWS SDKs' own switch to ignore endpoints configured in the environment.
  if (ctx.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true') return undefined;
  return set(ctx.env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`]) ?? merged;
}

/** The proxy for a request to `endpoint` (HTTPS_PROXY for https, unless NO_PROXY lists the host). */
export function proxyFor(env: Env, endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:') return undefined;
  const proxy = set(env.HTTPS_PROXY) ?? set(env.https_proxy);
  if (!proxy) return undefined;
  const noProxy = (set(env.NO_PROXY) ?? set(env.no_proxy) ?? '').split(/[,\s]+/).filter(Boolean);
  const host = url.hostname.toLowerCase();
  for (const entry of noProxy) {
    if (entry === '*') return undefined;
    const bare = entry
      .toLowerCase()
      .replace(/^\*?\./, '')
      .replace(/:\d+$/, '');
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  return proxy;
}

/** A logger for the SDK's internals: silent, except for warnings under --debug. */
export function sdkLogger(ctx: Pick<Context, 'globals' | 'io'>): {
  debug(...a: unknown[]): void;
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
  error(...a: unknown[]): void;
  trace(...a: unknown[]): void;
} {
  const warn = (...a: unknown[]) => {
    if (ctx.globals.debug) ctx.io.err(`aws sdk: ${a.map(String).join(' ').split('\n')[0]}\n`);
  };
  const quiet = () => undefined;
  return { debug: quiet, info: quiet, trace: quiet, warn, error: warn };
}

/** The minimal shape of the SDK's HTTP handler that we wrap. */
interface HttpHandlerLike {
  metadata?: unknown;
  handle(
    request: unknown,
    options?: unknown,
  ): Promise<{ response: { statusCode: number; headers: Record<string, string | undefined> } }>;
  updateHttpClientConfig?(key: unknown, value: unknown): void;
  httpHandlerConfigs?(): unknown;
  destroy?(): void;
}

/**
 * Wraps the shared HTTP handler to read each response's Date header: the SDK corrects clock skew
 * silently, so this is the only way to tell the user their clock is wrong.
 */
export class SkewObserver implements HttpHandlerLike {
  /** Server time minus local time at the last response with a Date header. */
  skewMs: number | undefined;
  readonly metadata: unknown;

  constructor(private readonly inner: HttpHandlerLike) {
    this.metadata = inner.metadata;
  }

  async handle(
    request: unknown,
    options?: unknown,
  ): Promise<{ response: { statusCode: number; headers: Record<string, string | undefined> } }> {
    const sent = Date.now();
    const result = await this.inner.handle(request, options);
    const received = Date.now();
    const date = headerOf(result.response.headers, 'date');
    const server = date ? Date.parse(date) : Number.NaN;
    // The Date header is truncated to the second (add half a second) and stamped during the round trip (take its middle).
    if (!Number.isNaN(server)) this.skewMs = server + 500 - Math.round((sent + received) / 2);
    return result;
  }

  updateHttpClientConfig(key: unknown, value: unknown): void {
    this.inner.updateHttpClientConfig?.(key, value);
  }

  httpHandlerConfigs(): unknown {
    return this.inner.httpHandlerConfigs?.() ?? {};
  }

  /** The inner handler is shared by every client of the context: a client's destroy() must not close it. */
  destroy(): void {}
}

function headerOf(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/**
 * Builds the HTTP handler every client of one context shares: bounded connect and answer times, the proxy
 * if any, and the answer guard (only a bounded AWS answer reaches the SDK).
 */
export async function buildHttpHandler(
  ctx: Pick<Context, 'globals' | 'io'>,
  proxy?: { agent: unknown; shownAs: string },
): Promise<HttpHandlerLike> {
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const inner = new NodeHttpHandler({
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Without this the SDK only logs a warning when the request timeout passes, and waits on.
    throwOnRequestTimeout: true,
    logger: sdkLogger(ctx),
    ...(proxy ? { httpsAgent: proxy.agent as never } : {}),
  }) as unknown as HttpHandlerLike;
  return new AnswerGuard(inner, CALL_DEADLINE_MS, proxy?.shownAs);
}

/**
 * The SDK prints a multi-line Node-version notice on stderr when a client is built on Node 20; our stderr
 * carries our messages only. An explicit setting by the user is kept.
 */
export function quietSdkNotices(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** The middleware stack API we use (structural, so we do not import the SDK's types). */
interface MiddlewareStackLike {
  add(middleware: unknown, options: { step: 'initialize'; name: string; override?: boolean }): void;
}

/** Logs each AWS call under --debug: service, operation, HTTP status, request id. Never a request or response body. */
export function addDebugLogging(
  ctx: Pick<Context, 'globals' | 'io'>,
  client: { middlewareStack: MiddlewareStackLike },
  service: Service,
): void {
  const middleware =
    (next: (args: unknown) => Promise<{ output?: { $metadata?: Metadata } }>, context: { commandName?: string }) =>
    async (args: unknown) => {
      if (!ctx.globals.debug) return next(args);
      const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      const started = Date.now();
      try {
        const result = await next(args);
        ctx.io.err(`${callLine(service, operation, result.output?.$metadata, Date.now() - started)}\n`);
        return result;
      } catch (error) {
        const e = error as { name?: string; code?: string; $metadata?: Metadata };
        const code = e.code && /^E[A-Z]/.test(e.code) ? e.code : (e.name ?? 'Error');
        ctx.io.err(`${callLine(service, operation, e.$metadata, Date.now() - started)} ${code}\n`);
        throw error;
      }
    };
  client.middlewareStack.add(middleware, { step: 'initialize', name: 'datablastDebugLog', override: true });
}

interface Metadata {
  httpStatusCode?: number;
  requestId?: string;
  attempts?: number;
}

function callLine(service: Service, operation: string, m: Metadata | undefined, ms: number): string {
  const attempts = m?.attempts ?? 1;
  return `aws: ${service} ${operation} http ${m?.httpStatusCode ?? '-'} request-id ${m?.requestId ?? '-'} (${attempts} attempt${attempts === 1 ? '' : 's'}, ${ms} ms)`;
}

/** Runs one SDK call under the overall deadline and translates any failure through the one error table. */
export async function call<T>(
  action: string,
  facts: CallFacts,
  work: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = AbortSignal.timeout(CALL_DEADLINE_MS);
  try {
    return await work(deadline);
  } catch (error) {
    if (deadline.aborted) {
      const timedOut = Object.assign(new Error(`no answer within ${CALL_DEADLINE_MS / 1000} s`), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
        cause: error,
      });
      throw translateAwsError(timedOut, action, facts);
    }
    throw translateAwsError(error, action, facts);
  }
}
