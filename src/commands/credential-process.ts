import { Command } from 'commander';
import type { Context } from '../context.js';
import { credentialProcess, renderCredentialProcess, type CredentialProcessOptions, type CredentialProcessResult } from './credential-process-work.js';

/** The work and its output; main.ts imports them from credential-process-work.ts directly, to skip Commander. */
export { credentialProcess, renderCredentialProcess, type CredentialProcessOptions, type CredentialProcessResult } from './credential-process-work.js';

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
      // The format is fixed by the AWS SDKs: the same compact document with or without --json.
      renderCredentialProcess(await run(ctx, { name }), ctx.io);
    });
}
