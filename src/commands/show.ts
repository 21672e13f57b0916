import { Command } from 'commander';
import type { Context } from '../context.js';
import { show, showAction, type ShowOptions, type ShowResult } from './show-work.js';

/** The work, its types and requireConnection; main.ts imports them from show-work.ts to skip Commander. */
export * from './show-work.js';

/** Commander wiring of `show`. */
export function showCommand(ctx: Context, run: (ctx: Context, opts: ShowOptions) => Promise<ShowResult> = show): Command {
  return new Command('show')
    .description('Show one connection: key id (masked), account, user, ARN, region, description, services, dates and status. Reads no secret.')
    .argument('<name>', 'the connection')
    .addHelpText(
      'after',
      `
Examples:
  $ datablast-aws show "AWS Production"
  $ datablast-aws show prod --json     # full key id, for scripts
`,
    )
    .action(async (name: string) => {
      await showAction(ctx, { name }, run);
    });
}
