import { Command, Option } from 'commander';
import type { Context } from './ports.js';
import { GLOBAL_OPTIONS } from './fast-path.js';
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
  // Prints another command's help, so it needs the whole tree.
  { name: 'help', load: async () => (await import('./commands/help.js')).helpCommand, tree: true },
  { name: '__complete', load: async () => (await import('./commands/completion.js')).completeCommand, hidden: true },
];

/**
 * The command to load alone: the one the scan found after global options only (./fast-path.ts);
 * undefined otherwise (no command, --help, --version, an unknown option or command, the completion
 * script), and then the whole tree is loaded so that Commander's help, errors and suggestions are
 * exactly as before.
 */
export function commandToLoad(command: string | undefined): CommandEntry | undefined {
  const entry = COMMANDS.find((candidate) => candidate.name === command);
  return entry?.tree ? undefined : entry;
}

/** The global options, accepted before or after the command: declared once, in GLOBAL_OPTIONS. */
function addGlobalOptions(command: Command): Command {
  for (const option of GLOBAL_OPTIONS) command.addOption(new Option(option.flags, option.description));
  return command;
}

/**
 * Builds the command tree over a context: the global options and `command` alone when it is one to
 * load alone (commandToLoad); otherwise every command.
 */
export async function buildProgram(ctx: Context, command?: string): Promise<Command> {
  const program = addGlobalOptions(new Command('datablast-aws'))
    .description(
      'Give Datablast a least-privilege IAM user whose access key lives in the OS keychain, tested and rotated on schedule.',
    )
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .addHelpCommand(false);

  const one = commandToLoad(command);
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
