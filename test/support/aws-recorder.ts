import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A JSON-protocol AWS error to answer instead of forwarding, for the next call of one action. */
export interface InjectedError {
  /** The X-Amz-Target action, e.g. "secretsmanager.GetSecretValue". */
  target: string;
  type: string;
  message: string;
  /** How many matching calls to fail (default 1). */
  times?: number;
}

/** A forwarder in front of moto that records each call's X-Amz-Target and can answer one with an AWS error. */
export interface AwsRecorder {
  url: string;
  /** The X-Amz-Target of every call forwarded or failed, in order. */
  readonly calls: string[];
  inject(error: InjectedError): void;
  stop(): Promise<void>;
}

/** Starts the recorder, forwarding to `upstream` (moto's URL). */
export async function startAwsRecorder(upstream: string): Promise<AwsRecorder> {
  const target = new URL(upstream);
  const calls: string[] = [];
  const injected: InjectedError[] = [];
  const server: Server = createServer((req, res) => {
    const action = String(req.headers['x-amz-target'] ?? `${req.method} ${req.url}`);
    calls.push(action);
    const fault = injected.find((e) => e.target === action && (e.times ?? 1) > 0);
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: fault.type, message: fault.message }));
      return;
    }
    const forward = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    inject: (error) => injected.push({ ...error }),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
