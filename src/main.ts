import type { Context, ContextParts, GlobalOptions, IO } from './ports.js';
import { createContext } from './context.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { redact } from './domain/redact.js';
import { processIO } from './ui/io.js';
import { version } from './version.js';

// Only what every run needs is imported here. Commander and the command modules come with
// program.ts, loaded once main knows it needs them: `--version` and the SHORTCUTS below never load
// Commander, which with program.ts costs about 24 ms of every run.

/** The raw values Commander parsed for the global options. */
interface RawGlobals {
  json?: boolean;
  input?: boolean;
  color?: boolean;
  profile?: string;
  region?: string;
  endpointUrl?: string;
  debug?: boolean;
}

/**
 * Runs the CLI and returns its exit code. The ONE place that turns errors into messages and codes;
 * nothing below it writes an error or chooses an exit code for a failure.
 */
export async function main(argv: string[], parts: Partial<ContextParts> = {}): Promise<number> {
  const rawIO = parts.io ?? processIO();
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    // What Commander prints for it, without loading Commander.
    rawIO.out(`${version()}\n`);
    return ExitCode.ok;
  }
  const env = parts.env ?? { ...process.env };
  const globals: GlobalOptions = {
    json: argv.includes('--json'),
    input: false,
    color: false,
    profile: undefined,
    region: undefined,
    endpointUrl: undefined,
    debug: false,
  };
  // stderr is scrubbed of every secret the process has seen; stdout carries results only.
  const io: IO = { ...rawIO, out: (t) => rawIO.out(t), err: (t) => rawIO.err(redact(t)) };
  const ctx = createContext(globals, { ...parts, io, env });
  let commander: typeof import('./program.js') | undefined;
  try {
    const shortcut = shortcutFor(args);
    if (shortcut) return await runShortcut(ctx, shortcut, args.slice(1), globals, env, rawIO);
    commander = await import('./program.js');
    const program = await commander.buildProgram(ctx, args);
    program.hook('preAction', (_root, action) => {
      Object.assign(globals, resolveGlobals(action.optsWithGlobals<RawGlobals>(), env, rawIO));
    });
    await program.parseAsync(args, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (!globals.debug && argv.includes('--debug')) globals.debug = true;
    return report(error, io, globals, commander?.CommanderError);
  }
}

/** What a shortcut runs: the same action its Commander wiring runs, given the operands. */
type ShortcutAction = (ctx: Context, operands: string[]) => Promise<void>;

/**
 * Commands that main runs without Commander when they are called with their operands and no option
 * at all: `credential-process NAME` (what AWS SDKs run before every credential refresh), `env NAME`,
 * `show NAME` and `list`. Each runs the action its Commander wiring runs, from the command's own
 * module (which loads Commander only when that wiring is built: ./commander.ts); any option, a missing or extra operand, or an operand that starts with "-" goes through
 * Commander instead, which then parses, checks and reports exactly as always.
 */
const SHORTCUTS = new Map<string, { operands: number; load: () => Promise<ShortcutAction> }>([
  [
    'credential-process',
    {
      operands: 1,
      load: async () => {
        const { credentialProcessAction } = await import('./commands/credential-process.js');
        return (ctx, [name]) => credentialProcessAction(ctx, { name: name! });
      },
    },
  ],
  [
    'env',
    {
      operands: 1,
      load: async () => {
        const { envAction } = await import('./commands/env.js');
        return (ctx, [name]) => envAction(ctx, { name: name! });
      },
    },
  ],
  [
    'show',
    {
      operands: 1,
      load: async () => {
        const { showAction } = await import('./commands/show.js');
        return (ctx, [name]) => showAction(ctx, { name: name! });
      },
    },
  ],
  [
    'list',
    {
      operands: 0,
      load: async () => {
        const { listAction } = await import('./commands/list.js');
        return (ctx) => listAction(ctx);
      },
    },
  ],
]);

/** The shortcut `args` calls for, if it is exactly a shortcut command and its operands. */
export function shortcutFor(args: readonly string[]): (() => Promise<ShortcutAction>) | undefined {
  const shortcut = args[0] === undefined ? undefined : SHORTCUTS.get(args[0]);
  if (!shortcut || args.length !== 1 + shortcut.operands || args.slice(1).some((arg) => arg.startsWith('-')))
    return undefined;
  return shortcut.load;
}

/**
 * Runs a shortcut as Commander would: the global options resolved first, from the environment
 * alone (no flag was given), as the preAction hook does; then the command's own action. Errors reach
 * main's report() as from Commander's path.
 */
async function runShortcut(
  ctx: Context,
  load: () => Promise<ShortcutAction>,
  operands: string[],
  globals: GlobalOptions,
  env: Record<string, string | undefined>,
  rawIO: IO,
): Promise<number> {
  Object.assign(globals, resolveGlobals({}, env, rawIO));
  await (
    await load()
  )(ctx, operands);
  return ctx.exitCode;
}

/** Resolves the global options from flags and environment (CLI.md, "Global options"). */
export function resolveGlobals(raw: RawGlobals, env: Record<string, string | undefined>, io: IO): GlobalOptions {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  const noColor = raw.color === false || (env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  const endpointUrl = raw.endpointUrl ?? (env.AWS_ENDPOINT_URL || undefined);
  if (endpointUrl !== undefined && !/^https?:\/\/[^\s/]+/i.test(endpointUrl)) {
    throw new UsageError(`--endpoint-url is not an http(s) URL: ${JSON.stringify(endpointUrl)}`, {
      hint: 'Give a URL such as https://iam.amazonaws.com or http://127.0.0.1:5000.',
    });
  }
  return {
    json: raw.json === true,
    input: raw.input !== false && io.stdinIsTTY && !ci,
    color: !noColor && (forced || (io.stdoutIsTTY && io.stderrIsTTY)),
    profile: raw.profile ?? undefined,
    region: raw.region ?? undefined,
    endpointUrl,
    debug: raw.debug === true,
  };
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
