// @ts-check
// The real parts the tests and the benchmark run against: a private moto_server (AWS), a private
// D-Bus session with an unlocked gnome-keyring (the Secret Service), and a recording HTTP proxy
// between the CLI and moto. Plain JavaScript so that `scripts/bench.mjs` runs it without a build;
// test/support/moto.ts and keyring.ts re-export it with its JSDoc types.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A running moto server on loopback, private to one test file.
 * @typedef {object} Moto
 * @property {string} url
 * @property {() => Promise<void>} reset Forgets every user, key and policy.
 * @property {(unchecked?: number) => Promise<void>} enforceAuth Turns on signature and key checking after `unchecked` more calls (moto's reset-auth).
 * @property {() => Promise<void>} disableAuth Turns signature and key checking off again (as good as: a billion unchecked calls).
 * @property {() => Promise<void>} stop
 */

/**
 * The policy that lets a user rotate its own key, as moto can evaluate it: moto checks IAM actions against
 * Resource "*" only (its access_control.py), so no ARN. The rotation tests and the benchmark give it to their users.
 */
export const MOTO_SELF_ROTATION_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'iam:CreateAccessKey',
        'iam:DeleteAccessKey',
        'iam:UpdateAccessKey',
        'iam:ListAccessKeys',
        'iam:GetAccessKeyLastUsed',
        'iam:GetUser',
        'sts:GetCallerIdentity',
      ],
      Resource: '*',
    },
  ],
});

