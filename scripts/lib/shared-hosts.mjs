// @ts-check
// Many hosts, one Secrets Manager (issue 15, item 5's second bench row): N processes of the built binary, each with
// its own config dir and the same "host" credentials, run `rotate --all --older-than 90 --json` at the same instant
// over M connections shared through moto's Secrets Manager. Then it checks, from AWS itself, that exactly M rotations
// happened, that no key was orphaned and that every host's `credential-process` prints the current key.
// Shared by `npm run bench` (BENCH_ONLY=hosts) and test/integration/shared-hosts.test.ts, so that the suite proves
// the checks the benchmark reports.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MOTO_SELF_ROTATION_POLICY, startAwsProxy } from './real-parts.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DAY_MS = 86_400_000;
/** The key age the connections get, and the --older-than the hosts run with. */
const AGE_DAYS = 120;
const OLDER_THAN = 90;
/** What one host's --all entry may say: it rotated (or finished) the connection, found it young, or found it held. */
const ROTATED = new Set(['rotated', 'resumed']);
/** The exit code of a lock held by another process (CLI.md). */
const EXIT_HELD = 7;

/**
 * Runs one process and follows its peak resident memory (VmHWM, the kernel's high-water mark, read every 100 ms:
 * the last reading comes at most 100 ms before the exit). Never rejects for an exit code; kills it after `timeoutMs`.
 * @param {string[]} argv
 * @param {Record<string, string>} env
 * @param {{ stdin?: string, timeoutMs?: number }} [options]
 * @returns {Promise<{ ms: number, stdout: string, stderr: string, code: number | null, peakRssKiB: number }>}
 */
export function runWatched(argv, env, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRssKiB = 0;
    const watch = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) peakRssKiB = Math.max(peakRssKiB, Number(hwm[1]));
      } catch {
        // Gone already.
      }
    }, 100);
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => {
      clearInterval(watch);
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(watch);
      clearTimeout(timer);
      resolvePromise({ ms: Number(process.hrtime.bigint() - started) / 1e6, stdout, stderr, code, peakRssKiB });
    });
    // A child that exits before reading its input closes the pipe: not our failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Runs `work` over `items`, `limit` at once.
 * @template T @param {T[]} items @param {number} limit @param {(item: T) => Promise<void>} work
 */
export async function pool(items, limit, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(/** @type {T} */ (items[next++]));
    }),
  );
}

/**
 * @typedef {object} SharedHostsOptions
 * @property {string} bin the built `bin/datablast-aws.js`
 * @property {string} endpoint moto's URL (signature and key checks on)
 * @property {{ accessKeyId: string, secretAccessKey: string }} admin every host's own credentials (the standard
 *   chain's): they reach Secrets Manager, and seed and check IAM; never a connection's key
 * @property {number} hosts
 * @property {number} connections
 * @property {string} workDir where the hosts' config dirs go
 * @property {Record<string, string>} baseEnv the rest of every child's environment (PATH, HOME...)
 * @property {boolean} [checkAll] every host runs credential-process for every connection (default: each connection
 *   on one host, spread so that every host checks its share)
 * @property {number} [timeoutMs] how long one host's rotate --all may run (default 600 s)
 * @property {(line: string) => void} [log] progress
 */

/**
 * @typedef {object} HostOutcome
 * @property {number} host
 * @property {number | null} exitCode
 * @property {number} rotated 'rotated' or 'resumed' entries
 * @property {number} skipped
 * @property {number} held 'failed' entries whose exit code is 7 (the claim was held by another host)
 * @property {string[]} other every other entry, as "name: status (message)"
 * @property {number} ms
 * @property {number} peakRssKiB
 * @property {string} summary the CLI's own `rotate --all:` line
 */

