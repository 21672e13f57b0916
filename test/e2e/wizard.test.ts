import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';

/**
 * The wizard in a real pseudo-terminal: tmux runs the built binary, the test types like a person
 * (send-keys) and reads the screen (capture-pane). A private tmux socket keeps it off anyone's sessions.
 */
const SOCKET = join(mkdtempSync(join(tmpdir(), 'dbaws-tmux-')), 'socket');
const ADMIN = {
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

let moto: Moto;
let configDir: string;
let session = 0;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-S', SOCKET, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function env(): Record<string, string> {
  return {
    ...ADMIN,
    AWS_ENDPOINT_URL: moto.url,
    DATABLAST_AWS_CONFIG_DIR: configDir,
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple',
  };
}

/** Starts `datablast-aws ARGS` in a fresh tmux session; the shell prints the exit code when it ends. */
function start(args: string[]): string {
  session += 1;
  const name = `wizard-${session}`;
  const script = join(configDir, `${name}.sh`);
  const exports = Object.entries(env()).map(([k, v]) => `export ${k}='${v}'`);
  // A clean environment: nothing of the test runner's AWS_* or CI variables reaches the wizard.
  writeFileSync(
    script,
    [
      'unset CI AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION',
      ...exports,
      `'${process.execPath}' '${BIN}' ${args.map((a) => `'${a}'`).join(' ')}`,
      'echo "EXIT CODE: $?"',
      'sleep 600',
      '',
    ].join('\n'),
  );
  tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '50', `bash --noprofile --norc ${script}`);
  return name;
}

/** The whole screen plus scrollback, as text. */
function screen(name: string): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name);
}

/** Waits until the screen shows `text`; fails with the screen when it does not. */
async function waitFor(name: string, text: string | RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const shown = screen(name);
    if (typeof text === 'string' ? shown.includes(text) : text.test(shown)) return shown;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(text)}; the screen shows:\n${shown}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function keys(name: string, ...k: string[]): void {
  tmux('send-keys', '-t', name, ...k);
}

function type(name: string, text: string): void {
  tmux('send-keys', '-t', name, '-l', text);
}

async function exitCode(name: string): Promise<number> {
  const shown = await waitFor(name, /EXIT CODE: \d+/, 90_000);
  return Number(/EXIT CODE: (\d+)/.exec(shown)![1]);
}

function iam(): IAMClient {
  return new IAMClient({
    endpoint: moto.url,
    region: 'us-east-1',
    credentials: { accessKeyId: ADMIN.AWS_ACCESS_KEY_ID, secretAccessKey: ADMIN.AWS_SECRET_ACCESS_KEY },
  });
}

beforeAll(async () => {
  if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is not installed: apt-get install tmux');
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
});

afterAll(async () => {
  spawnSync('tmux', ['-S', SOCKET, 'kill-server']);
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  configDir = tempConfigDir('dbaws-wizard-');
});

afterEach(() => {
  spawnSync('tmux', ['-S', SOCKET, 'kill-session', '-t', `wizard-${session}`]);
});

