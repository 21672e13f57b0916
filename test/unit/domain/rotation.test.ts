import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AccessKeyInfo } from '../../../src/domain/iam.js';
import { validateConnectionName } from '../../../src/domain/connection.js';
import {
  CREATE_DATE_SKEW_MS,
  connectionOfPendingAccount,
  decideOtherKey,
  decideResume,
  finishesRotation,
  isDue,
  isPendingAccount,
  nextDelay,
  pendingAccount,
  userFromArn,
  PROOF_POLICY,
  VERIFY_POLICY,
  worstExitCode,
  type RotationJournal,
} from '../../../src/domain/rotation.js';

const OLD = 'AKIAOLDOLDOLDOLDOLD2';
const NEW = 'AKIANEWNEWNEWNEWNEW2';
const OTHER = 'AKIAOTHEROTHEROTHER2';

const key = (
  accessKeyId: string,
  status: 'Active' | 'Inactive' = 'Active',
  createDate = '2026-11-28T12:00:05.000Z',
): AccessKeyInfo => ({ accessKeyId, status, createDate });

function journal(overrides: Partial<RotationJournal> = {}): RotationJournal {
  return {
    version: 1,
    connection: 'prod',
    phase: 'creating',
    startedAt: '2026-11-28T12:00:00.000Z',
    updatedAt: '2026-11-28T12:00:00.000Z',
    userName: 'datablast',
    oldAccessKeyId: OLD,
    keysBefore: [OLD],
    keepOld: false,
    ...overrides,
  };
}

describe('pendingAccount', () => {
  it('can never be the name of a real connection, whatever the name', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), (name) => {
        expect(() => validateConnectionName(pendingAccount(name))).toThrow();
      }),
    );
  });

  it('differs for different connections and maps back to its connection', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        fc.pre(a !== b);
        expect(pendingAccount(a)).not.toBe(pendingAccount(b));
        expect(connectionOfPendingAccount(pendingAccount(a))).toBe(a);
      }),
    );
  });

  it('tells a pending account from a connection name', () => {
    expect(isPendingAccount(pendingAccount('AWS Production'))).toBe(true);
    expect(isPendingAccount('AWS Production')).toBe(false);
    expect(connectionOfPendingAccount('AWS Production')).toBeUndefined();
  });
});

describe('userFromArn', () => {
  it('reads account, path and name of an IAM user', () => {
    expect(userFromArn('arn:aws:iam::123456789012:user/datablast')).toEqual({
      accountId: '123456789012',
      path: '/',
      userName: 'datablast',
    });
    expect(userFromArn('arn:aws:iam::123456789012:user/integrations/etl/datablast')).toEqual({
      accountId: '123456789012',
      path: '/integrations/etl/',
      userName: 'datablast',
    });
    expect(userFromArn('arn:aws-us-gov:iam::123456789012:user/d')?.userName).toBe('d');
  });

  it('refuses roles, root and anything else', () => {
    expect(userFromArn('arn:aws:sts::123456789012:assumed-role/admin/session')).toBeUndefined();
    expect(userFromArn('arn:aws:iam::123456789012:root')).toBeUndefined();
    expect(userFromArn('arn:aws:iam::123456789012:user/')).toBeUndefined();
    expect(userFromArn('not an arn')).toBeUndefined();
  });
});

describe('decideOtherKey', () => {
  const holders = new Map([[OLD, 'prod']]);

  it("goes ahead when the user has only the connection's key", () => {
    expect(decideOtherKey([key(OLD)], OLD, holders)).toEqual({ kind: 'none' });
  });

  it('deletes an inactive key that no connection holds', () => {
    expect(decideOtherKey([key(OLD), key(OTHER, 'Inactive')], OLD, holders)).toEqual({
      kind: 'delete-stale',
      key: key(OTHER, 'Inactive'),
    });
  });

  it('never touches an active key that no connection holds', () => {
    expect(decideOtherKey([key(OTHER), key(OLD)], OLD, holders)).toEqual({ kind: 'blocked-foreign', key: key(OTHER) });
  });

  it('never touches a key another connection holds, even an inactive one', () => {
    const shared = new Map([...holders, [OTHER, 'staging']]);
    expect(decideOtherKey([key(OLD), key(OTHER, 'Inactive')], OLD, shared)).toEqual({
      kind: 'blocked-held',
      key: key(OTHER, 'Inactive'),
      holder: 'staging',
    });
  });

  it("notices when the connection's key is not among the user's keys", () => {
    expect(decideOtherKey([key(OTHER)], OLD, holders)).toEqual({ kind: 'current-missing' });
  });
});

