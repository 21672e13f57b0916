import { existsSync, realpathSync } from 'node:fs';
import { copyFile, constants, lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';
import type { Command } from 'commander';
import { createCommand, createOption } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { CliError, ConfigError, UsageError } from '../errors.js';
import { validateRegion } from '../domain/access-key.js';
import {
  CREDENTIAL_KEYS,
  credentialProcessLine,
  defaultProfileName,
  isOurCredentialProcess,
  parseAwsIni,
  profileSections,
  renderProfileBlock,
  upsertProfileBlock,
  validateProfileName,
  type CommandLineFlavour,
} from '../domain/aws-config.js';
import { describeFsError, ensurePrivateDir, writeFileAtomic } from '../store/atomic-file.js';
import { awsConfigPath } from '../aws/config-file.js';
import { configDir } from '../store/connections.js';
import { present, type Style } from '../ui/output.js';
import { shellWord } from '../domain/shell-word.js';
import { requireConnection } from '../health/require-connection.js';

/** The options of `export-profile NAME`. */
export interface ExportProfileOptions {
  name: string;
  /** The AWS profile to write; default: datablast- and a slug of the connection name. */
  profileName?: string;
  /** Print the block instead of writing it. */
  print: boolean;
  /** Replace a different block of the same profile. */
  force: boolean;
}

/** What happened to the AWS config file. */
export type ExportProfileStatus = 'added' | 'replaced' | 'unchanged' | 'printed';

/** The result of `export-profile` (no secret: the profile only names the command that prints one). */
export interface ExportProfileResult {
  profile: string;
  /** The AWS config file written (or that would be, with --print). */
  path: string;
  written: boolean;
  /** The copy of the previous file, when an existing file was changed. */
  backup: string | null;
  status: ExportProfileStatus;
  connection: string;
  region: string;
  credentialProcess: string;
  /** The profile block, as written or printed. */
  block: string;
  /** What we noticed, for the user to read. */
  notes: string[];
}

interface RawFlags {
  profileName?: string;
  print?: boolean;
  force?: boolean;
}

/** Commander wiring of `export-profile`. */
export function exportProfileCommand(
  ctx: Context,
  run: (ctx: Context, opts: ExportProfileOptions) => Promise<ExportProfileResult> = exportProfile,
): Command {
  return createCommand('export-profile')
    .description(
      "Write an AWS profile whose credential_process serves this connection's key, so the AWS CLI and every AWS SDK can use it.",
    )
    .argument('<name>', 'the connection')
    .addOption(
      createOption(
        '--profile-name <profile>',
        'the AWS profile to write (default: datablast- and the connection name in lower case, e.g. datablast-aws-production)',
      ),
    )
    .option('--print', 'print the profile block on stdout instead of writing the file')
    .option('--force', 'replace a different block of the same profile (the old file is backed up first)')
    .addHelpText(
      'after',
      `
Writes into AWS_CONFIG_FILE, else ~/.aws/config (created 0600 in a 0700 directory if missing), after
copying the old file to config.<time>.bak. A profile is never duplicated: the same block again is
reported as already there; a different one is replaced only with --force. The region is --region,
else the connection's. The line names this installation's absolute path, so the profile keeps
working without datablast-aws on PATH (node must be on PATH for the AWS tool that runs it).

The line carries what credential-process needs in any other shell, through /usr/bin/env: a
DATABLAST_AWS_SECRET_STORE other than the keychain, a config dir other than the default, and the
file store's DATABLAST_AWS_PASSPHRASE_FILE; never a passphrase (with only DATABLAST_AWS_PASSPHRASE
set it refuses). A symlinked config file is written through the link; a read-only one is refused.
The profile to write is --profile-name; --profile (admin credentials) is refused here.

credential-process reads only the secret store, never the AWS credential chain, so the profile
cannot call itself, even with AWS_PROFILE set to it.

Examples:
  $ datablast-aws export-profile "AWS Production"
  $ aws sts get-caller-identity --profile datablast-aws-production
  $ datablast-aws export-profile prod --profile-name datablast --print
  $ AWS_CONFIG_FILE=./aws-config datablast-aws export-profile prod --profile-name ci --force
`,
    )
    .action(async (name: string, flags: RawFlags) => {
      present(
        ctx,
        await run(ctx, {
          name,
          profileName: flags.profileName,
          print: flags.print === true,
          force: flags.force === true,
        }),
        renderExportProfile,
      );
    });
}

/**
 * Builds the profile block for a connection and writes it into the AWS config file: atomically,
 * after a backup, replacing only its own block and keeping every other byte of the file.
 */
export async function exportProfile(ctx: Context, opts: ExportProfileOptions): Promise<ExportProfileResult> {
  if (ctx.globals.profile !== undefined) {
    // The global --profile names admin credentials, which export-profile never uses: whoever types it
    // here means the profile to write, and writing somewhere else than they asked would be a surprise.
    throw new UsageError('export-profile names the profile to write with --profile-name, not --profile', {
      hint: `Run \`datablast-aws export-profile ${shellWord(opts.name)} --profile-name ${shellWord(ctx.globals.profile)}\`. (--profile selects admin credentials, which export-profile does not use.)`,
    });
  }
  const connection = await requireConnection(await ctx.connections(), opts.name);
  const profile =
    opts.profileName !== undefined ? validateProfileName(opts.profileName) : defaultProfileName(connection.name);
  const region =
    ctx.globals.region !== undefined
      ? validateRegion(ctx.globals.region)
      : onRead(() => validateRegion(connection.region, 'region'), connection.name);
  const flavour: CommandLineFlavour = process.platform === 'win32' ? 'win32' : 'posix';
  const { program, notes } = ourProgram(flavour);
  const credentialProcess = credentialProcessLine(program, connection.name, flavour, carriedVariables(ctx.env));
  const entries = [
    ['credential_process', credentialProcess],
    ['region', region],
  ] as const;
  const path = awsConfigPath(ctx.env);
  const base = {
    profile,
    path,
    connection: connection.name,
    region,
    credentialProcess,
    block: renderProfileBlock(profile, entries),
    notes,
  };
  if (opts.print) return { ...base, written: false, backup: null, status: 'printed' };

  const target = await linkTarget(path);
  const before = await readConfig(target);
  if (before !== undefined) await refuseReadOnly(target);
  const existing = profileSections(parseAwsIni(before ?? ''), profile);
  const current = existing[0]?.entries;
  guardAdminProfile(ctx, profile, current, target);
  notes.push(...(await shadowingNotes(ctx.env, profile)));
  if (current && existing.length === 1 && sameProfile(current, credentialProcess, region)) {
    await recordExport(ctx, connection.name, profile);
    return { ...base, path: target, written: false, backup: null, status: 'unchanged' };
  }
  if (current && !opts.force) {
    throw new ConfigError(`profile ${JSON.stringify(profile)} already exists in ${target} with other settings`, {
      hint: `Add --force to replace it (the old file is backed up first), or choose another name with --profile-name. \`datablast-aws export-profile ${shellWord(connection.name)} --print\` shows the block.`,
    });
  }
  const after = upsertProfileBlock(before ?? '', profile, entries);
  const backup = await writable(target, async () => {
    await ensurePrivateDir(dirname(target));
    return before === undefined ? null : await backUp(target, ctx.clock.now());
  });
  // Another program (aws configure, an editor) may have changed the file since we read it.
  if ((await readConfig(target)) !== before) {
    throw new ConfigError(`${target} changed while the profile was being written; nothing was written`, {
      hint: 'Run the same command again.',
    });
  }
  const mode = before === undefined ? 0o600 : (await stat(target)).mode & 0o777;
  await writable(target, () => writeFileAtomic(target, after, mode));
  await recordExport(ctx, connection.name, profile);
  return { ...base, path: target, written: true, backup, status: current ? 'replaced' : 'added' };
}

/**
 * Records on the connection that `profile` serves its key: SDK clients that keep running between
 * credential-process calls hold the key, so a rotation waits for AWS's last-used evidence (rotate --now is not its default).
 */
async function recordExport(ctx: Context, name: string, profile: string): Promise<void> {
  const store = await ctx.connections();
  const connection = await store.get(name);
  if (!connection || connection.exportedProfiles?.includes(profile)) return;
  await store.put({ ...connection, exportedProfiles: [...(connection.exportedProfiles ?? []), profile] });
}

/** A value of the metadata checked with its input rule: a bad one is a configuration error (exit 3), never written. */
function onRead(check: () => string, name: string): string {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new ConfigError(
      `the connection ${JSON.stringify(name)} has an invalid ${error.message}; nothing was written`,
      {
        hint: `Set the region again with \`datablast-aws add-connection ${shellWord(name)} --force --region REGION\`, or give --region.`,
      },
    );
  }
}

