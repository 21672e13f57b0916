import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { CONNECT_TIMEOUT_MS, proxyFor } from './clients.js';

/**
 * The HTTPS proxy tunnel (HTTPS_PROXY): https-proxy-agent does the CONNECT, TLS and Basic auth; this adds
 * what the error table needs. A failure of the proxy itself carries `$proxy` (scheme, host and port only),
 * and the tunnel must be up within the connect bound: the SDK's connection timeout only sees the socket
 * once the tunnel is built; and NO_PROXY is asked per host (IAM and STS may have different endpoints). Loaded only when a proxy applies (gateways.ts imports it on demand).
 */
export class ProxyAgent extends HttpsProxyAgent<string> {
  /** The proxy without its credentials, for messages. */
  readonly shownAs: string;

  constructor(
    proxyUrl: string,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    const url = new URL(/^[a-z]+:\/\//i.test(proxyUrl) ? proxyUrl : `http://${proxyUrl}`);
    super(url, { keepAlive: true, maxSockets: 50 });
    this.shownAs = `${url.protocol}//${url.host}`;
  }

  override async connect(req: ClientRequest, opts: Parameters<HttpsProxyAgent<string>['connect']>[1]): Promise<Socket> {
    if (!proxyFor(this.env, `https://${opts.host ?? ''}`))
      return tlsConnect({ ...(opts as object), servername: (opts as { servername?: string }).servername ?? opts.host });
    const abort = new AbortController();
    const base = this.connectOpts;
    // https-proxy-agent opens the socket to the proxy synchronously with these options: the signal ends it
    // if the tunnel is not up in time, and is never fired once it is.
    this.connectOpts = { ...base, signal: abort.signal } as typeof base;
    const timer = setTimeout(() => abort.abort(), CONNECT_TIMEOUT_MS);
    try {
      return await super.connect(req, opts);
    } catch (error) {
      if (abort.signal.aborted)
        throw Object.assign(new Error(`the proxy did not answer within ${CONNECT_TIMEOUT_MS} ms`), {
          name: 'TimeoutError',
          code: 'ETIMEDOUT',
          $proxy: this.shownAs,
        });
      throw Object.assign(error as Error, { $proxy: this.shownAs });
    } finally {
      clearTimeout(timer);
      this.connectOpts = base;
    }
  }
}
