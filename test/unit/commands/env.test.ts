import { describe, expect, it } from 'vitest';
import { envCommand, renderEnv } from '../../../src/commands/env.js';
import { styleFor } from '../../../src/ui/output.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, seedConnection } from './helpers.js';

describe('env', () => {
  it('parses the name', async () => {
    expect(await captureOptions(envCommand, ['AWS Production'])).toEqual({ name: 'AWS Production' });
  });

  it('prints export lines for eval, and unsets a stray session token', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `export AWS_ACCESS_KEY_ID=${pair.accessKeyId}\nexport AWS_SECRET_ACCESS_KEY=${pair.secretAccessKey}\nexport AWS_REGION=eu-west-1\nunset AWS_SESSION_TOKEN\n`,
    );
    expect(result.stderr).toBe('');
    expect(world.aws.calls).toEqual([]);
  });

  it("uses --region over the connection's region", async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    expect((await runCli(['env', 'prod', '--region', 'us-gov-west-1'], world)).stdout).toContain(
      'export AWS_REGION=us-gov-west-1\n',
    );
  });

  it('prints the variables as one object under --json', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod', '--json'], world);
    expect(JSON.parse(result.stdout)).toEqual({
      AWS_ACCESS_KEY_ID: pair.accessKeyId,
      AWS_SECRET_ACCESS_KEY: pair.secretAccessKey,
      AWS_REGION: 'eu-west-1',
    });
  });

  it('warns on stderr when the secret would land on a terminal', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod', '--no-color'], world, { tty: true });
    expect(result.stderr).toContain('warning: this prints the secret access key on the terminal');
    expect(result.stderr).not.toContain(pair.secretAccessKey);
  });

  it('quotes a value that a shell would split', () => {
    const io = bufferedIO();
    renderEnv(
      { AWS_ACCESS_KEY_ID: 'a b', AWS_SECRET_ACCESS_KEY: "it's", AWS_REGION: 'us-east-1' },
      io,
      styleFor(false),
    );
    expect(io.stdout).toContain(`export AWS_ACCESS_KEY_ID='a b'\nexport AWS_SECRET_ACCESS_KEY='it'\\''s'\n`);
  });

  it('exits 3 for an unknown connection or a missing secret, printing nothing on stdout', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    world.secrets.entries.clear();
    for (const name of ['nope', 'prod']) {
      const result = await runCli(['env', name], world);
      expect(result.exitCode).toBe(3);
      expect(result.stdout).toBe('');
    }
  });
});
