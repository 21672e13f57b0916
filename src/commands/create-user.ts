import type { Command } from 'commander';
import { collect, createCommand } from '../commander.js';
import type { Context, IO } from '../ports.js';
import { UsageError } from '../errors.js';
import { connectionJson, validateConnectionName, type ConnectionJson } from '../domain/connection.js';
import { maskAccessKeyId, validateRegion } from '../domain/access-key.js';
import { parseTags, validatePath, validateTagValue, validateUserName } from '../domain/policies.js';
import { present, type Style } from '../ui/output.js';
import { note } from '../ui/progress.js';
import { openAdmin } from '../onboarding/admin.js';
import { ensureUser } from '../onboarding/user.js';
import { createKeyAndSave, inspectConnection } from '../onboarding/key.js';
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

/** What `create-user` is asked to do (the hand-off flags go with --create-key). */
export interface CreateUserOptions extends Partial<HandOffFlags> {
  userName: string;
  path?: string;
  /** Extra tags (`--tag k=v`), besides managed-by=datablast-aws. */
  tags?: Record<string, string>;
  createKey?: boolean;
  connection?: string;
  region?: string;
  description?: string;
}

/** The result: `{userName, arn, created, connection?}` (CLI.md), plus whether the user is ours. */
export interface CreateUserResult {
  userName: string;
  arn: string;
  created: boolean;
  /** The user carries managed-by=datablast-aws. */
  managed: boolean;
  /** The connection holding the user's key (with --create-key). */
  connection?: ConnectionJson;
  /** True when a new access key was created; false when the connection already held a working key of this user. */
  keyCreated?: boolean;
  /** With --create-key: each consumer's state after the key was handed over (empty without consumers). */
  consumers?: ConsumerResult[];
}

/** Wires `create-user USER`. */
export function createUserCommand(ctx: Context): Command {
  const command = createCommand('create-user')
    .description(
      'Create a dedicated IAM user for Datablast (tagged managed-by=datablast-aws); with --create-key, also its access key, saved straight into the secret store.',
    )
    .argument('<user>', 'IAM user name (1–64 of A–Z a–z 0–9 + = , . @ _ -)')
    .option('--path <path>', 'IAM path for a new user, e.g. /integrations/')
    .option('--tag <key=value>', 'tag the new user (repeatable)', collect)
    .option('--create-key', 'also create an access key and save it as a connection (the secret is never printed)')
    .option('--connection <name>', 'with --create-key: the connection to save the key as')
    .option(
      '--description <text>',
      "with --create-key: the connection's description (also the key's description tag on the user, as the console does)",
    );
  return addHandOffOptions(
    command,
    'with --create-key: once saved, hand the key to this consumer: datablast, exec:COMMAND or aws-secrets-manager:SECRET_ID (repeatable)',
  )
    .addHelpText(
      'after',
      `\n${CONSUMERS_HELP}\n\nA consumer that fails leaves the connection saved and usable: exit 5, and \`datablast-aws deliver NAME\` tries again.\n` +
        '\nExamples:\n  datablast-aws create-user datablast-integration\n  datablast-aws create-user datablast-integration --create-key --connection "AWS Production" --region eu-west-1\n' +
        '  datablast-aws create-user datablast-integration --create-key --connection prod --deliver-to datablast\n',
    )
    .action(
      async (
        userName: string,
        flags: RawHandOffFlags & {
          path?: string;
          tag?: string[];
          createKey?: boolean;
          connection?: string;
          description?: string;
        },
      ) => {
        const needsKey = [
          flags.connection !== undefined && '--connection',
          flags.description !== undefined && '--description',
          flags.deliverTo !== undefined && '--deliver-to',
        ].find(Boolean);
        if (!flags.createKey && needsKey) {
          throw new UsageError(`${needsKey} needs --create-key`, {
            hint: "Add --create-key to create the user's access key and save it as that connection.",
          });
        }
        const opts: CreateUserOptions = {
          userName,
          path: flags.path,
          tags: parseTags(flags.tag ?? []),
          createKey: flags.createKey === true,
          connection: flags.connection,
          region: ctx.globals.region,
          description: flags.description,
          ...handOffFlags(ctx.env, flags),
        };
        present(ctx, await createUser(ctx, opts), renderCreateUser);
      },
    );
}

/** Checks every input before any call, so that a typo never leaves half a setup behind. */
export function validateCreateUserOptions(opts: CreateUserOptions): CreateUserOptions {
  validateUserName(opts.userName);
  if (opts.path !== undefined) validatePath(opts.path);
  if (opts.createKey) {
    if (opts.connection === undefined) {
      throw new UsageError('--create-key needs --connection NAME', {
        hint: 'Name the connection the key is saved as, e.g. --connection "AWS Production".',
      });
    }
    validateConnectionName(opts.connection);
    if (opts.region !== undefined) validateRegion(opts.region);
    if (opts.description !== undefined)
      validateTagValue(opts.description, 'the description (stored as a tag on the user, as the console does)');
    parseDeliverTo(opts.deliverTo ?? []);
  }
  return opts;
}

/** Creates the user (or reports it), and with --create-key its access key, saved as a connection. */
export async function createUser(ctx: Context, opts: CreateUserOptions): Promise<CreateUserResult> {
  validateCreateUserOptions(opts);
  const admin = await openAdmin(ctx);
  const existing = opts.createKey ? await inspectConnection(ctx, opts.connection!, opts.userName) : undefined;
  const ensured = await ensureUser(ctx, admin, opts);
  const result: CreateUserResult = {
    userName: ensured.user.userName,
    arn: ensured.user.arn,
    created: ensured.created,
    managed: ensured.managed,
  };
  const handOff = (name: string) =>
    handOffNewKey(ctx, name, {
      deliverTo: opts.deliverTo ?? [],
      kmsKeyId: opts.kmsKeyId,
      execTimeoutMs: opts.execTimeoutMs,
    });
  if (existing?.state === 'ready') {
    note(
      ctx,
      `connection ${existing.connection.name} already holds a working key of ${opts.userName}: already set up, no new key created`,
    );
    // A re-run converges: consumers added now, or still lacking the key, are handed the stored one.
    const consumers = await handOff(existing.connection.name);
    return { ...result, connection: connectionJson(existing.connection), keyCreated: false, consumers };
  }
  if (opts.createKey) {
    const connection = await createKeyAndSave(ctx, admin, {
      userName: opts.userName,
      connection: opts.connection!,
      region: opts.region ?? (await regionForNewConnection(ctx)).region,
      description: opts.description,
    });
    return { ...result, connection, keyCreated: true, consumers: await handOff(connection.name) };
  }
  return result;
}

/** Human text for `create-user`. */
export function renderCreateUser(result: CreateUserResult, io: IO, style: Style): void {
  const who = `${style.bold(result.userName)} (${result.arn})`;
  io.out(
    result.created
      ? `${style.green('created')} IAM user ${who}\n`
      : `IAM user ${who} already exists${result.managed ? '' : ', not managed by datablast-aws'}\n`,
  );
  if (result.connection) {
    const c = result.connection;
    io.out(
      result.keyCreated
        ? `${style.green('saved')} its new access key ${maskAccessKeyId(c.accessKeyId)} as connection ${style.bold(c.name)} (${c.region}); the secret is in the secret store only\n`
        : `connection ${style.bold(c.name)} already holds its working key ${maskAccessKeyId(c.accessKeyId)}: already set up\n`,
    );
    if (result.consumers?.length)
      io.out(`its key's consumers:\n${consumerLines(result.consumers, style).join('\n')}\n`);
  }
}
