import type { Command } from 'commander';
import { collect, createCommand, createOption } from '../commander.js';
import type { AwsSession, Context, IO } from '../ports.js';
import { classify } from '../aws/errors.js';
import { CliError, ConfigError, ExitCode, UsageError } from '../errors.js';
import { validateStoredConnectionName, type AccessKeyPair, type Connection } from '../domain/connection.js';
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
  type Failure,
  type HygieneLine,
  type LastUsed,
  type Outcome,
  type ProbeOutcome,
  type ProbeService,
} from '../domain/diagnosis.js';
import { worstExitCode } from '../domain/rotation.js';
import { poll } from '../domain/backoff.js';
import { present, progress, warn, type Style } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';
import { requireConnection, requireKeyPair } from './require-connection.js';
import { keyLastUse, type KeyLastUse, type RotationState } from '../domain/lifecycle.js';
import { rotationOf, rotationText } from '../health/inspect.js';
import { mapConcurrently } from '../domain/concurrency.js';

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

interface TestFlags {
  all?: boolean;
  service?: string[];
  admin?: boolean;
  lastUsed?: boolean;
}

/** Connections tested at once under --all: enough to overlap network waits, few enough to stay polite. */
const ALL_CONCURRENCY = 4;

/** Wires `test [NAME]`. */
export function testCommand(
  ctx: Context,
  run: (ctx: Context, opts: TestOptions) => Promise<TestOutcome> = test,
): Command {
  return (
    createCommand('test')
      .description(
        "Test a connection's key with AWS and print the troubleshooting checklist: each item passed, failed or not checked, " +
          "then the likely cause and fix, the rotation under way and the key's last use. By default two AWS calls: " +
          'sts:GetCallerIdentity, and iam:GetAccessKeyLastUsed signed by the key itself.',
      )
      .argument('[name]', 'the connection (on a terminal, omit it to pick one)')
      .option('--all', 'test every connection; the exit code is the most urgent failure')
      .option(
        '--service <service>',
        "also probe access to s3, rds or lambda (repeatable; default: the connection's onboarded services)",
        collect,
      )
      .option(
        '--admin',
        "with the --profile admin credentials, list the user's keys in IAM: tells an inactive key from a deleted or rotated one",
      )
      // --last-used was the opt-in before last use became the default; kept so that scripts using it still run.
      .addOption(createOption('--last-used').hideHelp())
      .option(
        '--no-last-used',
        'skip asking IAM when the key was last used (then exactly one call: sts:GetCallerIdentity)',
      )
      .addHelpText(
        'after',
        `
Checked without a call: stray spaces or characters in the stored key. With one STS call: network (DNS, TCP,
TLS, proxy, timeout), key id and secret, key active, clock (AWS's Date header), region. Only after a regional
rejection: the global STS endpoint (an opt-in region not enabled). With --service, and for the connection's
buckets (their location and region): permissions and IP restrictions. Then the key's last use (time, service,
region; iam:GetAccessKeyLastUsed, which the self-rotation policy grants): a key never used or unused for more
than 90 days is reported; a denial says "last use unknown: not permitted" and fails nothing. The rotation
under way (phase, since when, the old key's last use) comes from its journal, without a call. A key created less than two minutes
ago is retried for up to 30 s while IAM spreads it. Only an AWS answer counts: an HTML page from a proxy or
captive portal is reported as such.

Exit codes: 0 all good; 2 the stored key is malformed; 3 no such connection; 4 AWS rejects the key (or the
clock is off); 5 denied or unreachable; 6 secret store. With --all, the most urgent failure decides.

Examples:
  $ datablast-aws test "AWS Production"
  $ datablast-aws test prod --service s3 --service lambda
  $ datablast-aws test prod --admin --profile admin     # inactive, deleted or rotated elsewhere?
  $ datablast-aws test --all --json
`,
      )
      .action(async (name: string | undefined, flags: TestFlags) => {
        present(ctx, await run(ctx, parseTestOptions(name, flags)), renderTest);
      })
  );
}

/** Checks the flags (exit 2 on a bad value) and builds the options. */
export function parseTestOptions(name: string | undefined, flags: TestFlags): TestOptions {
  const all = flags.all === true;
  if (all && name !== undefined)
    throw new UsageError('give a connection NAME or --all, not both', { hint: 'e.g. `datablast-aws test --all`.' });
  if (name !== undefined) validateStoredConnectionName(name);
  const opts: TestOptions = { all, admin: flags.admin === true, lastUsed: flags.lastUsed !== false };
  if (name !== undefined) opts.name = name;
  if (flags.service !== undefined) opts.services = [...new Set(flags.service.map(parseService))];
  return opts;
}

