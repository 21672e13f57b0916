// @ts-check
// `npm run bench`: how long each command takes as a whole process, compared with bare `node -e 0`
// run in the same loop (A B A B ...), and how many AWS requests it sends. It starts its own moto_server,
// its own D-Bus session with gnome-keyring, and a counting proxy between the CLI and moto.
//
// BENCH_RUNS (default 15): measured runs per command, after one warm-up.
// BENCH_ALL_RUNS (default 3): rounds of `rotate --all` over 20 connections vs 20 sequential rotations.
// BENCH_SCALE_CONNECTIONS (default 1000): connections of the `rotate --all` row through the IAM-throttling
// proxy; BENCH_SCALE_RATE (default 60: moto answers 240-420 IAM calls/s here, so moto is never the bottleneck) its IAM calls a second; BENCH_SCALE_CONCURRENCY (default 16) the
// --concurrency it starts at. BENCH_ONLY=scale runs that row alone.
// BENCH_HOSTS (default 10) processes, each a host with its own config dir, run `rotate --all --older-than 90` at once
// over BENCH_HOSTS_CONNECTIONS (default 50) connections shared through moto's Secrets Manager; BENCH_HOSTS_CHECK_ALL=1
// runs credential-process for every connection on every host (default: each connection on one host). BENCH_ONLY=hosts
// runs that row alone.
// BENCH_ENV=machine (default) or clean: the environment the start-up targets are judged in; the
// start-up rows are measured in both (see childEnv).
//
// Prints a table; exits 0 when every command ran, even if a time target is missed (the table says FAIL),
// and 1 when something crashed (a command exited non-zero, or a real part did not start) or the shared-hosts row
// found a broken invariant (a connection rotated twice or not at all, an orphan key, a host printing a stale key).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MOTO_SELF_ROTATION_POLICY, startAwsProxy, startKeyring, startMoto, throttleIam } from './lib/real-parts.mjs';
import { pool, runWatched, sharedHostsScenario } from './lib/shared-hosts.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'datablast-aws.js');
const RUNS = positive(process.env.BENCH_RUNS, 15);
const ALL_RUNS = positive(process.env.BENCH_ALL_RUNS, 3);
const SCALE_SIZE = positive(process.env.BENCH_SCALE_CONNECTIONS, 1000);
const SCALE_RATE = positive(process.env.BENCH_SCALE_RATE, 60);
const SCALE_CONCURRENCY = positive(process.env.BENCH_SCALE_CONCURRENCY, 16);
const HOSTS = positive(process.env.BENCH_HOSTS, 10);
const HOSTS_CONNECTIONS = positive(process.env.BENCH_HOSTS_CONNECTIONS, 50);
const HOSTS_CHECK_ALL = process.env.BENCH_HOSTS_CHECK_ALL === '1';
const ONLY = process.env.BENCH_ONLY;
const LIST_SIZE = 50;
const ROTATE_SIZE = 20;
const ACCOUNT = '123456789012';
const PASSPHRASE = 'bench passphrase, not a secret';

/** @param {string | undefined} value @param {number} fallback */
function positive(value, fallback) {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * @typedef {object} Row
 * @property {string} command
 * @property {number | undefined} ms median wall time of the command
 * @property {number | undefined} nodeMs median wall time of `node -e 0` in the same loop
 * @property {number | undefined} ratio median of the per-pair ratios command / node
 * @property {string} requests AWS requests per run
 * @property {string} target
 * @property {'pass' | 'FAIL' | 'info'} result
 * @property {{ ms: number, nodeMs: number, ratio: number, result: 'pass' | 'FAIL' | 'info' }} [other] the same command in the other environment
 */

/** @type {Row[]} */
const rows = [];
const pushRow = rows.push.bind(rows);
/** Records a row and says so on stderr, so a long run shows where it is. */
rows.push = (/** @type {Row[]} */ ...added) => {
  for (const r of added)
    console.error(
      `  ${r.command}: ${r.ms === undefined ? '-' : `${r.ms.toFixed(0)} ms`}${r.ratio === undefined ? '' : ` (${r.ratio.toFixed(2)}x)`}, ${r.requests} AWS requests, ${r.result}`,
    );
  return pushRow(...added);
};
/** @type {Array<() => Promise<void>>} */
const cleanups = [];
/** @type {string[]} */
const notes = [];

/**
 * Runs one process and resolves with its wall time; rejects (a crash) when it exits non-zero.
 * @param {string[]} argv
 * @param {Record<string, string>} env
 * @returns {Promise<{ ms: number, stdout: string }>}
 */
function run(argv, env) {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolvePromise({ ms, stdout });
      else
        reject(new Error(`datablast-aws ${argv.slice(1).join(' ')} exited ${code ?? signal}:\n${stderr.slice(-3000)}`));
    });
  });
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

