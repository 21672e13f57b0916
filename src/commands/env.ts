import type { Command } from 'commander';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, ConfigError, SecretStoreError, UsageError } from '../errors.js';
import { validateAccessKeyId, validateRegion, validateSecretAccessKey } from '../domain/access-key.js';
import { present, warn, type Style } from '../ui/output.js';
import { requireConnection, requireKeyPair } from '../health/require-connection.js';
import { shellWord } from '../domain/shell-word.js';

// Commander is never imported here (../commander.js loads it when the wiring at the end is built):
// main.ts runs `env` called without options straight from this module, and Commander with
// program.ts costs about 24 ms of every run.

/** The shell syntaxes `env` prints: POSIX (sh, bash, zsh, ksh, dash) or fish. */
export type EnvShell = 'posix' | 'fish';

/** The names --shell accepts, and the syntax each means. */
const SHELL_NAMES: Readonly<Record<string, EnvShell>> = {
  posix: 'posix',
  sh: 'posix',
  bash: 'posix',
  zsh: 'posix',
  ksh: 'posix',
  dash: 'posix',
  fish: 'fish',
};

/** The options of `env NAME`. */
export interface EnvOptions {
  name: string;
  /** The syntax to print; POSIX when not given (see envCommand's help for why $SHELL does not choose it). */
  shell?: EnvShell;
}

/** The variables `env` exports; under --json this object is printed as is. */
export interface EnvResult {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
  /** The same region, for boto3 and the AWS CLI v1, which read only this name. */
  AWS_DEFAULT_REGION: string;
}

/** Checks --shell: one of SHELL_NAMES, case-insensitive. */
export function parseEnvShell(raw: string): EnvShell {
  const shell = SHELL_NAMES[raw.toLowerCase()];
  if (shell) return shell;
  throw new UsageError(`--shell ${JSON.stringify(raw.slice(0, 40))}: unknown shell`, {
    hint: 'Use --shell fish for fish; sh, bash, zsh, ksh and dash (the default) share one syntax.',
  });
}

/**
 * Reads the connection's metadata and its secret; calls no AWS API and never prompts. Every value is
 * checked with the rules used on input before it reaches a shell's eval: a region edited into the
 * metadata file, or an entry planted in the secret store, must not become a command.
 */
export async function env(ctx: Context, opts: EnvOptions): Promise<EnvResult> {
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const pair = await requireKeyPair(await ctx.secrets(), connection);
  let region: string;
  if (ctx.globals.region !== undefined) {
    region = validateRegion(ctx.globals.region);
  } else {
    region = checkedOnRead(
      () => validateRegion(connection.region, 'region'),
      (message) =>
        new ConfigError(
          `the connection ${JSON.stringify(connection.name)} has an invalid ${message}; nothing was printed`,
          {
            hint: `The metadata file was edited by hand or by something else: set the region again with \`datablast-aws add-connection ${shellWord(connection.name)} --force --region REGION\`, or give --region.`,
          },
        ),
    );
  }
  const stored = (message: string) =>
    new SecretStoreError(
      `the secret stored for ${JSON.stringify(connection.name)} is not an access key (${message}); nothing was printed`,
      {
        hint: `Store the key again: \`datablast-aws add-connection ${shellWord(connection.name)} --force\`.`,
      },
    );
  const accessKeyId = checkedOnRead(() => validateAccessKeyId(pair.accessKeyId, 'access key id'), stored);
  const secret = checkedOnRead(() => validateSecretAccessKey(pair.secretAccessKey, 'secret access key'), stored);
  return {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
  };
}

/** A value checked by an input rule, the rule's UsageError (exit 2) turned into what a bad stored value is. */
function checkedOnRead(check: () => string, wrap: (message: string) => CliError): string {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw wrap(error.message);
  }
}

/** A value as one fish word: single quotes, inside which fish gives meaning only to \ and '. */
function fishWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** The lines for eval in the shell's syntax: quoted only when a value needs it (checked values never do). */
export function envScript(result: EnvResult, shell: EnvShell = 'posix'): string {
  const entries = Object.entries(result) as Array<[string, string]>;
  if (shell === 'fish') {
    // One line: fish splits `eval (…)`'s output at line breaks and joins the pieces with spaces.
    return `${[...entries.map(([k, v]) => `set -gx ${k} ${fishWord(v)}`), 'set -e AWS_SESSION_TOKEN'].join('; ')}\n`;
  }
  return [...entries.map(([k, v]) => `export ${k}=${shellWord(v)}`), 'unset AWS_SESSION_TOKEN', ''].join('\n');
}

/** POSIX shell lines (see envScript). */
export function renderEnv(result: EnvResult, io: IO, _style: Style): void {
  // One write: a reader (eval "$(…)") sees every line or none.
  io.out(envScript(result, 'posix'));
}

/** What `env NAME` does once its options are known: the Commander action, and main's shortcut. */
export async function envAction(
  ctx: Context,
  opts: EnvOptions,
  run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env,
): Promise<void> {
  const shell = opts.shell ?? 'posix';
  const fishUser = opts.shell === undefined && /(?:^|\/)fish$/.test(ctx.env.SHELL ?? '');
  if (ctx.io.stdoutIsTTY && !ctx.globals.json) {
    warn(
      ctx,
      shell === 'fish' || fishUser
        ? 'this prints the secret access key on the terminal; in fish use it as: eval (datablast-aws env NAME --shell fish)'
        : 'this prints the secret access key on the terminal; use it as eval "$(datablast-aws env NAME)"',
    );
  } else if (fishUser && !ctx.globals.json) {
    warn(ctx, 'these are POSIX shell lines; for fish add --shell fish: eval (datablast-aws env NAME --shell fish)');
  }
  present(ctx, await run(ctx, opts), (result, io) => io.out(envScript(result, shell)));
}

/** Commander wiring of `env`. */
export function envCommand(ctx: Context, run: (ctx: Context, opts: EnvOptions) => Promise<EnvResult> = env): Command {
  return createCommand('env')
    .description(
      "Print shell lines that export the connection's key and region, for eval. This prints the secret: its whole purpose.",
    )
    .argument('<name>', 'the connection')
    .addOption(
      createOption('--shell <shell>', 'the syntax to print: fish, or sh/bash/zsh (the default, POSIX)').argParser(
        parseEnvShell,
      ),
    )
    .addHelpText(
      'after',
      `
Prints lines that export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_DEFAULT_REGION
(--region, else the connection's; boto3 and the AWS CLI v1 read only AWS_DEFAULT_REGION), and unset
AWS_SESSION_TOKEN, which would not belong to this key. Every value is checked as on input first.
POSIX syntax unless --shell fish: $SHELL names your login shell, not the one running eval (a bash
script of a fish user), so it does not choose; with SHELL set to fish a note says to add --shell fish.
With --json it prints those four variables as one object instead: like credential-process, this is
one of the two commands whose output carries a secret.

Examples:
  $ eval "$(datablast-aws env "AWS Production")"
  > eval (datablast-aws env "AWS Production" --shell fish)      # fish
  $ datablast-aws env prod --json | jq -r 'to_entries[] | "\\(.key)=\\(.value)"' > .env
`,
    )
    .action(async (name: string, flags: { shell?: EnvShell }) => {
      await envAction(ctx, { name, ...(flags.shell ? { shell: flags.shell } : {}) }, run);
    });
}
