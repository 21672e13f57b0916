import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { commandLineWord } from '../../src/domain/aws-config.js';

// The credential_process line is run by `sh -c` (the AWS SDKs for JavaScript, Go, Rust) and split by
// Python's shlex (the AWS CLI). A quoted connection name must come back as itself from both.

/** Printable names of 1–64 characters, rich in the characters shells treat specially. */
const names = fc
  .array(
    fc.oneof(
      fc.constantFrom(...' "\'\\$`#;&|<>(){}[]*?!~=%^,:@'),
      fc.constantFrom('a', 'B', '7', '-', '.', '_', 'é', '生'),
      fc.string({ minLength: 1, maxLength: 1 }).filter((c) => /^[\x20-\x7e]$/.test(c)),
    ),
    { minLength: 1, maxLength: 64 },
  )
  .map((chars) => chars.join('').trim())
  .filter((name) => name.length > 0);

const SAMPLES = [
  'AWS Production',
  'say "hi"',
  "it's",
  'back\\slash',
  'ends\\',
  'cost $5',
  '$HOME',
  '$(touch /tmp/pwned)',
  'tick`id`',
  'team #1',
  'a ;b',
  'a & b | c > d',
  '*',
  '~root',
  '!!',
  'x'.repeat(64),
  ...fc.sample(names, { numRuns: 300, seed: 8 }),
];

/** What `sh -c "printf '%s\n' WORD"` prints for each word, in one shell. */
function throughSh(words: string[]): string[] {
  const script = words.map((w) => `printf '%s\\n' ${w}`).join('\n');
  return execFileSync('sh', ['-c', script], { encoding: 'utf8', cwd: '/' }).split('\n').slice(0, -1);
}

/** What Python's shlex.split (the AWS CLI's split of credential_process) makes of each word. */
function throughShlex(words: string[]): string[][] {
  const program = 'import json,shlex,sys\nprint(json.dumps([shlex.split(w) for w in json.load(sys.stdin)]))';
  return JSON.parse(
    execFileSync('python3', ['-c', program], { input: JSON.stringify(words), encoding: 'utf8' }),
  ) as string[][];
}

describe('a connection name quoted for credential_process', () => {
  const words = SAMPLES.map((name) => commandLineWord(name));

  it('comes back as itself from sh -c, with nothing expanded or run', () => {
    expect(throughSh(words)).toEqual(SAMPLES);
  });

  it("comes back as one argument, itself, from the AWS CLI's shlex split", () => {
    expect(throughShlex(words)).toEqual(SAMPLES.map((name) => [name]));
  });

  it('never shows an INI parser a comment: no # or ; right after a space', () => {
    for (const word of words) expect(word).not.toMatch(/\s[#;]/);
  });
});
