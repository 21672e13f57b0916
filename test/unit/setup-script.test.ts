import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A new machine has none of the programs the tests start: scripts/ensure-test-deps.sh must check and
// install each (issue 13 §1: secret-tool was missing and two keychain tests failed on a new machine).

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts', 'ensure-test-deps.sh');
const SETUP = readFileSync(SCRIPT, 'utf8');

/** Programs of every Debian and Node install (essential packages, or Node itself): nothing to install. */
const BASE_TOOLS: Record<string, string> = {
  node: 'the running Node (process.execPath)',
  npm: 'ships with Node',
  npx: 'ships with Node',
  sh: 'dash, Essential',
  bash: 'Essential',
  true: 'coreutils, Essential',
  false: 'coreutils, Essential',
  env: 'coreutils, Essential',
  cat: 'coreutils, Essential',
  stat: 'coreutils, Essential',
  sleep: 'coreutils, Essential',
  truncate: 'coreutils, Essential',
  kill: 'procps / util-linux, Essential',
  mount: 'util-linux (mount), Priority required',
  umount: 'util-linux (mount), Priority required',
  sort: 'coreutils, Essential',
  realpath: 'coreutils, Essential',
  mkfifo: 'coreutils, Essential',
  dpkg: 'Essential on Debian (this test skips its check where there is none)',
  'dpkg-query': 'dpkg, as dpkg',
};
/** Programs a test runs only where they are installed (a guard beside the call says so). */
const OPTIONAL: Record<string, RegExp> = {};
/** Python modules of the standard library: the python3 programs the tests run may import these freely. */
const PYTHON_STDLIB = new Set(['json', 'sys', 'os', 'shlex', 're']);

const CHILD_PROCESS_CALLS = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork'];

/** Every source file under test/ and scripts/ (and CI's own script), with its text. */
function sources(): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|mts|js|mjs|cjs|sh)$/.test(entry.name) && path !== SCRIPT)
        found.push({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') });
    }
  };
  walk(join(ROOT, 'test'));
  walk(join(ROOT, 'scripts'));
  return found;
}

/** A quoted literal without interpolation; its text is the group `s`. */
const STRING = String.raw`(?<q>['"\x60])(?<s>[^'"\x60$\\]+)\k<q>`;

