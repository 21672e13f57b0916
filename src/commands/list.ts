import { Command } from 'commander';
import type { Context } from '../context.js';
import { list, listAction, type ListOptions, type ListResult } from './list-work.js';

/** The work, its types and helpers (show uses them too); main.ts imports them from list-work.ts to skip Commander. */
export * from './list-work.js';

/** Commander wiring of `list`. */
export function listCommand(ctx: Context, run: (ctx: Context, opts: ListOptions) => Promise<ListResult> = list): Command {
  return new Command('list')
    .description('List every connection: masked key id, account, region, key age, last test and rotation, status. Reads no secret and calls no AWS API.')
    .addHelpText(
      'after',
      `
Piped, it prints tab-separated rows without a header; --json prints the full key ids.

Examples:
  $ datablast-aws list
  $ datablast-aws list --json | jq -r '.[] | select(.status != "ok") | .name'
`,
    )
    .action(async () => {
      await listAction(ctx, {}, run);
    });
}
