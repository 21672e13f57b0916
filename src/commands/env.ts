import { Command } from 'commander';
import type { Context } from '../context.js';
import { env, envAction, type EnvOptions, type EnvResult } from './env-work.js';

/** The work, its types and output; main.ts imports them from env-work.ts to skip Commander. */
export * from './env-work.js';

/** Commander wiring of `env`. */
export function envCommand(ctx: Context, run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env): Command {
  return new Command('env')
    .description('Print shell lines that export the connection\'s key and region, for eval. This prints the secret: its whole purpose.')
    .argument('<name>', 'the connection')
    .addHelpText(
      'after',
      `
Prints export lines for AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (--region, else the
connection's region), and unsets AWS_SESSION_TOKEN, which would not belong to this key.
With --json it prints {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} instead: like
credential-process, this is one of the two commands whose output carries a secret.

Examples:
  $ eval "$(datablast-aws env "AWS Production")"
  $ datablast-aws env prod --json | jq -r 'to_entries[] | "\\(.key)=\\(.value)"' > .env
`,
    )
    .action(async (name: string) => {
      await envAction(ctx, { name }, run);
    });
}
