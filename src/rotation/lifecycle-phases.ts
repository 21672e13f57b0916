import { maskAccessKeyId as mask } from '../domain/access-key.js';
import { allHold, consumersNeeding, deliveryFinishedAt, pendingFor } from '../domain/consumer.js';
import {
  DEFAULT_GRACE_MS,
  DEFAULT_IDLE_MS,
  decideGrace,
  decideIdle,
  describeLastUse,
  type LastUse,
} from '../domain/lifecycle.js';
import { formatDuration } from '../domain/duration.js';
import { pendingAccount } from '../domain/rotation.js';
import { shellWord } from '../domain/shell-word.js';
import { handOff } from '../consumers/hand-off.js';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../consumers/exec.js';
import { CliError, ConfigError } from '../errors.js';
import { RotationStop, type PhaseName, type PhaseOutcome } from './decisions.js';
import type { Phase } from './phases.js';
import {
  connection,
  deleteKey,
  iamAs,
  iamCall,
  now,
  writeJournal,
  type LifecycleReport,
  type RotationRun,
} from './run.js';

/*
 * The lifecycle's phases (decisions.ts orders them; domain/lifecycle.ts decides): after the switch, hand the new
 * key to every consumer, wait for AWS's evidence that the old key is idle, deactivate it, wait out the grace
 * period, delete it. A phase that waits ends the run with `stop`: the journal keeps the lifecycle for the next run.
 */

const OK: PhaseOutcome = { kind: 'ok' };
const STOP: PhaseOutcome = { kind: 'stop' };

const idleOf = (r: RotationRun) => r.request.idleMs ?? DEFAULT_IDLE_MS;
const graceOf = (r: RotationRun) => r.request.graceMs ?? DEFAULT_GRACE_MS;

/** Records where the lifecycle stands, for the result. */
function stand(
  r: RotationRun,
  status: NonNullable<RotationRun['lifecycleStatus']>,
  report: Partial<LifecycleReport> & Pick<LifecycleReport, 'phase' | 'since'>,
): PhaseOutcome {
  r.lifecycleStatus = status;
  r.report = { oldKeyLastUsed: null, waitUntil: null, reason: null, ...r.report, ...report };
  return STOP;
}

/** Forgets the pending entry and the journal: the lifecycle is over. */
async function finish(r: RotationRun, oldKey: 'deleted' | 'inactive'): Promise<PhaseOutcome> {
  await r.secrets.delete(pendingAccount(r.name));
  await r.journal.clear();
  r.oldKey = oldKey;
  r.say(`retired: ${mask(r.fresh!.accessKeyId)} replaces ${mask(r.entry!.oldAccessKeyId)} (${oldKey})`);
  return stand(r, 'retired', { phase: 'retired', since: now(r) });
}

async function lastUse(r: RotationRun, id: string): Promise<LastUse> {
  const iam = await iamAs(r, r.fresh!);
  const used = await iamCall(r, 'iam:GetAccessKeyLastUsed', 'new', () => iam.getAccessKeyLastUsed(id));
  return {
    ...(used.lastUsedDate ? { at: used.lastUsedDate } : {}),
    ...(used.serviceName ? { service: used.serviceName } : {}),
    ...(used.region ? { region: used.region } : {}),
  };
}

/** Hands the new key to every consumer that lacks it; `delivered` once all hold it (an exported profile holds it at the switch). */
const deliver: Phase = {
  async run(r) {
    const entry = r.entry!;
    const fresh = r.fresh!;
    // The connection's own entry holds the new key from the switch on: the pending copy is no longer needed.
    await r.secrets.delete(pendingAccount(r.name));
    const before = await connection(r);
    const needing = new Set(consumersNeeding(before.consumers ?? [], fresh.accessKeyId).map((c) => c.spec));
    if (needing.size > 0) {
      await handOff(
        {
          connections: r.connections,
          clock: r.clock,
          consumer: r.consumer,
          onStart: (record) => r.say(`handing the new key ${mask(fresh.accessKeyId)} to ${record.spec}`),
          options: { execTimeoutMs: r.request.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS },
        },
        r.name,
        fresh,
        (record) => needing.has(record.spec),
      );
    }
    const consumers = (await connection(r)).consumers ?? [];
    if (!allHold(consumers, fresh.accessKeyId)) {
      const failed = consumers.filter((c) => c.state?.status === 'failed' && c.state.accessKeyId === fresh.accessKeyId);
      const pending = pendingFor(consumers, fresh.accessKeyId);
      const reason = [
        ...failed.map((c) => `${c.spec} failed: ${c.state?.status === 'failed' ? c.state.message : ''}`),
        ...pending.map((c) => `${c.spec} awaits \`datablast-aws deliver ${shellWord(r.name)} --confirm-delivered\``),
      ].join('; ');
      if (failed.length > 0)
        r.warn(
          `${r.name}: the new key is in use here, but handing it to ${failed.map((c) => c.spec).join(', ')} failed; the old key stays active. Fix it, then run rotate again (or \`datablast-aws deliver ${shellWord(r.name)}\`).`,
        );
      return stand(r, failed.length > 0 ? 'delivery-failed' : 'delivery-pending', {
        phase: 'switched',
        since: entry.updatedAt,
        reason: reason || 'a consumer does not hold the new key yet',
      });
    }
    // The idle window starts when the last consumer took the key, and never before the switch.
    const finished = deliveryFinishedAt(consumers, fresh.accessKeyId);
    const deliveredAt =
      finished !== undefined && Date.parse(finished) > Date.parse(entry.updatedAt) ? finished : entry.updatedAt;
    await writeJournal(r, { ...entry, phase: 'delivered', deliveredAt, updatedAt: now(r) });
    r.deliveredThisRun = true;
    r.say(`every consumer holds the new key ${mask(fresh.accessKeyId)}`);
    return OK;
  },
  describe: () => [
    'hand the new key to every consumer of the connection (each delivery saved; an exported profile takes it from the store)',
  ],
};

