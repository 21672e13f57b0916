import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/run-cli.js';

describe('--help of the connection commands', () => {
  it.each(['add-connection', 'list', 'show', 'remove', 'credential-process', 'env'])('%s has a description and an example', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`Usage: datablast-aws ${command}`);
    expect(result.stdout).toContain('Examples:');
    expect(result.stdout).toMatch(new RegExp(`\\$ (.*\\| )?datablast-aws ${command}`));
  });

  it('does not list the refused secret flags of add-connection', async () => {
    const { stdout } = await runCli(['add-connection', '--help']);
    expect(stdout).not.toMatch(/--secret-access-key|--secret \[/);
  });
});
