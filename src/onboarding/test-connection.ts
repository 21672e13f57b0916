/**
 * `test` as a service: the troubleshooting checklist computed for one connection. The test command and
 * init's final step (onboarding/verify.ts) both run it.
 */
import type { AwsSession, Context } from '../ports.js';
import { CliError, ExitCode } from '../errors.js';
import { type AccessKeyPair, type Connection } from '../domain/connection.js';
import { maskAccessKeyId, userNameFromArn, validateRegion } from '../domain/access-key.js';
import {
  BUCKET_PROBE_ACTION,
  bucketAction,
  CHECK_IDS,
  LOCATION_PROBE_ACTION,
  YOUNG_KEY_POLICY,
  CHECK_TITLES,
  checkFormat,
  diagnose,
  formatDuration,
  keyHygiene,
  mayBePropagating,
  PROBE_ACTIONS,
  PROBE_SERVICES,
  regionMayExplain,
  YOUNG_KEY_MS,
  type AdminKeyFacts,
  type Check,
  type Diagnosis,
  type DiagnosisFacts,
  failureOfCliError,
  type Failure,
  type HygieneLine,
  type LastUsed,
  type Outcome,
  type ProbeOutcome,
  type ProbeService,
} from '../domain/diagnosis.js';
import { poll } from '../domain/backoff.js';
import { progress, warn } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';
import { requireConnection, requireKeyPair } from '../health/require-connection.js';
import { keyLastUse, type KeyLastUse, type RotationState } from '../domain/lifecycle.js';
import { rotationOf } from '../health/inspect.js';
/** What `test` is asked to do. */
export interface TestOptions {
  /** The connection; absent with --all (and, on a terminal, when the user is to pick one). */
  name?: string;
  all: boolean;
  /** --service, repeatable; undefined means the services the connection was onboarded with (its buckets are always probed). */
  services?: ProbeService[];
  /** List the user's keys with the --profile admin credentials (tells inactive from deleted or rotated). */
  admin: boolean;
  /** Ask IAM when the key was last used (iam:GetAccessKeyLastUsed, signed by the key itself); `--no-last-used` turns it off, --admin forces it. */
  lastUsed: boolean;
  /** What the user was just granted (init's final test); absent: the connection's own record of it. */
  grants?: Grants;
}

/** What an IAM user was granted, so `test` probes exactly that: managed services, and buckets under a prefix. */
export interface Grants {
  services: ProbeService[];
  buckets: string[];
  /** The key prefix the bucket policy is limited to; absent: whole buckets. */
  prefix?: string;
}

/** The result of testing one connection: the JSON of CLI.md, plus the rotation state and the key's last use (issue 14). */
export interface TestResult {
  name: string;
  ok: boolean;
  identity: { account: string; arn: string; userId: string } | null;
  checks: Check[];
  cause: string | null;
  fix: string | null;
  /** The rotation under way, from its journal (as list and show report it); null when none. */
  rotation: RotationState | null;
  /** The key's last use as AWS tells it; null when it was not asked (--no-last-used) or is unknown. */
  lastUsed: KeyLastUse | null;
  /** Why the last use is unknown (e.g. "not permitted (…)"); null when known or not asked. */
  lastUsedUnknown: string | null;
}

/**
 * One connection's result with what only the human output shows (key hygiene) and the exit code it
 * contributes; `--json` prints exactly the TestResult fields (toJSON).
 */
export class TestReport implements TestResult {
  constructor(
    readonly name: string,
    readonly ok: boolean,
    readonly identity: TestResult['identity'],
    readonly checks: Check[],
    readonly cause: string | null,
    readonly fix: string | null,
    readonly hygiene: HygieneLine[],
    readonly exitCode: number,
    readonly rotation: RotationState | null = null,
    readonly lastUsed: KeyLastUse | null = null,
    readonly lastUsedUnknown: string | null = null,
  ) {}

  /** The CLI.md shape, nothing more. */
  toJSON(): TestResult {
    return {
      name: this.name,
      ok: this.ok,
      identity: this.identity,
      checks: this.checks,
      cause: this.cause,
      fix: this.fix,
      rotation: this.rotation,
      lastUsed: this.lastUsed,
      lastUsedUnknown: this.lastUsedUnknown,
    };
  }
}

