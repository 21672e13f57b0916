import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { motoUserWithKey } from '../support/moto-iam.js';
import { runBin, type ProcessResult } from '../support/cli-process.js';
import { looksLikeCrash, scratchDir } from '../support/sweep.js';

/**
 * The hand-off at the end of onboarding, through the built binary against moto: add-connection, create-user
 * --create-key and init with --deliver-to. An exec: script must get the key in its environment and never in
 * its argv (a preload records every child the CLI starts); datablast without a terminal stays pending; no
 * secret reaches stdout, stderr or a file we wrote.
 */

const RECORDER = resolve(import.meta.dirname, '../support/spawn-recorder.mjs');
const ADMIN = {
  AWS_ACCESS_KEY_ID: 'AKIAADMINEXAMPLE0002',
  AWS_SECRET_ACCESS_KEY: 'AdminHandOffSecretForMotoDoNotLeak000000',
};

let moto: Moto;
const home = scratchDir('dbaws-handoff-home-');
const config = join(scratchDir('dbaws-handoff-'), 'config');
const work = scratchDir('dbaws-handoff-script-');
const spawnLog = join(scratchDir('dbaws-handoff-spawn-'), 'spawn.jsonl');
const script = join(work, 'push-key.sh');
const runs: ProcessResult[] = [];
const secrets = new Set<string>([ADMIN.AWS_SECRET_ACCESS_KEY]);

function env(): Record<string, string> {
  return {
    HOME: home,
    DATABLAST_AWS_CONFIG_DIR: config,
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: 'onboarding hand-off passphrase',
    AWS_ENDPOINT_URL: moto.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: 'eu-west-1',
    NODE_OPTIONS: `--import=${RECORDER}`,
    DBAWS_SPAWN_LOG: spawnLog,
    PUSH_OUT: work,
  };
}

async function run(args: string[], options: { stdin?: string; extra?: Record<string, string> } = {}) {
  const result = await runBin(args, {
    env: { ...env(), ...options.extra },
    stdin: options.stdin ?? '',
    timeoutMs: 90_000,
  });
  runs.push(result);
  expect(looksLikeCrash(result.stderr), result.stderr).toBe(false);
  return result;
}

/** What the script saw for connection `name`: the key in its environment, and its argv. */
function seen(name: string): { id: string; secret: string; region: string; argv: string } {
  const [id, secret, region] = readFileSync(join(work, `${name}.env`), 'utf8').split(' ');
  return { id: id!, secret: secret!, region: region!, argv: readFileSync(join(work, `${name}.argv`), 'utf8') };
}

/** Every child the CLI started. */
function children(): Array<{ command: string; args: string[]; env: Record<string, string> }> {
  if (!existsSync(spawnLog)) return [];
  return readFileSync(spawnLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { command: string; args: string[]; env: Record<string, string> });
}

beforeAll(async () => {
  moto = await startMoto();
  mkdirSync(work, { recursive: true });
  // The script writes what it got where the test can read it: the key from its environment, its argv apart.
  writeFileSync(
    script,
    '#!/bin/sh\nprintf \'%s %s %s\' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_REGION" > "$PUSH_OUT/$DATABLAST_CONNECTION.env"\n' +
      'printf \'%s\' "$*" > "$PUSH_OUT/$DATABLAST_CONNECTION.argv"\necho "pushed $AWS_ACCESS_KEY_ID"\n',
    { mode: 0o700 },
  );
});

afterAll(async () => {
  await moto?.stop();
});

