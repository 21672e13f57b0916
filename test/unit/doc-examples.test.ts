import { describe, expect, it } from 'vitest';
import { programSpec } from '../../src/commands/completion.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import { buildProgram } from '../../src/program.js';
import { bufferedIO } from '../../src/ui/io.js';
import {
  RUN,
  NOT_OURS,
  blocksOf,
  checkInvocation,
  commandLines,
  docFiles,
  invocations,
  isRun,
  readDoc,
  shellWords,
} from '../support/doc-examples.js';

// Every shell example of README.md and docs/*.md is either run by a test (RUN: readme-examples and
// github-actions-example run those blocks against moto) or checked here to be a valid command line of
// this CLI: a command of the Commander tree, options it or the program takes (with their values), as
// many operands as it accepts. Project commands (`npm run X`) must name a script of package.json. A line
// that is neither fails, unless NOT_OURS says why it may stay.

const spec = programSpec(await buildProgram(createContext(defaultGlobals(), { io: bufferedIO(), env: {} })));
const scripts = Object.keys((JSON.parse(readDoc('package.json')) as { scripts: Record<string, string> }).scripts);

/** What is wrong with an npm command of an example (`npm ci`, `npm test`, `npm link`, `npm run X`). */
function checkNpm(words: string[]): string[] {
  const [sub, arg] = words;
  if (['ci', 'test', 'link', 'pack'].includes(sub!)) return [];
  if (sub === 'run') return scripts.includes(arg!) ? [] : [`no npm script ${arg}`];
  if (sub === 'audit') return [];
  return [`npm ${sub}: not a command of this project`];
}

/** The problems of one example line; empty when it is a valid command line. */
function check(line: string): string[] {
  if (NOT_OURS.has(line.replace(/\s+#.*$/, ''))) return [];
  const problems: string[] = [];
  const segments: string[][] = [[]];
  for (const word of shellWords(line)) {
    if (['&&', '||', ';'].includes(word)) segments.push([]);
    else segments[segments.length - 1]!.push(word);
  }
  const npm = segments.filter((s) => s[0] === 'npm');
  for (const s of npm) problems.push(...checkNpm(s.slice(1)));
  const ours = invocations(line);
  for (const words of ours) problems.push(...checkInvocation(words, spec));
  if (ours.length === 0 && npm.length !== segments.length)
    problems.push('neither run by a test nor a command line of datablast-aws');
  return problems;
}

const examples = docFiles().flatMap((file) =>
  blocksOf(file)
    .filter((b) => !isRun(b))
    .flatMap((b) => commandLines(b).map((line) => [`${file} ${b.heading}`, line] as const)),
);

describe('the examples of README.md and docs/', () => {
  it('are many (the extraction works)', () => {
    expect(examples.length).toBeGreaterThan(40);
  });

  it.each(examples)('%s: %s', (_where, line) => {
    expect(check(line)).toEqual([]);
  });

  it('RUN names blocks that exist', () => {
    for (const run of RUN) {
      const found = blocksOf(run.file).filter((b) => b.heading === run.heading && run.langs.includes(b.lang));
      expect(found.length, `${run.file} ${run.heading}`).toBeGreaterThan(0);
    }
  });

  it('the checker refuses what is not a valid command line', () => {
    expect(check('datablast-aws rotate --al')).not.toEqual([]);
    expect(check('datablast-aws lst')).not.toEqual([]);
    expect(check('datablast-aws show')).not.toEqual([]);
    expect(check('datablast-aws list --wide extra')).not.toEqual([]);
    expect(check('datablast-aws rotate --older-than')).not.toEqual([]);
    expect(check('curl https://example.com')).not.toEqual([]);
    expect(check('npm run nothing-like-it')).not.toEqual([]);
    expect(check('eval "$(datablast-aws env "AWS Production" --shell fish)"')).toEqual([]);
    expect(check('datablast-aws env prod --json | jq -r .x > .env')).toEqual([]);
  });
});
