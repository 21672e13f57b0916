import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ProgramSpec } from '../../src/commands/completion.js';

// The shell examples of README.md and docs/*.md, for the tests that keep them honest: every example is
// either run by a test (RUN lists where; test/e2e/readme-examples.test.ts and
// github-actions-example.test.ts run them) or checked to be a valid command line of this CLI
// (test/unit/doc-examples.test.ts, with checkCommandLine).

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** README.md and every Markdown file of docs/, relative to ROOT. */
export function docFiles(): string[] {
  return [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

/** The text of one documentation file. */
export function readDoc(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8');
}

/** One fenced code block: where it is, its language and its text. */
export interface Block {
  file: string;
  /** The nearest heading above it, e.g. `## Quick start`. */
  heading: string;
  lang: string;
  text: string;
}

/** Every fenced block of a file, with the heading it is under (a `#` line inside a block is no heading). */
export function blocksOf(file: string): Block[] {
  const out: Block[] = [];
  let heading = '';
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of readDoc(file).split('\n')) {
    if (open) {
      if (line.startsWith('```')) {
        out.push({ file, heading, lang: open.lang, text: open.lines.join('\n') });
        open = undefined;
      } else open.lines.push(line);
    } else if (line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
    else if (/^#+ /.test(line)) heading = line;
  }
  return out;
}

/** The text of the section under `heading` in `file`, with its subsections. */
export function section(file: string, heading: string): string {
  const lines = readDoc(file).split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`${file} has no section "${heading}"`);
  const level = /^#+/.exec(heading)![0].length;
  let fenced = false;
  let end = start + 1;
  for (; end < lines.length; end++) {
    if (lines[end]!.startsWith('```')) fenced = !fenced;
    else if (!fenced && new RegExp(`^#{1,${level}} `).test(lines[end]!)) break;
  }
  return lines.slice(start + 1, end).join('\n');
}

/** The fenced blocks of one language in a piece of text. */
export function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** The command lines of a block: every line of a shell block, the `$ `/`> ` lines of a transcript. */
export function commandLines(block: Block): string[] {
  const shell = ['sh', 'bash', 'shell'].includes(block.lang);
  const transcript = ['console', 'text', ''].includes(block.lang);
  if (!shell && !transcript) return [];
  const out: string[] = [];
  let continued = false;
  for (const raw of block.text.split('\n')) {
    const line = raw.trim();
    if (continued) out[out.length - 1] = `${out[out.length - 1]!.slice(0, -1)} ${line}`;
    else if (shell && line !== '' && !line.startsWith('#')) out.push(line);
    else if (transcript && /^[$>] /.test(line)) out.push(line.slice(2));
    else continue;
    continued = out[out.length - 1]!.endsWith('\\');
  }
  return out;
}

/** The blocks that a test runs for real, and the test that does. Every other example is checked instead. */
export const RUN: ReadonlyArray<{ file: string; heading: string; langs: string[]; by: string }> = [
  { file: 'README.md', heading: '## Quick start', langs: ['sh'], by: 'readme-examples.test.ts' },
  {
    file: 'docs/usage.md',
    heading: '### `add-connection NAME`',
    langs: ['sh'],
    by: 'readme-examples.test.ts',
  },
  {
    file: 'docs/usage.md',
    heading: '### `credential-process NAME`, `env NAME`',
    langs: ['console'],
    by: 'readme-examples.test.ts',
  },
  {
    file: 'docs/usage.md',
    heading: '### Scheduling it (the file secret store)',
    langs: ['sh', 'crontab', 'ini'],
    by: 'readme-examples.test.ts',
  },
  {
    file: 'docs/usage.md',
    heading: '### Use a stored connection from the AWS CLI and every AWS SDK',
    langs: ['sh'],
    by: 'readme-examples.test.ts',
  },
  {
    file: 'docs/usage.md',
    heading: '### CI: GitHub Actions with `--no-input` and the file store',
    langs: ['yaml'],
    by: 'github-actions-example.test.ts',
  },
];

/** True when a test runs this block (RUN). */
export function isRun(block: Block): boolean {
  return RUN.some((r) => r.file === block.file && r.heading === block.heading && r.langs.includes(block.lang));
}

/**
 * Lines that are no command of ours and are not run, each with the reason it may stay. Keep it short:
 * an example that is neither run nor a command of this CLI should be made one or the other.
 */
export const NOT_OURS: ReadonlyMap<string, string> = new Map([
  ['echo $?', "a transcript showing the previous command's exit code"],
  [
    'aws sts get-caller-identity --profile datablast',
    "the AWS CLI reading a credential_process profile: the same call as the export-profile section's, which is run",
  ],
  [
    'aws sts get-caller-identity --profile datablast-aws-production',
    "the AWS CLI reading the exported profile: the same call as the section's sh block, which is run",
  ],
  ['journalctl --user -u datablast-aws-rotate', 'systemd reading the unit the scheduling section verifies and runs'],
]);

/** Splits a command line into shell words (quotes removed), keeping operators (`&&`, `|`, `;`) as words. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      const stop = end < 0 ? line.length : end;
      word = (word ?? '') + line.slice(i + 1, stop);
      i = stop;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break; // a comment
    } else if ('|&;'.includes(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      const op = line.slice(i, i + 2) === '&&' || line.slice(i, i + 2) === '||' ? line.slice(i, i + 2) : c;
      words.push(op);
      i += op.length - 1;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The invocations of datablast-aws in a line: each as its words after the program name. */
export function invocations(line: string): string[][] {
  // `eval "$(datablast-aws env X)"` (sh) and `eval (datablast-aws env X --shell fish)` (fish): the inner command.
  const inner = [...line.matchAll(/\$?\((\s*(?:\S*\/)?datablast-aws\b[^()]*)\)/g)].map((m) => m[1]!);
  const outer = line.replace(/\$?\((\s*(?:\S*\/)?datablast-aws\b[^()]*)\)/g, 'X');
  const out: string[][] = [];
  for (const text of [...inner, outer]) {
    let segment: string[] = [];
    for (const word of [...shellWords(text), ';']) {
      if (['&&', '||', '|', ';'].includes(word)) {
        const start = segment.findIndex((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w));
        const program = segment[start];
        if (program && /(^|\/)datablast-aws(\.js)?$/.test(program)) {
          // Redirections end the command's own words.
          out.push(
            segment.slice(start + 1).filter((w, i, all) => !/^\d?>>?/.test(w) && !/^\d?>>?$/.test(all[i - 1] ?? '')),
          );
        }
        segment = [];
      } else segment.push(word);
    }
  }
  return out;
}

/** What is wrong with one invocation of datablast-aws (its words after the program), per the command tree. */
export function checkInvocation(words: string[], spec: ProgramSpec): string[] {
  const problems: string[] = [];
  const flagOf = (flags: ProgramSpec['globalFlags'], name: string) => flags.find((f) => f.names.includes(name));
  let command: ProgramSpec['commands'][number] | undefined;
  const operands: string[] = [];
  let help = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word.startsWith('-') && word !== '-') {
      const [name, value] = word.split(/=(.*)/s) as [string, string | undefined];
      const flag = flagOf(spec.globalFlags, name) ?? (command ? flagOf(command.flags, name) : undefined);
      if (!flag) {
        problems.push(`unknown option ${name}${command ? ` for ${command.name}` : ''}`);
        continue;
      }
      if (flag.names.includes('--help') || flag.names.includes('--version')) help = true;
      if (flag.takesValue && value === undefined) {
        if (i + 1 >= words.length) problems.push(`${name} needs a value`);
        i += 1;
      }
    } else if (!command) {
      command = spec.commands.find((c) => c.name === word);
      if (!command) problems.push(`no command ${word}`);
    } else operands.push(word);
  }
  if (!command) {
    if (!help) problems.push('no command');
    return problems;
  }
  const required = command.args.filter((a) => a.required).length;
  const all = words.includes('--all');
  if (operands.length > command.args.length) problems.push(`${command.name} takes ${command.args.length} operand(s)`);
  if (operands.length < required && !help && !all) problems.push(`${command.name} needs ${required} operand(s)`);
  return problems;
}
