import type { Context, IO } from '../context.js';
import { ConfigError } from '../errors.js';
import { rememberSecret } from '../domain/redact.js';
import { shellWord } from '../domain/shell-word.js';
import { requireConnection } from './require-connection.js';

// The work of `credential-process`, apart from its Commander wiring (credential-process.ts): SDKs run
// this command before every credential refresh, so main.ts runs `credential-process NAME` from here
// without loading Commander, about 24 ms of every run. Nothing here may import a library at module top.

/** The options of `credential-process NAME`. */
export interface CredentialProcessOptions {
  name: string;
}

/** The credential_process document, Version 1 (long-term keys: no SessionToken, no Expiration). */
export interface CredentialProcessResult {
  Version: 1;
  AccessKeyId: string;
  SecretAccessKey: string;
}

/**
 * Reads the connection's metadata and its one secret; touches nothing else (no AWS SDK, no prompt),
 * because SDKs run it before every credential refresh.
 */
export async function credentialProcess(ctx: Context, opts: CredentialProcessOptions): Promise<CredentialProcessResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const pair = await (await ctx.secrets()).get(connection.name);
  if (!pair) {
    throw new ConfigError(`no secret is stored for connection ${JSON.stringify(connection.name)} in the secret store`, {
      hint: `Store the key again: \`datablast-aws add-connection ${shellWord(connection.name)} --force --access-key-id ${connection.accessKeyId} --secret-stdin\`, or rotate it with \`datablast-aws rotate ${shellWord(connection.name)} --admin\`.`,
    });
  }
  rememberSecret(pair.secretAccessKey);
  // The stored pair is written as one unit, so its key id always matches its secret, even while a
  // rotation has switched the secret but not yet the metadata.
  return { Version: 1, AccessKeyId: pair.accessKeyId, SecretAccessKey: pair.secretAccessKey };
}

/** Writes exactly the credential_process JSON and a newline. */
export function renderCredentialProcess(result: CredentialProcessResult, io: IO): void {
  io.out(`${JSON.stringify({ Version: result.Version, AccessKeyId: result.AccessKeyId, SecretAccessKey: result.SecretAccessKey })}\n`);
}

/** What `credential-process NAME` does once its options are known: the Commander action, and main's shortcut. */
export async function credentialProcessAction(ctx: Context, opts: CredentialProcessOptions, run: (ctx: Context, opts: CredentialProcessOptions) => Promise<CredentialProcessResult> = credentialProcess): Promise<void> {
  // The format is fixed by the AWS SDKs: the same compact document with or without --json.
  renderCredentialProcess(await run(ctx, opts), ctx.io);
}
