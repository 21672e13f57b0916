import type { Iam } from '../ports.js';
import type { AccessKeyInfo } from '../domain/iam.js';
import { ageInDays, type AccessKeyPair } from '../domain/connection.js';
import { maskAccessKeyId as mask } from '../domain/access-key.js';
import { rememberSecret } from '../domain/redact.js';
import { poll } from '../domain/backoff.js';
import { shellWord } from '../domain/shell-word.js';
import { isWaitingLifecycle, retirementMode } from '../domain/lifecycle.js';
import {
  JOURNAL_VERSION,
  PROOF_POLICY,
  decideOtherKey,
  decideResume,
  finishesRotation,
  isDue,
  pendingAccount,
  userFromArn,
  type RotationJournal,
} from '../domain/rotation.js';
import {
  AwsError,
  CliError,
  ConfigError,
  CredentialsRejectedError,
  RotationInterruptedError,
  SecretStoreError,
} from '../errors.js';
import { RotationStop, type PhaseName, type PhaseOutcome } from './decisions.js';
import { LIFECYCLE_PHASES } from './lifecycle-phases.js';
import {
  connection,
  deleteKey,
  holders,
  iamAs,
  iamCall,
  now,
  storedPair,
  writeJournal,
  type RotationRun,
  type Signer,
} from './run.js';

/**
 * The phases of a rotation (decisions.ts names and orders them): each runs its step, idempotent, with its
 * state in the journal, and describes it for --dry-run.
 */

/** One phase: what it does (run) and how a dry run says it (describe: empty when it would do nothing). */
export interface Phase {
  run(r: RotationRun): Promise<PhaseOutcome>;
  describe(r: RotationRun): string[];
}

const OK: PhaseOutcome = { kind: 'ok' };

/**
 * AWS error codes after which we know CreateAccessKey made no key. The SDK retries a lost response,
 * so only refusals that every attempt would get count: not LimitExceeded (our first attempt may have
 * made the second key) nor throttling (it may have come on a retry).
 */
const CREATE_REFUSED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'NoSuchEntity',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'CredentialsProviderError',
]);

function retireStep(keepOld: boolean, old: string): string {
  return keepOld
    ? `deactivate the old key ${old} and keep it (--keep-old)`
    : `deactivate, then delete the old key ${old}`;
}

const recover: Phase = {
  async run(r) {
    let entry: RotationJournal | undefined;
    try {
      entry = await r.journal.read();
    } catch (error) {
      if (error instanceof CliError) throw new RotationStop(error);
      throw error;
    }
    if (!entry) return { kind: 'no-journal' };
    r.entry = entry;
    r.say(
      isWaitingLifecycle(entry)
        ? `continuing the rotation started ${entry.startedAt} (phase "${entry.phase}": the old key awaits its retirement)`
        : `found an interrupted rotation (phase "${entry.phase}", started ${entry.startedAt}); finishing or undoing it first`,
    );
    await connection(r);
    const current = await storedPair(r, r.name);
    const pending = await storedPair(r, pendingAccount(r.name));
    r.current = current;
    r.pending = pending;
    let keys: AccessKeyInfo[] = [];
    if (current) {
      const iam = await iamAs(r, current);
      const signer: Signer = current.accessKeyId === entry.newAccessKeyId ? 'new' : 'own';
      keys = await iamCall(r, 'iam:ListAccessKeys', signer, () => iam.listAccessKeys(entry.userName));
    }
    const action = decideResume({
      journal: entry,
      currentKeyId: current?.accessKeyId,
      pendingKeyId: pending?.accessKeyId,
      iamKeys: keys,
      holders: current ? await holders(r, current.accessKeyId) : new Map(),
    });
    if (action.kind === 'refuse') {
      throw new RotationStop(
        new ConfigError(`cannot finish or undo the interrupted rotation of "${r.name}": ${action.reason}`, {
          hint:
            `Nothing was changed. Compare \`aws iam list-access-keys --user-name ${entry.userName}\` with \`datablast-aws show "${r.name}"\`, ` +
            `delete in IAM any key that no connection holds, make sure the connection holds a working key (\`datablast-aws test "${r.name}"\`), ` +
            `then delete ${r.journal.path} and run rotate again.`,
        }),
      );
    }
    r.resume = action;
    r.userName = entry.userName;
    if (action.kind === 'verify-and-switch') r.fresh = pending;
    if (action.kind !== 'verify-and-switch' && finishesRotation(action) && action.kind !== 'adopt-pending')
      r.fresh = current;
    if (entry.mode === 'lifecycle') r.lifecycle = true;
    return { kind: 'resume', action };
  },
  describe: (r) =>
    r.entry ? [`an interrupted rotation (phase "${r.entry.phase}", started ${r.entry.startedAt}) is pending:`] : [],
};