/**
 * The environment of every child, bare node and datablast-aws alike. `machine`: the caller's
 * environment, less what would steer the commands themselves: what a user of this machine runs in
 * (here NODE_EXTRA_CA_CERTS makes every Node start read a CA bundle, bare node included), and the
 * conditions the issue's targets were set in (its bare node: about 128 ms). `clean`: PATH, HOME and
 * LANG only, where Node's own start is fastest and our code's share of a run largest.
 * @param {Record<string, string>} extra
 * @param {'machine' | 'clean'} [mode]
 */
function childEnv(extra, mode = ENV_MODE) {
  /** @type {Record<string, string>} */
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' };
  if (mode === 'machine') {
    for (const [key, value] of Object.entries(process.env)) {
      if (value === undefined || STEERING.test(key)) continue;
      base[key] = value;
    }
  }
  return { ...base, ...extra };
}
/** The environment the targets are judged in. */
const ENV_MODE = benchEnv(process.env.BENCH_ENV);
/** @type {'machine' | 'clean'} */
const OTHER_MODE = ENV_MODE === 'clean' ? 'machine' : 'clean';
/**
 * BENCH_ENV's value; anything else stops the run (a typo must not pick the other environment).
 * @param {string | undefined} value
 * @returns {'machine' | 'clean'}
 */
function benchEnv(value) {
  if (value === undefined || value === '' || value === 'machine') return 'machine';
  if (value === 'clean') return 'clean';
  console.error(`BENCH_ENV=${value}: use machine (the default) or clean`);
  process.exit(2);
}
/** Variables that change what a command does (or what node loads), never passed on. */
const STEERING =
  /^(AWS_|DATABLAST_|DBUS_|XDG_|NODE_OPTIONS$|NODE_DEBUG$|FORCE_COLOR$|NO_COLOR$|CI$|(HTTPS?|ALL|NO)_PROXY$)/i;

/**
 * Measures `args` against bare node, interleaved, and returns the medians and the requests per run.
 * @param {import('./lib/real-parts.mjs').AwsProxy} proxy
 * @param {string[]} args
 * @param {Record<string, string>} env
 * @param {number} runs
 * @param {'machine' | 'clean'} [mode] the environment of the bare node runs (as `env`'s)
 */
async function measure(proxy, args, env, runs, mode = ENV_MODE) {
  const nodeEnv = childEnv({}, mode);
  await run(['-e', '0'], nodeEnv);
  await run([BIN, ...args], env);
  /** @type {number[]} */ const cli = [];
  /** @type {number[]} */ const bare = [];
  /** @type {number[]} */ const ratios = [];
  /** @type {number[]} */ const counts = [];
  for (let i = 0; i < runs; i++) {
    const a = await run(['-e', '0'], nodeEnv);
    const before = proxy.requests.length;
    const b = await run([BIN, ...args], env);
    counts.push(proxy.requests.length - before);
    bare.push(a.ms);
    cli.push(b.ms);
    ratios.push(b.ms / a.ms);
  }
  const low = Math.min(...counts);
  const high = Math.max(...counts);
  return {
    ms: median(cli),
    nodeMs: median(bare),
    ratio: median(ratios),
    requests: low === high ? String(low) : `${low}–${high}`,
    low,
    high,
  };
}

/**
 * A fake but well-formed key pair (list, show, env and credential-process never call AWS).
 * @param {number} i
 */
