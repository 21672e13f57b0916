import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context } from '../ports.js';
import { UsageError } from '../errors.js';

/**
 * Prints the help of the command named, the same text as `datablast-aws COMMAND --help` (and the man
 * page's section of it); without a name, the program's help. An unknown name is a usage error (exit 2).
 */
export function helpAction(program: Command, name: string | undefined): void {
  if (name === undefined) {
    program.outputHelp();
    return;
  }
  const command = program.commands.find((c) => c.name() === name && !isHidden(c));
  if (!command) {
    const names = program.commands.filter((c) => !isHidden(c)).map((c) => c.name());
    throw new UsageError(`no command named ${JSON.stringify(name)}`, {
      hint: `The commands: ${names.join(', ')}. \`datablast-aws --help\` says what each does.`,
    });
  }
  command.outputHelp();
}

/** Commander keeps `hidden` private; internal commands (`__complete`) are the ones it leaves out of --help. */
function isHidden(command: Command): boolean {
  return (command as unknown as { _hidden?: boolean })._hidden === true;
}

/** Commander wiring of `help [COMMAND]`. */
export function helpCommand(_ctx: Context): Command {
  return createCommand('help')
    .description("Print a command's help: the same text as `datablast-aws COMMAND --help`.")
    .argument('[command]', 'the command; without it, the list of commands')
    .addHelpText(
      'after',
      `
Examples:
  $ datablast-aws help rotate
  $ datablast-aws help
`,
    )
    .action((name: string | undefined, _opts: unknown, command: Command) => {
      helpAction(command.parent!, name);
    });
}
