import type { Context } from './ports.js';

// The start-up path's one reading of argv, and the commands main runs without Commander. Commander
// with program.ts costs about 24 ms of every run; credential-process runs before every credential
// refresh of an AWS SDK. So the hot commands, called with their operands and global options only,
// run their action from their own module; anything else (an option of the command, --help, a
// missing or extra operand, `--`, a typo) goes to Commander, which parses, checks and reports as
// always. test/unit/fast-path.test.ts holds the two paths to the same stdout, stderr and exit code.

/** The raw values of the global options, as Commander names them (`--no-input` sets `input: false`). */
export interface RawGlobals {
  json?: boolean;
  input?: boolean;
  color?: boolean;
  profile?: string;
  region?: string;
  endpointUrl?: string;
  debug?: boolean;
}

/** One global option (CLI.md, "Global options"): how the scan reads it, and what program.ts declares to Commander. */
export interface GlobalOption {
  /** Commander's flags, e.g. `--profile <name>`. */
  readonly flags: string;
  /** The option as typed, e.g. `--profile`. */
  readonly name: string;
  /** Where its value goes. */
  readonly key: keyof RawGlobals;
  /** The value of a flag without an argument (`--no-input` is `false`); undefined when it takes a value. */
  readonly flag?: boolean;
  readonly description: string;
}

/** The global options, declared once: accepted before or after the command. */
export const GLOBAL_OPTIONS: readonly GlobalOption[] = [
  {
    flags: '--json',
    name: '--json',
    key: 'json',
    flag: true,
    description: 'print one JSON document on stdout (the result); progress and errors stay on stderr',
  },
  {
    flags: '--no-input',
    name: '--no-input',
    key: 'input',
    flag: false,
    description: 'never prompt; a missing value is an error naming its flag (implied without a TTY or with CI=true)',
  },
  {
    flags: '--no-color',
    name: '--no-color',
    key: 'color',
    flag: false,
    description: 'no colour (also NO_COLOR; FORCE_COLOR forces it)',
  },
  {
    flags: '--profile <name>',
    name: '--profile',
    key: 'profile',
    description: 'admin credentials for IAM work: a profile of the standard AWS config',
  },
  {
    flags: '--region <region>',
    name: '--region',
    key: 'region',
    description: "default region (else the connection's, AWS_REGION, then us-east-1)",
  },
  {
    flags: '--endpoint-url <url>',
    name: '--endpoint-url',
    key: 'endpointUrl',
    description: 'send every AWS call there (also AWS_ENDPOINT_URL)',
  },
  {
    flags: '--debug',
    name: '--debug',
    key: 'debug',
    flag: true,
    description: 'stack traces and AWS request ids on stderr (never secrets)',
  },
];

/** What one pass over the arguments found. */
export interface Scan {
  /** The global options given, wherever they stand (the last of a repeated one wins, as in Commander). */
  readonly globals: RawGlobals;
  /** The first word that is not a global option or its value, when it does not start with "-". */
  readonly command: string | undefined;
  /** The words after the command that are neither global options nor their values. */
  readonly operands: readonly string[];
  /** False when a word needs Commander's judgement: any other option, `--`, "-x", a missing value. */
  readonly plain: boolean;
  /** `--version` or `-V` alone. */
  readonly version: boolean;
}

const BY_NAME = new Map(GLOBAL_OPTIONS.map((option) => [option.name, option]));

/** Reads `args` (argv without node and the script) once: global options, command, operands. */
export function scanArgs(args: readonly string[]): Scan {
  const globals: RawGlobals = {};
  const operands: string[] = [];
  let command: string | undefined;
  let plain = true;
  let seenFirst = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      // Commander's end of options: what follows is operands only, for it to sort out.
      plain = false;
      break;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const option = BY_NAME.get(equals === -1 ? arg : arg.slice(0, equals));
    if (option) {
      if (option.flag !== undefined) {
        if (equals !== -1) plain = false;
        else setGlobal(globals, option.key, option.flag);
      } else if (equals !== -1) {
        setGlobal(globals, option.key, arg.slice(equals + 1));
      } else if (i + 1 < args.length) {
        setGlobal(globals, option.key, args[++i]!);
      } else {
        plain = false;
      }
      continue;
    }
    if (arg.startsWith('-')) {
      plain = false;
      if (!seenFirst) break;
      continue;
    }
    seenFirst = true;
    if (command === undefined) command = arg;
    else operands.push(arg);
  }
  const version = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
  return { globals, command, operands, plain, version };
}

function setGlobal(globals: RawGlobals, key: keyof RawGlobals, value: string | boolean): void {
  (globals as Record<string, string | boolean>)[key] = value;
}

/** What the fast path runs: the same action the command's Commander wiring runs, given the operands. */
export type FastAction = (ctx: Context, operands: readonly string[]) => Promise<void>;

/** The hot commands: how many operands each takes, and its action, loaded from the command's own module. */
const HOT = new Map<string, { operands: number; load: () => Promise<FastAction> }>([
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

/** The loader of the action the fast path runs for `scan`; undefined when Commander must parse it. */
export function fastAction(scan: Scan): (() => Promise<FastAction>) | undefined {
  if (!scan.plain || scan.command === undefined) return undefined;
  const hot = HOT.get(scan.command);
  return hot && scan.operands.length === hot.operands ? hot.load : undefined;
}