/** The programs one source file starts: literal first arguments of child_process calls and of their aliases, and `command -v` probes. */
export function programsStarted(text: string): { programs: Set<string>; pythonImports: Set<string> } {
  const programs = new Set<string>();
  const pythonImports = new Set<string>();
  // `const run = promisify(execFile)` and `const start = spawn` call a child_process function under another name.
  const aliases = [...text.matchAll(/\bconst\s+(\w+)\s*=\s*(?:promisify\(\s*)?(\w+)\s*\)?\s*;/g)]
    .filter((m) => CHILD_PROCESS_CALLS.includes(m[2]!))
    .map((m) => m[1]!);
  const calls = [...CHILD_PROCESS_CALLS, ...aliases].join('|');
  for (const m of text.matchAll(new RegExp(String.raw`\b(${calls})\(\s*${STRING}`, 'g'))) {
    // exec and execSync take a shell command line: its first word is the program.
    const literal = m.groups!.s!;
    const program = m[1] === 'exec' || m[1] === 'execSync' ? literal.trim().split(/\s+/)[0]! : literal;
    programs.add(program.replace(/^.*\//, ''));
  }
  // Shell probes: `command -v tmux`, and `command -v ${tool}` over a literal list of tools.
  for (const m of text.matchAll(/command -v ([\w.-]+)/g)) programs.add(m[1]!);
  for (const m of text.matchAll(/command -v \$\{(\w+)\}/g)) {
    const list = new RegExp(String.raw`for \(const ${m[1]} of \[([^\]]*)\]`).exec(text)?.[1] ?? '';
    for (const item of list.matchAll(new RegExp(STRING, 'g'))) programs.add(item.groups!.s!);
  }
  // python3 -c '<program>': the modules it imports must be there too.
  for (const m of text.matchAll(/['"]python3['"],\s*\[\s*'-c',\s*(['"\x60])([\s\S]*?)\1/g))
    for (const imp of m[2]!.matchAll(/\bimport ([\w, ]+)/g))
      for (const name of imp[1]!.split(',')) pythonImports.add(name.trim());
  // A program name made at run time (process.execPath, a built binary's path) is not a literal: not counted.
  return { programs, pythonImports };
}

/** What the setup script's table installs: program → Debian package. */
function installedByTable(): Map<string, string> {
  const table = /^needs=\(\n([\s\S]*?)^\)/m.exec(SETUP)?.[1] ?? '';
  return new Map([...table.matchAll(/^\s*"([\w.-]+) ([\w.+-]+)"$/gm)].map((m) => [m[1]!, m[2]!] as [string, string]));
}

const scratch = mkdtempSync(join(tmpdir(), 'dbaws-setup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs the setup script as a user who is not root, on a PATH where every program it asks about is a
 * stub except `absent`: what it says on a new machine that lacks that one program.
 */
function setupWithout(absent: string, pythonImportsYaml = true): { status: number | null; stderr: string } {
  const bin = mkdtempSync(join(scratch, 'bin-'));
  const stub = (name: string, body: string): void => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  for (const program of [...installedByTable().keys(), 'moto_server', 'python3'])
    if (program !== absent) stub(program, program === 'python3' && !pythonImportsYaml ? 'exit 1' : 'exit 0');
  stub('id', 'echo 1000');
  for (const tool of ['sort', 'bash'])
    symlinkSync(
      spawnSync('sh', ['-c', `command -v ${tool}`])
        .stdout.toString()
        .trim(),
      join(bin, tool),
    );
  const result = spawnSync(join(bin, 'bash'), [SCRIPT], { env: { PATH: bin }, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('scripts/ensure-test-deps.sh', () => {
  const files = sources();
  const started = new Map<string, string[]>();
  const imports = new Map<string, string[]>();
  for (const { path, text } of files) {
    const { programs, pythonImports } = programsStarted(text);
    for (const program of programs) started.set(program, [...(started.get(program) ?? []), path]);
    for (const name of pythonImports) imports.set(name, [...(imports.get(name) ?? []), path]);
  }

  it('finds the programs the tests start (the scan itself works)', () => {
    for (const program of [
      'secret-tool',
      'tmux',
      'zsh',
      'fish',
      'dbus-daemon',
      'dbus-send',
      'gnome-keyring-daemon',
      'moto_server',
      'python3',
    ])
      expect([...started.keys()], program).toContain(program);
    // Built by concatenation, so that the scan of this very file does not count these made-up programs.
    const call = (name: string, rest: string): string => `${name}(${rest}`;
    expect(
      programsStarted(`const run = promisify(execFile);\nawait ${call('run', "\n  'frob', []);")}`).programs,
    ).toEqual(new Set(['frob']));
    expect(programsStarted(call('execSync', "'/usr/bin/frob --x')")).programs).toEqual(new Set(['frob']));
    const probe = 'command -v ' + '${t}';
    expect(
      programsStarted(`for (const t of ['a-b', 'c']) ${call('spawnSync', `'sh', ['-c', \`${probe}\`]);`)}`).programs,
    ).toEqual(new Set(['sh', 'a-b', 'c']));
  });

  it('checks and installs every program a test starts, or it is a base tool of every machine', () => {
    const table = installedByTable();
    const uncovered = [...started.entries()]
      .filter(([program]) => !(program in BASE_TOOLS) && !table.has(program))
      .filter(([program]) => !new RegExp(String.raw`command -v ${program} `).test(SETUP))
      .filter(([program, paths]) => {
        const guard = OPTIONAL[program];
        return !guard || !paths.every((path) => guard.test(readFileSync(join(ROOT, path), 'utf8')));
      })
      .map(([program, paths]) => `${program} (started by ${[...new Set(paths)].join(', ')})`);
    expect(uncovered).toEqual([]);
  });

  it('checks every Python module the tests import beyond the standard library', () => {
    const unchecked = [...imports.keys()].filter(
      (name) => !PYTHON_STDLIB.has(name) && !SETUP.includes(`import ${name}`),
    );
    expect(unchecked).toEqual([]);
  });

  it.each([...installedByTable().entries()])(
    'on a machine without %s, names the package %s and fails',
    (program, pkg) => {
      const { status, stderr } = setupWithout(program);
      expect(status).toBe(1);
      expect(stderr).toContain(`the tests need these Debian packages: ${pkg} `);
    },
  );

  it('on a machine without moto_server or PyYAML, says how to install them and fails', () => {
    expect(setupWithout('moto_server')).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/moto_server.*pip install/),
    });
    expect(setupWithout('python3')).toMatchObject({ status: 1, stderr: expect.stringMatching(/PyYAML/) });
    expect(setupWithout('none', false)).toMatchObject({ status: 1, stderr: expect.stringMatching(/PyYAML/) });
    expect(setupWithout('none')).toMatchObject({ status: 0, stderr: '' });
  });

  it('names, for each program, the Debian package that really provides it (where dpkg installed it)', () => {
    const wrong: string[] = [];
    for (const [program, pkg] of installedByTable()) {
      const path = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
      if (!path) continue;
      const owner = spawnSync('dpkg', ['-S', spawnSync('realpath', [path], { encoding: 'utf8' }).stdout.trim()], {
        encoding: 'utf8',
      });
      if (owner.status !== 0) continue; // Installed another way (pip's aws here): nothing for dpkg to say.
      const owners = owner.stdout
        .split(':')[0]!
        .split(', ')
        .map((p) => p.replace(/:.*$/, ''));
      // dbus-daemon lives in dbus-daemon (a dependency of dbus) on Debian 12: the package or one it pulls in.
      const depends = spawnSync('dpkg-query', ['-W', '-f=${Depends}', pkg], { encoding: 'utf8' }).stdout;
      const pulled = depends.split(',').map((d) => d.trim().split(/[\s:]/)[0]);
      if (!owners.some((o) => o === pkg || pulled.includes(o)))
        wrong.push(`${program}: ${pkg} (dpkg: ${owners.join(', ')})`);
    }
    expect(wrong).toEqual([]);
  });
});
