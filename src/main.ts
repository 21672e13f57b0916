import type { ContextParts, GlobalOptions, IO } from './ports.js';
import { createContext, defaultGlobals } from './context.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { validateRegion } from './domain/access-key.js';
import { redact } from './domain/redact.js';
import { fastAction, scanArgs, type RawGlobals } from './fast-path.js';
import { processIO } from './ui/io.js';
import { version } from './version.js';

// Only what every run needs is imported here. Commander and the command modules come with
// program.ts, loaded once main knows it needs them: `--version` and the fast path (./fast-path.ts)
// never load Commander, which with program.ts costs about 24 ms of every run.

/**
 * Runs the CLI and returns its exit code. The ONE place that turns errors into messages and codes;
 * nothing below it writes an error or chooses an exit code for a failure.
 */
export async function main(argv: string[], parts: Partial<ContextParts> = {}): Promise<number> {
  const rawIO = parts.io ?? processIO();
  const scan = scanArgs(argv.slice(2));
  if (scan.version) {
    // What Commander prints for it, without loading Commander.
    rawIO.out(`${version()}\n`);
    return ExitCode.ok;
  }
  const env = parts.env ?? { ...process.env };
  const globals: GlobalOptions = defaultGlobals({ json: scan.globals.json === true });
  // stderr is scrubbed of every secret the process has seen; stdout carries results only.
  const io: IO = { ...rawIO, out: (t) => rawIO.out(t), err: (t) => rawIO.err(redact(t)) };
  const ctx = createContext(globals, { ...parts, io, env });
  let commander: typeof import('./program.js') | undefined;
  try {
    const fast = fastAction(scan);
    if (fast) {
      // As Commander's preAction hook below: the global options first, then the command's own action.
      Object.assign(globals, resolveGlobals(scan.globals, env, rawIO));
      await (
        await fast()
      )(ctx, scan.operands);
      return ctx.exitCode;
    }
    commander = await import('./program.js');
    const program = await commander.buildProgram(ctx, scan.command);
    program.hook('preAction', (_root, action) => {
      Object.assign(globals, resolveGlobals(action.optsWithGlobals<RawGlobals>(), env, rawIO));
    });
    await program.parseAsync(argv.slice(2), { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (scan.globals.debug === true) globals.debug = true;
    return report(error, io, globals, commander?.CommanderError);
  }
}

/**
 * Resolves the global options from flags and environment (CLI.md, "Global options"), and checks
 * them once for every command: a malformed endpoint or region is a usage error (exit 2) here,
 * before any command reads it.
 */
export function resolveGlobals(raw: RawGlobals, env: Record<string, string | undefined>, io: IO): GlobalOptions {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  const noColor = raw.color === false || (env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  const endpoints: Array<[string, string]> =
    raw.endpointUrl !== undefined ? [['--endpoint-url', raw.endpointUrl]] : configuredEndpoints(env);
  for (const [source, value] of endpoints) validateEndpoint(value, source);
  const endpointUrl = (raw.endpointUrl ?? env.AWS_ENDPOINT_URL)?.trim() || undefined;
  const region = raw.region === undefined ? undefined : validateRegion(raw.region, '--region');
  return {
    json: raw.json === true,
    input: raw.input !== false && io.stdinIsTTY && !ci,
    color: !noColor && (forced || (io.stdoutIsTTY && io.stderrIsTTY)),
    profile: raw.profile ?? undefined,
    region,
    endpointUrl,
    debug: raw.debug === true,
  };
}

/** The services whose AWS_ENDPOINT_URL_<SERVICE> our clients read (src/aws/clients.ts). */
const ENDPOINT_SERVICES = ['IAM', 'STS', 'S3', 'RDS', 'LAMBDA'];

/** The endpoint variables a run may use, set and not blank: AWS_ENDPOINT_URL and those of our services. */
function configuredEndpoints(env: Record<string, string | undefined>): Array<[string, string]> {
  const names = ['AWS_ENDPOINT_URL'];
  // The AWS SDKs' own switch to ignore the service-specific variables (src/aws/clients.ts).
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() !== 'true')
    names.push(...ENDPOINT_SERVICES.map((service) => `AWS_ENDPOINT_URL_${service}`));
  return names.flatMap((name) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? [] : [[name, value] as [string, string]];
  });
}

/** Refuses what is not an http(s) URL with a host and a valid port, naming where it came from. */
function validateEndpoint(value: string, source: string): void {
  const hint = 'Give a URL such as https://iam.amazonaws.com or http://127.0.0.1:5000.';
  const shown = value.length <= 80 ? JSON.stringify(value) : 'the value';
  const trimmed = value.trim();
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    url = undefined;
  }
  // The WHATWG parser accepts "http:host" and drops or encodes spaces: ask for the plain form.
  const plainForm = /^https?:\/\/[^\s/?#]+([/?#]\S*)?$/i.test(trimmed);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || !plainForm)
    throw new UsageError(`${source} is not an http(s) URL: ${shown}`, { hint });
}

/** Writes the error to stderr in our words and returns its exit code. */
function report(
  error: unknown,
  io: IO,
  globals: GlobalOptions,
  CommanderError?: typeof import('commander').CommanderError,
): number {
  if (CommanderError && error instanceof CommanderError) {
    // Commander has already printed its message and our usage line.
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
    )
      return ExitCode.ok;
    return ExitCode.usage;
  }
  if (error instanceof CliError) {
    io.err(`error: ${error.message}\n`);
    if (error.hint) io.err(`${error.hint}\n`);
    if (globals.debug) debugDetail(error, io);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`error: unexpected internal error: ${message}\n`);
  io.err(globals.debug ? '' : 'This is a bug in datablast-aws. Re-run with --debug for details and report it.\n');
  if (globals.debug) debugDetail(error, io);
  return ExitCode.internal;
}

function debugDetail(error: unknown, io: IO): void {
  if (error instanceof CliError && error.requestId) io.err(`aws request id: ${error.requestId}\n`);
  for (let e: unknown = error; e; e = e instanceof Error ? e.cause : undefined) {
    if (e instanceof Error && e.stack) io.err(`${e.stack}\n`);
    const meta = (e as { $metadata?: { requestId?: string } } | undefined)?.$metadata;
    if (meta?.requestId) io.err(`aws request id: ${meta.requestId}\n`);
  }
}
