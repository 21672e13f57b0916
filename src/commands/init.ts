import type { Command } from 'commander';
import { collect, createCommand, createOption } from '../commander.js';
import type { Context, IO, Prompter } from '../ports.js';
import { CancelledError, UsageError } from '../errors.js';
import { connectionJson, validateConnectionName, type ConnectionJson } from '../domain/connection.js';
import { maskAccessKeyId, validateRegion } from '../domain/access-key.js';
import {
  MANAGED_BY_TAG,
  SERVICES,
  SERVICE_POLICIES,
  parseService,
  validateBucketName,
  validatePrefix,
  validateTagValue,
  validateUserName,
  type ServiceName,
} from '../domain/policies.js';
import { present, type Style } from '../ui/output.js';
import { note } from '../ui/progress.js';
import { openAdmin } from './admin-session.js';
import { assertRoomForKey, createKeyAndSave, ensureUser, inspectConnection, lookUpUser } from './create-user.js';
import { defaultRegion } from './add-connection.js';
import { shellWord } from '../domain/shell-word.js';
import { applyAttachPolicy, desiredPolicies, planAttachPolicy, shortArn } from './attach-policy.js';

/** The wizard's answers; each one given here is not asked. */
export interface InitOptions {
  user?: string;
  services?: ServiceName[];
  buckets?: string[];
  prefix?: string;
  selfRotation?: boolean;
  connection?: string;
  region?: string;
  description?: string;
  /** Skip the confirmation before changes. */
  yes?: boolean;
}

/** What the wizard did, and what it found already in place. */
export interface InitResult {
  account: string;
  adminArn: string;
  userName: string;
  userArn: string;
  userCreated: boolean;
  services: ServiceName[];
  buckets: string[];
  selfRotation: boolean;
  attached: string[];
  alreadyAttached: string[];
  inline: string[];
  alreadyInline: string[];
  connection: ConnectionJson;
  keyCreated: boolean;
  /** Everything was in place already: nothing was changed. */
  alreadySetUp: boolean;
}

/** The user name the onboarding guide suggests. */
export const DEFAULT_USER_NAME = 'datablast-integration';

/** Wires `init`. */
export function initCommand(ctx: Context): Command {
  return createCommand('init')
    .description(
      'The onboarding wizard: check who you are, create the IAM user, grant read access, create its key into the secret store and test it. Every question has a flag.',
    )
    .option('--user <name>', `IAM user name (default ${DEFAULT_USER_NAME})`)
    .option('--service <service>', 'grant the read-only policy of s3|rds|lambda (repeatable)', collect)
    .option('--bucket <name>', 'grant only these S3 buckets, through a generated inline policy (repeatable)', collect)
    .option('--prefix <prefix>', 'with --bucket: only objects under this key prefix')
    .option('--self-rotation', 'let the user rotate its own key, so `rotate` needs no admin (the default)')
    .addOption(createOption('--no-self-rotation', 'do not let the user rotate its own key (rotate then needs --admin)'))
    .option('--connection <name>', 'name of the connection to save the key as')
    .option('--description <text>', "the connection's description (also the key's description in IAM)")
    .option('-y, --yes', 'do not ask for confirmation before changing anything')
    .addHelpText(
      'after',
      '\nExamples:\n  datablast-aws init\n' +
        '  datablast-aws init --no-input --user datablast-integration --service s3 --connection "AWS Production" --region eu-west-1\n',
    )
    .action(
      async (flags: {
        user?: string;
        service?: string[];
        bucket?: string[];
        prefix?: string;
        selfRotation?: boolean;
        connection?: string;
        description?: string;
        yes?: boolean;
      }) => {
        const opts: InitOptions = {
          user: flags.user,
          services: flags.service?.map(parseService),
          buckets: flags.bucket,
          prefix: flags.prefix,
          selfRotation: flags.selfRotation,
          connection: flags.connection,
          region: ctx.globals.region,
          description: flags.description,
          yes: flags.yes === true,
        };
        present(ctx, await init(ctx, opts), renderInit);
      },
    );
}

/** Checks the answers given as flags before anything is asked or called. */
function validateFlags(opts: InitOptions): void {
  if (opts.user !== undefined) validateUserName(opts.user);
  opts.buckets?.forEach(validateBucketName);
  if (opts.prefix !== undefined) {
    validatePrefix(opts.prefix);
    if (!opts.buckets?.length)
      throw new UsageError('--prefix needs --bucket', {
        hint: 'The prefix narrows the generated bucket policy: give --bucket NAME too.',
      });
  }
  if (opts.connection !== undefined) validateConnectionName(opts.connection);
  if (opts.region !== undefined) validateRegion(opts.region);
  if (opts.description !== undefined)
    validateTagValue(opts.description, '--description (stored as a tag on the user, as the console does)');
}

