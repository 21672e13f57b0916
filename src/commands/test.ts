import type { Command } from 'commander';
import { collect, createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, ConfigError, UsageError } from '../errors.js';
import { validateStoredConnectionName } from '../domain/connection.js';
import { maskAccessKeyId } from '../domain/access-key.js';
import { PROBE_SERVICES, type ProbeService } from '../domain/diagnosis.js';
import { worstExitCode } from '../domain/rotation.js';
import { present, type Style } from '../ui/output.js';
import { rotationText } from '../health/inspect.js';
import { mapConcurrently } from '../domain/concurrency.js';
import {
  TestReport,
  testConnection,
  untested,
  type TestOptions,
  type TestOutcome,
} from '../onboarding/test-connection.js';

export {
  TestReport,
  testConnection,
  probePlan,
  testGrants,
  type TestOptions,
  type Grants,
  type TestResult,
  type TestOutcome,
} from '../onboarding/test-connection.js';

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
