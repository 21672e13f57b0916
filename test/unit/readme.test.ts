import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programSpec } from '../../src/commands/completion.js';
import { createContext } from '../../src/context.js';
import { buildProgram } from '../../src/program.js';
import { bufferedIO } from '../../src/ui/io.js';

// The README's "Command reference" is checked against the Commander tree that --help prints, both ways:
// every command and flag is documented, and nothing documented there is gone from the tree.
// `node scripts/command-reference.mjs --readme` (after `npm run build`) regenerates the section.

const README = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
const spec = programSpec(
  await buildProgram(
    createContext(
      {
        json: false,
        input: false,
        color: false,
        profile: undefined,
        region: undefined,
        endpointUrl: undefined,
        debug: false,
      },
      { io: bufferedIO(), env: {} },
    ),
  ),
);

/** The text from a heading to the next heading of the same or a higher level. */
function sectionAt(text: string, heading: RegExp): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return undefined;
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

const reference = sectionAt(README, /^## Command reference\s*$/) ?? '';
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `--flag` written as a word: not part of a longer flag. */
const mentions = (text: string, flag: string) =>
  new RegExp(`(^|[^A-Za-z0-9-])${escape(flag)}(?![A-Za-z0-9-])`).test(text);

describe('README.md command reference', () => {
  it('exists as a "## Command reference" section', () => {
    expect(
      reference,
      'README.md needs a "## Command reference" section: node scripts/command-reference.mjs --readme',
    ).not.toBe('');
  });

  it('mentions every global flag before the first command', () => {
    const preamble = reference.split(/\n### /)[0]!;
    const missing = spec.globalFlags.filter((f) => !mentions(preamble, f.names[0]!)).map((f) => f.names[0]);
    expect(missing).toEqual([]);
  });

  it.each(spec.commands.map((c) => [c.name, c] as const))(
    'has a heading for %s that mentions each of its flags',
    (name, command) => {
      const section = sectionAt(reference, new RegExp(`^###+ .*\`${escape(name)}(\`| )`));
      expect(section, `no "### \`${name} …\`" heading in the Command reference`).toBeDefined();
      const missing = command.flags.filter((f) => !mentions(section!, f.names[0]!)).map((f) => f.names[0]);
      expect(missing).toEqual([]);
    },
  );

  it('documents no command that does not exist', () => {
    const headings = [...reference.matchAll(/^###+ `([a-z][a-z-]*)/gm)].map((m) => m[1]);
    expect(headings.filter((h) => !spec.commands.some((c) => c.name === h))).toEqual([]);
  });

  it('documents no flag that does not exist', () => {
    const known = new Set([...spec.globalFlags, ...spec.commands.flatMap((c) => c.flags)].flatMap((f) => f.names));
    const written = new Set([...reference.matchAll(/(?<![A-Za-z0-9-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
    expect([...written].filter((flag) => !known.has(flag))).toEqual([]);
  });
});