/**
 * A free TCP port on 127.0.0.1.
 * @returns {Promise<number>}
 */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts `moto_server` (installed with the machine's Python) and waits until it answers. Fails, never skips, when it is missing.
 * @returns {Promise<Moto>}
 */
export async function startMoto() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (/** @type {Buffer} */ d) => (stderr += d.toString()));
  /** @type {Promise<never>} */
  const exited = new Promise((_, reject) => {
    child.once('error', (e) =>
      reject(new Error(`moto_server could not start: ${e.message} (is moto installed? pip install 'moto[server]')`)),
    );
    child.once('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${stderr.slice(-2000)}`)));
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await Promise.race([fetch(`${url}/moto-api/`), exited]);
      if (res.ok) break;
    } catch (error) {
      if (Date.now() > deadline || /** @type {Error} */ (error).message.startsWith('moto_server')) {
        child.kill('SIGKILL');
        throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  exited.catch(() => undefined);
  /** @param {string} path @param {string} [body] */
  const post = async (path, body) => {
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

/**
 * A private D-Bus session with an unlocked gnome-keyring: a real Secret Service for one test file.
 * Like a desktop session, the bus starts the Secret Service again on demand (D-Bus activation) when
 * the daemon is gone: gnome-keyring 42 can abort under a burst of short-lived clients (upstream
 * gnome-keyring#196, seen once in CI), and a desktop's bus would restart it just the same.
 * @typedef {object} Keyring
 * @property {Record<string, string>} env Environment for a process that should use this keyring (DBUS_SESSION_BUS_ADDRESS, XDG_*).
 * @property {number} pid The first gnome-keyring-daemon's pid (e.g. to SIGSTOP it and simulate a wedged Secret Service).
 * @property {() => number | undefined} ownerPid The pid of whichever daemon owns the Secret Service now (after a restart too).
 * @property {() => Promise<void>} lock Locks every collection, as a screen lock or a fresh login without unlocking would.
 * @property {() => Promise<void>} stop
 */

const KEYRING_PASSWORD = 'test-password';

/**
 * Starts dbus-daemon and gnome-keyring-daemon (Debian packages dbus, gnome-keyring); fails, never skips, when they are missing.
 * DBAWS_KEYRING_LOG=<file> appends the daemons' stderr there (gnome-keyring says why it aborted).
 * @param {{ locked?: boolean }} [options]
 * @returns {Promise<Keyring>}
 */
export async function startKeyring(options = {}) {
  for (const tool of ['dbus-daemon', 'gnome-keyring-daemon']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new Error(`${tool} is not installed: apt-get install dbus gnome-keyring`);
  }
  const home = mkdtempSync(join(tmpdir(), 'dbaws-keyring-'));
  const runtime = join(home, 'run');
  const services = join(home, 'services');
  for (const dir of [runtime, join(home, 'data'), services]) mkdirSync(dir, { recursive: true });
  chmodSync(runtime, 0o700);
  const daemonArgs = ['--foreground', options.locked ? '--start' : '--unlock', '--components=secrets'];
  // What the bus runs to (re)start the Secret Service: the same daemon, unlocked with the same password.
  const starter = join(home, 'start-secret-service.sh');
  writeFileSync(
    starter,
    `#!/bin/sh\nexport DBUS_SESSION_BUS_ADDRESS="$DBUS_STARTER_ADDRESS"\n${options.locked ? '' : `printf %s '${KEYRING_PASSWORD}' | `}exec gnome-keyring-daemon ${daemonArgs.join(' ')}\n`,
    { mode: 0o700 },
  );
  writeFileSync(
    join(services, 'org.freedesktop.secrets.service'),
    `[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/bin/sh ${starter}\n`,
  );
  // The session bus's own policy, with only our service directory: the system's would start a locked keyring.
  const config = join(home, 'bus.conf');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${runtime}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>${services}</servicedir>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
  <limit name="service_start_timeout">15000</limit>
</busconfig>
`,
  );
  /** @type {'ignore' | number} */
  const log = process.env.DBAWS_KEYRING_LOG ? openSync(process.env.DBAWS_KEYRING_LOG, 'a') : 'ignore';
  const baseEnv = { ...process.env, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: runtime, HOME: home };
  const bus = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--nopidfile', '--print-address=1'], {
    env: baseEnv,
    stdio: ['ignore', 'pipe', log],
  });
  /** @type {string} */
  const address = await new Promise((resolve, reject) => {
    let out = '';
    /** @type {import('node:stream').Readable} */ (bus.stdout).on('data', (/** @type {Buffer} */ d) => {
      out += d.toString();
      if (out.includes('\n')) resolve(/** @type {string} */ (out.trim().split('\n')[0]));
    });
    bus.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    setTimeout(() => reject(new Error('dbus-daemon did not print its address in 10 s')), 10_000).unref();
  });
  const env = { XDG_DATA_HOME: baseEnv.XDG_DATA_HOME, XDG_RUNTIME_DIR: runtime, DBUS_SESSION_BUS_ADDRESS: address };
  const busEnv = { ...baseEnv, ...env };
  /** @param {string[]} args */
  const busCall = (...args) => spawnSync('dbus-send', ['--session', '--print-reply', ...args], { env: busEnv });
  const daemon = spawn('gnome-keyring-daemon', daemonArgs, { env: busEnv, stdio: ['pipe', 'ignore', log] });
  const stdin = /** @type {import('node:stream').Writable} */ (daemon.stdin);
  if (!options.locked) stdin.write(KEYRING_PASSWORD);
  stdin.end();
  // The daemon is ready once it owns org.freedesktop.secrets on our private bus.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = busCall(
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.NameHasOwner',
      'string:org.freedesktop.secrets',
    );
    if (probe.stdout?.toString().includes('boolean true')) break;
    if (daemon.exitCode !== null || Date.now() > deadline) {
      bus.kill('SIGKILL');
      daemon.kill('SIGKILL');
      throw new Error('gnome-keyring-daemon did not register the Secret Service within 15 s');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const ownerPid = () => {
    const reply = busCall(
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.GetConnectionUnixProcessID',
      'string:org.freedesktop.secrets',
    );
    const pid = /uint32 (\d+)/.exec(reply.stdout?.toString() ?? '')?.[1];
    return pid === undefined ? undefined : Number(pid);
  };
  return {
    env,
    pid: /** @type {number} */ (daemon.pid),
    ownerPid,
    lock: async () => {
      const result = busCall(
        '--dest=org.freedesktop.secrets',
        '/org/freedesktop/secrets',
        'org.freedesktop.Secret.Service.Lock',
        'array:objpath:/org/freedesktop/secrets/collection/login',
      );
      if (result.status !== 0) throw new Error(`locking the keyring failed: ${result.stderr?.toString()}`);
    },
    stop: async () => {
      const restarted = ownerPid();
      try {
        if (restarted !== undefined && restarted !== daemon.pid) process.kill(restarted, 'SIGTERM');
      } catch {
        // It ended on its own.
      }
      daemon.kill('SIGTERM');
      bus.kill('SIGTERM');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * One AWS request as the proxy saw it.
 * @typedef {object} AwsRequest
 * @property {string} service The SigV4 scope's service ("sts", "iam"), or "?" when unsigned.
 * @property {string} action The query protocol's Action ("GetCallerIdentity", "CreateAccessKey"...), or "?".
 * @property {string} accessKeyId The key that signed it, or "" when unsigned.
 * @property {number} status The status code the client got.
 */

/**
 * What a hook may answer instead of forwarding a request.
 * @typedef {object} ProxyAnswer
 * @property {number} status
 * @property {string} body
 * @property {string} [contentType] Default text/xml (e.g. text/html to play a captive portal).
 */

/**
 * A recording HTTP proxy in front of an AWS endpoint (moto): point the CLI's AWS_ENDPOINT_URL at `url`.
 * @typedef {object} AwsProxy
 * @property {string} url
 * @property {AwsRequest[]} requests Every request, in order of arrival.
 * @property {(request: AwsRequest) => ProxyAnswer | undefined} intercept Answers a request itself when it returns something; forwards it otherwise.
 * @property {(request: AwsRequest, responseBody: string) => void} observe Sees every forwarded request with the body moto answered.
 * @property {() => Promise<void>} stop
 */

/**
 * Starts a proxy on 127.0.0.1 that forwards every request to `target` unchanged (the Host header is
 * part of the SigV4 signature that moto checks, so it is kept), records who called what, and lets a
 * test answer some requests itself (e.g. reject a key that IAM has not propagated yet).
 * @param {string} target
 * @returns {Promise<AwsProxy>}
 */
export async function startAwsProxy(target) {
  const upstream = new URL(target);
  /** @type {AwsProxy} */
  const proxy = {
    url: '',
    requests: [],
    intercept: () => undefined,
    observe: () => undefined,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = createHttpServer(async (req, res) => {
    /** @type {Buffer[]} */
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const auth = String(req.headers.authorization ?? '');
    const scope = /Credential=([^/,\s]+)\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth);
    /** @type {AwsRequest} */
    const seen = {
      service: scope?.[2] ?? '?',
      action: /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString())?.[1] ?? '?',
      accessKeyId: scope?.[1] ?? '',
      status: 0,
    };
    proxy.requests.push(seen);
    const answer = proxy.intercept(seen);
    if (answer) {
      seen.status = answer.status;
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/xml', 'x-amzn-requestid': 'proxy' });
      res.end(answer.body);
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (reply) => {
        /** @type {Buffer[]} */
        const parts = [];
        reply.on('data', (d) => parts.push(d));
        reply.on('end', () => {
          const replyBody = Buffer.concat(parts);
          seen.status = reply.statusCode ?? 502;
          proxy.observe(seen, replyBody.toString());
          res.writeHead(seen.status, reply.headers);
          res.end(replyBody);
        });
      },
    );
    forward.on('error', () => req.socket.destroy());
    forward.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  proxy.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return proxy;
}

/**
 * The error AWS gives for a key it does not know (yet): what a new key gets while IAM propagates it.
 * @returns {ProxyAnswer}
 */
export function invalidClientTokenId() {
  return {
    status: 403,
    body:
      '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>' +
      '<Message>The security token included in the request is invalid.</Message></Error><RequestId>proxy-propagation</RequestId></ErrorResponse>',
  };
}

/**
 * IAM's answer to a call over the account's request rate, as IAM sends it: HTTP 400, code `Throttling`,
 * message "Rate exceeded" (the AWS SDKs print it as "Throttling: Rate exceeded, status code: 400").
 * @returns {ProxyAnswer}
 */
export function throttling() {
  return {
    status: 400,
    body:
      '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code>' +
      '<Message>Rate exceeded</Message></Error><RequestId>proxy-throttling</RequestId></ErrorResponse>',
  };
}

/**
 * A throttle on a proxy's IAM traffic.
 * @typedef {object} IamThrottle
 * @property {number} rate Calls a second let through.
 * @property {number} burst The bucket's size.
 * @property {() => number} passed IAM calls let through to moto.
 * @property {() => number} throttled IAM calls answered `Throttling`.
 * @property {() => void} stop Lets everything through again.
 */

/**
 * Throttles IAM through `proxy` at a fixed `rate` of calls a second, as IAM does: a token bucket of
 * `burst` tokens refilled continuously; a call that finds it empty gets IAM's `Throttling` answer and
 * never reaches moto. STS and every other service pass untouched. Hooks set before keep answering first.
 * @param {AwsProxy} proxy
 * @param {{ rate: number, burst?: number }} options
 * @returns {IamThrottle}
 */
export function throttleIam(proxy, { rate, burst = rate }) {
  const before = proxy.intercept;
  let tokens = burst;
  let at = performance.now();
  let passed = 0;
  let throttled = 0;
  proxy.intercept = (seen) => {
    const earlier = before(seen);
    if (earlier || seen.service !== 'iam') return earlier;
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - at) / 1000) * rate);
    at = now;
    if (tokens >= 1) {
      tokens -= 1;
      passed += 1;
      return undefined;
    }
    throttled += 1;
    return throttling();
  };
  return {
    rate,
    burst,
    passed: () => passed,
    throttled: () => throttled,
    stop: () => {
      proxy.intercept = before;
    },
  };
}