const undo: Phase = {
  async run(r) {
    const action = r.resume!;
    if (action.kind === 'delete-orphan') {
      r.say(`undoing it: deleting the new key ${mask(action.accessKeyId)}, whose secret was never stored`);
      await deleteKey(r, await iamAs(r, r.current!), 'own', r.entry!.userName, action.accessKeyId);
    } else if (action.kind === 'clear') {
      r.say(`undoing it: ${action.reason}`);
    }
    if ((action.kind === 'clear' || action.kind === 'delete-orphan') && action.deletePending)
      await r.secrets.delete(pendingAccount(r.name));
    await r.journal.clear();
    r.entry = undefined;
    r.resume = undefined;
    return OK;
  },
  describe(r) {
    const action = r.resume!;
    if (action.kind === 'delete-orphan')
      return [`delete the new key ${action.accessKeyId}, whose secret was never stored`, 'then rotate afresh'];
    const reason = action.kind === 'clear' ? ` (${action.reason})` : '';
    return [`forget it${reason}`, 'then rotate afresh (run --dry-run again afterwards for the details)'];
  },
};

const adopt: Phase = {
  async run(r) {
    const action = r.resume!;
    if (action.kind !== 'adopt-pending') return OK;
    r.say(`the new key ${mask(action.accessKeyId)} is stored; finishing the rotation`);
    await writeJournal(r, {
      ...r.entry!,
      phase: 'created',
      newAccessKeyId: action.accessKeyId,
      newKeyCreatedAt: action.createDate ?? now(r),
      updatedAt: now(r),
    });
    r.fresh = r.pending;
    return OK;
  },
  describe: () => ['record the stored new key in the journal'],
};

function skipped(r: RotationRun, age: number): PhaseOutcome {
  const olderThan = r.request.olderThan!;
  r.skippedAge = age;
  r.say(`its key is ${age} day${age === 1 ? '' : 's'} old, younger than ${olderThan}: skipped`);
  return { kind: 'skipped' };
}

/**
 * Under --older-than, the age of a key that is not due, found without the connection's lock: no rotation under way
 * (no journal), the metadata's key date young, and the store read as check reads it. The engine then skips without
 * taking the lock, so that the nightly cron of many hosts sharing a store writes nothing (a shared lock is a write).
 * Undefined: let the phases decide under the lock.
 */
export async function youngWithoutLock(r: RotationRun): Promise<number | undefined> {
  const olderThan = r.request.olderThan;
  if (olderThan === undefined || r.request.reactivateOld || (await r.journal.read()) !== undefined) return undefined;
  const conn = await connection(r);
  const age = conn.keyCreatedAt === undefined ? undefined : ageInDays(conn.keyCreatedAt, r.clock.now());
  if (age === undefined || isDue(age, olderThan)) return undefined;
  const current = await storedPair(r, r.name);
  if (!current || current.accessKeyId !== conn.accessKeyId) return undefined;
  r.current = current;
  skipped(r, age);
  return age;
}

