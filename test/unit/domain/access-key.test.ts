import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  accountIdFromAccessKeyId,
  isRootArn,
  maskAccessKeyId,
  normalizeKeyPair,
  userNameFromArn,
  validateAccessKeyId,
  validateRegion,
  validateSecretAccessKey,
} from '../../../src/domain/access-key.js';
import { UsageError } from '../../../src/errors.js';

// AWS's documented example pair.
const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function errorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

/** Builds a synthetic key id carrying `account` the way AWS encodes it (the inverse of the decoder). */
function syntheticKeyFor(account: bigint, prefix = 'AKIA', tail = 0n): string {
  // 80 bits: top bit set, 40-bit account, 7 low bits and 32 more bits of "tail".
  const bits = (((1n << 47n) | (account << 7n)) << 32n) | tail;
  let out = '';
  for (let shift = 75n; shift >= 0n; shift -= 5n) out += BASE32[Number((bits >> shift) & 31n)];
  return prefix + out;
}

describe('validateAccessKeyId', () => {
  it.each([ID, 'ASIAIOSFODNN7EXAMPLE', 'AKIA' + 'A'.repeat(16), 'AKIA' + '2'.repeat(16)])('accepts %s', (id) => {
    expect(validateAccessKeyId(id)).toBe(id);
  });

  const cases: Array<[string, string, string]> = [
    ['empty', '', 'is empty'],
    ['lower-case whole id', 'akiaiosfodnn7example', 'lower-case letters'],
    ['one lower-case letter', 'AKIAIOSFODNn7EXAMPLE', 'lower-case letters'],
    ['digit 0 for O', 'AKIAI0SFODNN7EXAMPLE', 'character 6 is the digit 0'],
    ['digit 0 suggests O', 'AKIAI0SFODNN7EXAMPLE', 'letter O'],
    ['digit 1 for I', 'AKIA1OSFODNN7EXAMPLE', 'did you mean the letter I'],
    ['digit 8 for B', 'AKIAIOSFODNN8EXAMPLE', 'did you mean the letter B'],
    ['digit 9', 'AKIAIOSFODNN9EXAMPLE', 'the digit 9'],
    ['inner space', 'AKIAIOSF ODNN7EXAMPLE', 'whitespace at character 9'],
    ['inner tab', 'AKIAIOSF\tODNN7EXAMPLE', 'whitespace at character 9'],
    ['inner newline', 'AKIAIOSFODNN\n7EXAMPLE', 'whitespace at character 13'],
    ['leading space', ' AKIAIOSFODNN7EXAMPLE', 'starts or ends with whitespace'],
    ['trailing newline', 'AKIAIOSFODNN7EXAMPLE\n', 'starts or ends with whitespace'],
    ['double quotes', '"AKIAIOSFODNN7EXAMPLE"', 'quote characters'],
    ['single quotes', "'AKIAIOSFODNN7EXAMPLE'", 'quote characters'],
    ['smart quotes', '\u201cAKIAIOSFODNN7EXAMPLE\u201d', 'quote characters'],
    ['too short', 'AKIAIOSFODNN7EXAMPL', '19 characters long; it should be 20'],
    ['too long', 'AKIAIOSFODNN7EXAMPLEE', '21 characters long; it should be 20'],
    ['prefix only', 'AKIA', '4 characters long'],
    ['a secret pasted in', SECRET, 'looks like a secret access key'],
    ['a secret with a newline pasted in', `${SECRET}\n`, 'looks like a secret access key'],
    ['user id', 'AIDAIOSFODNN7EXAMPLE', 'an IAM user id'],
    ['role id', 'AROAIOSFODNN7EXAMPLE', 'an IAM role id'],
    ['group id', 'AGPAIOSFODNN7EXAMPLE', 'an IAM group id'],
    ['unknown prefix', 'BKIAIOSFODNN7EXAMPLE', 'must start with AKIA'],
    ['hyphen', 'AKIAIOSFODNN-EXAMPLE', 'a hyphen'],
    ['underscore', 'AKIAIOSFODNN_EXAMPLE', 'an underscore'],
    ['cyrillic A', 'AKIAIOSFODNN7EX\u0410MPLE', 'U+0410'],
    ['zero-width space', 'AKIAIOSFODNN7\u200bEXAMPLE', 'U+200B'],
    ['slash', 'AKIAIOSFODNN/EXAMPLE', 'a slash'],
    ['plus', 'AKIAIOSFODNN+EXAMPLE', 'a plus sign'],
    ['equals', 'AKIAIOSFODNN=EXAMPLE', 'an equals sign'],
    ['a label pasted with it', 'Access key ID: AKIAIOSFODNN7EXAMPLE', 'Did you mean AKIAIOSFODNN7EXAMPLE?'],
    ['two ids pasted', 'AKIAIOSFODNN7EXAMPLE,AKIAIOSFODNN7EXAMPLE', 'other text around'],
    ['a different prefix word', 'KEY-IOSFODNN7EXAMPLE', 'must start with AKIA'],
  ];
  it.each(cases)('rejects %s', (_label, raw, fragment) => {
    const error = errorOf(() => validateAccessKeyId(raw));
    expect(error.message).toContain('--access-key-id');
    expect(`${error.message}\n${error.hint}`).toContain(fragment);
    expect(error.exitCode).toBe(2);
  });

  it('suggests the upper-case id for a lower-case one', () => {
    expect(errorOf(() => validateAccessKeyId(ID.toLowerCase())).hint).toBe(`Did you mean ${ID}?`);
  });

  it('never quotes a long value that may be secret', () => {
    const long = `${SECRET}-x`;
    const error = errorOf(() => validateAccessKeyId(long));
    expect(`${error.message} ${error.hint}`).not.toContain(SECRET.slice(0, 8));
  });
});