function fakePair(i) {
  const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let id = 'AKIA';
  for (const byte of randomBytes(16)) id += base32[byte % 32];
  return { accessKeyId: id, secretAccessKey: randomBytes(30).toString('base64').slice(0, 40), i };
}

/**
 * Writes connections and their secrets with the product's own stores (from dist/), in this process.
 * @param {Record<string, string>} env the store's environment (config dir, secret store kind)
 * @param {Array<{ name: string, accessKeyId: string, secretAccessKey: string, userName?: string }>} entries
 */
async function seed(env, entries) {
  const { openConnectionStore } = await import(join(ROOT, 'dist/store/connections.js'));
  const { openSecretStore } = await import(join(ROOT, 'dist/store/secret-store.js'));
  const connections = await openConnectionStore(env);
  const secrets = await openSecretStore(env, connections.dir);
  const now = new Date().toISOString();
  for (const e of entries) {
    const userName = e.userName ?? `user-${e.name}`;
    await secrets.set(e.name, { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey });
    await connections.put({
      name: e.name,
      accessKeyId: e.accessKeyId,
      accountId: ACCOUNT,
      arn: `arn:aws:iam::${ACCOUNT}:user/${userName}`,
      userName,
      region: 'us-east-1',
      description: 'benchmark connection',
      createdAt: now,
      keyCreatedAt: now,
    });
  }
}

/**
 * Creates IAM users in moto that may rotate their own key (moto checks actions against Resource "*"
 * only, so the product's ${aws:username} policy would not apply there), each with one key.
 * @param {string} endpoint
 * @param {string[]} names
 */