const check: Phase = {
  async run(r) {
    const conn = await connection(r);
    const olderThan = r.request.olderThan;
    // The store is read on every run, even for a key too young to rotate: a store that cannot be used
    // must be reported (exit 6) the night it breaks, not when the key comes of age.
    const current = await storedPair(r, r.name);
    if (!current) {
      throw new RotationStop(
        new ConfigError(`the secret of connection "${r.name}" is missing from the ${r.secrets.kind} secret store`, {
          hint: `Store the key again with \`datablast-aws add-connection ${shellWord(r.name)} --force\`.`,
        }),
      );
    }
    r.current = current;
    r.lifecycle = retirementMode(r.request.now === true, conn) === 'lifecycle';
    // Prefer the metadata's key age: a young key costs no AWS call at all (cron runs daily).
    if (olderThan !== undefined && conn.keyCreatedAt !== undefined) {
      const age = ageInDays(conn.keyCreatedAt, r.clock.now());
      if (age !== undefined && !isDue(age, olderThan)) return skipped(r, age);
    }
    const sharing = (await r.connections.list())
      .filter((c) => c.name !== r.name && c.accessKeyId === current.accessKeyId)
      .map((c) => c.name);
    if (sharing.length > 0) {
      throw new RotationStop(
        new ConfigError(
          `connection "${r.name}" shares its key ${current.accessKeyId} with ${sharing.map((n) => `"${n}"`).join(', ')}; rotating it would break them`,
          { hint: 'Remove the duplicate connections (`datablast-aws remove NAME`) and keep one per key.' },
        ),
      );
    }

    r.say(`checking the current key ${mask(current.accessKeyId)} (sts:GetCallerIdentity)`);
    const own = await r.aws.as(current, r.region);
    let identity;
    try {
      identity = await own.sts.getCallerIdentity();
    } catch (error) {
      if (!(error instanceof CredentialsRejectedError)) throw error;
      throw new CredentialsRejectedError(
        `the current key of "${r.name}" does not work (${error.awsCode ?? 'rejected'}), so it cannot be rotated`,
        {
          cause: error,
          awsCode: error.awsCode,
          requestId: error.requestId,
          hint: `Run \`datablast-aws test ${shellWord(r.name)}\` for a diagnosis. If the key was deleted or deactivated, store a working one with \`datablast-aws add-connection ${shellWord(r.name)} --force\`.`,
        },
      );
    }
    const user = userFromArn(identity.arn);
    if (!user) {
      throw new ConfigError(
        `the key of "${r.name}" belongs to ${identity.arn}, not an IAM user; only an IAM user's access key can be rotated`,
        {
          hint: 'Store the access key of a dedicated IAM user (`datablast-aws create-user USER --create-key --connection NAME`).',
        },
      );
    }
    const userName = user.userName;
    r.userName = userName;
    r.accountId = user.accountId;

    // AWS allows two keys per user, inactive ones included.
    const iam = await iamAs(r, current);
    const keys = await iamCall(r, 'iam:ListAccessKeys', 'own', () => iam.listAccessKeys(userName));
    r.keys = keys;
    if (olderThan !== undefined && conn.keyCreatedAt === undefined) {
      const age = ageInDays(keys.find((k) => k.accessKeyId === current.accessKeyId)?.createDate, r.clock.now());
      if (age !== undefined && !isDue(age, olderThan)) return skipped(r, age);
    }
    const held = await holders(r, current.accessKeyId);
    const pending = await storedPair(r, pendingAccount(r.name));
    r.pending = pending;
    r.stalePending =
      pending !== undefined &&
      (pending.accessKeyId === current.accessKeyId || !keys.some((k) => k.accessKeyId === pending.accessKeyId));
    if (pending !== undefined && !r.stalePending) held.set(pending.accessKeyId, `the pending entry of "${r.name}"`);
    const decision = decideOtherKey(keys, current.accessKeyId, held);
    r.other = decision;
    if (decision.kind === 'current-missing') {
      throw new AwsError(
        `IAM does not list the key ${current.accessKeyId} of "${r.name}" among user ${userName}'s keys`,
        {
          hint: 'IAM may not be consistent yet after a recent change: wait a minute and run the command again.',
        },
      );
    }
    if (decision.kind === 'blocked-foreign') {
      const id = decision.key.accessKeyId;
      throw new RotationStop(
        new AwsError(
          `user ${userName} already has two access keys, and the other one, ${id}, is active and held by no datablast-aws connection; it is never touched`,
          {
            hint:
              `Find out what uses ${id} (\`aws iam get-access-key-last-used --access-key-id ${id}\`). If nothing does, deactivate it ` +
              `(\`aws iam update-access-key --user-name ${userName} --access-key-id ${id} --status Inactive\`) and run rotate again: ` +
              'an inactive key that no connection holds is deleted to make room. If something does, keep it and rotate that key instead.',
          },
        ),
      );
    }
    if (decision.kind === 'blocked-held') {
      const id = decision.key.accessKeyId;
      if (pending !== undefined && id === pending.accessKeyId) {
        // A pending entry without a journal: a rotation stored its new key, then its journal was lost.
        throw new RotationStop(
          new AwsError(
            `user ${userName} already has two access keys, and the other one, ${id}, is the new key of an unfinished rotation of "${r.name}": its secret is in the pending secret-store entry, but the rotation's journal is missing`,
            {
              hint:
                `Without the journal nothing says how far that rotation got, so neither key is touched. The connection still uses ${current.accessKeyId}. ` +
                `Delete the unfinished rotation's key (\`aws iam delete-access-key --user-name ${userName} --access-key-id ${id}\`), ` +
                'then run rotate again: it removes the leftover pending entry and rotates afresh.',
            },
          ),
        );
      }
      throw new RotationStop(
        new AwsError(
          `user ${userName} already has two access keys, and the other one, ${id}, is held by connection "${decision.holder}"`,
          {
            hint: 'Two connections share one IAM user, which has room for two keys only: give each connection its own user, or remove one (`datablast-aws remove NAME`).',
          },
        ),
      );
    }
    return OK;
  },
  describe: () => [],
};