describe('validateSecretAccessKey', () => {
  it('accepts the documented example', () => {
    expect(validateSecretAccessKey(SECRET)).toBe(SECRET);
  });

  const cases: Array<[string, string, string]> = [
    ['empty', '', 'is empty'],
    ['too short', SECRET.slice(0, 39), '39 characters long; it should be 40'],
    ['too long', SECRET + 'A', '41 characters long; it should be 40'],
    ['inner space', SECRET.slice(0, 20) + ' ' + SECRET.slice(21), 'whitespace at character 21'],
    ['line break from a wrapped line', SECRET.slice(0, 20) + '\n' + SECRET.slice(20), 'whitespace at character 21'],
    ['trailing newline', SECRET + '\n', 'starts or ends with whitespace'],
    ['quoted', `"${SECRET}"`, 'quote characters'],
    ['hyphen', SECRET.slice(0, 10) + '-' + SECRET.slice(11), 'character 11 of the secret access key is a hyphen'],
    ['equals padding', SECRET.slice(0, 39) + '=', 'an equals sign'],
    ['non-ASCII', SECRET.slice(0, 5) + '\u00e9' + SECRET.slice(6), 'U+00E9'],
    ['a key id pasted in', ID, 'this is an access key id'],
    ['a lower-case key id pasted in', ID.toLowerCase(), 'this is an access key id'],
  ];
  it.each(cases)('rejects %s without quoting it', (_label, raw, fragment) => {
    const error = errorOf(() => validateSecretAccessKey(raw));
    expect(error.message).toContain('secret access key');
    expect(error.message).toContain(fragment);
    for (let i = 0; i + 6 <= SECRET.length; i++)
      expect(`${error.message} ${error.hint}`).not.toContain(SECRET.slice(i, i + 6));
  });
});

describe('normalizeKeyPair', () => {
  it('trims surrounding whitespace and says so without echoing the secret', () => {
    const { pair, notes } = normalizeKeyPair({ accessKeyId: ` ${ID}\n`, secretAccessKey: `\t${SECRET}\r\n` });
    expect(pair).toEqual({ accessKeyId: ID, secretAccessKey: SECRET });
    expect(notes).toEqual([
      'removed whitespace around the access key id',
      'removed whitespace around the secret access key',
    ]);
    expect(notes.join(' ')).not.toContain(SECRET);
  });

  it('adds no note for a clean pair', () => {
    expect(normalizeKeyPair({ accessKeyId: ID, secretAccessKey: SECRET }).notes).toEqual([]);
  });

  it('still rejects inner whitespace after trimming', () => {
    expect(() =>
      normalizeKeyPair({ accessKeyId: ID, secretAccessKey: ` ${SECRET.slice(0, 4)} ${SECRET.slice(5)} ` }),
    ).toThrow(/whitespace at character 5/);
  });
});

describe('maskAccessKeyId', () => {
  it('keeps the first and last four characters', () => {
    expect(maskAccessKeyId(ID)).toBe('AKIA************MPLE');
  });
  it('masks short values entirely', () => {
    expect(maskAccessKeyId('AKIA1234')).toBe('********');
  });
});