describe('init, in a real terminal', () => {
  it('takes a person from nothing to a tested connection, answering every prompt', async () => {
    const name = start(['init']);
    await waitFor(name, 'Name of the IAM user for Datablast');
    keys(name, 'Enter'); // the default, datablast-integration
    await waitFor(name, 'What may Datablast read?');
    keys(name, 'Enter'); // nothing chosen: refused inside the prompt, which stays open
    await waitFor(name, 'choose at least one');
    expect(screen(name)).not.toMatch(/✔ What may Datablast read/);
    keys(name, 'Space'); // S3, all buckets
    keys(name, 'Down', 'Down', 'Space'); // RDS
    keys(name, 'Enter');
    await waitFor(name, 'Name for the connection');
    type(name, 'AWS Production');
    keys(name, 'Enter');
    await waitFor(name, 'AWS region for this connection');
    type(name, 'eu-west-1');
    keys(name, 'Enter');
    await waitFor(name, 'Where must the key go besides this machine?');
    keys(name, 'Enter'); // the default: Datablast's connection form
    await waitFor(name, 'Go ahead?');
    type(name, 'y');
    keys(name, 'Enter');
    // Once the key exists and works: Datablast's connection form, the secret hidden until asked for.
    const form = await waitFor(name, 's: show the secret');
    for (const field of ['Name', 'Access Key ID', 'Secret Access Key', 'Region', 'Description'])
      expect(form).toContain(`  ${field}`);
    keys(name, 'Enter');
    await waitFor(name, "Is the key saved in Datablast's connection form?");
    type(name, 'y');
    keys(name, 'Enter');
    const code = await exitCode(name);
    const transcript = screen(name);
    expect(code, transcript).toBe(0);
    expect(transcript).toContain('✓ datablast  delivered');
    expect(transcript).toContain('Datablast             holds the key');
    expect(transcript).toContain('working in account 123456789012');
    expect(transcript).toContain('About to change account 123456789012');
    expect(transcript).toContain('Datablast is set up in account 123456789012');
    expect(transcript).toContain('credential_process = datablast-aws credential-process');

    // The final state in AWS (moto)...
    const user = 'datablast-integration';
    const attached = await iam().send(new ListAttachedUserPoliciesCommand({ UserName: user }));
    expect(attached.AttachedPolicies!.map((p) => p.PolicyName).sort()).toEqual([
      'AmazonRDSReadOnlyAccess',
      'AmazonS3ReadOnlyAccess',
    ]);
    expect((await iam().send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames).toEqual([
      'datablast-self-rotation',
    ]);
    const keysInAws = (await iam().send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata!;
    expect(keysInAws).toHaveLength(1);

    // ...and in the store: the connection holds that key, and the key works.
    const listed = await runBin(['list', '--json'], { env: env() });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({
        name: 'AWS Production',
        accessKeyId: keysInAws[0]!.AccessKeyId,
        region: 'eu-west-1',
        userName: user,
      }),
    ]);
    const served = await runBin(['credential-process', 'AWS Production'], { env: env() });
    const creds = JSON.parse(served.stdout);
    expect(transcript).not.toContain(creds.SecretAccessKey);
    await moto.enforceAuth();
    try {
      const sts = new STSClient({
        endpoint: moto.url,
        region: 'us-east-1',
        credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey },
      });
      expect((await sts.send(new GetCallerIdentityCommand({}))).Arn).toBe(`arn:aws:iam::123456789012:user/${user}`);
    } finally {
      await moto.disableAuth();
    }
  });

  it('on a re-run asks only what it may read, with what is attached preselected', async () => {
    const ci = await runBin(['init', '--no-input', '--user', 'dbx', '--service', 'rds', '--connection', 'prod'], {
      env: env(),
    });
    expect(ci.exitCode, ci.stderr).toBe(0);
    const name = start(['init']);
    const shown = await waitFor(name, 'What may Datablast read?');
    expect(shown).toContain('IAM user: dbx (of connection prod');
    expect(shown).toMatch(/◉ RDS/);
    keys(name, 'Enter');
    expect(await exitCode(name)).toBe(0);
    const transcript = screen(name);
    expect(transcript).toContain('already set up');
    expect(transcript).not.toContain('Name of the IAM user');
    expect(transcript).not.toContain('Name for the connection');
  });

  it('says "already set up" when run again on a finished setup, creating nothing', async () => {
    const ci = await runBin(['init', '--no-input', '--user', 'dbx', '--service', 's3', '--connection', 'prod'], {
      env: env(),
    });
    expect(ci.exitCode, ci.stderr).toBe(0);
    const name = start(['init', '--user', 'dbx', '--service', 's3', '--self-rotation']);
    // The connection of dbx is known from the first run: nothing is asked.
    expect(await exitCode(name)).toBe(0);
    expect(screen(name)).not.toContain('Name for the connection');
    expect(screen(name)).toContain('already set up');
    expect((await iam().send(new ListAccessKeysCommand({ UserName: 'dbx' }))).AccessKeyMetadata).toHaveLength(1);
  });

  it('exits 130 on Ctrl-C at a prompt, leaving nothing in AWS or the store', async () => {
    const name = start(['init']);
    await waitFor(name, 'Name of the IAM user for Datablast');
    keys(name, 'Enter');
    await waitFor(name, 'What may Datablast read?');
    keys(name, 'C-c');
    expect(await exitCode(name)).toBe(130);
    expect((await iam().send(new ListUsersCommand({}))).Users).toEqual([]);
    const listed = await runBin(['list', '--json'], { env: env() });
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });
});
