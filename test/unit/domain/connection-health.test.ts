import { describe, expect, it } from 'vitest';
import { connectionStatus, STATUS_EXIT_CODE, type HealthFacts } from '../../../src/domain/connection-health.js';
import type { Connection } from '../../../src/domain/connection.js';

const now = new Date('2026-11-28T12:00:00.000Z');
const connection: Connection = {
  name: 'prod',
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  region: 'eu-west-1',
  createdAt: '2026-11-01T00:00:00.000Z',
};
const facts = (over: Partial<HealthFacts> = {}): HealthFacts => ({
  secret: { kind: 'stored', accessKeyId: connection.accessKeyId },
  journal: 'none',
  now,
  ...over,
});

describe('connectionStatus', () => {
  it('is ok only when the stored key is the metadata key, no rotation waits and no test rejected it', () => {
    expect(connectionStatus(connection, facts())).toBe('ok');
  });

  it('puts an interrupted rotation first: it explains a stored key that differs', () => {
    expect(
      connectionStatus(connection, facts({ journal: 'present', secret: { kind: 'stored', accessKeyId: 'AKIAOTHER' } })),
    ).toBe('rotation interrupted');
  });

  it.each<[Partial<HealthFacts>, Partial<Connection>, string, number]>([
    [{ secret: { kind: 'unreadable' } }, {}, 'unknown: secret store unavailable', 6],
    [{ secret: { kind: 'entry unreadable' } }, {}, 'unknown: secret unreadable', 6],
    [{ secret: { kind: 'missing' } }, {}, 'secret missing', 3],
    [{ secret: { kind: 'stored', accessKeyId: 'AKIAOTHER' } }, {}, 'stored key differs', 3],
    [{ journal: 'unreadable' }, {}, 'unknown: rotation journal unreadable', 3],
    [{ journal: 'running' }, {}, 'rotation in progress', 0],
    [
      {},
      { lastTestRejectedAt: '2026-11-20T00:00:00.000Z', lastTestRejectedKeyId: 'AKIAIOSFODNN7EXAMPLE' },
      'rejected at last test',
      4,
    ],
    [{}, { keyCreatedAt: '2026-08-01T00:00:00.000Z' }, 'key older than 90 days', 0],
  ])('%j %j → %s (exit %i)', (over, fields, status, code) => {
    const result = connectionStatus({ ...connection, ...fields }, facts(over));
    expect(result).toBe(status);
    expect(STATUS_EXIT_CODE[result]).toBe(code);
  });
});
