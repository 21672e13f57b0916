import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/domain/duration.js';
import {
  decideGrace,
  decideIdle,
  describeLastUse,
  hasConsumers,
  retirementMode,
  unusedWarning,
} from '../../../src/domain/lifecycle.js';
import { worstExitCode } from '../../../src/domain/rotation.js';
import { ExitCode, UsageError } from '../../../src/errors.js';

const H = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('parseDuration', () => {
  it('reads a whole number with s, m, h or d', () => {
    expect(parseDuration('90s', '--idle')).toBe(90_000);
    expect(parseDuration('15m', '--idle')).toBe(900_000);
    expect(parseDuration('24h', '--idle')).toBe(24 * H);
    expect(parseDuration('7d', '--grace')).toBe(7 * 24 * H);
    expect(parseDuration(' 0s ', '--grace')).toBe(0);
  });
  it.each(['', '24', 'h', '1.5h', '-1d', '1w', '24 h', '1e3s', '3651d', '99999999d'])(
    'refuses %j (exit 2, naming the flag)',
    (text) => {
      expect(() => parseDuration(text, '--idle')).toThrow(UsageError);
      expect(() => parseDuration(text, '--idle')).toThrow(/--idle needs a duration/);
    },
  );
  it('formats in the largest exact unit', () => {
    expect(formatDuration(24 * H)).toBe('1d');
    expect(formatDuration(36 * H)).toBe('36h');
    expect(formatDuration(90 * 60_000)).toBe('90m');
    expect(formatDuration(2_000)).toBe('2s');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('decideIdle: never deactivate a key AWS shows in use within the idle window', () => {
  const idleMs = 24 * H;
  it('waits while the idle window since delivery runs, even with a quiet old key', () => {
    expect(decideIdle({ now: new Date(T0 + 23 * H), deliveredAt: at(0), idleMs, oldKey: {} })).toEqual({
      kind: 'wait',
      until: at(24 * H),
      reason: expect.stringContaining('less than the idle window'),
    });
  });
  it('waits (not held) when the old key was used inside a window that is still open, until the later of both', () => {
    const d = decideIdle({ now: new Date(T0 + 5 * H), deliveredAt: at(0), idleMs, oldKey: { at: at(4 * H) } });
    expect(d).toMatchObject({ kind: 'wait', until: at(28 * H) });
  });
  it('holds when delivery is older than the window but the old key was used within it', () => {
    const oldKey = { at: at(10 * H), service: 's3', region: 'eu-west-1' };
    expect(decideIdle({ now: new Date(T0 + 30 * H), deliveredAt: at(0), idleMs, oldKey })).toEqual({
      kind: 'held',
      lastUse: oldKey,
    });
  });
  it('is idle when delivery and the last use are both at least the window ago, or the key was never used', () => {
    expect(decideIdle({ now: new Date(T0 + 30 * H), deliveredAt: at(0), idleMs, oldKey: { at: at(6 * H) } })).toEqual({
      kind: 'idle',
    });
    expect(decideIdle({ now: new Date(T0 + 24 * H), deliveredAt: at(0), idleMs, oldKey: {} })).toEqual({
      kind: 'idle',
    });
  });
  it('with --require-new-key-use waits until the new key shows use since delivery', () => {
    const base = { now: new Date(T0 + 30 * H), deliveredAt: at(0), idleMs, oldKey: {} };
    expect(decideIdle({ ...base, newKey: {} }).kind).toBe('wait');
    expect(decideIdle({ ...base, newKey: { at: at(-H) } }).kind).toBe('wait');
    expect(decideIdle({ ...base, newKey: { at: at(H) } }).kind).toBe('idle');
  });
});

describe('decideGrace', () => {
  const grace = 7 * 24 * H;
  it('deletes an inactive key only once the grace period has passed', () => {
    expect(decideGrace(new Date(T0 + grace - 1), at(0), grace, 'Inactive')).toEqual({ kind: 'wait', until: at(grace) });
    expect(decideGrace(new Date(T0 + grace), at(0), grace, 'Inactive')).toEqual({ kind: 'delete' });
  });
  it('never deletes a key someone turned back on; a key already gone is done', () => {
    expect(decideGrace(new Date(T0 + 2 * grace), at(0), grace, 'Active')).toEqual({ kind: 'reactivated' });
    expect(decideGrace(new Date(T0), at(0), grace, undefined)).toEqual({ kind: 'gone' });
  });
});

describe('retirement mode', () => {
  it('retires at once only a connection with no consumer and no exported profile, or under --now', () => {
    expect(retirementMode(false, {})).toBe('now');
    expect(retirementMode(false, { consumers: [], exportedProfiles: [] })).toBe('now');
    expect(retirementMode(false, { consumers: [{ kind: 'datablast', spec: 'datablast' }] })).toBe('lifecycle');
    expect(retirementMode(false, { exportedProfiles: ['datablast-prod'] })).toBe('lifecycle');
    expect(retirementMode(true, { exportedProfiles: ['datablast-prod'] })).toBe('now');
    expect(hasConsumers({ exportedProfiles: ['x'] })).toBe(true);
  });
});

describe('usage monitoring', () => {
  const now = new Date(T0);
  it('reports a key never used, or unused for more than 90 days', () => {
    expect(unusedWarning({}, now, at(-10 * 24 * H))).toMatch(/no use of this key in the 10 days/);
    expect(unusedWarning({ at: at(-91 * 24 * H) }, now)).toMatch(/91 days ago/);
    expect(unusedWarning({ at: at(-90 * 24 * H) }, now)).toBeUndefined();
  });
  it('describes a last use with its service and region', () => {
    expect(describeLastUse({ at: at(0), service: 'iam', region: 'us-east-1' })).toBe(`${at(0)} by iam in us-east-1`);
    expect(describeLastUse(null)).toMatch(/^never/);
  });
});

describe('exit 9 among --all failures', () => {
  it('ranks held after the failures and before a lock held by another run', () => {
    expect(worstExitCode([ExitCode.held, ExitCode.locked])).toBe(ExitCode.held);
    expect(worstExitCode([ExitCode.held, ExitCode.config])).toBe(ExitCode.config);
    expect(worstExitCode([ExitCode.aws, ExitCode.held])).toBe(ExitCode.aws);
    expect(worstExitCode([ExitCode.held, ExitCode.interrupted])).toBe(ExitCode.interrupted);
    expect(worstExitCode([0, ExitCode.held, 0])).toBe(ExitCode.held);
  });
});
