import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sdkError } from '../../fakes/fake-aws.js';
import { pendingAccount } from '../../../src/domain/rotation.js';
import { SecretStoreError } from '../../../src/errors.js';
import { translateAwsError } from '../../../src/aws/errors.js';
import type { RotateOptions, RotateResult } from '../../../src/commands/rotate.js';
import {
  NAME,
  USER,
  assertConverged,
  assertInvariant,
  journalOf,
  rotateIn,
  rotationWorld,
  type Fault,
  type RotationWorld,
} from './rotate-harness.js';

const one = (r: { result?: unknown }) => r.result as RotateResult;
const networkDown = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const storeLocked = () => new SecretStoreError('the keychain is locked');

/** A re-run with nothing failing must converge: rotated (or resumed), exit 0, invariant, one key. */
async function rerunConverges(world: RotationWorld, opts: Partial<RotateOptions> = {}): Promise<RotateResult> {
  const run = await rotateIn(world, opts);
  expect(run.stderr).not.toMatch(/^error:/m);
  expect(run.exitCode).toBe(0);
  const result = one(run);
  expect(['rotated', 'resumed']).toContain(result.status);
  assertConverged(world, NAME, { keepOld: opts.keepOld ?? false });
  return result;
}

describe('a failure at every step leaves a state the next run converges from', () => {
  it('create fails and AWS made nothing (service failure): exit 8, then the re-run clears the journal and rotates', async () => {
    const world = rotationWorld();
    world.aws.failNext('createAccessKey');
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(8);
    expect(run.stderr).toContain('run the same command again'.replace('run', 'Run'));
    expect(journalOf(world)?.phase).toBe('creating');
    assertInvariant(world);
    const result = await rerunConverges(world);
    expect(result).toMatchObject({ status: 'rotated', recovered: 'rolled-back' });
  });

  it('create takes effect but its response is lost: the key nobody holds is deleted by the re-run', async () => {
    const world = rotationWorld();
    const run = await rotateIn(
      world,
      {},
      { fault: { on: 'iam:createAccessKey', mode: 'fail-after', error: networkDown } },
    );
    expect(run.exitCode).toBe(8);
    expect(world.aws.keysOf(USER)).toHaveLength(2);
    assertInvariant(world);
    const rerun = await rotateIn(world);
    expect(rerun.stderr).toMatch(/deleting the new key AKIA\*+\w{4}, whose secret was never stored/);
    expect(one(rerun).status).toBe('rotated');
    assertConverged(world);
  });

  it("create takes effect, its response is lost and the SDK's retry hits the two-key limit: exit 8, not a clean refusal", async () => {
    const world = rotationWorld();
    const limit = () => sdkError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409);
    const run = await rotateIn(
      world,
      {},
      {
        fault: {
          on: 'iam:createAccessKey',
          mode: 'fail-after',
          error: () => translateAwsError(limit(), 'iam:CreateAccessKey'),
        },
      },
    );
    expect(run.exitCode).toBe(8);
    expect(journalOf(world)?.phase).toBe('creating');
    assertInvariant(world);
    await rerunConverges(world);
  });

  it('storing the new key fails: the new key is deleted at once (exit 6), the connection keeps its key', async () => {
    const world = rotationWorld();
    world.secrets.failNext('set');
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(6);
    expect(run.stderr).toContain('the new key was deleted again');
    expect(world.aws.keysOf(USER).map((k) => k.accessKeyId)).toEqual([world.original.get(NAME)!.accessKeyId]);
    expect(journalOf(world)).toBeUndefined();
    expect(world.secrets.entries.get(NAME)).toEqual(world.original.get(NAME));
    await rerunConverges(world);
  });

  it('storing fails and so does deleting the new key: exit 8, and the re-run deletes it', async () => {
    const world = rotationWorld();
    world.secrets.failNext('set');
    world.aws.failNext('deleteAccessKey', networkDown());
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(8);
    expect(run.stderr).toContain('could not store the new key');
    assertInvariant(world);
    await rerunConverges(world);
  });

  it('proving the new key fails on the network: exit 8, the re-run proves the stored key and finishes', async () => {
    const world = rotationWorld();
    world.aws.failNext('getCallerIdentity', networkDown(), 1);
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(8);
    expect(journalOf(world)?.phase).toBe('created');
    expect(world.secrets.entries.has(pendingAccount(NAME))).toBe(true);
    assertInvariant(world);
    const result = await rerunConverges(world);
    expect(result).toMatchObject({ status: 'resumed', recovered: 'finished' });
  });

  it('switching fails in the secret store: exit 8, the re-run switches', async () => {
    const world = rotationWorld();
    const run = await rotateIn(
      world,
      {},
      { fault: { on: 'secrets:set', occurrence: 2, mode: 'fail', error: storeLocked } },
    );
    expect(run.exitCode).toBe(8);
    expect(world.secrets.entries.get(NAME)).toEqual(world.original.get(NAME));
    assertInvariant(world);
    expect((await rerunConverges(world)).status).toBe('resumed');
  });

  it('switching fails in the metadata: exit 8, the re-run records the key it already holds', async () => {
    const world = rotationWorld();
    const run = await rotateIn(world, {}, { fault: { on: 'connections:put', mode: 'fail' } });
    expect(run.exitCode).toBe(8);
    assertInvariant(world);
    expect(world.connections.entries.get(NAME)!.accessKeyId).toBe(world.original.get(NAME)!.accessKeyId);
    expect((await rerunConverges(world)).status).toBe('resumed');
  });

  for (const method of ['updateAccessKey', 'deleteAccessKey'] as const) {
    it(`retiring the old key fails (${method}): exit 8, the connection already works with the new key, the re-run retires it`, async () => {
      const world = rotationWorld();
      world.aws.failNext(method, networkDown());
      const run = await rotateIn(world);
      expect(run.exitCode).toBe(8);
      expect(journalOf(world)?.phase).toBe('switched');
      assertInvariant(world);
      expect(world.secrets.entries.get(NAME)!.accessKeyId).not.toBe(world.original.get(NAME)!.accessKeyId);
      expect((await rerunConverges(world)).status).toBe('resumed');
    });
  }

  it('removing the pending entry fails: exit 8, the re-run finishes', async () => {
    const world = rotationWorld();
    const run = await rotateIn(world, {}, { fault: { on: 'secrets:delete', mode: 'fail', error: storeLocked } });
    expect(run.exitCode).toBe(8);
    assertInvariant(world);
    await rerunConverges(world);
  });

  it('rolling back fails: exit 8; the re-run finds the key accepted by then and finishes', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 1_000_000;
    world.aws.failNext('deleteAccessKey', networkDown());
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(8);
    assertInvariant(world);
    for (const k of world.aws.keys.values()) k.invisibleFor = 0;
    expect((await rerunConverges(world)).status).toBe('resumed');
  });

  it('a re-run whose stored new key is still refused rolls back (exit 5) and leaves the old key working', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 1_000_000;
    await rotateIn(world, {}, { fault: { on: 'sts:getCallerIdentity', occurrence: 2, mode: 'crash-before' } });
    expect(journalOf(world)?.phase).toBe('created');
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(one(run).status).toBe('rolled-back');
    assertConverged(world, NAME, { rotated: false });
    expect(world.secrets.entries.get(NAME)).toEqual(world.original.get(NAME));
    world.aws.propagationDelayCalls = 0;
    await rerunConverges(world);
  });

  it('--all keeps going after one connection is interrupted, and exits 8', async () => {
    const world = rotationWorld({ connections: ['a', 'b'] });
    world.aws.failNext('createAccessKey', networkDown());
    const run = await rotateIn(world, { all: true, name: undefined }, { json: true });
    expect(run.exitCode).toBe(8);
    const statuses = (run.result as Array<{ status: string }>).map((e) => e.status).sort();
    expect(statuses).toEqual(['failed', 'rotated']);
  });
});

