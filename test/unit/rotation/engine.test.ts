import { describe, expect, it } from 'vitest';
import { SecretStoreError } from '../../../src/errors.js';
import type { RotateResult } from '../../../src/commands/rotate.js';
import {
  USER,
  assertConverged,
  assertInvariant,
  journalOf,
  rotateIn,
  rotationWorld,
  type Fault,
  type RotationWorld,
} from '../commands/rotate-harness.js';

/**
 * The engine with a failure injected in every phase: the fate of each (rotation/decisions.ts failureFate)
 * is exit 8 whenever a journal remains, the failure's own code otherwise; the invariant holds; a re-run
 * converges.
 */

const networkDown = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const storeLocked = () => new SecretStoreError('the keychain is locked');

interface Case {
  phase: string;
  /** Sets up the world and the failure; returns the harness fault, if the failure is one. */
  arrange: (world: RotationWorld) => Fault | undefined;
  exitCode: number;
  journal: boolean;
}

/** Leaves a journal in phase `created` (killed while proving), for the phases of a resumed run. */
async function interruptedWhileProving(world: RotationWorld): Promise<void> {
  await rotateIn(world, {}, { fault: { on: 'sts:getCallerIdentity', occurrence: 2, mode: 'crash-before' } });
  expect(journalOf(world)?.phase).toBe('created');
}

const cases: Case[] = [
  {
    phase: 'check (sts:GetCallerIdentity of the current key)',
    arrange: (w) => (w.aws.failNext('getCallerIdentity', networkDown()), undefined),
    exitCode: 5,
    journal: false,
  },
  {
    phase: 'check (the secret store)',
    arrange: (w) => (w.secrets.failNext('get'), undefined),
    exitCode: 6,
    journal: false,
  },
  {
    phase: 'make-room (deleting a stale inactive key)',
    arrange: (w) => {
      const stale = w.aws.issueKey(USER, 0, '2026-01-01T00:00:00.000Z');
      w.aws.keys.get(stale.accessKeyId)!.status = 'Inactive';
      w.stale.add(stale.accessKeyId);
      w.aws.failNext('deleteAccessKey', networkDown());
      return undefined;
    },
    exitCode: 5,
    journal: false,
  },
  {
    phase: 'create (the journal cannot be written)',
    arrange: (w) => (w.journals.failNextWrite(), undefined),
    exitCode: 3,
    journal: false,
  },
  {
    phase: 'create (CreateAccessKey)',
    arrange: (w) => (w.aws.failNext('createAccessKey', networkDown()), undefined),
    exitCode: 8,
    journal: true,
  },
  {
    phase: 'prove',
    arrange: (w) => (w.aws.failNext('getCallerIdentity', networkDown(), 1), undefined),
    exitCode: 8,
    journal: true,
  },
  {
    phase: 'roll-back',
    arrange: (w) => {
      w.aws.propagationDelayCalls = 1_000_000;
      w.aws.failNext('deleteAccessKey', networkDown());
      return undefined;
    },
    exitCode: 8,
    journal: true,
  },
  {
    phase: 'switch',
    arrange: () => ({ on: 'secrets:set', occurrence: 2, mode: 'fail', error: storeLocked }),
    exitCode: 8,
    journal: true,
  },
  {
    phase: 'record',
    arrange: () => ({ on: 'connections:put', mode: 'fail' }),
    exitCode: 8,
    journal: true,
  },
  {
    phase: 'retire',
    arrange: (w) => (w.aws.failNext('updateAccessKey', networkDown()), undefined),
    exitCode: 8,
    journal: true,
  },
];