describe('onboarding hands the key to its consumers', () => {
  it('add-connection --deliver-to exec: tests the key with AWS, stores it, and runs the script with the key in its environment', async () => {
    const key = await motoUserWithKey(moto.url, 'handoff-added');
    secrets.add(key.secretAccessKey);
    const result = await run(
      [
        'add-connection',
        'added',
        '--access-key-id',
        key.accessKeyId,
        '--secret-stdin',
        '--deliver-to',
        `exec:${script}`,
        '--json',
      ],
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      name: 'added',
      accessKeyId: key.accessKeyId,
      tested: true,
      userName: 'handoff-added',
    });
    expect(json.consumers).toEqual([
      expect.objectContaining({
        spec: `exec:${script}`,
        state: 'delivered',
        accessKeyId: key.accessKeyId,
        handedThisRun: true,
        output: `pushed ${key.accessKeyId}`,
      }),
    ]);
    expect(seen('added')).toEqual({ id: key.accessKeyId, secret: key.secretAccessKey, region: 'eu-west-1', argv: '' });
    const shown = await run(['list', '--json']);
    expect(JSON.stringify(JSON.parse(shown.stdout))).not.toContain(key.secretAccessKey);
  }, 120_000);

  it('create-user --create-key and init --no-input hand their new keys over; datablast is pending without a terminal', async () => {
    const created = await run(
      [
        'create-user',
        'handoff-created',
        '--create-key',
        '--connection',
        'created',
        '--deliver-to',
        `exec:${script}`,
        '--json',
      ],
      { extra: ADMIN },
    );
    expect(created.exitCode, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).consumers).toEqual([expect.objectContaining({ state: 'delivered' })]);
    const createdKey = seen('created');
    secrets.add(createdKey.secret);
    expect(createdKey.id).toBe(JSON.parse(created.stdout).connection.accessKeyId);

    const init = await run(
      [
        'init',
        '--no-input',
        '--user',
        'handoff-init',
        '--service',
        's3',
        '--connection',
        'initialized',
        '--deliver-to',
        `exec:${script}`,
        '--deliver-to',
        'datablast',
        '--json',
      ],
      { extra: ADMIN },
    );
    expect(init.exitCode, init.stderr).toBe(0);
    const json = JSON.parse(init.stdout);
    expect(json.consumers.map((c: { spec: string; state: string }) => [c.spec, c.state])).toEqual([
      [`exec:${script}`, 'delivered'],
      ['datablast', 'pending'],
    ]);
    const initKey = seen('initialized');
    secrets.add(initKey.secret);
    expect(initKey.id).toBe(json.connection.accessKeyId);
    // The pending hand-off is confirmed later, as the result says.
    expect(json.consumers[1].detail).toContain('deliver initialized --confirm-delivered');
    const confirmed = await run(['deliver', 'initialized', '--confirm-delivered']);
    expect(confirmed.exitCode, confirmed.stderr).toBe(0);
  }, 180_000);

  it('a failing script leaves the connection saved and usable, exit 5 naming deliver', async () => {
    const key = await motoUserWithKey(moto.url, 'handoff-failing');
    secrets.add(key.secretAccessKey);
    const result = await run(
      [
        'add-connection',
        'failing',
        '--access-key-id',
        key.accessKeyId,
        '--secret-stdin',
        '--deliver-to',
        'exec:echo "$AWS_SECRET_ACCESS_KEY" >&2; exit 2',
      ],
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('once fixed, run `datablast-aws deliver failing`');
    const tested = await run(['test', 'failing']);
    expect(tested.exitCode, tested.stderr).toBe(0);
  }, 120_000);

  it('kept every secret off the streams and files, and out of every child argv', () => {
    expect(runs.length).toBeGreaterThanOrEqual(6);
    for (const result of runs)
      for (const secret of secrets) {
        expect(result.stdout.includes(secret)).toBe(false);
        expect(result.stderr.includes(secret)).toBe(false);
      }
    for (const entry of readdirSync(config, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!statSync(path).isFile()) continue;
      const text = readFileSync(path, 'latin1');
      for (const secret of secrets) expect(text.includes(secret), path).toBe(false);
    }
    const started = children();
    expect(started.length).toBe(4);
    for (const child of started) {
      expect(child.command).toBe('sh');
      for (const secret of secrets)
        expect(JSON.stringify(child.args).includes(secret), child.args.join(' ')).toBe(false);
      expect(child.env.AWS_SECRET_ACCESS_KEY).not.toBe(ADMIN.AWS_SECRET_ACCESS_KEY);
      expect(JSON.stringify(child.env).includes(ADMIN.AWS_SECRET_ACCESS_KEY)).toBe(false);
      expect(child.env.DATABLAST_AWS_PASSPHRASE).toBeUndefined();
    }
  });
});