describe('accountIdFromAccessKeyId', () => {
  it('decodes a key id built by an independent encoder (Python base64.b32encode)', () => {
    expect(accountIdFromAccessKeyId('AKIARZPUZDIKAAAAAAAA')).toBe('123456789012');
  });
  it('is undefined for keys that predate the encoding, like the documented example', () => {
    expect(accountIdFromAccessKeyId(ID)).toBeUndefined();
  });
  it('is undefined for malformed ids', () => {
    expect(accountIdFromAccessKeyId('AKIA')).toBeUndefined();
    expect(accountIdFromAccessKeyId(SECRET)).toBeUndefined();
  });
  it('pads short account ids to 12 digits', () => {
    expect(accountIdFromAccessKeyId(syntheticKeyFor(42n))).toBe('000000000042');
  });
  it('round-trips every account id, for AKIA and ASIA keys', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 999_999_999_999n }),
        fc.constantFrom('AKIA', 'ASIA'),
        fc.bigInt({ min: 0n, max: (1n << 39n) - 1n }),
        (account, prefix, tail) => {
          const id = syntheticKeyFor(account, prefix, tail);
          expect(validateAccessKeyId(id)).toBe(id);
          expect(accountIdFromAccessKeyId(id)).toBe(account.toString().padStart(12, '0'));
        },
      ),
    );
  });
});

describe('validateRegion', () => {
  it.each([
    'us-east-1',
    'eu-central-2',
    'us-gov-west-1',
    'cn-north-1',
    'ap-southeast-4',
    'il-central-1',
    'us-isob-east-1',
    'ca-west-1',
  ])('accepts %s', (region) => {
    expect(validateRegion(region)).toBe(region);
  });
  it.each([
    ['', 'is empty'],
    ['US-EAST-1', 'Did you mean us-east-1?'],
    ['us-east-1a', 'availability zone'],
    [' us-east-1', 'Did you mean us-east-1?'],
    ['us-east', 'not an AWS region name'],
    ['frankfurt', 'not an AWS region name'],
    ['global', 'not an AWS region name'],
  ])('rejects %j with an example', (region, fragment) => {
    const error = errorOf(() => validateRegion(region));
    expect(error.message).toContain('--region');
    expect(`${error.message} ${error.hint}`).toContain(fragment);
  });
  it('names the source of the value', () => {
    expect(errorOf(() => validateRegion('nowhere', 'AWS_REGION')).message).toContain('AWS_REGION');
  });
});

describe('ARNs', () => {
  it.each([
    ['arn:aws:iam::123456789012:user/datablast', 'datablast'],
    ['arn:aws:iam::123456789012:user/path/to/datablast', 'datablast'],
    ['arn:aws-cn:iam::123456789012:user/cn-user', 'cn-user'],
    ['arn:aws:iam::123456789012:root', undefined],
    ['arn:aws:sts::123456789012:assumed-role/Admin/session', undefined],
  ])('userNameFromArn(%s) = %s', (arn, expected) => {
    expect(userNameFromArn(arn)).toBe(expected);
  });
  it('recognises a root ARN', () => {
    expect(isRootArn('arn:aws:iam::123456789012:root')).toBe(true);
    expect(isRootArn('arn:aws:iam::123456789012:user/root')).toBe(false);
  });
});

describe('properties', () => {
  it('throws nothing but UsageError for any key id input', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.stringMatching(/^[A-Z0-9a-z ]{15,25}$/)),
        (raw) => {
          try {
            validateAccessKeyId(raw);
          } catch (error) {
            expect(error).toBeInstanceOf(UsageError);
          }
        },
      ),
    );
  });

  it('throws nothing but UsageError for any secret input', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.stringMatching(/^[A-Za-z0-9/+ =-]{35,45}$/)),
        (raw) => {
          try {
            validateSecretAccessKey(raw);
          } catch (error) {
            expect(error).toBeInstanceOf(UsageError);
          }
        },
      ),
    );
  });

  it('accepts every well-formed key id', () => {
    fc.assert(
      fc.property(fc.constantFrom('AKIA', 'ASIA'), fc.stringMatching(/^[A-Z2-7]{16}$/), (prefix, rest) => {
        expect(validateAccessKeyId(prefix + rest)).toBe(prefix + rest);
      }),
    );
  });

  it('never puts the secret in an error message, whatever is wrong with it', () => {
    const secretish = fc.stringMatching(/^[A-Za-z0-9/+]{40}$/);
    const mutated = fc
      .tuple(secretish, fc.nat(41), fc.constantFrom(' ', '\n', '-', '"', '=', '\u00e9', 'XX', ''))
      .map(([s, at, insert]) => s.slice(0, at) + insert + s.slice(at + (insert === '' ? 1 : 0)));
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string({ minLength: 12 })), (secret) => {
        for (const check of [
          () => validateSecretAccessKey(secret),
          () => normalizeKeyPair({ accessKeyId: ID, secretAccessKey: secret }),
        ]) {
          try {
            check();
          } catch (error) {
            const e = error as UsageError;
            expect(`${e.message}\n${e.hint ?? ''}`).not.toContain(secret);
            const head = secret.trim().slice(0, 12);
            if (head.length === 12) expect(`${e.message}\n${e.hint ?? ''}`).not.toContain(head);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