const makeRoom: Phase = {
  async run(r) {
    if (r.stalePending) {
      r.say('removing a leftover pending entry of an earlier rotation');
      await r.secrets.delete(pendingAccount(r.name));
    }
    if (r.other?.kind === 'delete-stale') {
      const stale = r.other.key.accessKeyId;
      r.say(
        `deleting the inactive key ${mask(stale)} of ${r.userName}, which no connection holds, to make room (AWS allows two keys per user)`,
      );
      await deleteKey(r, await iamAs(r, r.current!), 'own', r.userName!, stale);
      r.keys = r.keys!.filter((k) => k.accessKeyId !== stale);
    }
    return OK;
  },
  describe: (r) => [
    ...(r.stalePending ? ['remove a leftover pending secret-store entry of an earlier rotation'] : []),
    ...(r.other?.kind === 'delete-stale'
      ? [
          `delete the inactive key ${r.other.key.accessKeyId} of ${r.userName}, which no connection holds (AWS allows two keys per user)`,
        ]
      : []),
  ],
};

const create: Phase = {
  async run(r) {
    const current = r.current!;
    const userName = r.userName!;
    const iam = await iamAs(r, current);
    const startedAt = now(r);
    await writeJournal(r, {
      version: JOURNAL_VERSION,
      connection: r.name,
      phase: 'creating',
      startedAt,
      updatedAt: startedAt,
      userName,
      accountId: r.accountId,
      oldAccessKeyId: current.accessKeyId,
      keysBefore: r.keys!.map((k) => k.accessKeyId),
      keepOld: r.request.keepOld,
      mode: r.lifecycle ? 'lifecycle' : 'now',
    });
    r.say(`creating a new access key for IAM user ${userName}`);
    let created;
    try {
      created = await iamCall(r, 'iam:CreateAccessKey', 'own', () => iam.createAccessKey(userName));
    } catch (error) {
      // A refusal we are sure of made no key: forget the journal and report the refusal itself.
      // Anything else (network, 5xx) may have made one: the journal stays, and the next run finds it.
      if (error instanceof CliError && error.awsCode !== undefined && CREATE_REFUSED.has(error.awsCode))
        await r.journal.clear();
      throw error;
    }
    rememberSecret(created.secretAccessKey);
    const fresh: AccessKeyPair = { accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey };
    try {
      await r.secrets.set(pendingAccount(r.name), fresh);
    } catch (error) {
      throw await undoCreate(r, iam, fresh, error);
    }
    r.fresh = fresh;
    await writeJournal(r, {
      ...r.entry!,
      phase: 'created',
      newAccessKeyId: fresh.accessKeyId,
      newKeyCreatedAt: created.createDate ?? now(r),
      updatedAt: now(r),
    });
    return OK;
  },
  describe: (r) => {
    const signer = r.request.admin ? 'the admin credentials (--profile)' : "the connection's own key";
    return [
      `create a new access key for IAM user ${r.userName} (IAM calls signed by ${signer})`,
      `store it at once under a pending entry of the ${r.secrets.kind} secret store`,
    ];
  },
};

