import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import type { Identity } from '../domain/iam.js';
import { AwsError, CliError, ConfigError, CredentialsRejectedError, UsageError } from '../errors.js';
import { isUndecodableEntry } from '../store/secret-store.js';
import {
  connectionJson,
  validateConnectionName,
  validateDescription,
  type AccessKeyPair,
  type Connection,
  type ConnectionJson,
} from '../domain/connection.js';
import {
  accountIdFromAccessKeyId,
  isRootArn,
  maskAccessKeyId,
  normalizeKeyPair,
  userNameFromArn,
  type KeyPairSources,
  validateAccessKeyId,
  validateRegion,
  validateSecretAccessKey,
} from '../domain/access-key.js';
import { parseCredentialsCsv } from '../domain/credentials-csv.js';
import { rememberSecret } from '../domain/redact.js';
import { present, progress, type Style } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';

/** The options of `add-connection NAME`, as gathered from flags. */
export interface AddConnectionOptions {
  name: string;
  accessKeyId?: string;
  secretStdin: boolean;
  fromEnv: boolean;
  fromCsv?: string;
  description?: string;
  force: boolean;
  /** False under --no-test: store without calling AWS. */
  test: boolean;
}

/** What saveConnection stores: a key pair and what we know about it. */
export interface SaveConnectionInput {
  name: string;
  pair: AccessKeyPair;
  region: string;
  description?: string;
  /** Prove the key with STS GetCallerIdentity before storing anything. */
  test: boolean;
  /** Replace an existing connection of this name. */
  force: boolean;
  services?: string[];
  buckets?: string[];
  keyCreatedAt?: string;
  /** The IAM user, when the caller knows it (the STS answer wins when the key is tested). */
  userName?: string;
  /** Where the key id and secret came from, so that a malformed one is reported against its flag, variable or CSV column. */
  sources?: KeyPairSources;
}

/** The outcome of saveConnection. */
export interface SaveConnectionResult {
  /** The stored connection, in the JSON shape of CLI.md. */
  connection: ConnectionJson;
  /** True when AWS accepted the key before it was stored. */
  tested: boolean;
  /** True when an existing connection was replaced (--force). */
  replaced: boolean;
  /** What we changed or noticed, for the user to read (never a secret). */
  notes: string[];
}

/** The result of `add-connection`: the connection JSON of CLI.md plus how it was stored. */
export type AddConnectionResult = ConnectionJson & { tested: boolean; replaced: boolean; notes: string[] };

type AddConnectionRun = (ctx: Context, opts: AddConnectionOptions) => Promise<AddConnectionResult>;

interface RawFlags {
  accessKeyId?: string;
  secretStdin?: boolean;
  fromEnv?: boolean;
  fromCsv?: string;
  description?: string;
  force?: boolean;
  test: boolean;
  secretAccessKey?: string | boolean;
  secret?: string | boolean;
}

/** A credentials CSV is a few hundred bytes; anything far bigger is the wrong file. */
const MAX_CSV_BYTES = 64 * 1024;

