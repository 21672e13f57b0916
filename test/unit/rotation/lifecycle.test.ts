import { describe, expect, it } from 'vitest';
import type { Consumer, DeliveryOutcome } from '../../../src/ports.js';
import type { RotateResult } from '../../../src/commands/rotate.js';
import { ExitCode } from '../../../src/errors.js';
import {
  NAME,
  assertConverged,
  assertInvariant,
  journalOf,
  rotateIn,
  rotationWorld,
  type RotationWorld,
} from '../commands/rotate-harness.js';

const H = 3_600_000;
const D = 24 * H;

/** A world whose connection has one exec consumer answering `outcome()` (each call recorded). */
function worldWithConsumer(outcome: () => DeliveryOutcome = () => ({ status: 'delivered', detail: 'ok' })) {
  const world = rotationWorld();
  const handed: string[] = [];
  world.consumer = async (): Promise<Consumer> => ({
    deliver: async (_connection, pair) => {
      handed.push(pair.accessKeyId);
      return outcome();
    },
  });
  const connection = world.connections.entries.get(NAME)!;
  world.connections.entries.set(NAME, { ...connection, consumers: [{ kind: 'exec', spec: 'exec:./push.sh' }] });
  return { world, handed };
}

const statusOf = (world: RotationWorld, id: string) => world.aws.keys.get(id)?.status;
const use = (world: RotationWorld, id: string, at: Date, service = 's3', region = 'eu-west-1') =>
  world.aws.lastUsed.set(id, { lastUsedDate: at.toISOString(), serviceName: service, region });

