import { describe, expect, it } from 'vitest';
import { buildProgram, commandToLoad } from '../../src/program.js';
import { GLOBAL_OPTIONS, scanArgs } from '../../src/fast-path.js';
import { createContext, defaultGlobals } from '../../src/context.js';
import { bufferedIO } from '../../src/ui/io.js';
import { runCli } from '../support/run-cli.js';

const context = () => createContext(defaultGlobals(), { io: bufferedIO(), env: {} });

describe('commandToLoad', () => {
  it.each([
    [['list'], 'list'],
    [['--json', 'list'], 'list'],
    [['--no-input', '--no-color', '--debug', 'env', 'prod'], 'env'],
    [['--profile', 'list', 'show', 'prod'], 'show'],
    [['--profile=list', 'show', 'prod'], 'show'],
    [['--region', 'eu-west-1', '--endpoint-url', 'http://127.0.0.1:1', 'rotate', '--all'], 'rotate'],
    [['credential-process', '--help'], 'credential-process'],
    [['__complete', 'connections'], '__complete'],
  ])('loads only the command named after global options: %j → %s', (args, name) => {
    expect(commandToLoad(scanArgs(args).command)?.name).toBe(name);
  });

  it.each([
    [[]],
    [['--help']],
    [['-h']],
    [['-V']],
    [['--version', 'list']],
    [['lst']],
    [['--all', 'rotate']],
    [['--', 'list']],
    [['--profile']],
    [['completion', 'bash']],
  ])(
    'loads every command when %j does not name one after global options only (help, typos, unknown options, the completion script)',
    (args) => {
      expect(commandToLoad(scanArgs(args).command)).toBeUndefined();
    },
  );

  it('knows every command of the tree by the name Commander gives it', async () => {
    const program = await buildProgram(context());
    const names = program.commands.map((c) => c.name());
    expect(names).toContain('__complete');
    for (const name of names) {
      if (name === 'completion' || name === 'help') continue; // they read the whole tree
      expect(commandToLoad(scanArgs([name]).command)?.name).toBe(name);
      const alone = await buildProgram(context(), name);
      expect(alone.commands.map((c) => c.name())).toEqual([name]);
    }
  });

  it('declares the global options once: Commander gets exactly the table the fast path reads', async () => {
    const program = await buildProgram(context());
    expect(program.options.map((o) => o.flags).filter((f) => f !== '-V, --version')).toEqual(
      GLOBAL_OPTIONS.map((o) => o.flags),
    );
    expect(program.options.map((o) => o.description)).toEqual(
      expect.arrayContaining(GLOBAL_OPTIONS.map((o) => o.description)),
    );
  });

  it('still suggests a near command and lists every command in --help', async () => {
    const typo = await runCli(['lst']);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain('list');
    const help = await runCli(['--help']);
    for (const name of ['init', 'rotate', 'list', 'credential-process', 'export-profile', 'completion'])
      expect(help.stdout).toContain(name);
  });
});