/**
 * What credential-process needs from this shell's environment to find the same connection in another
 * process (the AWS CLI's, an SDK's): the secret store, a config dir other than the default, the file
 * store's passphrase *file*. A passphrase itself is never written into the AWS config file: with only
 * DATABLAST_AWS_PASSPHRASE set, this refuses.
 */
export function carriedVariables(env: Readonly<Record<string, string | undefined>>): Array<[string, string]> {
  const variables: Array<[string, string]> = [];
  const store = env.DATABLAST_AWS_SECRET_STORE;
  if (store && store !== 'keychain') variables.push(['DATABLAST_AWS_SECRET_STORE', store]);
  const dir = configDir(env);
  // Carried only when it is not the directory any process of this user finds by default.
  if (dir !== configDir({ ...env, DATABLAST_AWS_CONFIG_DIR: undefined, XDG_CONFIG_HOME: undefined }))
    variables.push(['DATABLAST_AWS_CONFIG_DIR', dir]);
  if (store === 'file') {
    if (!env.DATABLAST_AWS_PASSPHRASE_FILE) {
      throw new ConfigError(
        env.DATABLAST_AWS_PASSPHRASE
          ? 'the file secret store is opened here with DATABLAST_AWS_PASSPHRASE, which a profile cannot carry: a passphrase is never written into the AWS config file; nothing was written'
          : 'the file secret store needs DATABLAST_AWS_PASSPHRASE_FILE for credential_process, and it is not set; nothing was written',
        {
          hint: 'Put the passphrase in a file only you can read (chmod 600), set DATABLAST_AWS_PASSPHRASE_FILE to its path (and unset DATABLAST_AWS_PASSPHRASE), then export the profile again.',
        },
      );
    }
    variables.push(['DATABLAST_AWS_PASSPHRASE_FILE', resolve(env.DATABLAST_AWS_PASSPHRASE_FILE)]);
  }
  if (env.DATABLAST_AWS_SECRETS_PREFIX)
    variables.push(['DATABLAST_AWS_SECRETS_PREFIX', env.DATABLAST_AWS_SECRETS_PREFIX]);
  return variables;
}

