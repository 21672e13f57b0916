import type { Command } from 'commander';
import { collect, createCommand, createOption } from '../commander.js';
import type { Context, IO, Prompter } from '../ports.js';
import { CancelledError, UsageError } from '../errors.js';
import { connectionJson, validateConnectionName, type ConnectionJson } from '../domain/connection.js';
import { maskAccessKeyId, validateRegion } from '../domain/access-key.js';
import {
  BUCKET_POLICY_NAME,
  MANAGED_BY_TAG,
  SELF_ROTATION_POLICY_NAME,
  SERVICES,
  SERVICE_POLICIES,
  bucketScope,
  describeBucketScope,
  parseService,
  validateBucketName,
  validatePrefix,
  validateTagValue,
  validateUserName,
  type ServiceName,
} from '../domain/policies.js';
import { present, warn, type Style } from '../ui/output.js';
import { note } from '../ui/progress.js';
import { shellWord } from '../domain/shell-word.js';
import { openAdmin } from '../onboarding/admin.js';
import { ensureUser, lookUpUser } from '../onboarding/user.js';
import { assertRoomForKey, createKeyAndSave, inspectConnection } from '../onboarding/key.js';
import { checkSecretStore } from '../onboarding/connection.js';
import { regionForNewConnection } from '../onboarding/region.js';
import {
  applyPolicies,
  desiredPolicies,
  isRemovableGrant,
  planIsEmpty,
  planPolicies,
  readGrants,
  shortArn,
  type CurrentGrants,
} from '../onboarding/policies.js';
import { testGranted } from '../onboarding/verify.js';
import {
  addHandOffOptions,
  consumerLines,
  consumerResults,
  CONSUMERS_HELP,
  handOffFlags,
  handOffNewKey,
  parseDeliverTo,
  type ConsumerResult,
  type HandOffFlags,
  type RawHandOffFlags,
} from '../onboarding/hand-off.js';
import { formatConsumerSpec } from '../domain/consumer.js';

/** The wizard's answers; each one given here is not asked (`deliverTo` among them). */
export interface InitOptions extends Partial<HandOffFlags> {
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
  /** Print the plan and change nothing. */
  dryRun?: boolean;
  /** Also remove grants not asked for (the service presets and our generated inline policies). */
  exact?: boolean;
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
  /** The key prefix the bucket policy is limited to. */
  prefix?: string;
  selfRotation: boolean;
  attached: string[];
  alreadyAttached: string[];
  inline: string[];
  alreadyInline: string[];
  /** Managed policies detached (--exact). */
  detached: string[];
  /** Inline policies deleted (--exact). */
  deletedInline: string[];
  /** Grants the user holds beyond what was asked (ARNs and inline names): `--exact` removes ours. */
  extra: string[];
  /** Absent under --dry-run (nothing saved yet). */
  connection?: ConnectionJson;
  keyCreated: boolean;
  /** Everything was in place already: nothing was changed. */
  alreadySetUp: boolean;
  /** The changes, in words: what was done, or under --dry-run what would be. */
  plan: string[];
  /** --dry-run: nothing was changed. */
  dryRun: boolean;
  /** Where the key went besides this machine: each consumer's state (as `deliver` prints it). */
  consumers: ConsumerResult[];
  /** The final test as the connection, probing what was granted (absent under --dry-run). */
  test?: {
    ok: boolean;
    checks: Array<{ id: string; title: string; status: string; detail?: string }>;
    cause: string | null;
    fix: string | null;
  };
}

/** The user name the onboarding guide suggests. */
export const DEFAULT_USER_NAME = 'datablast-integration';

