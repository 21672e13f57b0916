import { Command, Option } from 'commander';
import type { Context } from './context.js';
import { VERSION } from './version.js';
import { initCommand } from './commands/init.js';
import { createUserCommand } from './commands/create-user.js';
import { attachPolicyCommand } from './commands/attach-policy.js';
import { addConnectionCommand } from './commands/add-connection.js';
import { testCommand } from './commands/test.js';
import { rotateCommand } from './commands/rotate.js';
import { listCommand } from './commands/list.js';
import { showCommand } from './commands/show.js';
import { removeCommand } from './commands/remove.js';
import { credentialProcessCommand } from './commands/credential-process.js';
import { envCommand } from './commands/env.js';
import { exportProfileCommand } from './commands/export-profile.js';
import { completeCommand, completionCommand } from './commands/completion.js';

/** The global options, accepted before or after the command (CLI.md, "Global options"). */
function addGlobalOptions(command: Command): Command {
  return command
    .option('--json', 'print one JSON document on stdout (the result); progress and errors stay on stderr')
    .option('--no-input', 'never prompt; a missing value is an error naming its flag (implied without a TTY or with CI=true)')
    .option('--no-color', 'no colour (also NO_COLOR; FORCE_COLOR forces it)')
    .option('--profile <name>', 'admin credentials for IAM work: a profile of the standard AWS config')
    .option('--region <region>', 'default region (else the connection\'s, AWS_REGION, then us-east-1)')
    .option('--endpoint-url <url>', 'send every AWS call there (also AWS_ENDPOINT_URL)')
    .addOption(new Option('--debug', 'stack traces and AWS request ids on stderr (never secrets)'));
}

/** Builds the whole command tree over a context. One line per command. */
export function buildProgram(ctx: Context): Command {
  const program = addGlobalOptions(new Command('datablast-aws'))
    .description('Give Datablast a least-privilege IAM user whose access key lives in the OS keychain, tested and rotated on schedule.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .addHelpCommand(false);

  program.addCommand(initCommand(ctx));
  program.addCommand(createUserCommand(ctx));
  program.addCommand(attachPolicyCommand(ctx));
  program.addCommand(addConnectionCommand(ctx));
  program.addCommand(testCommand(ctx));
  program.addCommand(rotateCommand(ctx));
  program.addCommand(listCommand(ctx));
  program.addCommand(showCommand(ctx));
  program.addCommand(removeCommand(ctx));
  program.addCommand(credentialProcessCommand(ctx));
  program.addCommand(envCommand(ctx));
  program.addCommand(exportProfileCommand(ctx));
  program.addCommand(completionCommand(ctx));
  program.addCommand(completeCommand(ctx), { hidden: true });

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
