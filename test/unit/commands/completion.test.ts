import { describe, expect, it } from 'vitest';
import { completion, programSpec } from '../../../src/commands/completion.js';
import { buildProgram } from '../../../src/program.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import { UsageError } from '../../../src/errors.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { seedConnection } from './helpers.js';

const spec = programSpec(await buildProgram(createContext(defaultGlobals(), { io: bufferedIO(), env: {} })));

describe('completion', () => {
  it.each(['bash', 'zsh', 'fish'])('prints a %s script that names every visible command', async (shell) => {
    const result = await runCli(['completion', shell]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of spec.commands) expect(result.stdout).toContain(command.name);
    expect(result.stdout).not.toMatch(/__complete(?! connections)/);
  });

  it('refuses an unknown shell with exit 2, naming the three it knows', async () => {
    const result = await runCli(['completion', 'tcsh']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('bash, zsh, fish');
    await expect(completion({} as never, { shell: 'powershell', program: spec })).rejects.toThrow(UsageError);
  });

  it('reads commands and flags from the Commander tree: hidden commands left out, --help only among the global flags', () => {
    expect(spec.commands.map((c) => c.name)).not.toContain('__complete');
    expect(spec.commands.map((c) => c.name)).toEqual(
      expect.arrayContaining(['init', 'rotate', 'export-profile', 'completion']),
    );
    expect(spec.globalFlags.flatMap((f) => f.names)).toEqual(
      expect.arrayContaining(['--json', '--no-input', '--profile', '--help', '-h', '--version', '-V']),
    );
    const rotate = spec.commands.find((c) => c.name === 'rotate')!;
    expect(rotate.flags.flatMap((f) => f.names)).toEqual(
      expect.arrayContaining(['--all', '--older-than', '--keep-old', '--dry-run']),
    );
    expect(rotate.flags.flatMap((f) => f.names)).not.toContain('--help');
    expect(rotate.flags.find((f) => f.names.includes('--older-than'))!.takesValue).toBe(true);
    expect(rotate.firstArgument).toEqual({ kind: 'connection' });
    expect(spec.commands.find((c) => c.name === 'completion')!.firstArgument).toEqual({
      kind: 'words',
      words: ['bash', 'zsh', 'fish'],
    });
    expect(spec.commands.find((c) => c.name === 'create-user')!.firstArgument).toEqual({ kind: 'none' });
    const init = spec.commands.find((c) => c.name === 'init')!;
    expect(init.flags.find((f) => f.names.includes('--connection'))!.value).toEqual({ kind: 'connection' });
    expect(init.flags.find((f) => f.names.includes('--service'))!.value).toEqual({
      kind: 'words',
      words: ['s3', 'rds', 'lambda'],
    });
    const attach = spec.commands.find((c) => c.name === 'attach-policy')!;
    expect(attach.flags.find((f) => f.names.includes('--policy-file'))!.value).toEqual({ kind: 'file' });
  });
});

describe('__complete connections', () => {
  it('prints the connection names, sorted, one a line, from the metadata alone', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    await seedConnection(world, 'AWS Production');
    const result = await runCli(['__complete', 'connections'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('AWS Production\nprod\n');
    expect(world.aws.calls).toEqual([]);
  });

  it('prints nothing when there is no connection', async () => {
    expect((await runCli(['__complete', 'connections'])).stdout).toBe('');
  });

  it('is not listed in --help', async () => {
    expect((await runCli(['--help'])).stdout).not.toContain('__complete');
  });
});