describe('decideResume', () => {
  const holders = new Map([[OLD, 'prod']]);

  describe('creating', () => {
    it('forgets the journal when no new key was created', () => {
      expect(
        decideResume({ journal: journal(), currentKeyId: OLD, pendingKeyId: undefined, iamKeys: [key(OLD)], holders }),
      ).toMatchObject({ kind: 'clear', deletePending: false });
    });

    it('deletes a key created after the start that no store holds', () => {
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'delete-orphan', accessKeyId: NEW, deletePending: false });
    });

    it('adopts the new key when its secret reached the pending entry', () => {
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OLD,
          pendingKeyId: NEW,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'adopt-pending', accessKeyId: NEW, createDate: key(NEW).createDate });
    });

    it('drops a pending entry whose key is not in IAM', () => {
      expect(
        decideResume({ journal: journal(), currentKeyId: OLD, pendingKeyId: NEW, iamKeys: [key(OLD)], holders }),
      ).toMatchObject({ kind: 'clear', deletePending: true });
    });

    it('never deletes a key that existed before the rotation started', () => {
      const j = journal({ keysBefore: [OLD, OTHER] });
      expect(
        decideResume({
          journal: j,
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(OTHER, 'Active', '2020-01-01T00:00:00Z')],
          holders,
        }),
      ).toMatchObject({ kind: 'clear' });
    });

    it('never deletes a key another connection holds', () => {
      const shared = new Map([...holders, [NEW, 'staging']]);
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders: shared,
        }),
      ).toMatchObject({ kind: 'clear' });
    });

    it('refuses a key missing from keysBefore but created well before the start', () => {
      const early = new Date(Date.parse('2026-11-28T12:00:00.000Z') - CREATE_DATE_SKEW_MS - 1000).toISOString();
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW, 'Active', early)],
          holders,
        }).kind,
      ).toBe('refuse');
    });

    it('tolerates a little clock skew between us and AWS', () => {
      const skewed = new Date(Date.parse('2026-11-28T12:00:00.000Z') - 60_000).toISOString();
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW, 'Active', skewed)],
          holders,
        }).kind,
      ).toBe('delete-orphan');
    });

    it('refuses when the connection was replaced during the rotation', () => {
      expect(
        decideResume({
          journal: journal(),
          currentKeyId: OTHER,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }).kind,
      ).toBe('refuse');
    });

    it('refuses when the connection lost its secret', () => {
      expect(
        decideResume({ journal: journal(), currentKeyId: undefined, pendingKeyId: undefined, iamKeys: [], holders })
          .kind,
      ).toBe('refuse');
    });
  });

  describe('created', () => {
    const created = journal({ phase: 'created', newAccessKeyId: NEW });

    it('proves and switches in a stored pending key', () => {
      expect(
        decideResume({
          journal: created,
          currentKeyId: OLD,
          pendingKeyId: NEW,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'verify-and-switch' });
    });

    it('finishes the switch when the connection already holds the new key (never rolls back past that point)', () => {
      expect(
        decideResume({
          journal: created,
          currentKeyId: NEW,
          pendingKeyId: NEW,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'finish-switch' });
    });

    it('forgets a pending key that no longer exists in IAM', () => {
      expect(
        decideResume({ journal: created, currentKeyId: OLD, pendingKeyId: NEW, iamKeys: [key(OLD)], holders }),
      ).toMatchObject({ kind: 'clear', deletePending: true });
    });

    it('deletes the new key when its secret vanished from the store', () => {
      expect(
        decideResume({
          journal: created,
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'delete-orphan', accessKeyId: NEW, deletePending: false });
    });

    it('refuses a pending entry that holds some other key', () => {
      expect(
        decideResume({
          journal: created,
          currentKeyId: OLD,
          pendingKeyId: OTHER,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }).kind,
      ).toBe('refuse');
    });
  });

  describe('switched', () => {
    const switched = journal({ phase: 'switched', newAccessKeyId: NEW });

    it('retires the old key', () => {
      expect(
        decideResume({
          journal: switched,
          currentKeyId: NEW,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }),
      ).toEqual({ kind: 'retire' });
    });

    it('refuses when the connection does not hold the new key', () => {
      expect(
        decideResume({
          journal: switched,
          currentKeyId: OLD,
          pendingKeyId: undefined,
          iamKeys: [key(OLD), key(NEW)],
          holders,
        }).kind,
      ).toBe('refuse');
    });
  });

  it('never deletes a key whose secret is stored, over any state', () => {
    const ids = [OLD, NEW, OTHER];
    const maybeId = fc.option(fc.constantFrom(...ids), { nil: undefined });
    fc.assert(
      fc.property(
        fc.constantFrom('creating', 'created', 'switched' as const),
        maybeId,
        maybeId,
        maybeId,
        fc.subarray(ids),
        (phase, newId, currentKeyId, pendingKeyId, present) => {
          const j = journal({ phase, ...(phase === 'creating' ? {} : { newAccessKeyId: newId ?? NEW }) });
          const action = decideResume({
            journal: j,
            currentKeyId,
            pendingKeyId,
            iamKeys: present.map((id) => key(id)),
            holders,
          });
          if (action.kind === 'delete-orphan') {
            expect([currentKeyId, pendingKeyId, OLD]).not.toContain(action.accessKeyId);
          }
          if (finishesRotation(action)) expect(currentKeyId).toBeDefined();
        },
      ),
    );
  });
});

describe('timing', () => {
  it('backs off exponentially from 250 ms up to a 2 s cap (test waiting out a young key)', () => {
    const delays: number[] = [];
    let d = 0;
    for (let i = 0; i < 6; i++) delays.push((d = nextDelay(d, VERIFY_POLICY)));
    expect(delays).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it("polls a rotation's new key at most every 0.5 s, so the rotation ends soon after AWS accepts it", () => {
    const delays: number[] = [];
    let d = 0;
    for (let i = 0; i < 4; i++) delays.push((d = nextDelay(d, PROOF_POLICY)));
    expect(delays).toEqual([250, 500, 500, 500]);
    // Worst case after AWS starts accepting: one wait, then the remaining successes in a row.
    expect(
      PROOF_POLICY.maxDelayMs + (PROOF_POLICY.requiredSuccesses - 1) * PROOF_POLICY.initialDelayMs,
    ).toBeLessThanOrEqual(1_000);
  });

  it('rotates a key that is as old as --older-than or older, and one of unknown age', () => {
    expect(isDue(90, 90)).toBe(true);
    expect(isDue(89, 90)).toBe(false);
    expect(isDue(undefined, 90)).toBe(true);
    expect(isDue(3, undefined)).toBe(true);
    expect(isDue(0, 0)).toBe(true);
  });
});

describe('worstExitCode', () => {
  it('is 0 when nothing failed', () => {
    expect(worstExitCode([0, 0])).toBe(0);
    expect(worstExitCode([])).toBe(0);
  });

  it('puts a resumable interruption first and a held lock last', () => {
    expect(worstExitCode([7, 5, 8, 0])).toBe(8);
    expect(worstExitCode([7, 5, 0])).toBe(5);
    expect(worstExitCode([6, 4])).toBe(4);
    expect(worstExitCode([7, 3])).toBe(3);
    expect(worstExitCode([7])).toBe(7);
  });
});