async function motoUsers(endpoint, names) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { IAMClient, CreateUserCommand, PutUserPolicyCommand, CreateAccessKeyCommand } =
    await import('@aws-sdk/client-iam');
  const iam = new IAMClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });
  const made = [];
  for (const name of ['bench-admin', ...names]) {
    const userName = `bench-${name}`;
    await iam.send(new CreateUserCommand({ UserName: userName }));
    const document =
      name === 'bench-admin'
        ? JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] })
        : MOTO_SELF_ROTATION_POLICY;
    await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: 'bench', PolicyDocument: document }));
    const key = /** @type {{ AccessKeyId: string, SecretAccessKey: string }} */ (
      (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey
    );
    made.push({ name, userName, accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
  }
  const [admin, ...users] = made;
  return { admin: /** @type {(typeof made)[number]} */ (admin), users };
}

/** @param {number | undefined} ms */
function fmtMs(ms) {
  return ms === undefined ? '-' : ms.toFixed(0);
}

function printTable() {
  const header = [
    'command',
    'median ms',
    'node -e 0 ms',
    'ratio',
    'AWS requests',
    'target',
    'result',
    `${OTHER_MODE} env: ms / node / ratio`,
  ];
  const body = rows.map((r) => [
    r.command,
    fmtMs(r.ms),
    fmtMs(r.nodeMs),
    r.ratio === undefined ? '-' : r.ratio.toFixed(2),
    r.requests,
    r.target,
    r.result,
    r.other
      ? `${fmtMs(r.other.ms)} / ${fmtMs(r.other.nodeMs)} / ${r.other.ratio.toFixed(2)}${r.other.result === 'info' ? '' : ` (${r.other.result})`}`
      : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => String(row[i]).length)));
  const line = (/** @type {string[]} */ cells) =>
    `| ${cells.map((c, i) => String(c).padEnd(/** @type {number} */ (widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));
  for (const note of notes) console.log(`\n${note}`);
}

/**
 * @param {string} command @param {{ ms: number, nodeMs: number, ratio: number, requests: string }} m
 * @param {number | undefined} maxRatio
 * @param {string} [targetText]
 * @param {{ ms: number, nodeMs: number, ratio: number }} [other] the same command measured in the other environment
 */
function ratioRow(command, m, maxRatio, targetText, other) {
  const verdict = (/** @type {number} */ ratio) =>
    maxRatio === undefined ? 'info' : ratio <= maxRatio ? 'pass' : 'FAIL';
  rows.push({
    command,
    ms: m.ms,
    nodeMs: m.nodeMs,
    ratio: m.ratio,
    requests: m.requests,
    target: maxRatio === undefined ? (targetText ?? '-') : `ratio ≤ ${maxRatio}`,
    result: verdict(m.ratio),
    ...(other
      ? { other: { ms: other.ms, nodeMs: other.nodeMs, ratio: other.ratio, result: verdict(other.ratio) } }
      : {}),
  });
}

/**
 * The AWS calls of one run, as "sts:GetCallerIdentity (old key)".
 * @param {import('./lib/real-parts.mjs').AwsRequest[]} requests
 * @param {string} oldKey
 */
function callList(requests, oldKey) {
  return requests.map(
    (r) =>
      `${r.service}:${r.action} (${r.accessKeyId === oldKey ? 'old key' : r.accessKeyId.startsWith('AKIAIOSF') || r.accessKeyId === adminKeyId ? 'admin' : 'new key'})`,
  );
}
let adminKeyId = '';

/**
 * The scale row (issue 15): `rotate --all` over SCALE_SIZE connections (file store) through a proxy that
 * throttles IAM at SCALE_RATE calls a second, in front of a moto of its own. Target: wall time at most
 * 1.25 × (IAM calls ÷ rate), no failed rotation; the peak memory is reported.
 */
async function scaleRow() {
  const moto = await startMoto();
  cleanups.push(() => moto.stop());
  const work = mkdtempSync(join(tmpdir(), 'dbaws-bench-scale-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { IAMClient, CreateUserCommand, CreateAccessKeyCommand, ListAccessKeysCommand } =
    await import('@aws-sdk/client-iam');
  const iam = new IAMClient({
    endpoint: moto.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });

  // Seed: users and keys straight into moto (8 at once), then the metadata and the file store in this process.
  const seeding = Date.now();
  const names = Array.from({ length: SCALE_SIZE }, (_, i) => `scale-${String(i + 1).padStart(4, '0')}`);
  /** @type {Array<{ name: string, userName: string, accessKeyId: string, secretAccessKey: string }>} */
  const users = [];
  await pool(names, 8, async (name) => {
    const userName = `bench-${name}`;
    await iam.send(new CreateUserCommand({ UserName: userName }));
    const key = /** @type {{ AccessKeyId: string, SecretAccessKey: string }} */ (
      (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey
    );
    users.push({ name, userName, accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
  });
  users.sort((a, b) => a.name.localeCompare(b.name));
  const dir = join(work, 'config');
  const fileStore = { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE: PASSPHRASE };
  await seed({ DATABLAST_AWS_CONFIG_DIR: dir, ...fileStore }, users);
  const seedSeconds = (Date.now() - seeding) / 1000;

  // moto's own pace, unthrottled (ListAccessKeys, 8 at once, 3 s): the rate must stay well below it.
  const paceStarted = Date.now();
  let paced = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() - paceStarted < 3000) {
        await iam.send(
          new ListAccessKeysCommand({
            UserName: /** @type {(typeof users)[number]} */ (users[paced % users.length]).userName,
          }),
        );
        paced += 1;
      }
    }),
  );
  const motoRate = paced / ((Date.now() - paceStarted) / 1000);

  const proxy = await startAwsProxy(moto.url);
  cleanups.push(() => proxy.stop());
  const throttle = throttleIam(proxy, { rate: SCALE_RATE, burst: SCALE_RATE });
  const env = childEnv({
    ...fileStore,
    DATABLAST_AWS_CONFIG_DIR: dir,
    AWS_ENDPOINT_URL: proxy.url,
    AWS_REGION: 'us-east-1',
  });
  const run = await runWatched([BIN, 'rotate', '--all', '--concurrency', String(SCALE_CONCURRENCY), '--json'], env);
  throttle.stop();
  /** @type {Array<{ status: string }>} */
  let entries = [];
  try {
    entries = JSON.parse(run.stdout);
  } catch {
    throw new Error(`rotate --all (scale) printed no JSON array (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  }
  const failed = entries.filter((e) => e.status !== 'rotated').length;
  const iamCalls = throttle.passed();
  const stsCalls = proxy.requests.filter((r) => r.service === 'sts').length;
  const bound = (1.25 * iamCalls) / SCALE_RATE;
  const seconds = run.ms / 1000;
  const ok = run.code === 0 && failed === 0 && entries.length === SCALE_SIZE && seconds <= bound;
  rows.push({
    command: `rotate --all (${SCALE_SIZE}, file store, IAM throttled at ${SCALE_RATE}/s, concurrency ${SCALE_CONCURRENCY})`,
    ms: run.ms,
    nodeMs: undefined,
    ratio: undefined,
    requests: `${iamCalls} IAM + ${throttle.throttled()} throttled + ${stsCalls} STS`,
    target: `≤ 1.25 × IAM calls ÷ rate = ${bound.toFixed(1)} s, 0 failed (${failed} failed); peak RSS ${(run.peakRssKiB / 1024).toFixed(0)} MiB`,
    result: ok ? 'pass' : 'FAIL',
  });
  const summary = run.stderr.split('\n').find((l) => l.includes('rotate --all:')) ?? '(no summary line)';
  notes.push(
    `rotate --all at scale: ${SCALE_SIZE} connections seeded in ${seedSeconds.toFixed(1)} s; moto alone answers ${motoRate.toFixed(0)} ` +
      `ListAccessKeys/s (8 at once), the throttle lets ${SCALE_RATE}/s through (burst ${SCALE_RATE}); wall ${seconds.toFixed(1)} s = ` +
      `${((seconds * SCALE_RATE) / iamCalls).toFixed(2)} × (IAM calls ÷ rate), IAM through the proxy at ${(iamCalls / seconds).toFixed(1)}/s; ` +
      `peak RSS ${(run.peakRssKiB / 1024).toFixed(0)} MiB (exit ${run.code}).\n  the CLI's own summary: ${summary.replace(/^\S+Z /, '')}`,
  );
  if (run.code !== 0 && run.code !== 5)
    throw new Error(`rotate --all (scale) exited ${run.code}: ${run.stderr.slice(-2000)}`);
}

