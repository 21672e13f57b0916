import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, execConsumer, MAX_EXEC_OUTPUT_BYTES } from '../../../src/consumers/exec.js';
import type { Connection } from '../../../src/domain/connection.js';

// The exec consumer against real `sh -c` children: scripts that succeed, fail, hang and print the secret.

const PAIR = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const CONNECTION: Connection = {
  name: 'AWS Production',
  accessKeyId: PAIR.accessKeyId,
  region: 'eu-west-1',
  createdAt: '2026-01-01T00:00:00Z',
};
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe('the exec consumer', () => {
  it('hands the key over in the environment, never in argv, and counts exit 0 as delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-exec-'));
    const out = join(dir, 'seen');
    // The child records its environment and its own argv (/proc/self/cmdline of sh).
    const command = `env > '${out}.env'; tr '\\0' ' ' < /proc/$$/cmdline > '${out}.argv'`;
    const outcome = await execConsumer(command, { env: ENV }).deliver(CONNECTION, PAIR);
    expect(outcome).toMatchObject({ status: 'delivered' });
    const env = readFileSync(`${out}.env`, 'utf8');
    expect(env).toContain(`AWS_ACCESS_KEY_ID=${PAIR.accessKeyId}\n`);
    expect(env).toContain(`AWS_SECRET_ACCESS_KEY=${PAIR.secretAccessKey}\n`);
    expect(env).toContain('AWS_REGION=eu-west-1\n');
    expect(env).toContain('AWS_DEFAULT_REGION=eu-west-1\n');
    expect(env).toContain('DATABLAST_CONNECTION=AWS Production\n');
    expect(readFileSync(`${out}.argv`, 'utf8')).not.toContain(PAIR.secretAccessKey);
  });

  it('withholds a session token and the file store passphrase, and replaces an inherited key', () => {
    const env = childEnv(
      {
        ...ENV,
        AWS_SESSION_TOKEN: 'token',
        DATABLAST_AWS_PASSPHRASE: 'pass',
        AWS_ACCESS_KEY_ID: 'AKIAADMINADMINADMIN1',
        AWS_SECRET_ACCESS_KEY: 'admin-secret',
      },
      CONNECTION,
      PAIR,
    );
    expect(env.AWS_SESSION_TOKEN).toBeUndefined();
    expect(env.DATABLAST_AWS_PASSPHRASE).toBeUndefined();
    expect(env.AWS_ACCESS_KEY_ID).toBe(PAIR.accessKeyId);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe(PAIR.secretAccessKey);
  });

  it('reports a failing command with its exit code and output', async () => {
    const outcome = await execConsumer('echo "push refused" >&2; exit 3', { env: ENV }).deliver(CONNECTION, PAIR);
    expect(outcome).toMatchObject({ status: 'failed', output: 'push refused' });
    expect(outcome.status === 'failed' && outcome.message).toMatch(/^the command exited 3 after \d+\.\d s$/);
  });

  it('scrubs the secret out of what the command prints', async () => {
    const outcome = await execConsumer('echo "secret is $AWS_SECRET_ACCESS_KEY"; echo "$AWS_SECRET_ACCESS_KEY" >&2', {
      env: ENV,
    }).deliver(CONNECTION, PAIR);
    expect(outcome.status).toBe('delivered');
    const output = outcome.status === 'delivered' ? (outcome.output ?? '') : '';
    expect(output).toContain('secret is ');
    expect(output).not.toContain(PAIR.secretAccessKey);
    expect(JSON.stringify(outcome)).not.toContain(PAIR.secretAccessKey);
  });

  it('stops a hanging command and everything it started once the timeout passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-exec-'));
    const marker = join(dir, 'survived');
    const started = Date.now();
    // A pipeline with a grandchild that ignores SIGTERM and would write the marker if it lived on.
    const command = `(trap '' TERM; sleep 3; touch '${marker}') & sleep 30`;
    const outcome = await execConsumer(command, { env: ENV, timeoutMs: 500 }).deliver(CONNECTION, PAIR);
    const took = Date.now() - started;
    expect(outcome).toMatchObject({
      status: 'failed',
      message: 'the command did not finish within 0.5 s and was stopped',
    });
    expect(took).toBeLessThan(500 + 2_000 + 1_500);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(existsSync(marker), 'the grandchild was killed with the process group').toBe(false);
  }, 15_000);

  it('keeps only the last bytes of a flood of output', async () => {
    const outcome = await execConsumer('head -c 1000000 /dev/zero | tr "\\0" x; echo; echo END', { env: ENV }).deliver(
      CONNECTION,
      PAIR,
    );
    const output = outcome.status === 'delivered' ? (outcome.output ?? '') : '';
    expect(output.length).toBeLessThanOrEqual(MAX_EXEC_OUTPUT_BYTES);
    expect(output.endsWith('END')).toBe(true);
  });

  it('reports a command killed by a signal', async () => {
    const outcome = await execConsumer('kill -KILL $$', { env: ENV }).deliver(CONNECTION, PAIR);
    expect(outcome.status === 'failed' && outcome.message).toMatch(/was killed by SIGKILL/);
  });
});