/** Wires `init`. */
export function initCommand(ctx: Context): Command {
  const command = createCommand('init')
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
    .option('--dry-run', 'print the plan and change nothing')
    .option(
      '--exact',
      'also remove grants not asked for: the s3|rds|lambda read-only policies and the inline policies datablast-aws generates',
    );
  return addHandOffOptions(
    command,
    "hand the new key to this consumer: datablast (Datablast's connection form, the wizard's default), exec:COMMAND or aws-secrets-manager:SECRET_ID (repeatable)",
  )
    .addHelpText(
      'after',
      `\n${CONSUMERS_HELP}\n\nUnder --no-input without --deliver-to the key goes nowhere else; \`datablast-aws deliver NAME --deliver-to datablast\`\n` +
        'hands it to Datablast later. A consumer that fails leaves the connection saved and usable: exit 5.\n' +
        '\nExamples:\n  datablast-aws init\n  datablast-aws init --dry-run\n' +
        '  datablast-aws init --no-input --user datablast-integration --service s3 --connection "AWS Production" --region eu-west-1\n' +
        "  datablast-aws init --no-input --service s3 --connection prod --deliver-to 'exec:./push-key-to-ci.sh'\n",
    )
    .action(
      async (
        flags: RawHandOffFlags & {
          user?: string;
          service?: string[];
          bucket?: string[];
          prefix?: string;
          selfRotation?: boolean;
          connection?: string;
          description?: string;
          yes?: boolean;
          dryRun?: boolean;
          exact?: boolean;
        },
      ) => {
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
          dryRun: flags.dryRun === true,
          exact: flags.exact === true,
          ...handOffFlags(ctx.env, flags),
        };
        present(ctx, await init(ctx, opts), renderInit);
      },
    );
}

/** Checks the answers given as flags before anything is asked or called; under --no-input, names every missing one at once. */
function validateFlags(ctx: Context, opts: InitOptions): void {
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
  parseDeliverTo(opts.deliverTo ?? []);
  if (ctx.globals.input) return;
  const missing = [
    !opts.services?.length && !opts.buckets?.length
      ? '--service s3|rds|lambda (repeatable) or --bucket NAME (what Datablast may read)'
      : undefined,
    opts.connection === undefined ? '--connection NAME (the name the key is saved under)' : undefined,
  ].filter((m): m is string => m !== undefined);
  if (missing.length)
    throw new UsageError(`missing ${missing.join(' and ')}; under --no-input every answer comes from a flag`, {
      hint: 'For example: datablast-aws init --no-input --user datablast-integration --service s3 --connection "AWS Production".',
    });
}

/** What an earlier run left: a stored connection that names its IAM user. */
async function earlierSetup(
  ctx: Context,
  opts: InitOptions,
): Promise<{ user: string; connection: string } | undefined> {
  const stored = (await (await ctx.connections()).list()).filter((c) => c.userName !== undefined);
  const match =
    opts.connection !== undefined
      ? stored.find((c) => c.name === opts.connection)
      : opts.user !== undefined
        ? stored.find((c) => c.userName === opts.user)
        : stored.length === 1
          ? stored[0]
          : undefined;
  return match ? { user: match.userName!, connection: match.name } : undefined;
}

/**
 * The wizard, in the onboarding guide's order. Every question is asked before anything changes, so
 * Ctrl-C at any prompt leaves nothing behind; the connection's name is asked before its key exists,
 * so the secret goes from AWS straight into the secret store. A re-run asks only what an earlier run
 * did not settle, with what is attached preselected. Composes the onboarding services.
 */