describe('a failure in every phase of a fresh rotation', () => {
  for (const c of cases) {
    it(`${c.phase}: exit ${c.exitCode}${c.journal ? ' (a journal remains)' : ''}, and a re-run converges`, async () => {
      const world = rotationWorld();
      const fault = c.arrange(world);
      const run = await rotateIn(world, {}, fault ? { fault } : {});
      expect(run.exitCode, run.stderr).toBe(c.exitCode);
      expect(journalOf(world) !== undefined).toBe(c.journal);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      if (c.exitCode === 8) expect(run.stderr).toContain('Run the same command again');
      assertInvariant(world);
      for (const k of world.aws.keys.values()) k.invisibleFor = 0;
      world.aws.propagationDelayCalls = 0;
      const again = await rotateIn(world);
      expect(again.exitCode, again.stderr).toBe(0);
      assertConverged(world);
    });
  }
});

describe('a failure in every phase of a resumed rotation', () => {
  const resumed: Array<{ phase: string; arrange: (w: RotationWorld) => Promise<Fault | undefined> }> = [
    {
      phase: 'recover (ListAccessKeys)',
      arrange: async (w) => {
        await interruptedWhileProving(w);
        w.aws.failNext('listAccessKeys', networkDown());
        return undefined;
      },
    },
    {
      phase: 'undo (deleting the orphan key)',
      arrange: async (w) => {
        await rotateIn(w, {}, { fault: { on: 'iam:createAccessKey', mode: 'crash-after' } });
        w.aws.failNext('deleteAccessKey', networkDown());
        return undefined;
      },
    },
    {
      phase: 'adopt (the journal cannot be written)',
      arrange: async (w) => {
        await rotateIn(w, {}, { fault: { on: 'secrets:set', mode: 'crash-after' } });
        expect(journalOf(w)?.phase).toBe('creating');
        w.journals.failNextWrite();
        return undefined;
      },
    },
    {
      phase: 'prove',
      arrange: async (w) => {
        await interruptedWhileProving(w);
        w.aws.failNext('getCallerIdentity', networkDown());
        return undefined;
      },
    },
    {
      phase: 'retire',
      arrange: async (w) => {
        await rotateIn(w, {}, { fault: { on: 'iam:updateAccessKey', mode: 'crash-before' } });
        w.aws.failNext('deleteAccessKey', networkDown());
        return undefined;
      },
    },
  ];
  for (const c of resumed) {
    it(`${c.phase}: exit 8, the journal remains, and a re-run converges`, async () => {
      const world = rotationWorld();
      const fault = await c.arrange(world);
      const run = await rotateIn(world, {}, fault ? { fault } : {});
      expect(run.exitCode, run.stderr).toBe(8);
      expect(journalOf(world)).toBeDefined();
      assertInvariant(world);
      const again = await rotateIn(world);
      expect(again.exitCode, again.stderr).toBe(0);
      expect(['rotated', 'resumed']).toContain((again.result as RotateResult).status);
      assertConverged(world);
    });
  }
});

describe('--dry-run describes the phases the engine runs', () => {
  it('the plan of a fresh rotation lists the phases in order, and nothing is changed', async () => {
    const world = rotationWorld();
    const run = await rotateIn(world, { dryRun: true });
    const plan = (run.result as RotateResult).plan!;
    const order = [
      'create a new access key',
      'store it at once',
      'prove AWS accepts it',
      'switch',
      'record',
      'deactivate',
    ];
    const positions = order.map((step) => plan.findIndex((line) => line.startsWith(step)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(journalOf(world)).toBeUndefined();
    expect(world.locks.requests).toEqual([]);
  });

  it('the plan of an interrupted rotation starts where the engine would', async () => {
    const world = rotationWorld();
    await rotateIn(world, {}, { fault: { on: 'connections:put', mode: 'fail' } });
    const run = await rotateIn(world, { dryRun: true });
    const result = run.result as RotateResult;
    expect(result.status).toBe('resumed');
    expect(result.plan![0]).toContain('an interrupted rotation (phase "created"');
    expect(result.plan!.slice(1).map((l) => l.split(' ')[0])).toEqual(['record', 'deactivate,']);
  });
});