/** Commander wiring of `add-connection`; `run` is swappable so tests can capture the parsed options. */
export function addConnectionCommand(ctx: Context, run: AddConnectionRun = addConnection): Command {
  return (
    createCommand('add-connection')
      .description(
        'Store an existing access key as a connection: the secret goes to the secret store, and the key is tested with AWS first.',
      )
      .argument('<name>', 'connection name: 1–64 printable characters, spaces allowed ("AWS Production")')
      .option(
        '--access-key-id <id>',
        'the access key id (AKIA…); the secret then comes from --secret-stdin, AWS_SECRET_ACCESS_KEY or a hidden prompt',
      )
      .option('--secret-stdin', 'read the secret access key from standard input (one trailing newline is ignored)')
      .option('--from-env', 'take the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
      .option('--from-csv <file>', 'take the key from the CSV file the AWS console downloads (either layout)')
      .option('--description <text>', 'a note shown by show and list --json')
      .option('--force', 'replace an existing connection of the same name')
      .option('--no-test', 'store without calling AWS (by default STS GetCallerIdentity proves the key first)')
      // Not offered, but explained: a secret in argv is visible in `ps` and kept in shell history.
      .addOption(createOption('--secret-access-key [secret]').hideHelp())
      .addOption(createOption('--secret [secret]').hideHelp())
      .addHelpText(
        'after',
        `
The region is --region, else AWS_REGION, else us-east-1. Secrets are never accepted as flags.

Examples:
  $ datablast-aws add-connection "AWS Production"            # prompts for the key id and secret
  $ pbpaste | datablast-aws add-connection prod --access-key-id AKIAIOSFODNN7EXAMPLE --secret-stdin --region eu-west-1
  $ datablast-aws add-connection prod --from-csv ~/Downloads/datablast_accessKeys.csv
  $ AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… datablast-aws add-connection prod --from-env --no-input
`,
      )
      .action(async (name: string, flags: RawFlags) => {
        present(ctx, await run(ctx, addConnectionOptions(name, flags)), renderAddConnection);
      })
  );
}

/** Turns parsed flags into options, refusing combinations that cannot work. */
function addConnectionOptions(name: string, flags: RawFlags): AddConnectionOptions {
  for (const [value, flag] of [
    [flags.secretAccessKey, '--secret-access-key'],
    [flags.secret, '--secret'],
  ] as const) {
    if (value === undefined) continue;
    if (typeof value === 'string') rememberSecret(value);
    throw new UsageError(
      `${flag} is not accepted: a secret on the command line is visible to other users in \`ps\` and stays in your shell history`,
      {
        hint: 'Pipe it instead: `datablast-aws add-connection NAME --access-key-id ID --secret-stdin`, or set AWS_SECRET_ACCESS_KEY, or leave it out to be asked. If you typed it already, remove it from your shell history.',
      },
    );
  }
  const sources = [
    flags.accessKeyId !== undefined && '--access-key-id',
    flags.fromEnv && '--from-env',
    flags.fromCsv !== undefined && '--from-csv',
  ].filter(Boolean);
  if (sources.length > 1)
    throw new UsageError(`${sources.join(' and ')} cannot be combined: give the key one way`, {
      hint: 'Use one of --access-key-id, --from-env or --from-csv.',
    });
  if (flags.secretStdin && flags.accessKeyId === undefined) {
    throw new UsageError('--secret-stdin needs --access-key-id', {
      hint: 'Give the key id with --access-key-id and pipe only the secret into standard input.',
    });
  }
  return {
    name,
    accessKeyId: flags.accessKeyId,
    secretStdin: flags.secretStdin === true,
    fromEnv: flags.fromEnv === true,
    fromCsv: flags.fromCsv,
    description: flags.description,
    force: flags.force === true,
    test: flags.test !== false,
  };
}

/** Gathers the key from the chosen source (flags, stdin, environment, CSV file or prompts) and saves it. */
export async function addConnection(ctx: Context, opts: AddConnectionOptions): Promise<AddConnectionResult> {
  const name = validateConnectionName(opts.name);
  const region = defaultRegion(ctx);
  if (opts.description !== undefined) validateDescription(opts.description);
  // Fail before asking for a secret that could not be stored anyway.
  if (!opts.force && (await (await ctx.connections()).get(name))) throw connectionExists(name);
  const gathered = await gatherKey(ctx, opts);
  const saved = await saveConnection(ctx, {
    name,
    pair: gathered.pair,
    region,
    description: opts.description,
    test: opts.test,
    force: opts.force,
    userName: gathered.userName,
    sources: gathered.sources,
  });
  return {
    ...saved.connection,
    tested: saved.tested,
    replaced: saved.replaced,
    notes: [...gathered.notes, ...saved.notes],
  };
}

/** The region for a new connection: --region, else AWS_REGION, else us-east-1 (CLI.md). */
export function defaultRegion(ctx: Context): string {
  if (ctx.globals.region !== undefined) return validateRegion(ctx.globals.region, '--region');
  if (ctx.env.AWS_REGION) return validateRegion(ctx.env.AWS_REGION, 'AWS_REGION');
  return 'us-east-1';
}

/**
 * Validates, tests (unless `test` is false) and stores a key as a connection: the reusable core of
 * add-connection, create-user --create-key and init. Nothing is stored when AWS rejects the key
 * (CredentialsRejectedError, exit 4). The secret is written first, then the metadata; if the
 * metadata write fails, the secret store is put back as it was.
 */
export async function saveConnection(ctx: Context, input: SaveConnectionInput): Promise<SaveConnectionResult> {
  rememberSecret(input.pair.secretAccessKey);
  const name = validateConnectionName(input.name);
  const region = validateRegion(input.region);
  if (input.description !== undefined) validateDescription(input.description);
  const { pair, notes } = normalizeKeyPair(input.pair, input.sources);
  rememberSecret(pair.secretAccessKey);
  if (pair.accessKeyId.startsWith('ASIA')) {
    throw new UsageError(
      `${maskAccessKeyId(pair.accessKeyId)} is a temporary access key (ASIA…): it needs a session token and expires, so it cannot be stored for Datablast`,
      {
        hint: 'Use a long-term access key of an IAM user (AKIA…), e.g. from `datablast-aws create-user USER --create-key --connection NAME`.',
      },
    );
  }
  const connections = await ctx.connections();
  const existing = await connections.get(name);
  if (existing && !input.force) throw connectionExists(name);

  let identity: Identity | undefined;
  let keyCreatedAt = input.keyCreatedAt;
  let userName = input.userName;
  if (input.test) {
    identity = await proveKey(ctx, pair, region);
    userName = userNameFromArn(identity.arn);
    if (isRootArn(identity.arn)) {
      notes.push(
        `this is a root user key of account ${identity.account}: AWS advises against root access keys; give Datablast its own IAM user with \`datablast-aws create-user\``,
      );
    }
    if (keyCreatedAt === undefined && userName !== undefined)
      keyCreatedAt = await keyCreationDate(ctx, pair, region, userName);
  }
  let accountId = identity?.account;
  if (accountId === undefined) {
    accountId = accountIdFromAccessKeyId(pair.accessKeyId);
    if (accountId !== undefined) notes.push(`account ${accountId} was read from the key id, not confirmed with AWS`);
  }
  const now = ctx.clock.now().toISOString();
  const connection: Connection = {
    name,
    accessKeyId: pair.accessKeyId,
    accountId,
    arn: identity?.arn,
    userName,
    region,
    description: input.description,
    createdAt: now,
    keyCreatedAt,
    lastTestedAt: identity ? now : undefined,
    services: input.services,
    buckets: input.buckets,
  };

  const secrets = await ctx.secrets();
  // Read before writing, so that a failed replacement can put the old secret back. An entry that does not
  // decode is what --force is advised for (decodeAccessKeyPair's hint): it is replaced, not restored.
  const previous = existing ? await secrets.get(name).catch(unlessUndecodable) : undefined;
  await secrets.set(name, pair);
  try {
    await connections.put(connection);
  } catch (error) {
    const undoFailed = await restoreSecret(ctx, name, previous);
    if (undoFailed && error instanceof CliError) {
      // The metadata error says "nothing was changed"; with the secret left behind, that is no longer true.
      throw new CliError(
        `${error.message.replace(/; nothing was changed$/, '')}; the secret of ${JSON.stringify(name)} was stored and could not be taken back (${undoFailed.message.replace(/; nothing was changed$/, '')})`,
        error.exitCode,
        {
          hint: `${error.hint ?? ''} Then run \`datablast-aws remove ${shellWord(name)}\` to remove that secret, or add the connection again${previous ? ' with --force' : ''}.`.trim(),
          cause: error,
        },
      );
    }
    throw error;
  }
  return {
    connection: connectionJson(connection),
    tested: identity !== undefined,
    replaced: existing !== undefined,
    notes,
  };
}

/** Human text for `add-connection`: notes on stderr, the outcome on stdout. */
export function renderAddConnection(result: AddConnectionResult, io: IO, style: Style): void {
  for (const note of result.notes) io.err(`${style.dim('note:')} ${note}\n`);
  const who = [
    result.userName ? `user ${result.userName}` : undefined,
    result.accountId ? `account ${result.accountId}` : undefined,
    `region ${result.region}`,
  ]
    .filter(Boolean)
    .join(', ');
  io.out(
    `${result.replaced ? 'Replaced' : 'Saved'} connection ${style.bold(JSON.stringify(result.name))}: ${maskAccessKeyId(result.accessKeyId)} (${who}).\n`,
  );
  if (result.tested) io.out(`${style.green('✓')} AWS accepted the key${result.arn ? ` as ${result.arn}` : ''}.\n`);
  else io.out(`Not tested with AWS: run \`datablast-aws test ${shellWord(result.name)}\` to check it.\n`);
}

function connectionExists(name: string): ConfigError {
  return new ConfigError(`connection ${JSON.stringify(name)} exists`, {
    hint: `Add --force to replace it, or choose another name. \`datablast-aws show ${shellWord(name)}\` shows the one stored.`,
  });
}

interface GatheredKey {
  pair: AccessKeyPair;
  userName?: string;
  notes: string[];
  sources?: KeyPairSources;
}

async function gatherKey(ctx: Context, opts: AddConnectionOptions): Promise<GatheredKey> {
  if (opts.fromCsv !== undefined) return keyFromCsv(opts.fromCsv);
  if (opts.fromEnv) return keyFromEnv(ctx);
  const notes: string[] = [];
  let accessKeyId = opts.accessKeyId;
  if (accessKeyId === undefined) {
    if (!ctx.globals.input) {
      throw new UsageError('no access key given', {
        hint: 'Give it with --access-key-id ID and --secret-stdin (or AWS_SECRET_ACCESS_KEY), with --from-env, or with --from-csv FILE.',
      });
    }
    const prompter = await ctx.prompter();
    accessKeyId = (
      await prompter.input('Access key ID (AKIA…):', { validate: (v) => accepts(validateAccessKeyId, v.trim()) })
    ).trim();
    return { pair: { accessKeyId, secretAccessKey: await promptSecret(ctx) }, notes };
  }
  if (opts.secretStdin) {
    if (ctx.io.stdinIsTTY) progress(ctx, 'reading the secret access key from standard input (end with Ctrl-D)');
    const text = await ctx.io.readStdin();
    rememberSecret(text.trim());
    const secretAccessKey = text.replace(/\r?\n$/, '');
    if (secretAccessKey.trim() === '')
      throw new UsageError('--secret-stdin: standard input was empty', {
        hint: 'Pipe the secret access key into the command, e.g. `pbpaste | datablast-aws add-connection NAME --access-key-id ID --secret-stdin`.',
      });
    return { pair: { accessKeyId, secretAccessKey }, notes, sources: { secretAccessKey: '--secret-stdin' } };
  }
  const fromEnv = ctx.env.AWS_SECRET_ACCESS_KEY;
  if (fromEnv) {
    notes.push('the secret access key was taken from AWS_SECRET_ACCESS_KEY');
    return {
      pair: { accessKeyId, secretAccessKey: fromEnv },
      notes,
      sources: { secretAccessKey: 'AWS_SECRET_ACCESS_KEY' },
    };
  }
  if (!ctx.globals.input) {
    throw new UsageError('no secret access key given for --access-key-id', {
      hint: 'Pipe it into --secret-stdin (e.g. `pbpaste | datablast-aws add-connection NAME --access-key-id ID --secret-stdin`) or set AWS_SECRET_ACCESS_KEY.',
    });
  }
  return { pair: { accessKeyId, secretAccessKey: await promptSecret(ctx) }, notes };
}

async function promptSecret(ctx: Context): Promise<string> {
  const prompter = await ctx.prompter();
  const secret = await prompter.password('Secret access key (hidden):', {
    validate: (v) => accepts(validateSecretAccessKey, v.trim()),
  });
  rememberSecret(secret.trim());
  return secret;
}

/** A prompt validator from a domain check: true, or the check's message and hint. */
function accepts(check: (value: string) => string, value: string): string | true {
  try {
    check(value);
    return true;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return error.hint ? `${error.message}. ${error.hint}` : error.message;
  }
}

function keyFromEnv(ctx: Context): GatheredKey {
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = ctx.env;
  rememberSecret(secret);
  if (token) {
    throw new UsageError(
      '--from-env: AWS_SESSION_TOKEN is set, so these are temporary credentials: they expire and cannot be stored for Datablast',
      {
        hint: 'Use a long-term access key of an IAM user (AKIA…) without a session token, e.g. from `datablast-aws create-user USER --create-key --connection NAME`.',
      },
    );
  }
  const missing = [!id && 'AWS_ACCESS_KEY_ID', !secret && 'AWS_SECRET_ACCESS_KEY'].filter(Boolean);
  if (missing.length > 0) {
    throw new UsageError(`--from-env: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set`, {
      hint: 'Set both variables, or give the key with --access-key-id and --secret-stdin.',
    });
  }
  return {
    pair: { accessKeyId: id!, secretAccessKey: secret! },
    notes: [],
    sources: { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY' },
  };
}

async function keyFromCsv(file: string): Promise<GatheredKey> {
  let bytes: Buffer;
  try {
    const info = await stat(file);
    if (info.isDirectory())
      throw new UsageError(`--from-csv ${file}: this is a directory`, { hint: 'Give the path of the .csv file.' });
    if (info.size > MAX_CSV_BYTES)
      throw new UsageError(`--from-csv ${file}: the file is ${info.size} bytes, far too big for a credentials CSV`, {
        hint: 'Give the .csv file the AWS console downloaded for this key.',
      });
    bytes = await readFile(file);
  } catch (error) {
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : (error as Error).message;
    throw new UsageError(`--from-csv ${file}: cannot read the file (${why})`, {
      hint: 'Check the path; the console names the file like USER_accessKeys.csv.',
    });
  }
  const parsed = parseCredentialsCsv(bytes, file);
  rememberSecret(parsed.secretAccessKey.trim());
  const notes = [`${file} still holds the secret in plain text: delete it once the connection works`];
  const pair = { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
  const sources = {
    accessKeyId: `--from-csv ${file}: the "Access key ID" column`,
    secretAccessKey: `--from-csv ${file}: the "Secret access key" column`,
  };
  return parsed.userName ? { pair, userName: parsed.userName, notes, sources } : { pair, notes, sources };
}

/** Proves the key with STS GetCallerIdentity; a failure keeps aws/errors.ts's diagnosis and adds that nothing was stored. */
async function proveKey(ctx: Context, pair: AccessKeyPair, region: string): Promise<Identity> {
  progress(ctx, `testing ${maskAccessKeyId(pair.accessKeyId)} with AWS STS GetCallerIdentity`);
  try {
    return await (await (await ctx.aws()).as(pair, region)).sts.getCallerIdentity();
  } catch (error) {
    if (!(error instanceof CredentialsRejectedError || error instanceof AwsError)) throw error;
    const Kind = error instanceof CredentialsRejectedError ? CredentialsRejectedError : AwsError;
    // A rejected key must not be stored, so --no-test is offered only when AWS could not answer.
    const hint =
      error instanceof AwsError
        ? `${error.hint ?? 'Check the network and --endpoint-url, then try again.'} Or add --no-test to store the key without checking it.`
        : error.hint;
    throw new Kind(`${error.message}; nothing was stored`, {
      hint,
      awsCode: error.awsCode,
      requestId: error.requestId,
      diagnosis: error.diagnosis,
      cause: error,
    });
  }
}

/**
 * When the key was created, from IAM ListAccessKeys signed by the key itself. Best effort: the
 * self-rotation policy allows it, other users may be denied, and a missing date only means
 * `list` counts the key's age from when it was added.
 */
async function keyCreationDate(
  ctx: Context,
  pair: AccessKeyPair,
  region: string,
  userName: string,
): Promise<string | undefined> {
  try {
    const keys = await (await (await ctx.aws()).as(pair, region)).iam.listAccessKeys(userName);
    return keys.find((k) => k.accessKeyId === pair.accessKeyId)?.createDate;
  } catch (error) {
    if (error instanceof CliError) return undefined;
    throw error;
  }
}

/** Reads a damaged entry as absent; any other failure (a locked or unreachable store) stands. */
function unlessUndecodable(error: unknown): undefined {
  if (isUndecodableEntry(error)) return undefined;
  throw error;
}

/** Puts the secret store back as it was before a failed save; returns the failure when it could not. */
async function restoreSecret(
  ctx: Context,
  name: string,
  previous: AccessKeyPair | undefined,
): Promise<Error | undefined> {
  try {
    if (previous) await (await ctx.secrets()).set(name, previous);
    else await (await ctx.secrets()).delete(name);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Quotes a value for a command line shown to the user (POSIX shells); kept here for existing importers. */
export { shellWord };