export async function init(ctx: Context, opts: InitOptions): Promise<InitResult> {
  validateFlags(ctx, opts);
  const prompter = ctx.globals.input ? await ctx.prompter() : undefined;

  // 1. Who am I.
  const admin = await openAdmin(ctx);
  const earlier = await earlierSetup(ctx, opts);

  // 2. The user.
  let userName: string;
  if (opts.user !== undefined) userName = opts.user;
  else if (earlier) {
    userName = earlier.user;
    note(ctx, `IAM user: ${userName} (of connection ${earlier.connection}; --user to change it)`);
  } else if (prompter)
    userName = await prompter.input('Name of the IAM user for Datablast', {
      default: DEFAULT_USER_NAME,
      validate: check(validateUserName),
    });
  else userName = defaulted(ctx, 'IAM user', DEFAULT_USER_NAME, DEFAULT_USER_NAME, '--user');
  const existingUser = await lookUpUser(ctx, admin, userName);
  const current = await readGrants(ctx, admin, userName, existingUser);

  // 3. What Datablast may read (what is attached already is preselected).
  const grants = await chooseGrants(ctx, opts, prompter, current);

  // 4. Self-rotation: on, unless a flag turns it off or an earlier run left it off.
  const leftOff =
    existingUser !== undefined &&
    !(SELF_ROTATION_POLICY_NAME in current.inline) &&
    (current.managed.some(isRemovableGrant) || BUCKET_POLICY_NAME in current.inline);
  const selfRotation =
    opts.selfRotation ??
    (leftOff
      ? defaulted(ctx, 'self-rotation', false, 'off (as before)', '--self-rotation')
      : defaulted(ctx, 'self-rotation', true, 'on', '--no-self-rotation'));

  // 5. The connection: name first; an existing one that already works for this user means no new key.
  const connectionName =
    opts.connection ??
    (earlier?.user === userName ? earlier.connection : undefined) ??
    (await prompter!.input('Name for the connection (how you will refer to this key)', {
      validate: check(validateConnectionName),
    }));
  const state = await inspectConnection(ctx, connectionName, userName);
  let region: string | undefined;
  if (state.state === 'absent') {
    const fallback = await regionForNewConnection(ctx);
    region =
      prompter && fallback.source !== 'flag'
        ? await prompter.input('AWS region for this connection', {
            default: fallback.region,
            validate: check((r) => validateRegion(r, 'the region')),
          })
        : fallback.region;
  } else {
    note(ctx, `connection ${connectionName} already holds a working key of ${userName}`);
  }
  // 6. Where the new key must go besides this machine: the guide's last step is Datablast's connection form.
  const deliverTo =
    opts.deliverTo?.length || !prompter || state.state !== 'absent'
      ? (opts.deliverTo ?? [])
      : (await prompter.select(
            'Where must the key go besides this machine?',
            [
              {
                value: 'datablast',
                name: "Datablast's connection form (its fields are shown here once the key exists)",
              },
              { value: 'none', name: 'Nowhere yet (later: datablast-aws deliver NAME --deliver-to …)' },
            ],
            { default: 'datablast' },
          )) === 'datablast'
        ? ['datablast']
        : [];
  const known = new Set((state.state === 'ready' ? (state.connection.consumers ?? []) : []).map((c) => c.spec));
  const newConsumers = parseDeliverTo(deliverTo)
    .map(formatConsumerSpec)
    .filter((spec) => !known.has(spec));

  // Everything that could refuse is checked now, before the first change.
  const desired = desiredPolicies(
    { userName, services: grants.services, buckets: grants.buckets, prefix: grants.prefix, selfRotation },
    existingUser?.path ?? '/',
  );
  const policyPlan = planPolicies(userName, current, desired, { exact: opts.exact === true });
  if (existingUser && state.state === 'absent') {
    // Two keys already: stop now rather than after the user and policies changed (createKeyAndSave checks again).
    await assertRoomForKey(ctx, admin, userName);
  }
  const plan = [
    ...(existingUser ? [] : [`create IAM user ${userName} (tagged ${MANAGED_BY_TAG.key}=${MANAGED_BY_TAG.value})`]),
    ...policyPlan.toAttach.map((arn) => `attach ${shortArn(arn)}`),
    ...Object.keys(policyPlan.toPut).map((name) =>
      name === BUCKET_POLICY_NAME
        ? `write inline policy ${name}: list and read ${describeBucketScope(grants.buckets, grants.prefix)}, nothing else`
        : `write inline policy ${name}`,
    ),
    ...policyPlan.toDetach.map((arn) => `detach ${shortArn(arn)} (not asked for)`),
    ...policyPlan.toDelete.map((name) => `delete inline policy ${name} (not asked for)`),
    ...(state.state === 'absent'
      ? [`create an access key for ${userName}, save it as connection "${connectionName}" (${region}) and test it`]
      : []),
    ...newConsumers.map((spec) => `hand the key to ${spec}`),
  ];
  if (policyPlan.extra.length) warn(ctx, extraWarning(userName, policyPlan.extra));
  const base = {
    account: admin.identity.account,
    adminArn: admin.identity.arn,
    userName,
    services: grants.services,
    buckets: grants.buckets,
    ...(grants.prefix !== undefined ? { prefix: grants.prefix } : {}),
    selfRotation,
    extra: policyPlan.extra,
    keyCreated: false,
    plan,
  };
  if (opts.dryRun) {
    return {
      ...base,
      userArn: existingUser?.arn ?? '',
      userCreated: false,
      attached: [],
      alreadyAttached: policyPlan.alreadyAttached,
      inline: [],
      alreadyInline: policyPlan.alreadyInline,
      detached: [],
      deletedInline: [],
      ...(state.state === 'ready' ? { connection: connectionJson(state.connection) } : {}),
      alreadySetUp: plan.length === 0,
      dryRun: true,
      consumers: state.state === 'ready' ? consumerResults(state.connection.consumers ?? []) : [],
    };
  }
  // A key needs somewhere to go: find out now, not after the user and its policies exist.
  if (state.state === 'absent') await checkSecretStore(ctx);
  if (plan.length && prompter && !opts.yes) {
    ctx.io.err(`\nAbout to change account ${admin.identity.account}:\n${plan.map((c) => `  • ${c}\n`).join('')}\n`);
    if (!(await prompter.confirm('Go ahead?', { default: true })))
      throw new CancelledError('cancelled; nothing was changed');
  }

  // Now the changes, each a step on stderr.
  const ensured = await ensureUser(ctx, admin, { userName }, { user: existingUser });
  const policies = planIsEmpty(policyPlan) ? undefined : await applyPolicies(ctx, admin, policyPlan);
  const connection =
    state.state === 'ready'
      ? connectionJson(state.connection)
      : await createKeyAndSave(ctx, admin, {
          userName,
          connection: connectionName,
          region: region!,
          description: opts.description,
          services: grants.services,
          buckets: grants.buckets,
        });

  // 7. Test it, probing what was granted; then hand the key over (a failed test keeps its own exit code).
  const report = await testGranted(ctx, connection.name, grants);
  if (!report.ok) ctx.exitCode = report.exitCode;
  const consumers = await handOffNewKey(ctx, connection.name, {
    deliverTo,
    kmsKeyId: opts.kmsKeyId,
    execTimeoutMs: opts.execTimeoutMs,
  });
  return {
    ...base,
    userArn: ensured.user.arn,
    userCreated: ensured.created,
    attached: policies?.attached ?? [],
    alreadyAttached: policyPlan.alreadyAttached,
    inline: policies?.inline ?? [],
    alreadyInline: policyPlan.alreadyInline,
    detached: policies?.detached ?? [],
    deletedInline: policies?.deletedInline ?? [],
    connection,
    keyCreated: state.state === 'absent',
    alreadySetUp: plan.length === 0,
    dryRun: false,
    consumers,
    test: { ok: report.ok, checks: report.checks, cause: report.cause, fix: report.fix },
  };
}