describe('the rotation lifecycle (fake AWS, fixed clock)', () => {
  it('delivers, waits for idle, holds while the old key is in use (exit 9), deactivates, deletes after grace', async () => {
    const { world, handed } = worldWithConsumer();
    const old = world.original.get(NAME)!.accessKeyId;

    const first = await rotateIn(world, {}, { json: true });
    expect(first.exitCode, first.stderr).toBe(0);
    const r1 = first.result as RotateResult;
    expect(r1).toMatchObject({ status: 'delivered', oldKey: null, lifecycle: { phase: 'delivered' } });
    expect(handed).toEqual([r1.newAccessKeyId]);
    expect(statusOf(world, old)).toBe('Active');
    expect(journalOf(world)).toMatchObject({ phase: 'delivered', mode: 'lifecycle' });
    assertInvariant(world);

    // A consumer keeps using the old key: two hours after delivery, then the window passes.
    use(world, old, new Date(world.clock.now().getTime() + 2 * H));
    world.clock.advance(25 * H);
    const held = await rotateIn(world, {}, { json: true });
    expect(held.exitCode, held.stderr).toBe(ExitCode.held);
    expect(held.result).toMatchObject({
      status: 'held',
      lifecycle: { phase: 'delivered', oldKeyLastUsed: { service: 's3', region: 'eu-west-1' } },
    });
    expect(held.stderr).toMatch(/held: .*service s3, region eu-west-1/);
    expect(statusOf(world, old)).toBe('Active');

    // It switched: 25 hours after its last use the old key is deactivated, not deleted.
    world.clock.advance(3 * H);
    const deactivated = await rotateIn(world, {}, { json: true });
    expect(deactivated.exitCode, deactivated.stderr).toBe(0);
    expect(deactivated.result).toMatchObject({ status: 'deactivated', lifecycle: { phase: 'deactivated' } });
    expect(statusOf(world, old)).toBe('Inactive');

    world.clock.advance(6 * D);
    expect((await rotateIn(world)).result).toMatchObject({ status: 'deactivated' });
    expect(statusOf(world, old)).toBe('Inactive');

    world.clock.advance(D);
    const retired = await rotateIn(world, {}, { json: true });
    expect(retired.exitCode, retired.stderr).toBe(0);
    expect(retired.result).toMatchObject({ status: 'retired', oldKey: 'deleted', lifecycle: { phase: 'retired' } });
    assertConverged(world);
  });

  it('a lifecycle in progress is advanced by --all --older-than 90 whatever its key age', async () => {
    const { world } = worldWithConsumer();
    await rotateIn(world, { idleMs: H });
    world.clock.advance(2 * H);
    const run = await rotateIn(world, { all: true, olderThan: 90, idleMs: H, graceMs: 0 }, { json: true });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.result).toEqual([expect.objectContaining({ status: 'retired', oldKey: 'deleted' })]);
    assertConverged(world);
  });

  it('--reactivate-old turns the inactive old key back on; cron leaves it; naming the connection resumes', async () => {
    const { world } = worldWithConsumer();
    const old = world.original.get(NAME)!.accessKeyId;
    await rotateIn(world, { idleMs: 0 });
    expect(statusOf(world, old)).toBe('Inactive');
    const back = await rotateIn(world, { reactivateOld: true }, { json: true });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(back.result).toMatchObject({ status: 'reactivated' });
    expect(statusOf(world, old)).toBe('Active');
    expect(journalOf(world)?.phase).toBe('reactivated');

    world.clock.advance(30 * D);
    const cron = await rotateIn(world, { all: true, olderThan: 90, graceMs: 0 });
    expect(cron.result).toEqual([expect.objectContaining({ status: 'reactivated' })]);
    expect(statusOf(world, old)).toBe('Active');

    use(world, old, world.clock.now());
    const named = await rotateIn(world, {});
    expect(named.exitCode).toBe(ExitCode.held);
    expect(statusOf(world, old)).toBe('Active');
  });

  it('--reactivate-old without an inactive old key is refused (exit 3), nothing changed', async () => {
    const { world } = worldWithConsumer();
    const none = await rotateIn(world, { reactivateOld: true });
    expect(none.exitCode).toBe(ExitCode.config);
    expect(none.stderr).toMatch(/no rotation in progress/);
    await rotateIn(world);
    const active = await rotateIn(world, { reactivateOld: true });
    expect(active.exitCode).toBe(ExitCode.config);
    expect(active.stderr).toMatch(/not inactive/);
  });

  it('a failing exec consumer holds the lifecycle at deliver (exit 5, old key active); the next run delivers', async () => {
    let fail = true;
    const { world, handed } = worldWithConsumer(() =>
      fail ? { status: 'failed', message: 'push-key.sh exited with 1' } : { status: 'delivered', detail: 'ok' },
    );
    const old = world.original.get(NAME)!.accessKeyId;
    const first = await rotateIn(world, { idleMs: 0, graceMs: 0 }, { json: true });
    expect(first.exitCode, first.stderr).toBe(ExitCode.aws);
    expect(first.result).toMatchObject({ status: 'delivery-failed', lifecycle: { phase: 'switched' } });
    expect(statusOf(world, old)).toBe('Active');
    expect(journalOf(world)?.phase).toBe('switched');
    assertInvariant(world);
    fail = false;
    const second = await rotateIn(world, { idleMs: 0, graceMs: 0 }, { json: true });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
    expect(handed).toHaveLength(2);
    assertConverged(world);
  });

  it('--now retires at once, also a lifecycle in progress (a suspected leak)', async () => {
    const { world } = worldWithConsumer();
    await rotateIn(world);
    expect(journalOf(world)?.phase).toBe('delivered');
    const now = await rotateIn(world, { now: true }, { json: true });
    expect(now.exitCode, now.stderr).toBe(0);
    expect(now.result).toMatchObject({ status: 'resumed', oldKey: 'deleted' });
    assertConverged(world);
  });

  it('an exported profile makes the lifecycle the default; without any consumer the old key goes at once', async () => {
    const world = rotationWorld();
    const connection = world.connections.entries.get(NAME)!;
    world.connections.entries.set(NAME, { ...connection, exportedProfiles: ['datablast-prod'] });
    const run = await rotateIn(world, {}, { json: true });
    expect(run.result).toMatchObject({ status: 'delivered' });
    const plain = rotationWorld();
    expect((await rotateIn(plain)).result).toMatchObject({ status: 'rotated', oldKey: 'deleted' });
  });

  it('--dry-run shows the lifecycle steps and changes nothing', async () => {
    const { world } = worldWithConsumer();
    const run = await rotateIn(world, { dryRun: true }, { json: true });
    const plan = (run.result as RotateResult).plan!.join('\n');
    expect(plan).toMatch(/hand the new key to every consumer/);
    expect(plan).toMatch(/wait until the consumers were handed the key at least 1d ago/);
    expect(plan).toMatch(/deactivate the old key/);
    expect(plan).toMatch(/wait 7d \(--grace\)/);
    expect(plan).toMatch(/delete the old key/);
    expect(journalOf(world)).toBeUndefined();
  });

  it('--require-new-key-use waits until AWS shows the new key in use', async () => {
    const { world } = worldWithConsumer();
    const first = await rotateIn(world, { idleMs: H, requireNewKeyUse: true });
    const fresh = (first.result as RotateResult).newAccessKeyId!;
    world.clock.advance(2 * H);
    expect((await rotateIn(world, { idleMs: H, requireNewKeyUse: true })).result).toMatchObject({
      status: 'waiting-idle',
    });
    use(world, fresh, world.clock.now());
    expect((await rotateIn(world, { idleMs: H, requireNewKeyUse: true })).result).toMatchObject({
      status: 'deactivated',
    });
  });

  it('converges after a crash at every port call of a whole lifecycle', async () => {
    const probe = worldWithConsumer().world;
    const clean = await rotateIn(probe, { idleMs: 0, graceMs: 0 });
    expect(clean.result).toMatchObject({ status: 'retired' });
    const total = clean.ports.calls;
    for (let at = 1; at <= total; at++) {
      for (const mode of ['crash-before', 'crash-after'] as const) {
        const { world } = worldWithConsumer();
        const crashed = await rotateIn(world, { idleMs: 0, graceMs: 0 }, { fault: { at, mode } });
        expect(crashed.exitCode, `${mode} ${at}`).not.toBe(0);
        assertInvariant(world);
        const again = await rotateIn(world, { idleMs: 0, graceMs: 0 });
        expect(again.exitCode, `${mode} ${at}: ${again.stderr}`).toBe(0);
        assertConverged(world);
      }
    }
  });
});
