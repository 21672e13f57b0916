import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_PROCESS_LIFETIME_MS, credentialProcessCommand } from '../../../src/commands/credential-process.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, seedConnection } from './helpers.js';
import { staticImports } from '../../support/static-imports.js';

describe('credential-process', () => {
  it('parses the name', async () => {
    expect(await captureOptions(credentialProcessCommand, ['AWS Production'])).toEqual({ name: 'AWS Production' });
  });

  it('prints exactly the Version 1 JSON and a newline, nothing else anywhere', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'AWS Production');
    const result = await runCli(['credential-process', 'AWS Production'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `{"Version":1,"AccessKeyId":"${pair.accessKeyId}","SecretAccessKey":"${pair.secretAccessKey}","Expiration":"2026-11-28T12:20:00Z"}\n`,
    );
    expect(result.stderr).toBe('');
  });

  it("expires 20 minutes ahead, beyond botocore's 15-minute advisory window, so SDKs ask again but not per call", async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.clock.advance(1234);
    const result = await runCli(['credential-process', 'prod'], world);
    const expiration = (JSON.parse(result.stdout) as { Expiration: string }).Expiration;
    expect(expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const minutes = (Date.parse(expiration) - world.clock.now().getTime()) / 60_000;
    // Whole seconds: at most one second short of 20 minutes.
    expect(minutes).toBeGreaterThan(15 + 4);
    expect(minutes).toBeLessThanOrEqual(20);
    expect(CREDENTIAL_PROCESS_LIFETIME_MS).toBe(20 * 60_000);
  });

  it('prints the same compact document under --json', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['credential-process', 'prod', '--json'], world);
    expect(result.stdout).toBe(
      `{"Version":1,"AccessKeyId":"${pair.accessKeyId}","SecretAccessKey":"${pair.secretAccessKey}","Expiration":"2026-11-28T12:20:00Z"}\n`,
    );
  });

  it('never prompts and never calls AWS, even on a terminal', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const result = await runCli(['credential-process', 'prod'], world, { tty: true });
    expect(result.exitCode).toBe(0);
    expect(world.prompter.asked).toEqual([]);
    expect(world.aws.calls).toEqual([]);
  });

  it('serves the stored pair as a unit, even when the metadata still names the previous key mid-rotation', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const next = world.aws.issueKey('datablast', 0);
    await world.secrets.set('prod', next);
    const result = await runCli(['credential-process', 'prod'], world);
    expect(JSON.parse(result.stdout)).toEqual({
      Version: 1,
      AccessKeyId: next.accessKeyId,
      SecretAccessKey: next.secretAccessKey,
      Expiration: '2026-11-28T12:20:00Z',
    });
  });

  it('exits 3 with nothing on stdout for an unknown connection', async () => {
    const result = await runCli(['credential-process', 'nope'], fakeWorld());
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('no connection named "nope"');
  });

  it('exits 3 with the repair step when the secret is missing', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'AWS Production');
    world.secrets.entries.clear();
    const result = await runCli(['credential-process', 'AWS Production'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      `datablast-aws add-connection 'AWS Production' --force --access-key-id ${pair.accessKeyId} --secret-stdin`,
    );
  });

  it('exits 6 with nothing on stdout when the secret store fails', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.failNext('get');
    const result = await runCli(['credential-process', 'prod'], world);
    expect(result.exitCode).toBe(6);
    expect(result.stdout).toBe('');
  });

  it('runs `credential-process NAME` from a module graph without the AWS SDK, the prompts, Commander or any other library (main.ts skips Commander for it)', () => {
    const imports = [...staticImports(join(import.meta.dirname, '../../../src/commands/credential-process.ts'))];
    expect(imports.filter((m) => !m.startsWith('/') && !m.startsWith('node:'))).toEqual([]);
    expect(imports.filter((m) => m.includes('/src/aws/') || m.endsWith('/ui/prompts.ts'))).toEqual([]);
    expect(imports.some((m) => m.endsWith('/health/require-connection.ts'))).toBe(true);
  });

  it("answers the same through main's shortcut and through Commander, for success and for every failure", async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    await seedConnection(world, 'no secret');
    await world.secrets.delete('no secret');
    const cases: Array<{ name: string; env?: Record<string, string>; code: number }> = [
      { name: 'prod', code: 0 },
      { name: 'Prod', code: 3 },
      { name: 'no secret', code: 3 },
      { name: '', code: 3 },
      { name: 'prod', env: { AWS_ENDPOINT_URL: 'not a url' }, code: 2 },
    ];
    for (const { name, env, code } of cases) {
      for (const [k, v] of Object.entries(env ?? {})) world.env[k] = v;
      // Exactly `credential-process NAME` takes the shortcut; a global flag that changes nothing here sends it through Commander.
      const short = await runCli(['credential-process', name], world);
      const long = await runCli(['--no-color', 'credential-process', name], world);
      expect(short.exitCode).toBe(code);
      expect({ exitCode: short.exitCode, stdout: short.stdout, stderr: short.stderr }).toEqual({
        exitCode: long.exitCode,
        stdout: long.stdout,
        stderr: long.stderr,
      });
      for (const k of Object.keys(env ?? {})) delete world.env[k];
    }
  });
});
