import { Command } from 'commander';
import type { Context } from '../context.js';
import { credentialProcess, credentialProcessAction, type CredentialProcessOptions, type CredentialProcessResult } from './credential-process-work.js';

/** The work, its types and output; main.ts imports them from credential-process-work.ts to skip Commander. */
export * from './credential-process-work.js';

/** Commander wiring of `credential-process`. */
export function credentialProcessCommand(ctx: Context, run: (ctx: Context, opts: CredentialProcessOptions) => Promise<CredentialProcessResult> = credentialProcess): Command {
  return new Command('credential-process')
    .description('Print the connection\'s key as the JSON the AWS credential_process setting expects. Never prompts; nothing else on stdout.')
    .argument('<name>', 'the connection')
    .addHelpText(
      'after',
      `
In ~/.aws/config (or let \`datablast-aws export-profile NAME\` write it):
  [profile datablast]
  credential_process = datablast-aws credential-process "AWS Production"

Examples:
  $ datablast-aws credential-process "AWS Production"    # what the SDK runs
  $ aws sts get-caller-identity --profile datablast
`,
    )
    .action(async (name: string) => {
      await credentialProcessAction(ctx, { name }, run);
    });
}
