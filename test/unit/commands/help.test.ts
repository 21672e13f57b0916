import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/run-cli.js';
import { defaultGlobals } from '../../../src/context.js';

describe('--help of the connection commands', () => {
  it.each(['add-connection', 'list', 'show', 'remove', 'credential-process', 'env'])(
    '%s has a description and an example',
    async (command) => {
      const result = await runCli([command, '--help']);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`Usage: datablast-aws ${command}`);
      expect(result.stdout).toContain('Examples:');
      expect(result.stdout).toMatch(new RegExp(`\\$ (.*\\| )?datablast-aws ${command}`));
    },
  );

  it('does not list the refused secret flags of add-connection', async () => {
    const { stdout } = await runCli(['add-connection', '--help']);
    expect(stdout).not.toMatch(/--secret-access-key|--secret \[/);
  });
});

describe('--help of every command in the Commander tree', async () => {
  const { programSpec } = await import('../../../src/commands/completion.js');
  const { buildProgram } = await import('../../../src/program.js');
  const { createContext } = await import('../../../src/context.js');
  const { bufferedIO } = await import('../../../src/ui/io.js');
  const ctx = createContext(defaultGlobals(), { io: bufferedIO(), env: {} });
  const commands = programSpec(await buildProgram(ctx)).commands;

  it('covers the commands of the contract', () => {
    expect(commands.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'init',
        'create-user',
        'attach-policy',
        'add-connection',
        'test',
        'rotate',
        'list',
        'show',
        'remove',
        'credential-process',
        'env',
        'export-profile',
        'completion',
      ]),
    );
  });

  it.each(commands.map((c) => [c.name]))('%s has a description and at least one example of itself', async (name) => {
    const result = await runCli([name, '--help']);
    expect(result.exitCode).toBe(0);
    const description = result.stdout.split('\n\n')[1] ?? '';
    expect(description.trim().length).toBeGreaterThan(20);
    const examples = /\nExamples:\n((?:[ \t]+\S.*\n?)+)/.exec(result.stdout)?.[1] ?? '';
    expect(examples, `${name} --help has no "Examples:" block`).not.toBe('');
    expect(examples).toMatch(new RegExp(`^\\s+(\\$ )?(.*[|(] *)?(\\S+=\\S+ )*datablast-aws ${name}\\b`, 'm'));
  });

  it.each(commands.flatMap((c) => c.flags.map((f) => [c.name, f.names[0]!, f.description] as const)))(
    '%s %s has a description',
    (_command, _flag, description) => {
      expect(description.trim()).not.toBe('');
    },
  );
});

describe('help [COMMAND]', () => {
  it("prints the command's help, the same text as COMMAND --help, exit 0", async () => {
    const viaHelp = await runCli(['help', 'rotate']);
    const viaFlag = await runCli(['rotate', '--help']);
    expect(viaHelp.exitCode).toBe(0);
    expect(viaHelp.stdout).toContain('Usage: datablast-aws rotate');
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
  });

  it('prints the list of commands without a name', async () => {
    const result = await runCli(['help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe((await runCli(['--help'])).stdout);
  });

  it('refuses an unknown or internal command with exit 2, naming the commands', async () => {
    for (const name of ['rotat', '__complete']) {
      const result = await runCli(['help', name]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`no command named "${name}"`);
      expect(result.stderr).toContain('rotate');
    }
  });
});
