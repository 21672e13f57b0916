import { describe, expect, it } from 'vitest';
import { envCommand, renderEnv } from '../../../src/commands/env.js';
import { styleFor } from '../../../src/ui/output.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { captureOptions, seedConnection } from './helpers.js';

describe('env', () => {
  it('parses the name', async () => {
    expect(await captureOptions(envCommand, ['AWS Production'])).toEqual({ name: 'AWS Production' });
    expect(await captureOptions(envCommand, ['prod', '--shell', 'fish'])).toEqual({ name: 'prod', shell: 'fish' });
    expect(await captureOptions(envCommand, ['prod', '--shell', 'zsh'])).toEqual({ name: 'prod', shell: 'posix' });
  });

  it('refuses an unknown --shell with exit 2', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod', '--shell', 'tcsh'], world);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--shell fish');
  });

  it('prints fish syntax on one line with --shell fish, as `eval (…)` needs', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod', '--shell', 'fish'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `set -gx AWS_ACCESS_KEY_ID ${pair.accessKeyId}; set -gx AWS_SECRET_ACCESS_KEY ${pair.secretAccessKey}; set -gx AWS_REGION eu-west-1; set -gx AWS_DEFAULT_REGION eu-west-1; set -e AWS_SESSION_TOKEN\n`,
    );
  });

  it('prints POSIX lines whatever $SHELL says, with a note for a fish user', async () => {
    const world = fakeWorld({ env: { SHELL: '/usr/bin/fish' } });
    await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod'], world);
    expect(result.stdout).toMatch(/^export AWS_ACCESS_KEY_ID=/);
    expect(result.stderr).toContain('--shell fish');
  });

  it.each([
    ['a region edited into a profile', 'us-east-1\n[profile victim]\ncredential_process = sh -c "touch X"'],
    ['a command substitution', "us-east-1'; touch X; '"],
    ['a fish command substitution', 'us-east-1(touch X)'],
  ])('refuses to print %s read from the metadata (exit 3), printing nothing', async (_what, region) => {
    const world = fakeWorld();
    await seedConnection(world, 'prod', { region });
    for (const shell of ['posix', 'fish']) {
      const result = await runCli(['env', 'prod', '--shell', shell], world);
      expect(result.exitCode).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('invalid region');
    }
  });

  it('refuses a stored entry that is not an access key (exit 6), never echoing it', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    await world.secrets.set('prod', {
      accessKeyId: pair.accessKeyId,
      secretAccessKey: "x'; touch X; echo '" + 'y'.repeat(20),
    });
    const result = await runCli(['env', 'prod'], world);
    expect(result.exitCode).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain('touch X');
  });

  it('prints export lines for eval, and unsets a stray session token', async () => {
    const world = fakeWorld();
    const pair = await seedConnection(world, 'prod');
    const result = await runCli(['env', 'prod'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `export AWS_ACCESS_KEY_ID=${pair.accessKeyId}\nexport AWS_SECRET_ACCESS_KEY=${pair.secretAccessKey}\nexport AWS_REGION=eu-west-1\nexport AWS_DEFAULT_REGION=eu-west-1\nunset AWS_SESSION_TOKEN\n`,
    );
    expect(result.stderr).toBe('');
    expect(world.aws.calls).toEqual([]);
  });

  it("uses --region over the connection's region", async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    expect((await runCli(['env', 'prod', '--region', 'us-gov-west-1'], world)).stdout).toContain(
      'export AWS_REGION=us-gov-west-1\nexport AWS_DEFAULT_REGION=us-gov-west-1\n',
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
      AWS_DEFAULT_REGION: 'eu-west-1',
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
      {
        AWS_ACCESS_KEY_ID: 'a b',
        AWS_SECRET_ACCESS_KEY: "it's",
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
      },
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