/**
 * The file a path names once every symlink is followed, even a dangling one (a dotfiles link whose
 * target does not exist yet): the README promises writing through the link, never over it.
 */
async function linkTarget(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    let info;
    try {
      info = await lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw unwritable(current, error);
    }
    if (!info.isSymbolicLink()) return await realpath(current);
    current = resolve(dirname(current), await readlink(current));
  }
  throw new ConfigError(`${path} is a loop of symbolic links; nothing was written`, {
    hint: 'Point the link at a real file, or AWS_CONFIG_FILE at another file.',
  });
}

/** Refuses a config file that its owner made read-only (0444): the AWS config is theirs, and that said "do not change". */
async function refuseReadOnly(path: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o222) !== 0) return;
  throw new ConfigError(
    `the AWS config file ${path} is read-only (mode ${mode.toString(8).padStart(4, '0')}); nothing was written`,
    {
      hint: `If it may be changed, make it writable (chmod u+w ${shellWord(path)}) and run the command again; or add --print and copy the block in by hand.`,
    },
  );
}

/** Runs a write; a file-system refusal (permissions, read-only or full disk) is a configuration error (exit 3), not a bug. */
async function writable<T>(path: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw unwritable(path, error);
  }
}

function unwritable(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  return new ConfigError(`cannot write the AWS config file ${path} (${describeFsError(code)}); nothing was written`, {
    hint: `Check that you may write to ${dirname(path)}, or point AWS_CONFIG_FILE at a file you can write. --print prints the block instead.`,
    cause: error,
  });
}

/**
 * How AWS tools should start this installation: the absolute path of our bin script (its shebang finds
 * node); on Windows, which cannot run a .js file directly, node's path first.
 */
