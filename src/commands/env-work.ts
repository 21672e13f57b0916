import type { Context, IO } from '../context.js';
import { ConfigError } from '../errors.js';
import { rememberSecret } from '../domain/redact.js';
import { validateRegion } from '../domain/access-key.js';
import { present, warn, type Style } from '../ui/output.js';
import { requireConnection } from './require-connection.js';
import { shellWord } from '../domain/shell-word.js';

// The work of `env`, apart from its Commander wiring (env.ts): main.ts runs `env` called without
// options from here without loading Commander, about 24 ms of every run. Nothing here may import a
// library at module top.

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
  const pair = await (await ctx.secrets()).get(connection.name);
  if (!pair) {
    throw new ConfigError(`no secret is stored for connection ${JSON.stringify(connection.name)} in the secret store`, {
      hint: `Store the key again: \`datablast-aws add-connection ${shellWord(connection.name)} --force --access-key-id ${connection.accessKeyId} --secret-stdin\`.`,
    });
  }
  rememberSecret(pair.secretAccessKey);
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
export async function envAction(ctx: Context, opts: EnvOptions, run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env): Promise<void> {
  if (ctx.io.stdoutIsTTY && !ctx.globals.json) warn(ctx, 'this prints the secret access key on the terminal; use it as eval "$(datablast-aws env NAME)"');
  present(ctx, await run(ctx, opts), renderEnv);
}