/** AWS's last-used data for the old key against the idle window: deactivate, wait, or hold (exit 9). */
const awaitIdle: Phase = {
  async run(r) {
    let entry = r.entry!;
    if (entry.phase === 'reactivated') {
      if (!r.request.named)
        return stand(r, 'reactivated', {
          phase: 'reactivated',
          since: entry.reactivatedAt ?? entry.updatedAt,
          reason: `the old key was turned back on (--reactivate-old); \`datablast-aws rotate ${shellWord(r.name)}\` resumes the lifecycle`,
        });
      r.say('resuming the lifecycle the operator stopped with --reactivate-old');
      await writeJournal(r, { ...entry, phase: 'delivered', updatedAt: now(r) });
      entry = r.entry!;
    }
    const old = entry.oldAccessKeyId;
    const idleMs = idleOf(r);
    const oldKey = await lastUse(r, old);
    const newKey = r.request.requireNewKeyUse ? await lastUse(r, r.fresh!.accessKeyId) : undefined;
    // Kept in the journal so that list and show tell it without an AWS call.
    await writeJournal(r, { ...entry, oldKeyLastUsed: { ...oldKey, checkedAt: now(r) }, updatedAt: now(r) });
    const decision = decideIdle({
      now: r.clock.now(),
      deliveredAt: entry.deliveredAt!,
      idleMs,
      oldKey,
      ...(newKey ? { newKey } : {}),
    });
    const base = { phase: 'delivered' as const, since: entry.deliveredAt!, oldKeyLastUsed: oldKey };
    if (decision.kind === 'wait') {
      r.say(`the old key ${mask(old)} stays active: ${decision.reason}; last used ${describeLastUse(oldKey)}`);
      return stand(r, r.deliveredThisRun ? 'delivered' : 'waiting-idle', {
        ...base,
        waitUntil: decision.until ?? null,
        reason: decision.reason,
      });
    }
    if (decision.kind === 'held') {
      const reason = `the old key ${old} was used ${describeLastUse(decision.lastUse)}, within the idle window (${formatDuration(idleMs)}), although every consumer was handed the new key at ${entry.deliveredAt}: a consumer has not switched`;
      r.warn(
        `${r.name}: held: ${reason}. The old key is left active. Find what still uses it (service ${decision.lastUse.service ?? 'unknown'}, region ${decision.lastUse.region ?? 'unknown'}), switch it to the new key, and the next run goes on.`,
      );
      return stand(r, 'held', { ...base, reason });
    }
    return OK;
  },
  describe: (r) => [
    `wait until the consumers were handed the key at least ${formatDuration(idleOf(r))} ago and AWS shows no use of the old key ${oldId(r)} for as long${r.request.requireNewKeyUse ? ', and the new key shows use' : ''} (a use in that window holds the rotation: exit 9)`,
  ],
};

/** Deactivates the old key, confirmed by IAM; with --keep-old the lifecycle ends there. */
const deactivate: Phase = {
  async run(r) {
    const entry = r.entry!;
    const iam = await iamAs(r, r.fresh!);
    const old = entry.oldAccessKeyId;
    r.say(`deactivating the old key ${mask(old)}, idle for the whole window`);
    try {
      await iamCall(r, 'iam:UpdateAccessKey', 'new', () => iam.updateAccessKey(entry.userName, old, 'Inactive'));
    } catch (error) {
      if (!(error instanceof CliError && error.awsCode === 'NoSuchEntity')) throw error;
      return finish(r, 'deleted');
    }
    // Confirmed by the gateway: it resolves only once ListAccessKeys shows the key inactive (aws/iam.ts).
    if (entry.keepOld) return finish(r, 'inactive');
    const at = now(r);
    await writeJournal(r, { ...entry, phase: 'deactivated', deactivatedAt: at, updatedAt: at });
    return OK;
  },
  describe: (r) => [
    (r.entry?.keepOld ?? r.request.keepOld)
      ? `deactivate the old key ${oldId(r)} and keep it (--keep-old)`
      : `deactivate the old key ${oldId(r)}`,
  ],
};