function ourProgram(flavour: CommandLineFlavour): { program: string[]; notes: string[] } {
  const notes: string[] = [];
  const beside = join(packageRoot(), 'bin', 'datablast-aws.js');
  const script = realpathSync(existsSync(beside) ? beside : (process.argv[1] ?? beside));
  if (/[\\/]_npx[\\/]/.test(script)) {
    notes.push(
      `this copy of datablast-aws runs from npx's cache (${dirname(script)}), which npm may delete: install it (npm install -g datablast-aws) and export the profile again`,
    );
  }
  return { program: flavour === 'win32' ? [process.execPath, script] : [script], notes };
}

async function readConfig(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the AWS config file ${path} (${code ?? (error as Error).message})`, {
      hint: 'Check its permissions, or point AWS_CONFIG_FILE at another file.',
    });
  }
}

/** True when the block already says what we would write, and nothing gives credentials another way. */
function sameProfile(entries: Map<string, string>, credentialProcess: string, region: string): boolean {
  if (entries.get('credential_process') !== credentialProcess || entries.get('region') !== region) return false;
  return !CREDENTIAL_KEYS.some((key) => key !== 'credential_process' && entries.has(key));
}

/**
 * Refuses to overwrite the profile this tool itself uses for admin credentials (AWS_PROFILE, else the
 * default profile) while it holds other credentials: afterwards every admin call would be
 * signed by the connection's own key, and the admin credentials would be gone from the file.
 */
function guardAdminProfile(
  ctx: Context,
  profile: string,
  entries: Map<string, string> | undefined,
  path: string,
): void {
  // --profile never gets here (exportProfile refuses it): the admin profile is AWS_PROFILE's, else the default.
  const source = ctx.env.AWS_PROFILE ? 'AWS_PROFILE' : undefined;
  const admin = ctx.env.AWS_PROFILE || 'default';
  if (profile !== admin || !entries) return;
  const other = CREDENTIAL_KEYS.filter(
    (key) => entries.has(key) && !(key === 'credential_process' && isOurCredentialProcess(entries.get(key))),
  );
  if (other.length === 0) return;
  throw new ConfigError(
    `profile ${JSON.stringify(profile)} in ${path} is the one datablast-aws uses for admin credentials${source ? ` (${source})` : ' (the default profile)'} and holds ${other.join(', ')}; it will not be replaced`,
    { hint: 'Choose another name with --profile-name; --force does not override this.' },
  );
}

/** A note when the shared credentials file also defines the profile: its keys win over credential_process. */
async function shadowingNotes(env: Readonly<Record<string, string | undefined>>, profile: string): Promise<string[]> {
  const home = env.HOME || env.USERPROFILE || homedir();
  const file = env.AWS_SHARED_CREDENTIALS_FILE
    ? resolve(env.AWS_SHARED_CREDENTIALS_FILE.replace(/^~(?=\/)/, home))
    : join(home, '.aws', 'credentials');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  const keys = profileSections(parseAwsIni(text, 'credentials'), profile).flatMap((s) => [...s.entries.keys()]);
  return keys.some((k) => k === 'aws_access_key_id' || k === 'credential_process')
    ? [
        `${file} also defines profile ${JSON.stringify(profile)} with its own keys, which AWS tools use before credential_process: remove that block there`,
      ]
    : [];
}

/** Copies the file beside itself before it is changed; never overwrites an earlier backup. */
async function backUp(path: string, now: Date): Promise<string> {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  for (let n = 0; ; n++) {
    const backup = `${path}.${stamp}${n ? `-${n}` : ''}.bak`;
    try {
      await copyFile(path, backup, constants.COPYFILE_EXCL);
      return backup;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n > 100) throw error;
    }
  }
}

/** Human text: the block itself under --print, else what was written where, and how to try it. */
export function renderExportProfile(result: ExportProfileResult, io: IO, style: Style): void {
  for (const note of result.notes) io.err(`${style.dim('note:')} ${note}\n`);
  if (result.status === 'printed') {
    io.out(result.block);
    return;
  }
  if (result.status === 'unchanged') {
    io.out(`Profile ${style.bold(result.profile)} is already there in ${result.path}; nothing written.\n`);
  } else {
    io.out(
      `${result.status === 'replaced' ? 'Replaced' : 'Added'} profile ${style.bold(result.profile)} in ${result.path}${result.backup ? ` (previous file: ${result.backup})` : ''}.\n`,
    );
  }
  io.out(`Try it: aws sts get-caller-identity --profile ${result.profile}\n`);
}