/** The warning for grants beyond what was asked, with the way to remove the ones we manage. */
function extraWarning(userName: string, extra: string[]): string {
  const ours = extra.filter(isRemovableGrant);
  return (
    `user ${userName} also holds ${extra.map(shortArn).join(', ')}, which this run did not ask for` +
    (ours.length ? `; add --exact to remove ${ours.map(shortArn).join(', ')}` : '; datablast-aws leaves it as it is')
  );
}

/** Under --no-input a question with a default takes it, and says so (and which flag changes it). */
function defaulted<T>(ctx: Context, what: string, value: T, shown: string, flag: string): T {
  note(ctx, `${what}: ${shown} (the default; ${flag} to change it)`);
  return value;
}

/** The services and buckets to grant: from the flags, else a multi-select preselecting what is attached (and the buckets if chosen). */
async function chooseGrants(
  ctx: Context,
  opts: InitOptions,
  prompter: Prompter | undefined,
  current: CurrentGrants,
): Promise<{ services: ServiceName[]; buckets: string[]; prefix?: string }> {
  if (opts.services?.length || opts.buckets?.length || !prompter)
    return { services: opts.services ?? [], buckets: opts.buckets ?? [], prefix: opts.prefix };
  type Choice = ServiceName | 'buckets';
  const scope = current.inline[BUCKET_POLICY_NAME] ? bucketScope(current.inline[BUCKET_POLICY_NAME]) : undefined;
  const attached = (s: ServiceName) => current.managed.includes(SERVICE_POLICIES[s].policyArn);
  const choices: Array<{ value: Choice; name: string; checked: boolean }> = [
    { value: 's3', name: `S3, all buckets (${shortArn(SERVICE_POLICIES.s3.policyArn)})`, checked: attached('s3') },
    {
      value: 'buckets',
      name: 'S3, only buckets I name (a generated least-privilege policy)',
      checked: scope !== undefined,
    },
    ...SERVICES.filter((s) => s !== 's3').map((s) => ({
      value: s as Choice,
      name: `${s === 'rds' ? 'RDS' : 'Lambda'} (${shortArn(SERVICE_POLICIES[s].policyArn)})`,
      checked: attached(s),
    })),
  ];
  const chosen = await prompter.checkbox<Choice>('What may Datablast read?', choices, {
    validate: (values) => (values.length > 0 ? true : 'choose at least one (Space selects)'),
  });
  const services = chosen.filter((c): c is ServiceName => c !== 'buckets');
  if (!chosen.includes('buckets')) return { services, buckets: [] };
  const bucketText = await prompter.input('Bucket names (separated by spaces or commas)', {
    ...(scope ? { default: scope.buckets.join(' ') } : {}),
    validate: check((text) => {
      const names = splitList(text);
      if (names.length === 0) throw new UsageError('give at least one bucket name');
      names.forEach(validateBucketName);
    }),
  });
  const prefix = await prompter.input('Only objects under this key prefix (Enter for whole buckets)', {
    default: scope?.prefix ?? '',
    validate: check((p) => p === '' || validatePrefix(p)),
  });
  note(ctx, `buckets: ${describeBucketScope(splitList(bucketText), prefix || undefined)}`);
  return { services, buckets: splitList(bucketText), prefix: prefix || undefined };
}