/** The new key could not be stored: nobody holds its secret, so delete it now, signed as before. */
async function undoCreate(r: RotationRun, iam: Iam, fresh: AccessKeyPair, error: unknown): Promise<Error> {
  r.say(`could not store the new key ${mask(fresh.accessKeyId)}; deleting it again`);
  const cli = error instanceof CliError ? error : undefined;
  try {
    await deleteKey(r, iam, 'own', r.userName!, fresh.accessKeyId);
    await r.secrets.delete(pendingAccount(r.name)).catch(() => false);
    await r.journal.clear();
  } catch (undoError) {
    return new RotationInterruptedError(
      `could not store the new key of "${r.name}" (${cli?.message ?? String(error)}), nor delete it again (${(undoError as Error).message})`,
      {
        cause: error,
        hint: `Run the same command again: it deletes the new key first (journal: ${r.journal.path}). The connection keeps its current key, which works.${cli?.hint ? ` ${cli.hint}` : ''}`,
      },
    );
  }
  return new SecretStoreError(
    `could not store the new key of "${r.name}" (${cli?.message ?? String(error)}); the new key was deleted again and the connection keeps its current key, which works`,
    {
      cause: error,
      hint: cli?.hint ?? 'Check that the secret store is unlocked and reachable, then run rotate again.',
    },
  );
}

/**
 * IAM is eventually consistent: a new key may be refused for seconds after it is created, and accepted by
 * one endpoint before another. Proof is several STS successes in a row (and, when the new key will sign the
 * retirement, one IAM read), polled under PROOF_POLICY.
 */
const prove: Phase = {
  async run(r) {
    const fresh = r.fresh!;
    const userName = r.entry!.userName;
    const session = await r.aws.as(fresh, r.region);
    r.say(`proving that AWS accepts the new key ${mask(fresh.accessKeyId)}`);
    let streak = 0;
    let iamChecked = r.request.admin;
    let lastSaid: number | undefined;
    const proof = await poll(
      r.clock,
      PROOF_POLICY,
      async () => {
        try {
          const identity = await session.sts.getCallerIdentity();
          if (userFromArn(identity.arn)?.userName !== userName)
            throw new AwsError(`the new key answers as ${identity.arn}, not as user ${userName}`);
          streak += 1;
          if (streak < PROOF_POLICY.requiredSuccesses) return { done: false, resetDelay: true };
          if (!iamChecked) {
            await session.iam.listAccessKeys(userName);
            iamChecked = true;
          }
          return { done: true, value: true };
        } catch (error) {
          // Only "not accepted yet" is waited out; anything else (network, throttling) stops the run, resumable.
          if (!(error instanceof CredentialsRejectedError)) throw error;
          streak = 0;
          return { done: false };
        }
      },
      {
        onWait: ({ elapsedMs }) => {
          if (streak > 0 || (lastSaid !== undefined && elapsedMs - lastSaid < 10_000)) return;
          r.say(`waiting for AWS to accept the new key… (${Math.round(elapsedMs / 1000)} s so far)`);
          lastSaid = elapsedMs;
        },
      },
    );
    return proof.done ? OK : { kind: 'not-accepted' };
  },
  describe: (r) => [
    `prove AWS accepts it: ${PROOF_POLICY.requiredSuccesses} sts:GetCallerIdentity successes in a row${r.request.admin ? '' : ' and one iam:ListAccessKeys'}, for up to ${PROOF_POLICY.timeoutMs / 1000} s; else delete it and keep the current key`,
  ],
};

