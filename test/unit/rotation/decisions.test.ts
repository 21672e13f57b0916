import { describe, expect, it } from 'vitest';
import {
  PHASES,
  RotationStop,
  failureFate,
  nextPhase,
  plannedPhases,
  resumePhase,
  type PhaseName,
} from '../../../src/rotation/decisions.js';
import { ConfigError, RotationInterruptedError, SecretStoreError } from '../../../src/errors.js';
import { PHASE_TABLE } from '../../../src/rotation/phases.js';

describe('the phase list', () => {
  it('has one implementation per phase, and the engine runs no other', () => {
    expect(Object.keys(PHASE_TABLE).sort()).toEqual([...PHASES].sort());
  });

  it('a fresh rotation: check, make room, create, prove, switch, record, retire', () => {
    expect(plannedPhases('check')).toEqual(['check', 'make-room', 'create', 'prove', 'switch', 'record', 'retire']);
  });

  it('no journal: the run starts with check; a journal: where the resume decision says', () => {
    expect(nextPhase('recover', { kind: 'no-journal' })).toBe('check');
    expect(nextPhase('recover', { kind: 'resume', action: { kind: 'retire' } })).toBe('retire');
    expect(nextPhase('recover', { kind: 'resume', action: { kind: 'verify-and-switch' } })).toBe('prove');
  });

  it.each<[Parameters<typeof resumePhase>[0], PhaseName]>([
    [{ kind: 'clear', deletePending: false, reason: 'x' }, 'undo'],
    [{ kind: 'delete-orphan', accessKeyId: 'AKIAAAAAAAAAAAAAAAAQ', deletePending: true }, 'undo'],
    [{ kind: 'adopt-pending', accessKeyId: 'AKIAAAAAAAAAAAAAAAAQ', createDate: undefined }, 'adopt'],
    [{ kind: 'verify-and-switch' }, 'prove'],
    [{ kind: 'finish-switch' }, 'record'],
    [{ kind: 'retire' }, 'retire'],
  ])('resume %j goes on at %s', (action, phase) => {
    expect(resumePhase(action)).toBe(phase);
  });

  it('an undone rotation rotates afresh; a dry run stops there (what follows depends on the undo)', () => {
    expect(nextPhase('undo', { kind: 'ok' })).toBe('check');
    expect(nextPhase('undo', { kind: 'ok' }, true)).toBe('end');
    expect(plannedPhases('undo', false)).toEqual(['undo', ...plannedPhases('check')]);
  });

  it('an adopted key is proven, then switched in', () => {
    expect(plannedPhases('adopt')).toEqual(['adopt', 'prove', 'switch', 'record', 'retire']);
  });

  it('a young key ends the run at check; a key AWS never accepts is rolled back, and the run ends', () => {
    expect(nextPhase('check', { kind: 'skipped' })).toBe('end');
    expect(nextPhase('prove', { kind: 'not-accepted' })).toBe('roll-back');
    expect(nextPhase('roll-back', { kind: 'ok' })).toBe('end');
  });
});

describe('the fate of a failure', () => {
  const store = new SecretStoreError('locked');

  it('resumable (exit 8) when a journal remains', () => {
    expect(failureFate(store, true, false)).toBe('resumable');
    expect(failureFate(new Error('socket hang up'), true, false)).toBe('resumable');
  });

  it('as it is when no journal remains, in a dry run, or when the engine stopped on purpose', () => {
    expect(failureFate(store, false, false)).toBe('as-is');
    expect(failureFate(store, true, true)).toBe('as-is');
    expect(failureFate(new RotationStop(new ConfigError('refused')), true, false)).toBe('as-is');
    expect(failureFate(new RotationInterruptedError('already says so'), true, false)).toBe('as-is');
  });
});

describe('the lifecycle phases', () => {
  it('follow the switch when the connection has consumers, and retire at once otherwise', () => {
    expect(plannedPhases('check', true, { lifecycle: true })).toEqual([
      'check',
      'make-room',
      'create',
      'prove',
      'switch',
      'record',
      'deliver',
      'await-idle',
      'deactivate',
      'await-grace',
      'delete',
    ]);
    expect(nextPhase('record', { kind: 'ok' }, false, { lifecycle: true, now: true })).toBe('retire');
  });
  it('a waiting phase ends the run (not a failure)', () => {
    for (const phase of ['deliver', 'await-idle', 'await-grace'] as const)
      expect(nextPhase(phase, { kind: 'stop' }, false, { lifecycle: true })).toBe('end');
  });
  it('a journal past the switch resumes where the lifecycle waits; --now retires at once; --reactivate-old goes to reactivate', () => {
    const resume = (kind: 'deliver' | 'await-idle' | 'await-grace' | 'reactivated') =>
      ({ kind: 'resume', action: { kind } }) as const;
    expect(nextPhase('recover', resume('deliver'))).toBe('deliver');
    expect(nextPhase('recover', resume('await-idle'))).toBe('await-idle');
    expect(nextPhase('recover', resume('await-grace'))).toBe('await-grace');
    expect(nextPhase('recover', resume('reactivated'))).toBe('await-idle');
    expect(nextPhase('recover', resume('await-grace'), false, { now: true })).toBe('retire');
    expect(nextPhase('recover', resume('await-grace'), false, { reactivate: true })).toBe('reactivate');
    expect(nextPhase('recover', { kind: 'no-journal' }, false, { reactivate: true })).toBe('reactivate');
  });
});
