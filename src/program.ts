import { Command, Option } from 'commander';
import type { Context } from './ports.js';
import { version } from './version.js';

/** main.ts tells Commander's own errors (usage, help, version) from ours with this class. */
export { CommanderError } from 'commander';

/** A command module's wiring function. */
type CommandFactory = (ctx: Context) => Command;

/** One command: its name, its module (loaded only when it may run), and how it joins the tree. */
interface CommandEntry {
  name: string;
  load: () => Promise<CommandFactory>;
  /** Left out of --help (internal commands). */
  hidden?: boolean;
  /** It reads the whole command tree (completion scripts), so every command is loaded with it. */
  tree?: boolean;
}

/**
 * Every command, one line each, in --help order. A run loads only the module of the command it
 * names: each command module pulls in its own dependencies, and loading all twelve cost every
 * invocation (credential-process above all) several milliseconds.
 */
const COMMANDS: readonly CommandEntry[] = [
  { name: 'init', load: async () => (await import('./commands/init.js')).initCommand },
  { name: 'create-user', load: async () => (await import('./commands/create-user.js')).createUserCommand },
  { name: 'attach-policy', load: async () => (await import('./commands/attach-policy.js')).attachPolicyCommand },
  { name: 'add-connection', load: async () => (await import('./commands/add-connection.js')).addConnectionCommand },
  { name: 'test', load: async () => (await import('./commands/test.js')).testCommand },
  { name: 'rotate', load: async () => (await import('./commands/rotate.js')).rotateCommand },
  { name: 'list', load: async () => (await import('./commands/list.js')).listCommand },
  { name: 'show', load: async () => (await import('./commands/show.js')).showCommand },
  { name: 'remove', load: async () => (await import('./commands/remove.js')).removeCommand },
  {
    name: 'credential-process',
    load: async () => (await import('./commands/credential-process.js')).credentialProcessCommand,
  },
  { name: 'env', load: async () => (await import('./commands/env.js')).envCommand },
  { name: 'export-profile', load: async () => (await import('./commands/export-profile.js')).exportProfileCommand },
  { name: 'deliver', load: async () => (await import('./commands/deliver.js')).deliverCommand },
  { name: 'move-store', load: async () => (await import('./commands/move-store.js')).moveStoreCommand },
  { name: 'completion', load: async () => (await import('./commands/completion.js')).completionCommand, tree: true },
  { name: '__complete', load: async () => (await import('./commands/completion.js')).completeCommand, hidden: true },
];

/** Global options that take a value: the word after one is its value, never a command. */
const VALUE_OPTIONS = ['--profile', '--region', '--endpoint-url'];
/** Global options without a value. */
const FLAG_OPTIONS = ['--json', '--no-input', '--no-color', '--debug'];

/**
 * The command `args` runs when only global options come before its name, as Commander would find it;
 * undefined otherwise (no command, --help, --version, an unknown option or command), and then the
 * whole tree is loaded so that Commander's help, errors and suggestions are exactly as before.
 */
export function commandToLoad(args: readonly string[]): CommandEntry | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (FLAG_OPTIONS.includes(arg) || VALUE_OPTIONS.some((option) => arg.startsWith(`${option}=`))) continue;
    if (VALUE_OPTIONS.includes(arg)) {
      i += 1;
      continue;
    }
    const entry = COMMANDS.find((command) => command.name === arg);
    return entry?.tree ? undefined : entry;
  }
  return undefined;
}

/** The global options, accepted before or after the command (CLI.md, "Global options"). */
function addGlobalOptions(command: Command): Command {
  return command
    .option('--json', 'print one JSON document on stdout (the result); progress and errors stay on stderr')
    .option(
      '--no-input',
      'never prompt; a missing value is an error naming its flag (implied without a TTY or with CI=true)',
    )
    .option('--no-color', 'no colour (also NO_COLOR; FORCE_COLOR forces it)')
    .option('--profile <name>', 'admin credentials for IAM work: a profile of the standard AWS config')
    .option('--region <region>', "default region (else the connection's, AWS_REGION, then us-east-1)")
    .option('--endpoint-url <url>', 'send every AWS call there (also AWS_ENDPOINT_URL)')
    .addOption(new Option('--debug', 'stack traces and AWS request ids on stderr (never secrets)'));
}

/**
 * Builds the command tree over a context: the global options and, when `args` names a command after
 * global options only, that command alone; otherwise every command.
 */
export async function buildProgram(ctx: Context, args: readonly string[] = []): Promise<Command> {
  const program = addGlobalOptions(new Command('datablast-aws'))
    .description(
      'Give Datablast a least-privilege IAM user whose access key lives in the OS keychain, tested and rotated on schedule.',
    )
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .addHelpCommand(false);

  const one = commandToLoad(args);
  const entries = one ? [one] : COMMANDS;
  const factories = await Promise.all(entries.map((entry) => entry.load()));
  entries.forEach((entry, i) => program.addCommand(factories[i]!(ctx), entry.hidden ? { hidden: true } : undefined));

  applySettings(program, ctx);
  return program;
}

/** Commander copies settings only to commands made with .command(); ours are added, so copy them. */
function applySettings(command: Command, ctx: Context): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: (text) => ctx.io.out(text),
    writeErr: (text) => ctx.io.err(text),
    outputError: (text, write) => write(`${text}usage: ${commandPath(command)} ${command.usage()}\n`),
  });
  command.configureHelp({ showGlobalOptions: true, sortOptions: false });
  for (const sub of command.commands) applySettings(sub, ctx);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