/** AWS never accepted the new key: delete it (signed as before the rotation), keep the old one. */
const rollBack: Phase = {
  async run(r) {
    const entry = r.entry!;
    const fresh = r.fresh!;
    r.say(
      `AWS did not accept the new key ${mask(fresh.accessKeyId)} within ${PROOF_POLICY.timeoutMs / 1000} s; deleting it and keeping ${mask(entry.oldAccessKeyId)}`,
    );
    await deleteKey(r, await iamAs(r, r.current!), 'own', entry.userName, fresh.accessKeyId);
    await r.secrets.delete(pendingAccount(r.name));
    await r.journal.clear();
    r.warn(
      `${r.name}: rotation rolled back: AWS never accepted the new key. The connection keeps its current key, which works. Run rotate again later.`,
    );
    return OK;
  },
  describe: () => [],
};

const switchKey: Phase = {
  async run(r) {
    r.say(`switching "${r.name}" to the new key ${mask(r.fresh!.accessKeyId)}`);
    await r.secrets.set(r.name, r.fresh!);
    return OK;
  },
  describe: (r) => [`switch "${r.name}" to the new key`],
};

const record: Phase = {
  async run(r) {
    const entry = r.entry!;
    const conn = await connection(r);
    const previous = conn.previousAccessKeyIds ?? [];
    const at = now(r);
    await r.connections.put({
      ...conn,
      accessKeyId: r.fresh!.accessKeyId,
      keyCreatedAt: entry.newKeyCreatedAt ?? at,
      lastRotatedAt: at,
      lastTestedAt: at,
      userName: entry.userName,
      accountId: entry.accountId ?? conn.accountId,
      previousAccessKeyIds: previous.includes(entry.oldAccessKeyId) ? previous : [...previous, entry.oldAccessKeyId],
    });
    await writeJournal(r, { ...entry, phase: 'switched', updatedAt: at });
    return OK;
  },
  describe: (r) => [`record the new key in the metadata, and ${oldIdOf(r)} in its history`],
};

function oldIdOf(r: RotationRun): string {
  return r.entry?.oldAccessKeyId ?? r.current?.accessKeyId ?? '?';
}

/**
 * Deactivate, then delete (or keep inactive), signed by the new key; what is reported about the old key is
 * what IAM then lists, never the mere absence of an error (a proxy's 200 page is not AWS's answer).
 */
const retire: Phase = {
  async run(r) {
    const entry = r.entry!;
    const iam = await iamAs(r, r.fresh!);
    const old = entry.oldAccessKeyId;
    const user = entry.userName;
    let gone = false;
    r.say(`deactivating the old key ${mask(old)}`);
    try {
      await iamCall(r, 'iam:UpdateAccessKey', 'new', () => iam.updateAccessKey(user, old, 'Inactive'));
    } catch (error) {
      if (!(error instanceof CliError && error.awsCode === 'NoSuchEntity')) throw error;
      gone = true;
    }
    if (!entry.keepOld && !gone) {
      r.say(`deleting the old key ${mask(old)}`);
      await deleteKey(r, iam, 'new', user, old);
    }
    // The gateway resolves a retirement only once ListAccessKeys shows it (aws/iam.ts): no second read here.
    r.oldKey = gone || !entry.keepOld ? 'deleted' : 'inactive';
    await r.secrets.delete(pendingAccount(r.name));
    await r.journal.clear();
    r.say(`rotated: ${mask(r.fresh!.accessKeyId)} replaces ${mask(old)} (${r.oldKey})`);
    return OK;
  },
  describe: (r) => [retireStep(r.entry?.keepOld ?? r.request.keepOld, oldIdOf(r))],
};

/** Every phase by name: the one list the engine runs and --dry-run describes. */
export const PHASE_TABLE: Readonly<Record<PhaseName, Phase>> = {
  recover,
  undo,
  adopt,
  check,
  'make-room': makeRoom,
  create,
  prove,
  'roll-back': rollBack,
  switch: switchKey,
  record,
  retire,
  ...LIFECYCLE_PHASES,
};
