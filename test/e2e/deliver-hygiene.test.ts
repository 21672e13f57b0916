import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startMoto, type Moto } from '../support/moto.js';
import { runBin, type ProcessResult } from '../support/cli-process.js';
import { looksLikeCrash, scratchDir } from '../support/sweep.js';

/**
 * The secret-hygiene sweep for `deliver` and its consumers, through the built binary: every consumer kind on
 * its success and failure paths, with and without --json and --debug. The connection's secret and the admin's
 * may appear on no stdout, no stderr, in no file we wrote and in no child's argv; the admin's secret in no
 * child's environment either. The one place the connection's secret may go is an exec: child's environment
 * (its whole purpose). A preload records every child process the CLI starts.
 */

const RECORDER = resolve(import.meta.dirname, '../support/spawn-recorder.mjs');
const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ADMIN_SECRET = 'AdminOnlySecretForMotoDoNotLeak000000000';

// The SDK client this test reads the secret back with would warn about Node 20 on stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let moto: Moto;
const home = scratchDir('dbaws-deliver-hygiene-home-');
const config = join(scratchDir('dbaws-deliver-hygiene-'), 'config');
const spawnLog = join(scratchDir('dbaws-deliver-hygiene-spawn-'), 'spawn.jsonl');
const runs: Array<{ args: string[]; result: ProcessResult }> = [];

function env(endpoint: string): Record<string, string> {
  return {
    HOME: home,
    DATABLAST_AWS_CONFIG_DIR: config,
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: 'deliver hygiene passphrase',
    AWS_ACCESS_KEY_ID: 'AKIAADMINEXAMPLE0001',
    AWS_SECRET_ACCESS_KEY: ADMIN_SECRET,
    AWS_ENDPOINT_URL: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: 'eu-west-1',
    NODE_OPTIONS: `--import=${RECORDER}`,
    DBAWS_SPAWN_LOG: spawnLog,
  };
}

async function run(args: string[], endpoint = moto.url, stdin = ''): Promise<ProcessResult> {
  const result = await runBin(args, { env: env(endpoint), stdin, timeoutMs: 60_000 });
  runs.push({ args, result });
  return result;
}

beforeAll(async () => {
  moto = await startMoto();
  const added = await run(
    ['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test'],
    moto.url,
    SECRET,
  );
  expect(added.exitCode, added.stderr).toBe(0);
});

afterAll(async () => {
  await moto?.stop();
});

describe('deliver keeps every secret where it belongs', () => {
  it('runs each consumer kind on its success and failure paths', async () => {
    const cases: Array<{ args: string[]; code: number; endpoint?: string }> = [
      { args: ['--deliver-to', 'exec:echo "$AWS_SECRET_ACCESS_KEY"; echo "$AWS_SECRET_ACCESS_KEY" >&2'], code: 0 },
      { args: ['--deliver-to', 'exec:echo "key: $AWS_SECRET_ACCESS_KEY" >&2; exit 1', '--json'], code: 5 },
      { args: ['--deliver-to', 'exec:sleep 30', '--debug'], code: 5 },
      { args: ['--deliver-to', 'datablast', '--json'], code: 5 },
      { args: ['--deliver-to', 'aws-secrets-manager:datablast/prod', '--debug'], code: 5 },
      { args: ['--json', '--debug'], code: 5 },
      { args: ['--confirm-delivered', '--json'], code: 0 },
      // Secrets Manager unreachable: a failure whose message goes through the AWS error table.
      { args: ['--debug'], code: 5, endpoint: 'http://127.0.0.1:9' },
    ];
    for (const c of cases) {
      // Every run hands the key again to the consumers still lacking it, the hanging one included: 1 s each.
      const timeout = c.args.includes('--confirm-delivered') ? [] : ['--exec-timeout', '1'];
      const result = await run(['deliver', 'prod', ...c.args, ...timeout], c.endpoint);
      expect(result.exitCode, `${c.args.join(' ')}\n${result.stderr}`).toBe(c.code);
      expect(looksLikeCrash(result.stderr), result.stderr).toBe(false);
    }
    // The Secrets Manager consumer really delivered on the reachable runs.
    const sm = new SecretsManagerClient({
      endpoint: moto.url,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIAADMINEXAMPLE0001', secretAccessKey: ADMIN_SECRET },
    });
    const value = await sm.send(new GetSecretValueCommand({ SecretId: 'datablast/prod' }));
    expect(JSON.parse(value.SecretString!)).toMatchObject({ AccessKeyId: ID, SecretAccessKey: SECRET });
  }, 180_000);

  it('printed no secret on stdout or stderr, JSON included', () => {
    expect(runs.length).toBeGreaterThan(5);
    for (const { args, result } of runs) {
      for (const secret of [SECRET, ADMIN_SECRET]) {
        expect(result.stdout.includes(secret), `stdout of ${args.join(' ')}`).toBe(false);
        expect(result.stderr.includes(secret), `stderr of ${args.join(' ')}`).toBe(false);
      }
    }
  });

  it('wrote no secret in plain text into any file', () => {
    for (const entry of readdirSync(config, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!statSync(path).isFile()) continue;
      const text = readFileSync(path, 'latin1');
      expect(text.includes(SECRET), path).toBe(false);
      expect(text.includes(ADMIN_SECRET), path).toBe(false);
    }
  });

  it("put the key in the exec child's environment only: never in any child's argv, the admin's secret nowhere", () => {
    expect(existsSync(spawnLog)).toBe(true);
    const children = readFileSync(spawnLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { command: string; args: string[]; env: Record<string, string> });
    expect(children.length).toBeGreaterThanOrEqual(3);
    for (const child of children) {
      expect(child.command).toBe('sh');
      expect(JSON.stringify(child.args).includes(SECRET), child.args.join(' ')).toBe(false);
      expect(child.env.AWS_SECRET_ACCESS_KEY).toBe(SECRET);
      expect(child.env.AWS_ACCESS_KEY_ID).toBe(ID);
      expect(child.env.DATABLAST_CONNECTION).toBe('prod');
      expect(JSON.stringify(child.env).includes(ADMIN_SECRET)).toBe(false);
      expect(child.env.DATABLAST_AWS_PASSPHRASE).toBeUndefined();
    }
  });
});