/** The grace period since deactivation; a key someone turned back on is never deleted. */
const awaitGrace: Phase = {
  async run(r) {
    const entry = r.entry!;
    const old = entry.oldAccessKeyId;
    const iam = await iamAs(r, r.fresh!);
    const keys = await iamCall(r, 'iam:ListAccessKeys', 'new', () => iam.listAccessKeys(entry.userName));
    const status = keys.find((k) => k.accessKeyId === old)?.status;
    const decision = decideGrace(r.clock.now(), entry.deactivatedAt!, graceOf(r), status);
    const since = entry.deactivatedAt!;
    switch (decision.kind) {
      case 'gone':
        return finish(r, 'deleted');
      case 'reactivated': {
        const at = now(r);
        await writeJournal(r, { ...entry, phase: 'reactivated', reactivatedAt: at, updatedAt: at });
        r.warn(
          `${r.name}: the old key ${old} is active again (someone turned it back on): it is not deleted, and the lifecycle stops here. \`datablast-aws rotate ${shellWord(r.name)}\` resumes it.`,
        );
        return stand(r, 'reactivated', { phase: 'reactivated', since: at, reason: 'the old key was turned back on' });
      }
      case 'wait':
        return stand(r, 'deactivated', {
          phase: 'deactivated',
          since,
          waitUntil: decision.until,
          reason: `the old key is inactive; it is deleted ${formatDuration(graceOf(r))} after its deactivation, unless turned back on (\`datablast-aws rotate ${shellWord(r.name)} --reactivate-old\`)`,
        });
      case 'delete':
        return OK;
    }
  },
  describe: (r) => [
    `wait ${formatDuration(graceOf(r))} (--grace) with the old key inactive; a key turned back on is never deleted`,
  ],
};

/** Deletes the old key after the grace period, confirmed by IAM; the lifecycle is over. */
const deleteOld: Phase = {
  async run(r) {
    const entry = r.entry!;
    const iam = await iamAs(r, r.fresh!);
    r.say(`deleting the old key ${mask(entry.oldAccessKeyId)}, inactive for the whole grace period`);
    await deleteKey(r, iam, 'new', entry.userName, entry.oldAccessKeyId);
    return finish(r, 'deleted');
  },
  describe: (r) => [`delete the old key ${oldId(r)}`],
};

/** `--reactivate-old`: the inactive old key of a lifecycle becomes active again, and the lifecycle stops there. */
const reactivate: Phase = {
  async run(r) {
    const entry = r.entry;
    if (!entry || (entry.phase !== 'deactivated' && entry.phase !== 'reactivated'))
      throw new RotationStop(new ReactivateRefusal(r, entry?.phase));
    const iam = await iamAs(r, r.fresh!);
    r.say(`turning the old key ${mask(entry.oldAccessKeyId)} back on`);
    await iamCall(r, 'iam:UpdateAccessKey', 'new', () =>
      iam.updateAccessKey(entry.userName, entry.oldAccessKeyId, 'Active'),
    );
    const at = now(r);
    await writeJournal(r, { ...entry, phase: 'reactivated', reactivatedAt: at, updatedAt: at });
    return stand(r, 'reactivated', {
      phase: 'reactivated',
      since: at,
      reason: `the old key is active again; nightly runs leave it so; \`datablast-aws rotate ${shellWord(r.name)}\` resumes the lifecycle`,
    });
  },
  describe: (r) => [`turn the old key ${oldId(r)} back on and stop the lifecycle there`],
};

/** --reactivate-old without an inactive old key to turn on (exit 3, nothing changed). */
class ReactivateRefusal extends ConfigError {
  constructor(r: RotationRun, phase: string | undefined) {
    super(
      phase === undefined
        ? `connection "${r.name}" has no rotation in progress, so there is no old key to turn back on`
        : `the old key of "${r.name}" is not inactive (the rotation is at "${phase}"); only a deactivated old key can be turned back on`,
      {
        hint: `\`datablast-aws list\` and \`datablast-aws show ${shellWord(r.name)}\` show each connection's rotation phase.`,
      },
    );
  }
}

function oldId(r: RotationRun): string {
  return r.entry?.oldAccessKeyId ?? r.current?.accessKeyId ?? '?';
}

/** The lifecycle's phases by name, for the engine's table. */
export const LIFECYCLE_PHASES: Readonly<
  Record<Extract<PhaseName, 'deliver' | 'await-idle' | 'deactivate' | 'await-grace' | 'delete' | 'reactivate'>, Phase>
> = {
  deliver,
  'await-idle': awaitIdle,
  deactivate,
  'await-grace': awaitGrace,
  delete: deleteOld,
  reactivate,
};
