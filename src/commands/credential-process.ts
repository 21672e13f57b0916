import type { Command } from 'commander';
import { createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { requireConnection, requireKeyPair } from '../health/require-connection.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `credential-process` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The options of `credential-process NAME`. */
export interface CredentialProcessOptions {
  name: string;
}

/**
 * How long an SDK may keep the key it got before running credential-process again. Without an Expiration,
 * boto3 and the JavaScript SDK keep the first key for a client's whole life, so a long-running job breaks
 * when a rotation retires that key. It must stay above botocore's advisory refresh window (15 min:
 * a shorter expiry makes boto3 run this command on every call); 20 min makes boto3 ask again every 5 min,
 * the JavaScript SDK v3 (5-min window) every 15, the Java SDK v2 (15-s threshold) and Go SDK v2 every 20.
 */
export const CREDENTIAL_PROCESS_LIFETIME_MS = 20 * 60_000;

/** The credential_process document, Version 1 (long-term keys: no SessionToken; Expiration so SDKs ask again). */
export interface CredentialProcessResult {
  Version: 1;
  AccessKeyId: string;
  SecretAccessKey: string;
  /** ISO 8601, UTC, whole seconds. */
  Expiration: string;
}

/**
 * Reads the connection's metadata and its one secret; touches nothing else (no AWS SDK, no prompt),
 * because SDKs run it before every credential refresh.
 */
export async function credentialProcess(
  ctx: Context,
  opts: CredentialProcessOptions,
): Promise<CredentialProcessResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  // The stored pair is written as one unit, so its key id always matches its secret, even while a
  // rotation has switched the secret but not yet the metadata.
  const expiration = new Date(ctx.clock.now().getTime() + CREDENTIAL_PROCESS_LIFETIME_MS);
  return {
    Version: 1,
    AccessKeyId: pair.accessKeyId,
    SecretAccessKey: pair.secretAccessKey,
    Expiration: expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** Writes exactly the credential_process JSON and a newline. */
export function renderCredentialProcess(result: CredentialProcessResult, io: IO): void {
  io.out(
    `${JSON.stringify({ Version: result.Version, AccessKeyId: result.AccessKeyId, SecretAccessKey: result.SecretAccessKey, Expiration: result.Expiration })}\n`,
  );
}

/** What `credential-process NAME` does once its options are known: the Commander action, and main's shortcut. */
export async function credentialProcessAction(
  ctx: Context,
  opts: CredentialProcessOptions,
  run: (ctx: Context, opts: CredentialProcessOptions) => Promise<CredentialProcessResult> = credentialProcess,
): Promise<void> {
  // The format is fixed by the AWS SDKs: the same compact document with or without --json.
  renderCredentialProcess(await run(ctx, opts), ctx.io);
}

/** Commander wiring of `credential-process`. */
export function credentialProcessCommand(
  ctx: Context,
  run: (ctx: Context, opts: CredentialProcessOptions) => Promise<CredentialProcessResult> = credentialProcess,
): Command {
  return createCommand('credential-process')
    .description(
      "Print the connection's key as the JSON the AWS credential_process setting expects. Never prompts; nothing else on stdout.",
    )
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