/**
 * The wizard, in the onboarding guide's order. Every question is asked before anything changes, so
 * Ctrl-C at any prompt leaves nothing behind; the connection's name is asked before its key exists,
 * so the secret goes from AWS straight into the secret store. Composes the commands' own functions.
 */
export async function init(ctx: Context, opts: InitOptions): Promise<InitResult> {
  validateFlags(opts);
  // Under --no-input the answers without a default must all be flags: say so before any call.
  if (!ctx.globals.input) {
    if (!opts.services?.length && !opts.buckets?.length)
      missing('--service s3|rds|lambda (repeatable) or --bucket NAME', 'what Datablast may read');
    if (opts.connection === undefined) missing('--connection NAME', 'the name the key is saved under');
  }
  const prompter = ctx.globals.input ? await ctx.prompter() : undefined;

  // 1. Who am I.
  const admin = await openAdmin(ctx);

  // 2. The user.
  const userName =
    opts.user ??
    (prompter
      ? await prompter.input('Name of the IAM user for Datablast', {
          default: DEFAULT_USER_NAME,
          validate: check(validateUserName),
        })
      : defaulted(ctx, 'IAM user', DEFAULT_USER_NAME, DEFAULT_USER_NAME, '--user'));
  const existingUser = await lookUpUser(ctx, admin, userName);

  // 3. What Datablast may read.
  const grants = await chooseGrants(ctx, opts, prompter!);

  // 4. Self-rotation.
  const selfRotation =
    opts.selfRotation ??
    (prompter
      ? await prompter.confirm(
          'Allow the user to rotate its own access key (so scheduled `rotate` needs no admin credentials)?',
          { default: true },
        )
      : defaulted(ctx, 'self-rotation', true, 'on', '--no-self-rotation'));

  // 5. The connection: name first; an existing one that already works for this user means no new key.
  const connectionName =
    opts.connection ??
    (await prompter!.input('Name for the connection (how you will refer to this key)', {
      validate: check(validateConnectionName),
    }));
  const state = await inspectConnection(ctx, connectionName, userName);
  let region: string | undefined;
  let description: string | undefined;
  if (state.state === 'absent') {
    region =
      opts.region ??
      (prompter
        ? await prompter.input('AWS region for this connection', {
            default: defaultRegion(ctx),
            validate: check((r) => validateRegion(r)),
          })
        : defaultRegion(ctx));
    description =
      opts.description ??
      ((prompter
        ? await prompter.input('Description (optional, Enter to skip)', {
            default: '',
            validate: check((d) => d === '' || validateTagValue(d, 'the description')),
          })
        : '') ||
        undefined);
  } else {
    note(ctx, `connection ${connectionName} already holds a working key of ${userName}`);
  }

  // Everything that could refuse is checked now, before the first change.
  const desired = desiredPolicies(
    { userName, services: grants.services, buckets: grants.buckets, prefix: grants.prefix, selfRotation },
    existingUser?.path ?? '/',
  );
  const plan = await planAttachPolicy(ctx, admin, userName, existingUser, desired);
  if (existingUser && state.state === 'absent') {
    // Two keys already: stop now rather than after the user and policies changed (createKeyAndSave checks again).
    await assertRoomForKey(ctx, admin, userName);
  }
  const changes = [
    ...(existingUser ? [] : [`create IAM user ${userName} (tagged ${MANAGED_BY_TAG.key}=${MANAGED_BY_TAG.value})`]),
    ...plan.toAttach.map((arn) => `attach ${arn}`),
    ...Object.keys(plan.toPut).map((name) => `write inline policy ${name}`),
    ...(state.state === 'absent'
      ? [`create an access key for ${userName}, save it as connection "${connectionName}" (${region}) and test it`]
      : []),
  ];
  if (changes.length && prompter && !opts.yes) {
    ctx.io.err(`\nAbout to change account ${admin.identity.account}:\n${changes.map((c) => `  • ${c}\n`).join('')}\n`);
    if (!(await prompter.confirm('Go ahead?', { default: true })))
      throw new CancelledError('cancelled; nothing was changed');
  }

  // Now the changes, each a step on stderr.
  const ensured = await ensureUser(ctx, admin, { userName }, { user: existingUser });
  const policies = await applyAttachPolicy(ctx, admin, plan);
  const connection =
    state.state === 'ready'
      ? connectionJson(state.connection)
      : await createKeyAndSave(ctx, admin, {
          userName,
          connection: connectionName,
          region: region!,
          description,
          services: grants.services,
          buckets: grants.buckets,
        });

  return {
    account: admin.identity.account,
    adminArn: admin.identity.arn,
    userName,
    userArn: ensured.user.arn,
    userCreated: ensured.created,
    services: grants.services,
    buckets: grants.buckets,
    selfRotation,
    attached: policies.attached,
    alreadyAttached: policies.alreadyAttached,
    inline: policies.inline,
    alreadyInline: policies.alreadyInline,
    connection,
    keyCreated: state.state === 'absent',
    alreadySetUp: changes.length === 0,
  };
}

