import type { Readable } from 'node:stream';

/**
 * Only an AWS answer counts. A corporate proxy's block page, a captive portal or a wrong endpoint can
 * answer HTTP 200 with HTML, which the SDK would read as an empty success; an endless body would be read
 * until memory runs out. This wraps the shared HTTP handler: every body is read under a size cap and the
 * call's deadline, then checked against the protocol of the operation before the SDK parses it.
 */

/** Far above any answer our calls get (a page of keys or policies is a few KiB). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** The SDK's HTTP request and response, as far as we read them. */
interface RequestLike {
  method?: string;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}
interface ResponseLike {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body?: unknown;
}
interface HandlerLike {
  metadata?: unknown;
  handle(request: unknown, options?: unknown): Promise<{ response: ResponseLike }>;
  updateHttpClientConfig?(key: unknown, value: unknown): void;
  httpHandlerConfigs?(): unknown;
  destroy?(): void;
}

/** What a failed check throws: the error table words it (codes NotAwsResponse, ResponseTooLarge, ProxyAuthenticationRequired). */
function answerError(name: string, message: string, status: number, contentType: string | undefined, proxy?: string) {
  return Object.assign(new Error(message), {
    name,
    $metadata: { httpStatusCode: status },
    $contentType: contentType ?? '',
    ...(proxy ? { $proxy: proxy } : {}),
  });
}

/** Wraps an HTTP handler so that only a bounded, well-formed AWS answer reaches the SDK. */
export class AnswerGuard implements HandlerLike {
  readonly metadata: unknown;

  constructor(
    private readonly inner: HandlerLike,
    private readonly deadlineMs: number,
    /** The proxy in use (scheme, host and port), for a 407 answer. */
    private readonly proxy?: string,
    private readonly maxBytes = MAX_ANSWER_BYTES,
  ) {
    this.metadata = inner.metadata;
  }

  async handle(request: unknown, options?: unknown): Promise<{ response: ResponseLike }> {
    const given = (options as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
    const own = AbortSignal.timeout(this.deadlineMs);
    const signal = given ? AbortSignal.any([given, own]) : own;
    const result = await this.inner.handle(request, options);
    const response = result.response;
    const contentType = header(response.headers, 'content-type');
    if (response.statusCode === 407)
      throw answerError(
        'ProxyAuthenticationRequired',
        'the proxy requires authentication (HTTP 407)',
        407,
        contentType,
        this.proxy,
      );
    const body = await readCapped(response.body, signal, this.maxBytes, response.statusCode, contentType);
    checkProtocol(request as RequestLike, response, contentType, body);
    response.body = body;
    return result;
  }

  updateHttpClientConfig(key: unknown, value: unknown): void {
    this.inner.updateHttpClientConfig?.(key, value);
  }

  httpHandlerConfigs(): unknown {
    return this.inner.httpHandlerConfigs?.() ?? {};
  }

  destroy(): void {
    this.inner.destroy?.();
  }
}

/** Reads a body to its end, refusing more than `maxBytes` and giving up when `signal` aborts. */
export async function readCapped(
  body: unknown,
  signal: AbortSignal,
  maxBytes: number,
  status: number,
  contentType: string | undefined,
): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const stream = body as Readable;
  if (typeof stream[Symbol.asyncIterator] !== 'function') return Buffer.alloc(0);
  const onAbort = () =>
    stream.destroy(
      Object.assign(new Error('the answer did not end before the deadline'), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
    );
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += bytes.length;
      if (size > maxBytes) {
        stream.destroy();
        throw answerError('ResponseTooLarge', `the answer exceeded ${maxBytes} bytes`, status, contentType);
      }
      chunks.push(bytes);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, size);
}

/** The query-protocol operation of a request (IAM, STS, RDS): its form body names the Action. */
function queryAction(request: RequestLike): string | undefined {
  if (typeof request.body !== 'string') return undefined;
  if (!/x-www-form-urlencoded/i.test(header(request.headers ?? {}, 'content-type') ?? '')) return undefined;
  return /(?:^|&)Action=([A-Za-z0-9]+)/.exec(request.body)?.[1];
}

/**
 * Accepts only what AWS sends for the operation. The query protocol (IAM, STS, RDS) is judged by shape:
 * `<ActionResponse>` with a RequestId on success, an error document with a Code otherwise (moto labels its
 * signature errors text/html, AWS text/xml: the shape is what tells). Other protocols (S3's REST-XML,
 * Lambda's REST-JSON): no HTML page, and a body of the protocol's content type.
 */
function checkProtocol(request: RequestLike, response: ResponseLike, contentType: string | undefined, body: Buffer) {
  const status = response.statusCode;
  const type = (contentType ?? '').toLowerCase();
  const notAws = () =>
    answerError(
      'NotAwsResponse',
      `an answer that is not AWS's (HTTP ${status}, ${contentType || 'no content type'})`,
      status,
      contentType,
    );
  const start = body.subarray(0, 512).toString('utf8').trimStart().toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) throw notAws();
  const action = queryAction(request);
  if (action !== undefined) {
    const text = body.toString('utf8');
    const ok =
      status >= 200 && status < 300
        ? text.includes(`<${action}Response`) && /<RequestId>[^<]+<\/RequestId>/.test(text)
        : /<Error[\s>]/.test(text) && /<Code>[^<]+<\/Code>/.test(text);
    if (!ok) throw notAws();
    return;
  }
  if (body.length === 0) return;
  // Shape first (moto labels its JSON and XML text/html too); an HTML page never opens with these.
  if (start.startsWith('{') || start.startsWith('[') || start.startsWith('<?xml')) return;
  if (/xml|json/.test(type) && !/html/.test(type)) return;
  throw notAws();
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}