/** One report, or one per connection with --all. */
export type TestOutcome = TestReport | TestReport[];

/**
 * Tests one connection: the local format check, then STS as the connection (retrying a young key),
 * the global STS endpoint only after a regional rejection the region could explain, IAM with the admin
 * credentials only under --admin, and the service probes asked for. Throws ConfigError (exit 3) for an
 * unknown connection or a missing secret, and the secret store's error (exit 6).
 */
export async function testConnection(
  ctx: Context,
  name: string,
  opts: Omit<TestOptions, 'name' | 'all'>,
): Promise<TestReport> {
  const store = await ctx.connections();
  const connection = await requireConnection(store, name);
  const nameArg = shellWord(connection.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  const region = ctx.globals.region !== undefined ? validateRegion(ctx.globals.region, '--region') : connection.region;
  const plan = probePlan(connection, opts);
  const services = plan.services;
  const facts: DiagnosisFacts = {
    nameArg,
    ...(connection.userName ? { userName: connection.userName } : {}),
    accessKeyId: pair.accessKeyId,
    region,
    format: checkFormat(pair, nameArg),
    services,
    probes: [],
  };
  let lastUsed: LastUsed | undefined;
  let createdAt = connection.keyCreatedAt;

  if (facts.format.ok) {
    const aws = await ctx.aws();
    const session = await aws.as(pair, region);
    const regional = await stsWithRetries(ctx, session, connection, pair);
    Object.assign(facts, regional);
    if (!regional.sts.ok && regionMayExplain(regional.sts.failure, region) && session.globalSts) {
      facts.globalSts = await outcome(() => session.globalSts!.getCallerIdentity());
    }
    const identity = facts.sts?.ok ? facts.sts.value : facts.globalSts?.ok ? facts.globalSts.value : undefined;
    const admin = opts.admin
      ? await aws.admin().then(
          (s) => ({ ok: true as const, session: s }),
          (error: unknown) => ({ ok: false as const, failure: failureOf(error) }),
        )
      : undefined;
    if (admin) {
      const userName =
        (identity ? userNameFromArn(identity.arn) : undefined) ??
        connection.userName ??
        userNameFromArn(connection.arn ?? '');
      const keys =
        userName === undefined
          ? undefined
          : admin.ok
            ? await outcome(() => admin.session.iam.listAccessKeys(userName))
            : ({ ok: false, failure: admin.failure } as const);
      facts.admin = userName === undefined ? { userName: undefined } : ({ userName, keys: keys! } as AdminKeyFacts);
      if (createdAt === undefined && keys?.ok)
        createdAt = keys.value.find((k) => k.accessKeyId === pair.accessKeyId)?.createDate;
    }
    let asked: Promise<LastUsed> | undefined;
    if (opts.lastUsed || opts.admin) {
      const signer = admin?.ok ? admin.session : identity ? session : undefined;
      asked = signer
        ? lastUsedOf(signer, pair.accessKeyId)
        : Promise.resolve({ ok: false, reason: 'the key does not work and no admin credentials were given' });
    }
    // Probes need a key that works in the region; they and the last use are asked at once.
    if (facts.sts?.ok) facts.probes = await runProbes(session, plan);
    lastUsed = await asked;
  }
  const rotation = await rotationOf(ctx, connection.name);

  const diagnosis: Diagnosis = diagnose(facts);
  const hygiene = keyHygiene({
    createdAt,
    addedAt: connection.createdAt,
    now: ctx.clock.now(),
    nameArg,
    ...(lastUsed ? { lastUsed } : {}),
  });
  if (diagnosis.ok) await recordTested(ctx, connection);
  else if (diagnosis.exitCode === ExitCode.credentialsRejected)
    await recordTested(ctx, connection, { lastTestRejectedKeyId: pair.accessKeyId });
  return new TestReport(
    connection.name,
    diagnosis.ok,
    diagnosis.identity,
    diagnosis.checks,
    diagnosis.cause,
    diagnosis.fix,
    hygiene,
    diagnosis.exitCode,
    rotation,
    lastUsed?.ok
      ? keyLastUse(
          {
            ...(lastUsed.date ? { at: lastUsed.date } : {}),
            ...(lastUsed.service ? { service: lastUsed.service } : {}),
            ...(lastUsed.region ? { region: lastUsed.region } : {}),
          },
          ctx.clock.now(),
          createdAt,
        )
      : null,
    lastUsed && !lastUsed.ok ? lastUsed.reason : null,
  );
}

/**
 * STS GetCallerIdentity as the connection. IAM is eventually consistent: a key created less than two
 * minutes ago may be rejected for a few seconds, so such a rejection is retried (YOUNG_KEY_POLICY, at
 * most until the key is two minutes old), each wait said on stderr, before the key is called bad.
 */
async function stsWithRetries(
  ctx: Context,
  session: AwsSession,
  connection: Connection,
  pair: AccessKeyPair,
): Promise<{
  sts: Outcome<Awaited<ReturnType<AwsSession['sts']['getCallerIdentity']>>>;
  attempts: number;
  waitedMs: number;
}> {
  const created = connection.keyCreatedAt ? Date.parse(connection.keyCreatedAt) : Number.NaN;
  const youngFor = created + YOUNG_KEY_MS - ctx.clock.now().getTime();
  let last: Outcome<Awaited<ReturnType<AwsSession['sts']['getCallerIdentity']>>> | undefined;
  let waitedMs = 0;
  const policy = { ...YOUNG_KEY_POLICY, timeoutMs: Math.min(YOUNG_KEY_POLICY.timeoutMs, youngFor) };
  const result = await poll(
    ctx.clock,
    policy,
    async () => {
      last = await outcome(() => session.sts.getCallerIdentity());
      if (last.ok || !mayBePropagating(last.failure) || !(youngFor > 0)) return { done: true, value: last };
      return { done: false };
    },
    {
      onWait: ({ attempt, delayMs, remainingMs }) => {
        waitedMs += delayMs;
        const code = last && !last.ok ? last.failure.code : 'rejected';
        progress(
          ctx,
          attempt === 1
            ? `${connection.name}: AWS does not accept ${maskAccessKeyId(pair.accessKeyId)} yet (${code}); the key is ${formatDuration(Math.max(0, YOUNG_KEY_MS - youngFor))} old and IAM takes a few seconds to spread a new key: retrying for up to ${formatDuration(remainingMs)}`
            : `${connection.name}: still rejected after ${attempt} attempts (${code}); next try in ${formatDuration(delayMs)}, giving up in ${formatDuration(remainingMs)}`,
        );
      },
    },
  );
  return { sts: last!, attempts: result.attempts, waitedMs };
}

/**
 * What `test` probes. The grants (given, or the connection's record): each managed service's listing,
 * except that s3 on a bucket-scoped connection means its buckets, not s3:ListAllMyBuckets (which the
 * bucket policy does not grant); each bucket's location (the bucket policy grants s3:GetBucketLocation
 * whatever the prefix), and, when the prefix is known, a listing under it.
 */
export function probePlan(
  connection: Pick<Connection, 'services' | 'buckets'>,
  opts: Pick<TestOptions, 'services' | 'grants'>,
): { services: ProbeService[]; listAllBuckets: boolean; buckets: string[]; listPrefix: string | undefined | false } {
  const granted =
    opts.grants?.services ??
    (connection.services ?? []).filter((s): s is ProbeService => (PROBE_SERVICES as readonly string[]).includes(s));
  const services = opts.services ?? granted;
  const buckets = opts.grants?.buckets ?? connection.buckets ?? [];
  return {
    services,
    listAllBuckets: services.includes('s3') && (buckets.length === 0 || granted.includes('s3')),
    buckets,
    // false: the prefix is unknown (a stored connection does not record it), so no listing is probed.
    listPrefix: opts.grants ? opts.grants.prefix : false,
  };
}

/** The probes of the plan: one listing call per service, and the location (and listing) of each bucket. */
async function runProbes(session: AwsSession, plan: ReturnType<typeof probePlan>): Promise<ProbeOutcome[]> {
  const probes = session.probes;
  if (!probes) return [];
  const runs: Array<Promise<ProbeOutcome>> = [];
  for (const service of plan.services) {
    if (service === 's3') {
      if (plan.listAllBuckets)
        runs.push(outcome(() => probes.listBuckets()).then((o) => ({ service, action: PROBE_ACTIONS.s3, outcome: o })));
    } else if (service === 'rds') {
      runs.push(
        outcome(() => probes.describeDbInstances()).then((o) => ({ service, action: PROBE_ACTIONS.rds, outcome: o })),
      );
    } else {
      runs.push(
        outcome(() => probes.listFunctions()).then((o) => ({ service, action: PROBE_ACTIONS.lambda, outcome: o })),
      );
    }
  }
  for (const bucket of plan.buckets) {
    runs.push(
      outcome(() => probes.bucketRegion(bucket)).then((o): ProbeOutcome => ({
        service: 's3',
        action: bucketAction(LOCATION_PROBE_ACTION, bucket),
        outcome: o.ok ? { ok: true, value: undefined } : o,
        ...(o.ok ? { location: { bucket, region: o.value } } : {}),
      })),
    );
    const prefix = plan.listPrefix;
    if (prefix !== false)
      runs.push(
        outcome(() => probes.listObjects(bucket, prefix)).then((o) => ({
          service: 's3' as const,
          action: bucketAction(BUCKET_PROBE_ACTION, bucket, prefix),
          outcome: o,
        })),
      );
  }
  return Promise.all(runs);
}

/**
 * Tests a connection against what its user was just granted (init's final test): the services' listings,
 * each bucket's location and region, and a listing under the prefix. Sets no exit code; the report carries it.
 */
export function testGrants(ctx: Context, name: string, grants: Grants): Promise<TestReport> {
  return testConnection(ctx, name, { admin: false, lastUsed: false, grants });
}

async function lastUsedOf(session: AwsSession, accessKeyId: string): Promise<LastUsed> {
  const used = await outcome(() => session.iam.getAccessKeyLastUsed(accessKeyId));
  if (used.ok)
    return { ok: true, date: used.value.lastUsedDate, service: used.value.serviceName, region: used.value.region };
  return {
    ok: false,
    reason:
      used.failure.diagnosis === 'permissions'
        ? `not permitted (iam:GetAccessKeyLastUsed: ${used.failure.code})`
        : used.failure.message,
  };
}

/** Runs one AWS call and keeps its classified failure; anything that is not a CliError is a bug and propagates. */
async function outcome<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, failure: failureOf(error) };
  }
}

