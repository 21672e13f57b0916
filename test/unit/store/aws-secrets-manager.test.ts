import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeName,
  describe as summaryOf,
  encodeName,
  validatePrefix,
} from '../../../src/store/aws-secrets-manager.js';
import { UsageError } from '../../../src/errors.js';

describe('connection names as secret names', () => {
  it.each([
    ['prod', 'prod'],
    ['AWS Production', 'AWS=20Production'],
    ['a/b+c=d', 'a=2Fb=2Bc=3Dd'],
    ['Zürich', 'Z=C3=BCrich'],
    // A hyphen and six characters at the end is what AWS reads as an ARN's random suffix.
    ['team-abcdef', 'team=2Dabcdef'],
    ['team-abcde', 'team-abcde'],
  ])('encodes %j as %j and back', (name, encoded) => {
    expect(encodeName(name)).toBe(encoded);
    expect(decodeName(encoded)).toBe(name);
  });

  it("every name round-trips, and every encoding stays in Secrets Manager's alphabet", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), (name) => {
        const encoded = encodeName(name);
        expect(encoded).toMatch(/^[A-Za-z0-9/_+=.@-]+$/);
        expect(encoded).not.toMatch(/-[^-]{6}$/);
        expect(decodeName(encoded)).toBe(name);
      }),
    );
  });

  it('refuses suffixes encodeName never writes', () => {
    for (const text of ['a b', 'a=2', 'a=zz', 'a=2d', 'x=2Dy', 'team-abcdef']) expect(decodeName(text)).toBeUndefined();
  });

  it('refuses a prefix outside the alphabet', () => {
    expect(() => validatePrefix('datablast aws/')).toThrow(UsageError);
    expect(validatePrefix('team/datablast-aws/')).toBe('team/datablast-aws/');
  });
});

describe('the description summary', () => {
  it('fits in 2048 characters for the largest connection validation allows', () => {
    const text = summaryOf(
      {
        format: 'datablast-aws/connection@1',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'x',
        connection: {
          name: '"'.repeat(64),
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          accountId: '123456789012',
          arn: `arn:aws-us-gov:iam::123456789012:${'u'.repeat(512)}`,
          userName: 'u'.repeat(64),
          region: 'ap-southeast-5',
          description: '"'.repeat(256),
          createdAt: '2026-01-01T00:00:00.123456789+00:00',
          keyCreatedAt: '2026-01-01T00:00:00.123456789+00:00',
          lastTestedAt: '2026-01-01T00:00:00.123456789+00:00',
          lastRotatedAt: '2026-01-01T00:00:00.123456789+00:00',
          services: Array(100).fill('s3'),
        },
      },
      '01234567-89ab-cdef-0123-456789abcdef',
    );
    expect(text.length).toBeLessThan(2048);
    expect(text).not.toContain('secretAccessKey');
    expect(text).not.toContain('services');
  });

  it('with a claim and a journal too, gives them up to markers rather than refusing the write', () => {
    const connection = {
      name: '"'.repeat(64),
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      arn: `arn:aws-us-gov:iam::123456789012:${'u'.repeat(512)}`,
      region: 'ap-southeast-5',
      description: '"'.repeat(256),
      accountId: '123456789012',
      userName: 'u'.repeat(64),
      createdAt: '2026-01-01T00:00:00.123456789+00:00',
      keyCreatedAt: '2026-01-01T00:00:00.123456789+00:00',
      lastTestedAt: '2026-01-01T00:00:00.123456789+00:00',
      lastRotatedAt: '2026-01-01T00:00:00.123456789+00:00',
    };
    const at = '2026-01-01T00:00:00.000Z';
    const claim = { token: 'abcdef01-2345', host: 'h'.repeat(253), pid: 4194304, since: at, expiresAt: at };
    const rotation = {
      version: 1 as const,
      connection: connection.name,
      phase: 'created' as const,
      startedAt: at,
      updatedAt: at,
      userName: 'u'.repeat(64),
      oldAccessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      newAccessKeyId: 'AKIAI44QH8DHBEXAMPLE',
      keysBefore: ['AKIAIOSFODNN7EXAMPLE'],
      keepOld: false,
    };
    const version = '01234567-89ab-cdef-0123-456789abcdef';
    const text = summaryOf(
      {
        format: 'datablast-aws/connection@1',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'x',
        connection,
        claim,
        rotation,
      },
      version,
    );
    expect(text.length).toBeLessThanOrEqual(2048);
    expect(JSON.parse(text)).toMatchObject({ claim: 'in-value', rotation: 'in-value' });
    // A small connection keeps both in the summary.
    const small = { ...connection, name: 'prod', arn: undefined, description: undefined };
    const full = JSON.parse(
      summaryOf({ format: 'datablast-aws/connection@1', connection: small, claim, rotation }, version),
    );
    expect(full).toMatchObject({ claim: { host: claim.host }, rotation: { phase: 'created' } });
  });
});
