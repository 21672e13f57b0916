import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A running moto server on loopback, private to one test file. */
export interface Moto {
  url: string;
  /** Forgets every user, key and policy. */
  reset(): Promise<void>;
  /** Turns on signature and key checking after `unchecked` more calls (moto's reset-auth). */
  enforceAuth(unchecked?: number): Promise<void>;
  /** Turns signature and key checking off again (as good as: a billion unchecked calls). */
  disableAuth(): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `moto_server` (installed with the machine's Python) and waits until it answers. Fails, never skips, when it is missing. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`moto_server could not start: ${e.message} (is moto installed? pip install 'moto[server]')`)));
    child.once('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${stderr.slice(-2000)}`)));
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await Promise.race([fetch(`${url}/moto-api/`), exited]);
      if (res.ok) break;
    } catch (error) {
      if (Date.now() > deadline || (error as Error).message.startsWith('moto_server')) {
        child.kill('SIGKILL');
        throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  exited.catch(() => undefined);
  const post = async (path: string, body?: string) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', body });
    if (!res.ok) throw new Error(`moto ${path}: ${res.status}`);
  };
  return {
    url,
    reset: () => post('/moto-api/reset'),
    enforceAuth: (unchecked = 0) => post('/moto-api/reset-auth', String(unchecked)),
    disableAuth: () => post('/moto-api/reset-auth', String(1_000_000_000)),
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      child.kill('SIGKILL');
    },
  };
}
