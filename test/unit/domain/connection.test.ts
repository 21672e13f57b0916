import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { validateConnectionName, validateStoredConnectionName } from '../../../src/domain/connection.js';

describe('validateConnectionName', () => {
  it.each(['prod', 'AWS Production', 'Team $(touch X)', 'équipe données', '生产', 'a-b', 'x'.repeat(64), 'ok 👍'])(
    'accepts %j',
    (name) => {
      expect(validateConnectionName(name)).toBe(name);
    },
  );

  it.each([
    ['a right-to-left override (U+202E)', 'prod\u202Eexe.txt'],
    ['a zero-width space (U+200B)', 'pro\u200Bd'],
    ['a byte order mark (U+FEFF)', 'pro\uFEFFd'],
    ['a left-to-right isolate (U+2066)', 'a\u2066b'],
    ['a right-to-left mark (U+200F)', 'a\u200Fb'],
    ['a word joiner (U+2060)', 'a\u2060b'],
    ['a soft hyphen (U+00AD)', 'pro\u00ADd'],
    ['a Hangul filler (U+3164)', 'a\u3164b'],
    ['a private-use character (U+E000)', 'a\uE000b'],
  ])('refuses a name with %s (exit 2)', (_what, name) => {
    expect(() => validateConnectionName(name)).toThrow(UsageError);
    expect(() => validateConnectionName(name)).toThrow(/invisible or text-direction character/);
  });

  it.each(['-x', '--force', '- prod'])(
    'refuses %j: a leading dash reads as an option in every command line naming it',
    (name) => {
      expect(() => validateConnectionName(name)).toThrow(/starts with "-"/);
    },
  );
});

describe('validateStoredConnectionName', () => {
  it.each(['-x', 'pro\u200Bd', 'prod\u202Eexe'])(
    'still accepts %j, made before new names were checked more strictly: it stays usable',
    (name) => {
      expect(validateStoredConnectionName(name)).toBe(name);
    },
  );

  it.each(['', ' prod', 'a\nb', 'x'.repeat(65)])('refuses %j as always', (name) => {
    expect(() => validateStoredConnectionName(name)).toThrow(UsageError);
  });
});