/**
 * @typedef {object} SharedHostsReport
 * @property {Array<{ name: string, userName: string, originalKeyId: string }>} seeded
 * @property {number} seedSeconds users, keys and connections
 * @property {number} ageSeconds
 * @property {number} wallMs from the first host's start to the last one's exit
 * @property {HostOutcome[]} hosts
 * @property {number} rotations rotated + resumed over every host
 * @property {number} createAccessKey IAM CreateAccessKey requests the hosts sent
 * @property {{ iam: number, sts: number, secretsmanager: number }} requests what the hosts sent, by service
 * @property {number} credentialChecks credential-process runs compared with AWSCURRENT
 * @property {number} checkSeconds
 * @property {string[]} problems every check that did not hold; empty when the row passes
 */

/**
 * Seeds `connections` IAM users (one key each) and shared connections (through the CLI's add-connection, so the
 * stored format is the product's), ages every key to 120 days, starts `hosts` rotate --all runs at once, and checks
 * the outcome. Never throws for a failed check: each one is a line of `problems`.
 * @param {SharedHostsOptions} o
 * @returns {Promise<SharedHostsReport>}
 */
export async function sharedHostsScenario(o) {
  const log = o.log ?? (() => undefined);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { IAMClient, CreateUserCommand, PutUserPolicyCommand, CreateAccessKeyCommand } =
    await import('@aws-sdk/client-iam');
  const sm = await import('@aws-sdk/client-secrets-manager');
  const store = await import(join(ROOT, 'dist/store/aws-secrets-manager.js'));
  const aws = { endpoint: o.endpoint, region: 'us-east-1', maxAttempts: 1 };
  const iam = new IAMClient({ ...aws, credentials: o.admin });
  const secrets = new sm.SecretsManagerClient({ ...aws, credentials: o.admin });
  /** @type {string[]} */
  const problems = [];

  /** @param {number} host */
  const hostEnv = (host) => {
    const dir = join(o.workDir, `host-${String(host).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return {
      ...o.baseEnv,
      DATABLAST_AWS_CONFIG_DIR: dir,
      DATABLAST_AWS_SECRET_STORE: 'aws-secrets-manager',
      AWS_ENDPOINT_URL: o.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: o.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: o.admin.secretAccessKey,
    };
  };
  const envs = Array.from({ length: o.hosts }, (_, host) => hostEnv(host));

  // Seed: users that may rotate their own key (moto checks IAM actions against Resource "*" only), one key each,
  // then each connection through the CLI (--no-test: the key is proven by the rotation that follows).
  const seeding = Date.now();
  const width = String(o.connections).length;
  const names = Array.from({ length: o.connections }, (_, i) => `shared-${String(i + 1).padStart(width, '0')}`);
  /** @type {Map<string, { name: string, userName: string, originalKeyId: string }>} */
  const seeded = new Map();
  await pool(names, 4, async (name) => {
    const userName = `user-${name}`;
    await iam.send(new CreateUserCommand({ UserName: userName }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: userName,
        PolicyName: 'self-rotation',
        PolicyDocument: MOTO_SELF_ROTATION_POLICY,
      }),
    );
    const key = /** @type {{ AccessKeyId: string, SecretAccessKey: string }} */ (
      (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey
    );
    const added = await runWatched(
      [
        o.bin,
        'add-connection',
        name,
        '--access-key-id',
        key.AccessKeyId,
        '--secret-stdin',
        '--region',
        'us-east-1',
        '--no-test',
        '--json',
      ],
      /** @type {Record<string, string>} */ (envs[0]),
      { stdin: key.SecretAccessKey, timeoutMs: 60_000 },
    );
    if (added.code !== 0) throw new Error(`add-connection ${name} exited ${added.code}: ${added.stderr.slice(-1500)}`);
    seeded.set(name, { name, userName, originalKeyId: key.AccessKeyId });
  });
  const seedSeconds = (Date.now() - seeding) / 1000;
  log(`seeded ${o.connections} users and shared connections in ${seedSeconds.toFixed(1)} s`);

  // Age every key to 120 days as the store writes (compare-and-swap): the new version under a label of ours, then
  // AWSCURRENT moved off the version read, then the description. (moto's PutSecretValue straight to AWSCURRENT
  // leaves the label on two versions once UpdateSecretVersionStage moved it.)
  const aging = Date.now();
  await pool(names, 8, async (name) => {
    const id = `${store.DEFAULT_SECRETS_PREFIX}${store.encodeName(name)}`;
    const read = await secrets.send(new sm.GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }));
    const record = JSON.parse(/** @type {string} */ (read.SecretString));
    record.connection.keyCreatedAt = new Date(Date.now() - AGE_DAYS * DAY_MS).toISOString();
    const version = randomUUID();
    await secrets.send(
      new sm.PutSecretValueCommand({
        SecretId: id,
        SecretString: JSON.stringify(record),
        ClientRequestToken: version,
        VersionStages: ['BENCH_WRITE'],
      }),
    );
    await secrets.send(
      new sm.UpdateSecretVersionStageCommand({
        SecretId: id,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: version,
        RemoveFromVersionId: read.VersionId,
      }),
    );
    await secrets.send(new sm.UpdateSecretCommand({ SecretId: id, Description: store.describe(record, version) }));
  });
  const ageSeconds = (Date.now() - aging) / 1000;
  log(`aged ${o.connections} keys to ${AGE_DAYS} days in ${ageSeconds.toFixed(1)} s`);

  // The race: every host through one counting proxy, all started in the same tick.
  const proxy = await startAwsProxy(o.endpoint);
  /** @type {HostOutcome[]} */
  const hosts = [];
  let wallMs = 0;
  try {
    const started = process.hrtime.bigint();
    const runs = await Promise.all(
      envs.map((env) =>
        runWatched(
          [o.bin, 'rotate', '--all', '--older-than', String(OLDER_THAN), '--json'],
          { ...env, AWS_ENDPOINT_URL: proxy.url },
          { timeoutMs: o.timeoutMs ?? 600_000 },
        ),
      ),
    );
    wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    /** @type {Map<string, number[]>} which hosts rotated each connection */
    const rotatedBy = new Map(names.map((name) => [name, []]));
    for (const [host, run] of runs.entries()) {
      /** @type {HostOutcome} */
      const outcome = {
        host,
        exitCode: run.code,
        rotated: 0,
        skipped: 0,
        held: 0,
        other: [],
        ms: run.ms,
        peakRssKiB: run.peakRssKiB,
        summary: (run.stderr.split('\n').find((l) => l.includes('rotate --all:')) ?? '').replace(/^\S+Z /, ''),
      };
      hosts.push(outcome);
      /** @type {Array<{ name: string, status: string, error?: { exitCode: number, message: string } }>} */
      let entries;
      try {
        entries = JSON.parse(run.stdout);
        if (!Array.isArray(entries)) throw new Error('not an array');
      } catch {
        problems.push(`host ${host} printed no JSON array (exit ${run.code}): ${run.stderr.slice(-800)}`);
        continue;
      }
      const listed = entries.map((e) => e.name).sort();
      if (listed.join() !== names.join())
        problems.push(`host ${host} reported ${listed.length} connections, not the ${names.length} shared ones`);
      for (const entry of entries) {
        if (ROTATED.has(entry.status)) {
          outcome.rotated += 1;
          rotatedBy.get(entry.name)?.push(host);
        } else if (entry.status === 'skipped') outcome.skipped += 1;
        else if (entry.status === 'failed' && entry.error?.exitCode === EXIT_HELD) outcome.held += 1;
        else outcome.other.push(`${entry.name}: ${entry.status}${entry.error ? ` (${entry.error.message})` : ''}`);
      }
      if (outcome.other.length)
        problems.push(`host ${host}: ${outcome.other.length} unexpected outcome(s): ${outcome.other.join('; ')}`);
      const expectedExit = outcome.other.length ? undefined : outcome.held ? EXIT_HELD : 0;
      if (run.code !== 0 && run.code !== EXIT_HELD)
        problems.push(`host ${host} exited ${run.code}: ${run.stderr.slice(-800)}`);
      else if (expectedExit !== undefined && run.code !== expectedExit)
        problems.push(`host ${host} exited ${run.code} with ${outcome.held} held connection(s)`);
    }
    for (const [name, by] of rotatedBy) {
      if (by.length !== 1) problems.push(`${name} was rotated ${by.length} times (hosts ${by.join(', ') || 'none'})`);
    }
  } finally {
    await proxy.stop();
  }
  const rotations = hosts.reduce((sum, h) => sum + h.rotated, 0);
  if (rotations !== o.connections) problems.push(`${rotations} rotations across hosts, not ${o.connections}`);
  const createAccessKey = proxy.requests.filter((r) => r.action === 'CreateAccessKey').length;
  if (createAccessKey !== o.connections)
    problems.push(`the hosts sent ${createAccessKey} CreateAccessKey requests, not ${o.connections}`);
  const requests = { iam: 0, sts: 0, secretsmanager: 0 };
  for (const r of proxy.requests)
    if (r.service in requests) requests[/** @type {keyof typeof requests} */ (r.service)]++;
  log(`${o.hosts} hosts ran rotate --all in ${(wallMs / 1000).toFixed(1)} s: ${rotations} rotations`);

  // What AWS holds now, then what every host prints.
  const checking = Date.now();
  const { current, problems: found } = await checkSharedState({
    endpoint: o.endpoint,
    admin: o.admin,
    seeded: [...seeded.values()],
  });
  problems.push(...found);

  // Every host's credential-process prints AWSCURRENT's pair: every connection on some host, every host some.
  /** @type {Array<[number, string]>} */
  const checks = [];
  for (const [i, name] of names.entries()) {
    if (o.checkAll) for (let host = 0; host < o.hosts; host++) checks.push([host, name]);
    else checks.push([i % o.hosts, name]);
  }
  await pool(checks, 4, async ([host, name]) => {
    const printed = await runWatched(
      [o.bin, 'credential-process', name],
      /** @type {Record<string, string>} */ (envs[host]),
      {
        timeoutMs: 60_000,
      },
    );
    const want = current.get(name);
    if (printed.code !== 0) {
      problems.push(`host ${host}: credential-process ${name} exited ${printed.code}: ${printed.stderr.slice(-400)}`);
      return;
    }
    const got = JSON.parse(printed.stdout);
    if (!want || got.AccessKeyId !== want.accessKeyId || got.SecretAccessKey !== want.secretAccessKey)
      problems.push(
        `host ${host}: credential-process ${name} printed ${got.AccessKeyId}, AWSCURRENT is ${want?.accessKeyId}`,
      );
  });
  const checkSeconds = (Date.now() - checking) / 1000;

  return {
    seeded: [...seeded.values()].sort((a, b) => a.name.localeCompare(b.name)),
    seedSeconds,
    ageSeconds,
    wallMs,
    hosts,
    rotations,
    createAccessKey,
    requests,
    credentialChecks: checks.length,
    checkSeconds,
    problems,
  };
}

/**
 * What AWS holds after the race, per seeded connection: AWSCURRENT's key is new, matches the metadata and works (STS
 * signs as the user); it is the user's only key in IAM, active (no orphan); no AWSPENDING version, no claim, no
 * rotation journal is left; AWSCURRENT is on one version; the prefix holds exactly the seeded secrets.
 * @param {{ endpoint: string, admin: { accessKeyId: string, secretAccessKey: string },
 *   seeded: Array<{ name: string, userName: string, originalKeyId: string }> }} o
 * @returns {Promise<{ current: Map<string, { accessKeyId: string, secretAccessKey: string }>, problems: string[] }>}
 */
export async function checkSharedState(o) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { IAMClient, ListAccessKeysCommand } = await import('@aws-sdk/client-iam');
  const sm = await import('@aws-sdk/client-secrets-manager');
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const store = await import(join(ROOT, 'dist/store/aws-secrets-manager.js'));
  const aws = { endpoint: o.endpoint, region: 'us-east-1', maxAttempts: 1 };
  const iam = new IAMClient({ ...aws, credentials: o.admin });
  const secrets = new sm.SecretsManagerClient({ ...aws, credentials: o.admin });
  /** @type {string[]} */
  const problems = [];
  /** @type {Map<string, { accessKeyId: string, secretAccessKey: string }>} */
  const current = new Map();
  let listedSecrets = 0;
  /** @type {string | undefined} */
  let token;
  do {
    /** @type {import('@aws-sdk/client-secrets-manager').ListSecretsCommandOutput} */
    const page = await secrets.send(new sm.ListSecretsCommand({ NextToken: token }));
    listedSecrets += (page.SecretList ?? []).filter((s) => s.Name?.startsWith(store.DEFAULT_SECRETS_PREFIX)).length;
    token = page.NextToken;
  } while (token);
  if (listedSecrets !== o.seeded.length)
    problems.push(`${listedSecrets} secrets under ${store.DEFAULT_SECRETS_PREFIX}, not ${o.seeded.length}`);
  await pool(o.seeded, 8, async ({ name, userName, originalKeyId }) => {
    const id = `${store.DEFAULT_SECRETS_PREFIX}${store.encodeName(name)}`;
    const read = await secrets.send(new sm.GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }));
    const record = JSON.parse(/** @type {string} */ (read.SecretString));
    const keyId = record.accessKeyId;
    if (!keyId || !record.secretAccessKey) {
      problems.push(`${name}: AWSCURRENT holds no key pair`);
      return;
    }
    current.set(name, { accessKeyId: keyId, secretAccessKey: record.secretAccessKey });
    if (keyId === originalKeyId) problems.push(`${name}: AWSCURRENT still holds the original key ${keyId}`);
    if (record.connection?.accessKeyId !== keyId)
      problems.push(`${name}: the metadata says ${record.connection?.accessKeyId}, the pair is ${keyId}`);
    if (record.claim) problems.push(`${name}: a claim is left (${JSON.stringify(record.claim)})`);
    if (record.rotation) problems.push(`${name}: a rotation journal is left (phase ${record.rotation.phase})`);
    const versions = (await secrets.send(new sm.ListSecretVersionIdsCommand({ SecretId: id }))).Versions ?? [];
    const pending = versions.filter((v) => v.VersionStages?.includes('AWSPENDING')).length;
    if (pending) problems.push(`${name}: ${pending} AWSPENDING version(s) left`);
    const onCurrent = versions.filter((v) => v.VersionStages?.includes('AWSCURRENT')).length;
    if (onCurrent !== 1) problems.push(`${name}: AWSCURRENT is on ${onCurrent} versions`);
    const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
    if (keys.length !== 1 || keys[0]?.AccessKeyId !== keyId || keys[0]?.Status !== 'Active')
      problems.push(
        `${name}: IAM holds [${keys.map((k) => `${k.AccessKeyId} ${k.Status}`).join(', ')}] for ${userName}; expected only ${keyId}, Active`,
      );
    try {
      const sts = new STSClient({
        ...aws,
        credentials: { accessKeyId: keyId, secretAccessKey: record.secretAccessKey },
      });
      const who = await sts.send(new GetCallerIdentityCommand({}));
      if (!who.Arn?.endsWith(`:user/${userName}`)) problems.push(`${name}: the current key signs as ${who.Arn}`);
    } catch (error) {
      problems.push(`${name}: AWS refuses the current key (${/** @type {Error} */ (error).name})`);
    }
  });
  return { current, problems };
}
