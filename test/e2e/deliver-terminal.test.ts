import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';

/**
 * The `datablast` hand-off in a real pseudo-terminal: tmux runs the built binary, the test presses keys
 * (send-keys) and reads the screen, scrollback included (capture-pane). A private tmux socket keeps it off
 * anyone's sessions. No clipboard program is reachable (no DISPLAY), so `c` takes the terminal's OSC 52
 * path, which tmux (set-clipboard on) turns into a paste buffer the test can read.
 */
const SOCKET = join(mkdtempSync(join(tmpdir(), 'dbaws-tmux-')), 'socket');
const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const PASSPHRASE = 'correct horse battery staple';

let configDir: string;
let session = 0;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-S', SOCKET, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function env(): Record<string, string> {
  return {
    DATABLAST_AWS_CONFIG_DIR: configDir,
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: PASSPHRASE,
    // Nothing may call AWS here.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  };
}

/** Starts `datablast-aws ARGS` in a fresh tmux session; the shell prints the exit code when it ends. */
function start(args: string[]): string {
  session += 1;
  const name = `deliver-${session}`;
  const script = join(configDir, `${name}.sh`);
  const exports = Object.entries(env()).map(([k, v]) => `export ${k}='${v}'`);
  writeFileSync(
    script,
    [
      'unset CI DISPLAY WAYLAND_DISPLAY WSL_DISTRO_NAME AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION',
      ...exports,
      `'${process.execPath}' '${BIN}' ${args.map((a) => `'${a}'`).join(' ')}`,
      'echo "EXIT CODE: $?"',
      'sleep 600',
      '',
    ].join('\n'),
  );
  tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '50', `bash --noprofile --norc ${script}`);
  return name;
}

function screen(name: string): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name);
}

async function waitFor(name: string, test: string | RegExp | ((shown: string) => boolean), timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const shown = screen(name);
    const ok =
      typeof test === 'function' ? test(shown) : typeof test === 'string' ? shown.includes(test) : test.test(shown);
    if (ok) return shown;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(test)}; the screen shows:\n${shown}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function keys(name: string, ...k: string[]): void {
  tmux('send-keys', '-t', name, ...k);
}

async function exitCode(name: string): Promise<number> {
  const shown = await waitFor(name, /EXIT CODE: \d+/, 60_000);
  return Number(/EXIT CODE: (\d+)/.exec(shown)![1]);
}

function stored(): { consumers?: Array<{ spec: string; state?: { status: string; accessKeyId: string } }> } {
  const file = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as {
    connections: Record<
      string,
      { consumers?: Array<{ spec: string; state?: { status: string; accessKeyId: string } }> }
    >;
  };
  return file.connections['AWS Production']!;
}

beforeAll(() => {
  if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is not installed: apt-get install tmux');
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  // A server for the buffers OSC 52 makes: set-clipboard on lets programs inside tmux set them.
  tmux('new-session', '-d', '-s', 'keeper', 'sleep 3600');
  tmux('set-option', '-g', 'set-clipboard', 'on');
});

afterAll(() => {
  spawnSync('tmux', ['-S', SOCKET, 'kill-server']);
});

beforeEach(async () => {
  configDir = tempConfigDir('dbaws-deliver-tty-');
  const added = await runBin(
    [
      'add-connection',
      'AWS Production',
      '--access-key-id',
      ID,
      '--secret-stdin',
      '--no-test',
      '--region',
      'eu-west-1',
      '--description',
      'nightly sync',
    ],
    { env: env(), stdin: SECRET },
  );
  expect(added.exitCode, added.stderr).toBe(0);
});

afterEach(() => {
  spawnSync('tmux', ['-S', SOCKET, 'kill-session', '-t', `deliver-${session}`]);
});

describe('the datablast hand-off, in a real terminal', () => {
  it('shows the form, reveals the secret only while asked, hides it again, and records a yes as delivered', async () => {
    const name = start(['deliver', 'AWS Production', '--deliver-to', 'datablast']);
    const form = await waitFor(name, 's: show the secret');
    const order = ['Name', 'Access Key ID', 'Secret Access Key', 'Region', 'Description'].map((f) =>
      form.indexOf(`  ${f} `),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(form).toContain(ID);
    expect(form).toContain('nightly sync');
    expect(form).not.toContain(SECRET);

    keys(name, 's');
    await waitFor(name, SECRET);
    // Typed ahead in one go: the first key hides the secret, Enter ends the form.
    keys(name, 'h', 'Enter');
    const asked = await waitFor(name, "Is the key saved in Datablast's connection form?");
    // Redrawn in place: neither the screen nor its scrollback keeps the secret.
    expect(asked).not.toContain(SECRET);
    expect(asked).toMatch(/Secret Access Key +•+/);
    keys(name, 'y', 'Enter');
    expect(await exitCode(name)).toBe(0);
    const done = screen(name);
    expect(done).toContain('✓ datablast  delivered');
    expect(done).not.toContain(SECRET);
    expect(stored().consumers).toMatchObject([{ spec: 'datablast', state: { status: 'delivered', accessKeyId: ID } }]);
  }, 90_000);

  it('copies the secret through the terminal (OSC 52) without showing it', async () => {
    const name = start(['deliver', 'AWS Production', '--deliver-to', 'datablast']);
    await waitFor(name, 's: show the secret');
    keys(name, 'c');
    await waitFor(name, 'copied with your terminal (OSC 52');
    expect(tmux('show-buffer')).toBe(SECRET);
    expect(screen(name)).not.toContain(SECRET);
    keys(name, 'Enter');
    await waitFor(name, "Is the key saved in Datablast's connection form?");
    keys(name, 'n', 'Enter');
    expect(await exitCode(name)).toBe(0);
    expect(screen(name)).toContain('… datablast  pending');
    expect(stored().consumers).toMatchObject([{ spec: 'datablast', state: { status: 'pending', accessKeyId: ID } }]);
  }, 90_000);

  it('leaves the hand-off pending without a terminal, and a later --confirm-delivered completes it', async () => {
    const pending = await runBin(['deliver', 'AWS Production', '--deliver-to', 'datablast', '--json'], { env: env() });
    expect(pending.exitCode, pending.stderr).toBe(0);
    const json = JSON.parse(pending.stdout) as { consumers: Array<{ state: string; detail: string }> };
    expect(json.consumers[0]).toMatchObject({ state: 'pending' });
    expect(json.consumers[0]!.detail).toContain("datablast-aws deliver 'AWS Production' --confirm-delivered");
    expect(pending.stdout + pending.stderr).not.toContain(SECRET);
    const confirmed = await runBin(['deliver', 'AWS Production', '--confirm-delivered'], { env: env() });
    expect(confirmed.exitCode, confirmed.stderr).toBe(0);
    expect(stored().consumers).toMatchObject([{ spec: 'datablast', state: { status: 'delivered', accessKeyId: ID } }]);
  });
});