function parseService(value: string): ProbeService {
  const service = value.trim().toLowerCase();
  if ((PROBE_SERVICES as readonly string[]).includes(service)) return service as ProbeService;
  throw new UsageError(`--service: unknown service ${JSON.stringify(value)}`, {
    hint: `Choose ${PROBE_SERVICES.join(', ')} (repeat --service for several).`,
  });
}

/**
 * Tests one connection, or every one with --all. The checklist is the result; a failing connection
 * sets `ctx.exitCode` (with --all, the most urgent failure's code).
 */
export async function test(ctx: Context, opts: TestOptions): Promise<TestOutcome> {
  if (!opts.all) {
    const name = opts.name ?? (await pickConnection(ctx));
    const report = await testConnection(ctx, name, opts);
    ctx.exitCode = report.exitCode;
    return report;
  }
  const connections = await (await ctx.connections()).list();
  const reports = await mapConcurrently(connections, ALL_CONCURRENCY, async (connection) => {
    try {
      return await testConnection(ctx, connection.name, opts);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      return untested(connection.name, error);
    }
  });
  ctx.exitCode = worstExitCode(reports.map((r) => r.exitCode));
  return reports;
}

/** Without NAME: on a terminal, pick one; otherwise a usage error naming what to give. */
async function pickConnection(ctx: Context): Promise<string> {
  const connections = await (await ctx.connections()).list();
  if (!ctx.globals.input)
    throw new UsageError('which connection? give its NAME, or --all', {
      hint: 'Run `datablast-aws list` to see the connections.',
    });
  if (connections.length === 0)
    throw new ConfigError('there are no connections to test', {
      hint: 'Add one with `datablast-aws add-connection NAME`, or run `datablast-aws init`.',
    });
  const prompter = await ctx.prompter();
  return prompter.select(
    'Which connection?',
    connections.map((c) => ({
      value: c.name,
      name: c.name,
      description: `${maskAccessKeyId(c.accessKeyId)}, ${c.region}`,
    })),
  );
}

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
  return classify(error);
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
function untested(name: string, error: CliError): TestReport {
  const checks = CHECK_IDS.map((id): Check => ({
    id,
    title: CHECK_TITLES[id],
    status: 'skip',
    detail: `not checked — ${error.message}`,
  }));
  return new TestReport(name, false, null, checks, error.message, error.hint ?? null, [], error.exitCode);
}

const MARKS = { pass: '✓', fail: '✗', skip: '–' } as const;

/** Human text for `test`: the checklist, the cause and fix of the first failure, then key hygiene. */
export function renderTest(outcome: TestOutcome, io: IO, style: Style): void {
  const reports = Array.isArray(outcome) ? outcome : [outcome];
  if (Array.isArray(outcome) && reports.length === 0) {
    io.err('No connections yet. Add one with `datablast-aws add-connection NAME`, or run `datablast-aws init`.\n');
    return;
  }
  reports.forEach((report, i) => {
    if (i > 0) io.out('\n');
    renderReport(report, io, style);
  });
  if (Array.isArray(outcome) && reports.length > 1) {
    const failing = reports.filter((r) => !r.ok).map((r) => r.name);
    io.out(
      `\n${reports.length} connections: ${reports.length - failing.length} ok${failing.length ? `, ${failing.length} failing (${failing.join(', ')})` : ''}\n`,
    );
  }
}

function renderReport(report: TestReport, io: IO, style: Style): void {
  const who = report.identity ? ` as ${report.identity.arn}` : '';
  io.out(
    `${style.bold(`Connection ${JSON.stringify(report.name)}`)}${report.ok ? `: ${style.green('ok')}${who}` : `: ${style.red('failing')}`}\n`,
  );
  for (const check of report.checks) {
    const mark =
      check.status === 'pass'
        ? style.green(MARKS.pass)
        : check.status === 'fail'
          ? style.red(MARKS.fail)
          : style.dim(MARKS.skip);
    io.out(`${mark} ${check.title}\n    ${check.status === 'skip' ? style.dim(check.detail) : check.detail}\n`);
  }
  if (report.cause) io.out(`\n${style.red('cause:')} ${report.cause}\n`);
  if (report.fix) io.out(`${style.bold('fix:')}   ${report.fix}\n`);
  if (report.hygiene.length || report.rotation) io.out('\n');
  if (report.rotation) io.out(`${rotationText(report.rotation)}\n`);
  for (const line of report.hygiene) io.out(`${line.warning ? style.yellow(line.text) : line.text}\n`);
}
