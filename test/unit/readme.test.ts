import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { programSpec } from '../../src/commands/completion.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import { buildProgram } from '../../src/program.js';
import { bufferedIO } from '../../src/ui/io.js';
import { commandReference, manPage } from '../../scripts/lib/command-docs.mjs';

// The command reference and the man page are generated from the Commander definitions, never edited by
// hand: each file must equal what the generator makes of the source tree now, so a --help text changed
// without regenerating fails here. Regenerate with
//   npm run build && node scripts/command-reference.mjs --write && node scripts/man-page.mjs --write
// And the README stays a front door: at most 8 KB, its links to docs/ lead to files that exist.

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const parts = { buildProgram, createContext, defaultGlobals, bufferedIO, programSpec };
const REGENERATE =
  'stale: npm run build && node scripts/command-reference.mjs --write && node scripts/man-page.mjs --write';

describe('generated from the Commander definitions', () => {
  it('docs/command-reference.md is what scripts/command-reference.mjs makes of the commands now', async () => {
    expect(read('docs/command-reference.md'), REGENERATE).toBe(await commandReference(parts));
  });

  it('man/datablast-aws.1 is what scripts/man-page.mjs makes of the commands now, and the package ships it', async () => {
    const pkg = JSON.parse(read('package.json')) as { version: string; man: string[]; files: string[] };
    expect(read('man/datablast-aws.1'), REGENERATE).toBe(await manPage(parts, pkg.version));
    expect(pkg.man).toEqual(['./man/datablast-aws.1']);
    expect(pkg.files).toContain('man/datablast-aws.1');
  });

  it('the reference and the man page have a section for every command and mention every flag', async () => {
    const spec = programSpec(await buildProgram(createContext(defaultGlobals(), { io: bufferedIO(), env: {} })));
    const reference = read('docs/command-reference.md');
    const man = read('man/datablast-aws.1').replace(/\\-/g, '-');
    for (const command of spec.commands) {
      expect(reference).toMatch(new RegExp(`^## \`${command.name}[\` ]`, 'm'));
      expect(man).toMatch(new RegExp(`^\\\\fB${command.name}[\\\\ ]`, 'm'));
      for (const flag of command.flags) {
        expect(reference).toContain(`\`${flag.names[0]}`);
        expect(man).toContain(`\\fB${flag.names[0]}\\fR`);
      }
    }
  });
});

describe('README.md, the front door', () => {
  const readme = read('README.md');

  it('is at most 8 KB', () => {
    expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(8 * 1024);
  });

  it('has no command reference of its own: it links to docs/command-reference.md', () => {
    expect(readme).not.toMatch(/^#+ Command reference/m);
    expect(readme).toContain('docs/command-reference.md');
  });

  it('says how to run the whole suite with the command .ci/run runs', () => {
    expect(readme).toContain('npm ci && npm test');
    expect(read('.ci/run')).toMatch(/^npm ci && npm test$/m);
  });

  it.each(['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`), 'CONTRIBUTING.md'])(
    'every relative link of %s leads to a file that exists',
    (file) => {
      const text = read(file);
      const targets = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
        .map((m) => m[1]!)
        .filter((t) => !/^[a-z]+:/.test(t));
      const missing = targets.filter((t) => !existsSync(join(ROOT, dirname(file), t)));
      expect(missing).toEqual([]);
    },
  );
});