function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
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

/** Human text for `init`: what exists now (or, under --dry-run, what would change), and what to do next. */
export function renderInit(result: InitResult, io: IO, style: Style): void {
  if (result.dryRun) {
    io.out(
      result.plan.length
        ? `dry run, nothing changed; in account ${result.account} init would:\n${result.plan.map((c) => `  • ${c}\n`).join('')}`
        : `dry run: nothing to change in account ${result.account}\n`,
    );
    if (result.extra.length) io.out(`  also held, not asked for: ${result.extra.map(shortArn).join(', ')}\n`);
    return;
  }
  const c = result.connection!;
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
  if (result.buckets.length) io.out(`  buckets     ${describeBucketScope(result.buckets, result.prefix)}\n`);
  if (result.detached.length || result.deletedInline.length)
    io.out(`  removed     ${[...result.detached.map(shortArn), ...result.deletedInline].join(', ')} (not asked for)\n`);
  if (result.extra.length)
    io.out(
      `  ${style.yellow('also holds')}  ${result.extra.map(shortArn).join(', ')} (not asked for${result.extra.some(isRemovableGrant) ? '; init --exact removes ours' : ''})\n`,
    );
  const tested = result.test;
  const verdict = !tested
    ? ''
    : tested.ok
      ? `tested: ${tested.checks
          .filter((k) => k.status === 'pass')
          .map((k) => k.title)
          .join(', ')}`
      : `${style.red('test failed')}: ${tested.cause ?? 'see datablast-aws test'}`;
  io.out(
    `  connection  ${c.name}, key ${maskAccessKeyId(c.accessKeyId)} (${result.keyCreated ? 'created' : 'already there'}), region ${c.region}\n`,
  );
  if (verdict) io.out(`  test        ${verdict}\n`);
  if (tested && !tested.ok && tested.fix) io.out(`              ${tested.fix}\n`);
  if (result.consumers.length) io.out(`  consumers\n${consumerLines(result.consumers, style, '    ').join('\n')}\n`);
  io.out(`\nNext steps\n`);
  const datablast = result.consumers.find((k) => k.spec === 'datablast');
  if (datablast?.state === 'delivered') io.out(`  Datablast             holds the key (you confirmed it)\n`);
  else {
    io.out(
      `  hand it to Datablast  Connections → New connection → Amazon Web Services; the form's fields are Name,\n` +
        `                        Access Key ID, Secret Access Key, Region and Description\n`,
    );
    io.out(
      datablast?.state === 'pending'
        ? `                        once saved there: datablast-aws deliver ${name} --confirm-delivered\n`
        : `                        datablast-aws deliver ${name} --deliver-to datablast   (shows them, the secret on a keypress)\n`,
    );
  }
  if (result.consumers.length)
    io.out(`  hand the key again    datablast-aws deliver ${name}   (to every consumer above)\n`);
  io.out(`  check it any time     datablast-aws test ${name}\n`);
  io.out(`  rotate the key        datablast-aws rotate ${name}${result.selfRotation ? '' : ' --admin'}\n`);
  io.out(`  rotate on schedule    cron: datablast-aws rotate --all --older-than 90 --json\n`);
  io.out(`  use it from AWS tools datablast-aws export-profile ${name}   (a profile with credential_process)\n`);
  io.out(
    `                        or in ~/.aws/config: credential_process = datablast-aws credential-process ${name}\n`,
  );
}
