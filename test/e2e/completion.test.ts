import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';
import { EXAMPLE_ID, EXAMPLE_SECRET } from '../unit/commands/helpers.js';

// The scripts as the built binary prints them, run by the real shells; connection names come from the
// binary on PATH (`datablast-aws __complete connections`), as they would on a user's machine.

let dir: string;
let env: Record<string, string>;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  dir = tempConfigDir('dbaws-completion-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(BIN, join(bin, 'datablast-aws'));
  env = {
    PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: dir,
    LANG: 'C.UTF-8',
    DATABLAST_AWS_CONFIG_DIR: join(dir, 'config'),
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: 'completion test passphrase',
  };
  for (const name of ['AWS Production', 'prod']) {
    const added = await runBin(['add-connection', name, '--access-key-id', EXAMPLE_ID, '--secret-stdin', '--no-test'], {
      env,
      stdin: EXAMPLE_SECRET,
    });
    expect(added.exitCode, added.stderr).toBe(0);
  }
  for (const shell of ['bash', 'zsh', 'fish']) {
    const printed = await runBin(['completion', shell], { env });
    expect(printed.exitCode, printed.stderr).toBe(0);
    scripts[shell] = join(dir, `completion.${shell}`);
    writeFileSync(scripts[shell], printed.stdout);
  }
});

/** COMPREPLY after the bash function ran on these words (the last one is being completed). */
function bash(...words: string[]): string[] {
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _datablast_aws; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return lines(
    execFileSync('bash', ['-c', program, 'bash', scripts.bash!, 'datablast-aws', ...words], { env, encoding: 'utf8' }),
  );
}

/**
 * The candidates the zsh function offers, with zsh's completion builtins (compadd, _describe, _files)
 * replaced by functions that print what they were given: zsh's completion system needs a terminal.
 */
function zsh(...words: string[]): string[] {
  const program = [
    'compadd() { if [[ $1 == -a ]]; then print -rl -- "${(@P)2}"; else shift; print -rl -- "$@"; fi }',
    '_describe() { local -a e; e=("${(@P)4}"); print -rl -- "${(@)e%%:*}" }',
    '_files() { print -r -- "<files>" }',
    'compdef() { }',
    'source "$1"; shift',
    'words=("$@"); CURRENT=${#words}',
    '_datablast_aws',
  ].join('\n');
  return lines(
    execFileSync('zsh', ['-f', '-c', program, 'zsh', scripts.zsh!, 'datablast-aws', ...words], {
      env,
      encoding: 'utf8',
    }),
  );
}

/** What fish itself would offer for this command line (`complete -C`), without descriptions. */
function fish(line: string): string[] {
  const out = execFileSync(
    'fish',
    ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', scripts.fish!, line],
    { env, encoding: 'utf8' },
  );
  return lines(out).map((l) => l.split('\t')[0]!);
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

const COMMANDS = [
  'init',
  'create-user',
  'attach-policy',
  'add-connection',
  'test',
  'rotate',
  'list',
  'show',
  'remove',
  'credential-process',
  'env',
  'export-profile',
  'completion',
];

describe('bash completion', () => {
  it('parses', () => {
    execFileSync('bash', ['-n', scripts.bash!]);
  });

  it('completes the commands after `datablast-aws `, and a prefix to its command', () => {
    expect(bash('')).toEqual(COMMANDS);
    expect(bash('ex')).toEqual(['export-profile']);
  });

  it("completes the command's flags and the global ones after `rotate --`", () => {
    const flags = bash('rotate', '--');
    expect(flags).toEqual(
      expect.arrayContaining(['--all', '--older-than', '--keep-old', '--dry-run', '--json', '--no-input', '--profile']),
    );
    expect(flags.every((f) => f.startsWith('--'))).toBe(true);
    expect(bash('rotate', '--o')).toEqual(['--older-than']);
  });

  it('completes connection names after `show `, escaping the space', () => {
    expect(bash('show', '')).toEqual(['AWS\\ Production', 'prod']);
    expect(bash('show', 'AWS')).toEqual(['AWS\\ Production']);
    expect(bash('show', '"AWS')).toEqual(['AWS Production']);
  });

  it('skips global flags and their values to find the command', () => {
    expect(bash('--region', 'eu-west-1', 'show', 'p')).toEqual(['prod']);
  });

  it('completes only the first argument with a name', () => {
    expect(bash('show', 'prod', '')).toEqual([]);
  });

  it('completes flag values: connections, services, and the shells of completion', () => {
    expect(bash('create-user', 'bob', '--create-key', '--connection', 'p')).toEqual(['prod']);
    expect(bash('test', 'prod', '--service', '')).toEqual(['s3', 'rds', 'lambda']);
    expect(bash('completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });
});

describe('zsh completion', () => {
  it('parses', () => {
    execFileSync('zsh', ['-n', scripts.zsh!]);
  });

  it('completes commands, flags after `rotate --`, and connection names after `show `', () => {
    expect(zsh('')).toEqual(COMMANDS);
    expect(zsh('rotate', '--')).toEqual(expect.arrayContaining(['--all', '--older-than', '--keep-old', '--json']));
    expect(zsh('show', '')).toEqual(['AWS Production', 'prod']);
    expect(zsh('show', 'prod', '')).toEqual([]);
    expect(zsh('attach-policy', 'u', '--policy-file', '')).toEqual(['<files>']);
    expect(zsh('--profile', 'admin', 'init', '--connection', '')).toEqual(['AWS Production', 'prod']);
  });
});

describe('fish completion', () => {
  it('parses', () => {
    execFileSync('fish', ['--no-execute', scripts.fish!]);
  });

  it('completes commands, flags after `rotate --`, and connection names after `show `', () => {
    expect(fish('datablast-aws ').sort()).toEqual([...COMMANDS].sort());
    expect(fish('datablast-aws rotate --')).toEqual(
      expect.arrayContaining(['--all', '--older-than', '--keep-old', '--json']),
    );
    expect(fish('datablast-aws show ')).toEqual(['AWS Production', 'prod']);
    expect(fish('datablast-aws show prod ')).toEqual([]);
    expect(fish('datablast-aws --region eu-west-1 sh')).toEqual(['show']);
    expect(fish('datablast-aws test prod --service ').sort()).toEqual(['lambda', 'rds', 's3']);
  });
});
