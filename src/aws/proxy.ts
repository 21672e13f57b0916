import { Agent, type RequestOptions } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { CONNECT_TIMEOUT_MS, proxyFor } from './clients.js';

/**
 * An HTTPS agent that tunnels through an HTTP(S) proxy with CONNECT, so that HTTPS_PROXY works:
 * Node 20's http client ignores it, and the AWS SDK ships no proxy support. NO_PROXY hosts go direct.
 * Failures of the proxy itself carry `$proxy` (scheme, host and port only) for the error table.
 */
export class ProxyAgent extends Agent {
  private readonly proxy: URL;
  /** The proxy without its credentials, for messages. */
  readonly shownAs: string;

  constructor(
    proxyUrl: string,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    super({ keepAlive: true, maxSockets: 50 });
    this.proxy = new URL(/^[a-z]+:\/\//i.test(proxyUrl) ? proxyUrl : `http://${proxyUrl}`);
    this.shownAs = `${this.proxy.protocol}//${this.proxy.host}`;
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = String(options.hostname ?? options.host ?? '');
    const port = Number(options.port ?? 443);
    if (!proxyFor(this.env, `https://${host}`)) return super.createConnection(options, callback);
    // Returning nothing tells the Agent to wait for the callback.
    this.tunnel(host, port).then(
      (socket) =>
        callback?.(
          null,
          tlsConnect({
            ...(options as object),
            socket,
            servername: (options as { servername?: string }).servername ?? host,
          }),
        ),
      (error: Error) => callback?.(error, undefined as never),
    );
    return undefined;
  }

  /** Opens a TCP (or TLS) connection to the proxy and asks it for a tunnel to host:port. */
  private tunnel(host: string, port: number): Promise<Socket> {
    const proxyPort = Number(this.proxy.port || (this.proxy.protocol === 'https:' ? 443 : 80));
    return new Promise((resolve, reject) => {
      const socket: Socket =
        this.proxy.protocol === 'https:'
          ? tlsConnect({ host: this.proxy.hostname, port: proxyPort, servername: this.proxy.hostname })
          : netConnect({ host: this.proxy.hostname, port: proxyPort });
      const fail = (error: Error & { code?: string }) => {
        clearTimeout(timer);
        socket.destroy();
        reject(Object.assign(error, { $proxy: this.shownAs }));
      };
      const timer = setTimeout(
        () =>
          fail(
            Object.assign(new Error(`the proxy did not answer within ${CONNECT_TIMEOUT_MS} ms`), {
              name: 'TimeoutError',
              code: 'ETIMEDOUT',
            }),
          ),
        CONNECT_TIMEOUT_MS,
      );
      socket.once('error', fail);
      socket.once(this.proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        const auth = this.proxy.username
          ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`).toString('base64')}\r\n`
          : '';
        socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n${auth}\r\n`);
      });
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16_384)
            fail(Object.assign(new Error('the proxy sent an oversized answer to CONNECT'), { name: 'ProxyError' }));
          return;
        }
        socket.off('data', onData);
        // Back to paused mode: TLS takes the socket over from here.
        socket.pause();
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (status === 200) {
          clearTimeout(timer);
          socket.off('error', fail);
          const rest = head.subarray(end + 4);
          if (rest.length > 0) socket.unshift(rest);
          resolve(socket);
        } else if (status === 407) {
          fail(
            Object.assign(new Error('the proxy requires authentication (HTTP 407)'), {
              name: 'ProxyAuthenticationRequired',
              $metadata: { httpStatusCode: 407 },
            }),
          );
        } else {
          fail(
            Object.assign(new Error(`the proxy refused the tunnel (HTTP ${status || 'garbled'})`), {
              name: 'ProxyError',
            }),
          );
        }
      };
      socket.on('data', onData);
    });
  }
}