/**
 * The shared-hosts row (issue 15): HOSTS processes with their own config dirs and one moto rotate the same
 * HOSTS_CONNECTIONS connections (Secrets Manager store) at once. It passes when exactly one host rotated each
 * connection, every user holds only its new key (active, = AWSCURRENT), nothing pending, claimed or journaled is left,
 * and every host's credential-process prints AWSCURRENT's key (scripts/lib/shared-hosts.mjs checks all of it).
 * @returns {Promise<boolean>} whether it passed
 */
async function hostsRow() {
  const moto = await startMoto();
  cleanups.push(() => moto.stop());
  const work = mkdtempSync(join(tmpdir(), 'dbaws-bench-hosts-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { IAMClient, CreateUserCommand, PutUserPolicyCommand, CreateAccessKeyCommand } =
    await import('@aws-sdk/client-iam');
  // The hosts' own credentials: an all-powerful moto user, made before key and signature checks go on.
  const bootstrap = new IAMClient({
    endpoint: moto.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });
  await bootstrap.send(new CreateUserCommand({ UserName: 'hosts-admin' }));
  await bootstrap.send(
    new PutUserPolicyCommand({
      UserName: 'hosts-admin',
      PolicyName: 'all',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
      }),
    }),
  );
  const key = /** @type {{ AccessKeyId: string, SecretAccessKey: string }} */ (
    (await bootstrap.send(new CreateAccessKeyCommand({ UserName: 'hosts-admin' }))).AccessKey
  );
  await moto.enforceAuth(0);
  const report = await sharedHostsScenario({
    bin: BIN,
    endpoint: moto.url,
    admin: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
    hosts: HOSTS,
    connections: HOSTS_CONNECTIONS,
    workDir: work,
    baseEnv: childEnv({}),
    checkAll: HOSTS_CHECK_ALL,
    log: (line) => console.error(`  hosts: ${line}`),
  });
  const ok = report.problems.length === 0;
  const held = report.hosts.reduce((sum, h) => sum + h.held, 0);
  const skipped = report.hosts.reduce((sum, h) => sum + h.skipped, 0);
  const peak = Math.max(...report.hosts.map((h) => h.peakRssKiB));
  const exits = report.hosts.map((h) => h.exitCode);
  rows.push({
    command: `${HOSTS} hosts × rotate --all --older-than 90 (${HOSTS_CONNECTIONS} shared, Secrets Manager)`,
    ms: report.wallMs,
    nodeMs: undefined,
    ratio: undefined,
    requests: `${report.requests.iam} IAM + ${report.requests.sts} STS + ${report.requests.secretsmanager} Secrets Manager`,
    target: `exactly ${HOSTS_CONNECTIONS} rotations (${report.rotations}; ${skipped} skipped, ${held} held), no orphan key, credential-process = AWSCURRENT (${report.credentialChecks} checked); peak RSS ${(peak / 1024).toFixed(0)} MiB`,
    result: ok ? 'pass' : 'FAIL',
  });
  const perHost = report.hosts
    .map(
      (h) =>
        `  host ${String(h.host).padStart(2)}: exit ${h.exitCode}, ${h.rotated} rotated, ${h.skipped} skipped, ${h.held} held (exit 7), ${h.other.length} other; ${(h.ms / 1000).toFixed(1)} s, peak RSS ${(h.peakRssKiB / 1024).toFixed(0)} MiB`,
    )
    .join('\n');
  notes.push(
    `${HOSTS} hosts rotating ${HOSTS_CONNECTIONS} shared connections at once: seeded in ${report.seedSeconds.toFixed(1)} s (add-connection --no-test, 4 at once), ` +
      `aged to 120 days in ${report.ageSeconds.toFixed(1)} s; the race took ${(report.wallMs / 1000).toFixed(1)} s; ${report.rotations} rotations, ` +
      `${report.createAccessKey} CreateAccessKey; exit codes ${exits.join(' ')}; checks (AWS and ${report.credentialChecks} credential-process runs) ${report.checkSeconds.toFixed(1)} s.\n` +
      `${perHost}\n  the CLI's summary on host 0: ${report.hosts[0]?.summary ?? '-'}` +
      (ok ? '' : `\n  FAIL:\n    ${report.problems.join('\n    ')}`),
  );
  return ok;
}