/** Under --no-input a question with a default takes it, and says so (and which flag changes it). */
function defaulted<T>(ctx: Context, what: string, value: T, shown: string, flag: string): T {
  note(ctx, `${what}: ${shown} (the default; ${flag} to change it)`);
  return value;
}

/** The services and buckets to grant: from the flags, else a multi-select (and the buckets if chosen). */
async function chooseGrants(
  ctx: Context,
  opts: InitOptions,
  prompter: Prompter,
): Promise<{ services: ServiceName[]; buckets: string[]; prefix?: string }> {
  if (opts.services?.length || opts.buckets?.length)
    return { services: opts.services ?? [], buckets: opts.buckets ?? [], prefix: opts.prefix };
  type Choice = ServiceName | 'buckets';
  const choices: Array<{ value: Choice; name: string }> = [
    { value: 's3', name: `S3, all buckets (${shortArn(SERVICE_POLICIES.s3.policyArn)})` },
    { value: 'buckets', name: 'S3, only buckets I name (a generated least-privilege policy)' },
    ...SERVICES.filter((s) => s !== 's3').map((s) => ({
      value: s as Choice,
      name: `${s === 'rds' ? 'RDS' : 'Lambda'} (${shortArn(SERVICE_POLICIES[s].policyArn)})`,
    })),
  ];
  let chosen: Choice[] = [];
  while (chosen.length === 0) {
    chosen = await prompter.checkbox<Choice>('What may Datablast read?', choices);
    if (chosen.length === 0) note(ctx, 'choose at least one');
  }
  const services = chosen.filter((c): c is ServiceName => c !== 'buckets');
  if (!chosen.includes('buckets')) return { services, buckets: [] };
  const bucketText = await prompter.input('Bucket names (separated by spaces or commas)', {
    validate: check((text) => {
      const names = splitList(text);
      if (names.length === 0) throw new UsageError('give at least one bucket name');
      names.forEach(validateBucketName);
    }),
  });
  const prefix = await prompter.input('Only objects under this key prefix (Enter for whole buckets)', {
    default: '',
    validate: check((p) => p === '' || validatePrefix(p)),
  });
  return { services, buckets: splitList(bucketText), prefix: prefix || undefined };
}

function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** Under --no-input a question without a default is an error naming the flag that answers it. */
function missing(flag: string, what: string): never {
  throw new UsageError(`missing ${flag} (${what}); under --no-input every answer comes from a flag`, {
    hint: 'For example: datablast-aws init --no-input --user datablast-integration --service s3 --connection "AWS Production".',
  });
}

/** Turns a throwing validator into a prompt validator (the message is shown under the prompt). */
function check(validate: (value: string) => unknown): (value: string) => string | true {
  return (value) => {
    try {
      validate(value);
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  };
}

/** Human text for `init`: what exists now, and what to do next. */
export function renderInit(result: InitResult, io: IO, style: Style): void {
  const c = result.connection;
  const name = shellWord(c.name);
  const grants = [...result.attached, ...result.alreadyAttached]
    .map(shortArn)
    .concat(result.inline, result.alreadyInline);
  io.out(
    result.alreadySetUp
      ? `${style.green('already set up')}: nothing to change in account ${result.account}\n`
      : `${style.green('done')}: Datablast is set up in account ${result.account}\n`,
  );
  io.out(`  user        ${result.userName} (${result.userCreated ? 'created' : 'already existed'})\n`);
  io.out(`  policies    ${grants.join(', ')}\n`);
  io.out(
    `  connection  ${c.name}, key ${maskAccessKeyId(c.accessKeyId)} (${result.keyCreated ? 'created and tested' : 'already there, works'}), region ${c.region}\n`,
  );
  io.out(`\nNext steps\n`);
  io.out(`  check it any time     datablast-aws test ${name}\n`);
  io.out(`  rotate the key        datablast-aws rotate ${name}${result.selfRotation ? '' : ' --admin'}\n`);
  io.out(`  rotate on schedule    cron: datablast-aws rotate --all --older-than 90 --json\n`);
  io.out(`  use it from AWS tools datablast-aws export-profile ${name}   (a profile with credential_process)\n`);
  io.out(
    `                        or in ~/.aws/config: credential_process = datablast-aws credential-process ${name}\n`,
  );
}