function failureOf(error: unknown): Failure {
  if (!(error instanceof CliError)) throw error;
  return failureOfCliError(error);
}

/**
 * Records a test in the metadata, unless the connection changed meanwhile (a rotation switched its key):
 * a pass as lastTestedAt, a rejection by AWS (`rejected`) as lastTestRejectedAt, which `list` and `show` report.
 */
async function recordTested(
  ctx: Context,
  connection: Connection,
  rejected?: { lastTestRejectedKeyId: string },
): Promise<void> {
  try {
    const store = await ctx.connections();
    const fresh = await store.get(connection.name);
    const now = ctx.clock.now().toISOString();
    if (fresh && fresh.accessKeyId === connection.accessKeyId)
      await store.put(
        rejected
          ? { ...fresh, ...rejected, lastTestRejectedAt: now }
          : { ...fresh, lastTestedAt: now, lastTestRejectedAt: undefined, lastTestRejectedKeyId: undefined },
      );
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    warn(ctx, `could not record the test time of ${JSON.stringify(connection.name)}: ${error.message}`);
  }
}

/** A report for a connection --all could not test at all (missing secret, secret store failure). */
export function untested(name: string, error: CliError): TestReport {
  const checks = CHECK_IDS.map((id): Check => ({
    id,
    title: CHECK_TITLES[id],
    status: 'skip',
    detail: `not checked — ${error.message}`,
  }));
  return new TestReport(name, false, null, checks, error.message, error.hint ?? null, [], error.exitCode);
}
