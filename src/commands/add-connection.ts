import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, UsageError } from '../errors.js';
import { validateConnectionName, validateDescription, type ConnectionJson } from '../domain/connection.js';
import {
  maskAccessKeyId,
  type KeyPairSources,
  validateAccessKeyId,
  validateRegion,
  validateSecretAccessKey,
} from '../domain/access-key.js';
import { parseCredentialsCsv } from '../domain/credentials-csv.js';
import { rememberSecret } from '../domain/redact.js';
import { present, progress, type Style } from '../ui/output.js';
import { readFileUpTo } from '../ui/io.js';
import { shellWord } from '../domain/shell-word.js';
import { connectionExists, saveConnection } from '../onboarding/connection.js';
import { regionForNewConnection } from '../onboarding/region.js';
import {
  addHandOffOptions,
  consumerLines,
  CONSUMERS_HELP,
  handOffFlags,
  handOffNewKey,
  parseDeliverTo,
  type ConsumerResult,
  type HandOffFlags,
  type RawHandOffFlags,
} from '../onboarding/hand-off.js';

/** The options of `add-connection NAME`, as gathered from flags (the hand-off's among them). */
export interface AddConnectionOptions extends HandOffFlags {
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

/** The result of `add-connection`: the connection JSON of CLI.md plus how it was stored and where the key went. */
export type AddConnectionResult = ConnectionJson & {
  tested: boolean;
  replaced: boolean;
  notes: string[];
  /** Each consumer's state after the hand-off (empty without consumers). */
  consumers: ConsumerResult[];
};

type AddConnectionRun = (ctx: Context, opts: AddConnectionOptions) => Promise<AddConnectionResult>;

interface RawFlags extends RawHandOffFlags {
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
/** A secret is 40 characters; standard input far bigger than that is the wrong input (`yes |`, a file). */
const MAX_STDIN_BYTES = 64 * 1024;

/** Commander wiring of `add-connection`; `run` is swappable so tests can capture the parsed options. */
export function addConnectionCommand(ctx: Context, run: AddConnectionRun = addConnection): Command {
  return (
    addHandOffOptions(
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
        .option('--no-test', 'store without calling AWS (by default STS GetCallerIdentity proves the key first)'),
      'once stored, hand the key to this consumer too: datablast, exec:COMMAND or aws-secrets-manager:SECRET_ID (repeatable)',
    )
      // Not offered, but explained: a secret in argv is visible in `ps` and kept in shell history.
      .addOption(createOption('--secret-access-key [secret]').hideHelp())
      .addOption(createOption('--secret [secret]').hideHelp())
      .addHelpText(
        'after',
        `
The region is --region, else AWS_REGION, AWS_DEFAULT_REGION, the region of the --profile (or default)
profile in the AWS config file, else us-east-1; on a terminal you are asked, with that as the default.
Secrets are never accepted as flags.

${CONSUMERS_HELP}

A connection replaced with --force keeps its consumers, and they are handed the new key. A consumer that
fails leaves the connection saved and usable: exit 5, and \`datablast-aws deliver NAME\` tries again.

Examples:
  $ datablast-aws add-connection "AWS Production"            # prompts for the key id and secret
  $ pbpaste | datablast-aws add-connection prod --access-key-id AKIAIOSFODNN7EXAMPLE --secret-stdin --region eu-west-1
  $ datablast-aws add-connection prod --from-csv ~/Downloads/datablast_accessKeys.csv
  $ AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… datablast-aws add-connection prod --from-env --no-input
  $ datablast-aws add-connection prod --from-csv keys.csv --deliver-to datablast --deliver-to 'exec:./push-key-to-ci.sh'
`,
      )
      .action(async (name: string, flags: RawFlags) => {
        present(ctx, await run(ctx, addConnectionOptions(ctx, name, flags)), renderAddConnection);
      })
  );
}

/** Turns parsed flags into options, refusing combinations that cannot work. */
function addConnectionOptions(ctx: Context, name: string, flags: RawFlags): AddConnectionOptions {
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
    ...handOffFlags(ctx.env, flags),
  };
}

/** Gathers the key from the chosen source (flags, stdin, environment, CSV file or prompts) and saves it. */
export async function addConnection(ctx: Context, opts: AddConnectionOptions): Promise<AddConnectionResult> {
  const name = validateConnectionName(opts.name);
  parseDeliverTo(opts.deliverTo ?? []);
  const fallback = await regionForNewConnection(ctx);
  if (opts.description !== undefined) validateDescription(opts.description);
  // Fail before asking for a secret that could not be stored anyway.
  if (!opts.force && (await (await ctx.connections()).get(name))) throw connectionExists(name);
  const gathered = await gatherKey(ctx, opts);
  // The guide's other two connection fields, asked on a terminal when no flag gave them.
  const ask = ctx.globals.input && gathered.prompted ? await ctx.prompter() : undefined;
  const region =
    ask && fallback.source !== 'flag'
      ? await ask.input('AWS region', {
          default: fallback.region,
          validate: (v) => accepts((r) => validateRegion(r, 'the region'), v),
        })
      : fallback.region;
  const description =
    opts.description ??
    ((ask
      ? await ask.input('Description (optional, Enter to skip)', {
          default: '',
          validate: (v) => (v === '' ? true : accepts(validateDescription, v)),
        })
      : '') ||
      undefined);
  const saved = await saveConnection(ctx, {
    name,
    pair: gathered.pair,
    region,
    description,
    test: opts.test,
    force: opts.force,
    userName: gathered.userName,
    sources: gathered.sources,
  });
  const consumers = await handOffNewKey(ctx, name, {
    deliverTo: opts.deliverTo ?? [],
    kmsKeyId: opts.kmsKeyId,
    execTimeoutMs: opts.execTimeoutMs,
  });
  return {
    ...saved.connection,
    tested: saved.tested,
    replaced: saved.replaced,
    notes: [...gathered.notes, ...saved.notes],
    consumers,
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
  if (result.consumers.length) io.out(`Its key's consumers:\n${consumerLines(result.consumers, style).join('\n')}\n`);
}

interface GatheredKey {
  pair: { accessKeyId: string; secretAccessKey: string };
  /** The key was typed at prompts (so the other fields are asked too). */
  prompted?: boolean;
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
    // Untrimmed: normalizeKeyPair trims it and says so, as the README promises.
    accessKeyId = await prompter.input('Access key ID (AKIA…):', {
      validate: (v) => accepts(validateAccessKeyId, v.trim()),
    });
    return { pair: { accessKeyId, secretAccessKey: await promptSecret(ctx) }, notes, prompted: true };
  }
  if (opts.secretStdin) {
    if (ctx.io.stdinIsTTY) progress(ctx, 'reading the secret access key from standard input (end with Ctrl-D)');
    const text = await ctx.io.readStdin(MAX_STDIN_BYTES);
    if (text === undefined)
      throw new UsageError(
        `--secret-stdin: standard input holds more than ${MAX_STDIN_BYTES / 1024} KiB; a secret access key is 40 characters`,
        {
          hint: 'Pipe only the secret, e.g. `pbpaste | datablast-aws add-connection NAME --access-key-id ID --secret-stdin`.',
        },
      );
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
  return { pair: { accessKeyId, secretAccessKey: await promptSecret(ctx) }, notes, prompted: true };
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
function accepts(check: (value: string) => unknown, value: string): string | true {
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
    // The size of a device or pipe is 0: the read itself stops at the bound.
    const read = info.size > MAX_CSV_BYTES ? undefined : await readFileUpTo(file, MAX_CSV_BYTES);
    if (read === undefined)
      throw new UsageError(
        `--from-csv ${file}: the file holds more than ${MAX_CSV_BYTES / 1024} KiB, far too much for a credentials CSV`,
        { hint: 'Give the .csv file the AWS console downloaded for this key.' },
      );
    bytes = read;
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

/** Quotes a value for a command line shown to the user (POSIX shells); kept here for existing importers. */
export { shellWord };
