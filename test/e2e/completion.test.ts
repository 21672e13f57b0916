import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  'deliver',
  'move-store',
  'completion',
  'help',
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

/**
 * Tab and Enter in a real interactive bash (tmux: readline, history expansion and all), on names built
 * to run a command if inserted raw inside quotes. The shell's working directory is where a `touch`
 * would land.
 */
describe('bash completion inside quotes, in a real terminal', () => {
  const SOCKET = join(mkdtempSync(join(tmpdir(), 'dbaws-tmux-')), 'socket');
  const NASTY = ['Team $(touch X)', 'Tick `touch Y` "dq" \\ end', "Single's $(touch Z) !!", 'Ends "', "Apos '"];
  let session = 0;

  function tmux(...args: string[]): string {
    const result = spawnSync('tmux', ['-S', SOCKET, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  async function waitFor(name: string, test: (screen: string) => boolean): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const shown = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name);
      if (test(shown)) return shown;
      if (Date.now() > deadline) throw new Error(`timed out; the screen shows:\n${shown}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is not installed: apt-get install tmux');
    // Keeps the server up between the tests' sessions (a server with no session exits).
    tmux('new-session', '-d', '-s', 'keep', 'sleep 600');
    for (const name of NASTY) {
      const added = await runBin(
        ['add-connection', name, '--access-key-id', EXAMPLE_ID, '--secret-stdin', '--no-test'],
        { env, stdin: EXAMPLE_SECRET },
      );
      expect(added.exitCode, added.stderr).toBe(0);
    }
  });

  afterAll(() => {
    spawnSync('tmux', ['-S', SOCKET, 'kill-server']);
  });

  it.each([
    ['"', 'Team', 'Team $(touch X)'],
    ["'", 'Team', 'Team $(touch X)'],
    ['"', 'Tick', 'Tick `touch Y` "dq" \\ end'],
    ["'", 'Tick', 'Tick `touch Y` "dq" \\ end'],
    ['"', 'Single', "Single's $(touch Z) !!"],
    ["'", 'Single', "Single's $(touch Z) !!"],
    ['"', 'Ends', 'Ends "'],
    ["'", 'Ends', 'Ends "'],
    ['"', 'Apos', "Apos '"],
    ["'", 'Apos', "Apos '"],
  ])('`show %s%s<TAB>` then Enter shows %j, and runs nothing else', async (quote, typed, expected) => {
    session += 1;
    const name = `completion-${session}`;
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const rc = join(cwd, '.rc');
    writeFileSync(
      rc,
      [
        ...Object.entries(env).map(([k, v]) => `export ${k}='${v}'`),
        `source '${scripts.bash}'`,
        `cd '${cwd}'`,
        "PS1='READY> '",
        '',
      ].join('\n'),
    );
    tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '50', `bash --noprofile --rcfile '${rc}' -i`);
    try {
      await waitFor(name, (s) => s.includes('READY> '));
      tmux('send-keys', '-t', name, '-l', `datablast-aws show --json ${quote}${typed}`);
      tmux('send-keys', '-t', name, 'Tab');
      await waitFor(name, (s) => /READY> datablast-aws show --json .{8,}/.test(s));
      tmux('send-keys', '-t', name, 'Enter');
      const shown = await waitFor(name, (s) => s.split('READY> ').length > 2);
      const output = shown.split('READY> ')[1]!;
      expect(output).toContain(`"name": ${JSON.stringify(expected)}`);
      for (const file of ['X', 'Y', 'Z']) expect(existsSync(join(cwd, file)), `${file} was created`).toBe(false);
    } finally {
      spawnSync('tmux', ['-S', SOCKET, 'kill-session', '-t', name]);
    }
  });
});