async function main() {
  const started = Date.now();
  const startVariables = Object.keys(childEnv({}, 'machine')).filter((key) => /^NODE_|^UV_/.test(key));
  const machine = `machine${startVariables.length ? ` (with ${startVariables.join(', ')})` : ''}`;
  console.log(
    `benchmark: ${RUNS} runs per command after a warm-up, ${ALL_RUNS} rounds of rotate --all; node ${process.version}, ${process.platform}, ${cpus().length} CPUs; targets judged in the ${ENV_MODE === 'machine' ? machine : 'clean'} environment, start-up rows also in the ${OTHER_MODE === 'machine' ? machine : 'clean'} one`,
  );
  if (ONLY === 'scale') {
    await scaleRow();
    printTable();
    return;
  }
  if (ONLY === 'hosts') {
    const ok = await hostsRow();
    printTable();
    if (!ok) exitCode = 1;
    return;
  }
  const moto = await startMoto();
  cleanups.push(() => moto.stop());
  const keyring = await startKeyring();
  cleanups.push(() => keyring.stop());
  const proxy = await startAwsProxy(moto.url);
  cleanups.push(() => proxy.stop());
  // The keychain adapter (and libdbus) read the process environment: seed through our private bus.
  Object.assign(process.env, keyring.env);
  const work = mkdtempSync(join(tmpdir(), 'dbaws-bench-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));

  const aws = { AWS_ENDPOINT_URL: proxy.url, AWS_REGION: 'us-east-1' };
  const listDir = join(work, 'list');
  const fileDir = join(work, 'file');
  const rotateDir = join(work, 'rotate');
  const keychainEnv = childEnv({ ...keyring.env, ...aws, DATABLAST_AWS_CONFIG_DIR: listDir });
  const fileStore = { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE: PASSPHRASE };
  const fileEnv = childEnv({ ...keyring.env, ...aws, DATABLAST_AWS_CONFIG_DIR: fileDir, ...fileStore });

  // 50 connections with fake keys: list, show, env and credential-process read them without AWS.
  const fakes = Array.from({ length: LIST_SIZE }, (_, i) => ({
    ...fakePair(i),
    name: `conn-${String(i + 1).padStart(2, '0')}`,
  }));
  await seed({ DATABLAST_AWS_CONFIG_DIR: listDir }, fakes);
  await seed({ DATABLAST_AWS_CONFIG_DIR: fileDir, ...fileStore }, fakes);
  const one = 'conn-07';

  // The start-up rows in both environments: the verdict's, then the other (see childEnv).
  const otherKeychainEnv = childEnv({ ...keyring.env, ...aws, DATABLAST_AWS_CONFIG_DIR: listDir }, OTHER_MODE);
  /** @param {string} command @param {string[]} args @param {number} maxRatio */
  const startUp = async (command, args, maxRatio) => {
    const judged = await measure(proxy, args, keychainEnv, RUNS);
    ratioRow(command, judged, maxRatio, undefined, await measure(proxy, args, otherKeychainEnv, RUNS, OTHER_MODE));
  };
  await startUp('--version', ['--version'], 1.3);
  await startUp(`list (${LIST_SIZE} connections)`, ['list'], 1.6);
  await startUp('show', ['show', one], 1.6);
  await startUp('credential-process', ['credential-process', one], 1.6);
  await startUp('env', ['env', one], 1.6);
  const scrypt = 'info: scrypt cost by design';
  ratioRow(`list, file store`, await measure(proxy, ['list'], fileEnv, RUNS), undefined, scrypt);
  ratioRow(
    'credential-process, file store',
    await measure(proxy, ['credential-process', one], fileEnv, RUNS),
    undefined,
    scrypt,
  );
  ratioRow('env, file store', await measure(proxy, ['env', one], fileEnv, RUNS), undefined, scrypt);

  // Real IAM users in moto (signature and key checks on) for test and rotate.
  const names = Array.from({ length: ROTATE_SIZE }, (_, i) => `rot-${String(i + 1).padStart(2, '0')}`);
  const { admin, users } = await motoUsers(moto.url, names);
  adminKeyId = admin.accessKeyId;
  await moto.enforceAuth(0);
  const rotateEnv = childEnv({ ...keyring.env, ...aws, DATABLAST_AWS_CONFIG_DIR: rotateDir });
  await seed({ DATABLAST_AWS_CONFIG_DIR: rotateDir }, users);

  // test: two requests when no service probe is asked: STS proves the key, then IAM tells its last use (the
  // guide's usage monitoring, issue 14). The row measures what a user runs by default, not `--no-last-used`.
  const tested = await measure(proxy, ['test', 'rot-01'], rotateEnv, RUNS);
  const testCalls = proxy.requests.slice(-tested.high).map((r) => `${r.service}:${r.action}`);
  rows.push({
    command: 'test',
    ms: tested.ms,
    nodeMs: tested.nodeMs,
    ratio: tested.ratio,
    requests: tested.requests,
    target: "2 requests (STS, then IAM: the key's last use)",
    result:
      tested.low === 2 && tested.high === 2 && testCalls.join() === 'sts:GetCallerIdentity,iam:GetAccessKeyLastUsed'
        ? 'pass'
        : 'FAIL',
  });

  // rotate: the protocol's minimum, 11 requests (one connection, its own key signing): 9 steps, and the
  // ListAccessKeys that confirms each retirement (an HTTP 200 is not proof that a key stopped working).
  const rotated = await measure(proxy, ['rotate', 'rot-01'], rotateEnv, RUNS);
  rows.push({
    command: 'rotate',
    ms: rotated.ms,
    nodeMs: rotated.nodeMs,
    ratio: rotated.ratio,
    requests: rotated.requests,
    target: '11 requests',
    result: rotated.low === 11 && rotated.high === 11 ? 'pass' : 'FAIL',
  });

  // The call list of one rotation, and the --keep-old and --admin variants.
  /** @param {string[]} args @param {Record<string, string>} env */
  const calls = async (args, env) => {
    const oldKey = (await run([BIN, 'show', 'rot-02', '--json'], rotateEnv)).stdout;
    const old = JSON.parse(oldKey).accessKeyId;
    const before = proxy.requests.length;
    const r = await run([BIN, ...args], env);
    return { ms: r.ms, calls: callList(proxy.requests.slice(before), old) };
  };
  const plain = await calls(['rotate', 'rot-02'], rotateEnv);
  const keepOld = await calls(['rotate', 'rot-02', '--keep-old'], rotateEnv);
  const afterKeepOld = await calls(['rotate', 'rot-02'], rotateEnv);
  const adminEnv = childEnv({
    ...keyring.env,
    ...aws,
    DATABLAST_AWS_CONFIG_DIR: rotateDir,
    AWS_ACCESS_KEY_ID: admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: admin.secretAccessKey,
  });
  const withAdmin = await calls(['rotate', 'rot-02', '--admin'], adminEnv);
  for (const [label, outcome, expected] of /** @type {const} */ ([
    ['rotate --keep-old', keepOld, 9],
    ['rotate after --keep-old', afterKeepOld, 13],
    ['rotate --admin', withAdmin, 10],
  ])) {
    rows.push({
      command: label,
      ms: outcome.ms,
      nodeMs: undefined,
      ratio: undefined,
      requests: String(outcome.calls.length),
      target: `${expected} requests`,
      result: outcome.calls.length === expected ? 'pass' : 'FAIL',
    });
  }
  notes.push(`rotate (own key), in order:\n  ${plain.calls.map((c, i) => `${i + 1}. ${c}`).join('\n  ')}`);
  notes.push(`rotate --keep-old:\n  ${keepOld.calls.map((c, i) => `${i + 1}. ${c}`).join('\n  ')}`);
  notes.push(
    `rotate after --keep-old (the inactive old key is deleted first):\n  ${afterKeepOld.calls.map((c, i) => `${i + 1}. ${c}`).join('\n  ')}`,
  );
  notes.push(`rotate --admin:\n  ${withAdmin.calls.map((c, i) => `${i + 1}. ${c}`).join('\n  ')}`);

  // rotate --all over 20 connections (concurrency 4) vs 20 sequential single rotations.
  /** @type {number[]} */ const allMs = [];
  /** @type {number[]} */ const seqMs = [];
  /** @type {number[]} */ const allCounts = [];
  /** @type {number[]} */ const seqCounts = [];
  for (let round = 0; round < ALL_RUNS; round++) {
    const before = proxy.requests.length;
    allMs.push((await run([BIN, 'rotate', '--all'], rotateEnv)).ms);
    allCounts.push(proxy.requests.length - before);
    let total = 0;
    const seqBefore = proxy.requests.length;
    for (const name of names) total += (await run([BIN, 'rotate', name], rotateEnv)).ms;
    seqMs.push(total);
    seqCounts.push(proxy.requests.length - seqBefore);
  }
  const share = median(allMs.map((ms, i) => ms / /** @type {number} */ (seqMs[i])));
  rows.push({
    command: `rotate --all (${ROTATE_SIZE}, concurrency 4)`,
    ms: median(allMs),
    nodeMs: undefined,
    ratio: undefined,
    requests: String(median(allCounts)),
    target: '≤ 1/3 of sequential',
    result: share <= 1 / 3 ? 'pass' : 'FAIL',
  });
  rows.push({
    command: `${ROTATE_SIZE} sequential rotate NAME`,
    ms: median(seqMs),
    nodeMs: undefined,
    ratio: undefined,
    requests: String(median(seqCounts)),
    target: `--all / sequential = ${share.toFixed(2)}`,
    result: 'info',
  });

  await scaleRow();
  if (!(await hostsRow())) exitCode = 1;
  printTable();
  console.log(
    `\nmedians of ${RUNS} runs (rotate --all: ${ALL_RUNS} rounds); ratio = median of (command ÷ node -e 0) over interleaved pairs; took ${Math.round((Date.now() - started) / 1000)} s`,
  );
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  console.error(`benchmark crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (rows.length) printTable();
  exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}
// The keychain library keeps a D-Bus connection open in this process.
process.exit(exitCode);
