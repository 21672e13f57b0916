import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { validateRegion } from '../domain/access-key.js';
import { present, warn, type Style } from '../ui/output.js';
import { requireConnection, requireKeyPair } from './require-connection.js';
import { shellWord } from '../domain/shell-word.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `env` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `env NAME`. */
export interface EnvOptions {
  name: string;
}

/** The variables `env` exports; under --json this object is printed as is. */
export interface EnvResult {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
}

/** Reads the connection's metadata and its secret; calls no AWS API and never prompts. */
export async function env(ctx: Context, opts: EnvOptions): Promise<EnvResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  const region = ctx.globals.region !== undefined ? validateRegion(ctx.globals.region) : connection.region;
  return { AWS_ACCESS_KEY_ID: pair.accessKeyId, AWS_SECRET_ACCESS_KEY: pair.secretAccessKey, AWS_REGION: region };
}

/** POSIX shell lines: quoted only when a value needs it (keys and region names never do). */
export function renderEnv(result: EnvResult, io: IO, _style: Style): void {
  // One write: a reader (eval "$(…)") sees all four lines or none.
  io.out(
    `export AWS_ACCESS_KEY_ID=${shellWord(result.AWS_ACCESS_KEY_ID)}\n` +
      `export AWS_SECRET_ACCESS_KEY=${shellWord(result.AWS_SECRET_ACCESS_KEY)}\n` +
      `export AWS_REGION=${shellWord(result.AWS_REGION)}\n` +
      'unset AWS_SESSION_TOKEN\n',
  );
}

/** What `env NAME` does once its options are known: the Commander action, and main's shortcut. */
export async function envAction(
  ctx: Context,
  opts: EnvOptions,
  run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env,
): Promise<void> {
  if (ctx.io.stdoutIsTTY && !ctx.globals.json)
    warn(ctx, 'this prints the secret access key on the terminal; use it as eval "$(datablast-aws env NAME)"');
  present(ctx, await run(ctx, opts), renderEnv);
}

/** Commander wiring of `env`. */
export function envCommand(ctx: Context, run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env): Command {
  return createCommand('env')
    .description(
      "Print shell lines that export the connection's key and region, for eval. This prints the secret: its whole purpose.",
    )
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