/** How many port calls a clean rotation makes with these options. */
async function cleanLength(opts: Partial<RotateOptions>, prepare: (w: RotationWorld) => void): Promise<number> {
  const world = rotationWorld();
  prepare(world);
  const run = await rotateIn(world, opts);
  expect(one(run).status).toBe('rotated');
  return run.ports.calls;
}

const variants: Array<{ title: string; opts: Partial<RotateOptions>; prepare: (w: RotationWorld) => void }> = [
  { title: 'default', opts: {}, prepare: () => undefined },
  { title: '--keep-old', opts: { keepOld: true }, prepare: () => undefined },
  { title: '--admin', opts: { admin: true }, prepare: () => undefined },
  { title: 'slow propagation', opts: {}, prepare: (w) => (w.aws.propagationDelayCalls = 2) },
  {
    title: 'a stale inactive key first',
    opts: {},
    prepare: (w) => {
      const stale = w.aws.issueKey(USER, 0, '2026-01-01T00:00:00.000Z');
      w.aws.keys.get(stale.accessKeyId)!.status = 'Inactive';
      w.stale.add(stale.accessKeyId);
    },
  },
];

describe('a crash at every instant, followed by a re-run, converges', () => {
  for (const variant of variants) {
    it(`${variant.title}: crash before and after each of the rotation's calls`, async () => {
      const n = await cleanLength(variant.opts, variant.prepare);
      expect(n).toBeGreaterThan(15);
      for (let at = 1; at <= n; at++) {
        for (const mode of ['crash-before', 'crash-after'] as const) {
          const world = rotationWorld();
          variant.prepare(world);
          const crashed = await rotateIn(world, variant.opts, { fault: { at, mode } });
          const where = `${variant.title}, ${mode} call ${at} (${crashed.ports.log[at - 1]})`;
          expect(crashed.ports.crashed, where).toBe(true);
          // Nothing is written after the instant of the crash.
          expect(world.journals.texts.get(NAME), where).toBe(crashed.ports.journalAtCrash);
          if (journalOf(world)) expect(crashed.exitCode, where).toBe(8);
          assertInvariant(world);
          await rerunConverges(world, variant.opts);
        }
      }
    }, 60_000);
  }

  it('survives a second crash during the re-run, whatever the two instants', async () => {
    const n = await cleanLength({}, () => undefined);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: n }),
        fc.constantFrom('crash-before' as const, 'crash-after' as const),
        fc.integer({ min: 1, max: n + 6 }),
        fc.constantFrom('crash-before' as const, 'crash-after' as const),
        fc.boolean(),
        async (first, firstMode, second, secondMode, keepOld) => {
          const world = rotationWorld();
          const faults: Fault[] = [
            { at: first, mode: firstMode },
            { at: second, mode: secondMode },
          ];
          for (const fault of faults) {
            const run = await rotateIn(world, { keepOld }, { fault });
            assertInvariant(world);
            // The second fault may come after the re-run has already finished the rotation.
            if (!run.ports.crashed) {
              expect(run.exitCode).toBe(0);
              assertConverged(world, NAME, { keepOld });
              return;
            }
          }
          await rerunConverges(world, { keepOld });
        },
      ),
      { numRuns: 250 },
    );
  }, 120_000);
});
