import { createRequire } from 'node:module';
import type * as Commander from 'commander';

// Command modules build their Commander wiring through these, so that importing a command module
// does not load Commander: main's shortcuts (credential-process NAME, env NAME, show NAME, list) run
// a command's work straight from its module, and only a run that parses through Commander loads it.
// Required synchronously (Commander's CommonJS build): its ES entry re-exports that same module, so
// program.ts's `import { Command } from 'commander'` and these make instances of the same classes.

let loaded: typeof Commander | undefined;

function commander(): typeof Commander {
  loaded ??= createRequire(import.meta.url)('commander') as typeof Commander;
  return loaded;
}

export function createCommand(name: string): Commander.Command {
  return commander().createCommand(name);
}

export function createOption(flags: string, description?: string): Commander.Option {
  return commander().createOption(flags, description);
}

export function createArgument(name: string, description?: string): Commander.Argument {
  return commander().createArgument(name, description);
}

export function createHelp(): Commander.Help {
  return new (commander().Help)();
}

/** The accumulator of a repeatable option (no default, so help shows none). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
