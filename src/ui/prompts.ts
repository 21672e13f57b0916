import type { Context, Prompter } from '../ports.js';
import { CancelledError } from '../errors.js';

type Inquirer = typeof import('@inquirer/prompts');

/** Where prompts read keys and draw: the terminal's stdin and stderr, or test streams. */
export interface PromptStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

/**
 * The real prompter: @inquirer/prompts, rendered on stderr so that stdout carries results only.
 * Commands never call it under --no-input (ctx.globals.input false); they raise a UsageError instead.
 */
export function inquirerPrompter(
  ctx: Context,
  streams: PromptStreams = { input: process.stdin, output: process.stderr },
): Prompter {
  let loaded: Promise<Inquirer> | undefined;
  // Loaded on the first question only: commands that never prompt never pay for inquirer.
  const inquirer = () => (loaded ??= import('@inquirer/prompts'));
  const context = { input: streams.input, output: streams.output, clearPromptOnDone: false };
  const theme = ctx.globals.color
    ? {}
    : {
        prefix: { idle: '?', done: '✔' },
        style: {
          answer: plain,
          message: plain,
          error: plain,
          help: plain,
          highlight: plain,
          key: plain,
          defaultAnswer: plain,
        },
      };

  return {
    async input(message, options = {}) {
      const { input } = await inquirer();
      return ask(() => input({ message, default: options.default, validate: options.validate, theme }, context));
    },
    async password(message, options = {}) {
      const { password } = await inquirer();
      return ask(() => password({ message, mask: '*', validate: options.validate, theme }, context));
    },
    async confirm(message, options = {}) {
      const { confirm } = await inquirer();
      return ask(() => confirm({ message, default: options.default ?? false, theme }, context));
    },
    async select(message, choices, options = {}) {
      const { select } = await inquirer();
      return ask(() => select({ message, choices, default: options.default, theme }, context));
    },
    async checkbox(message, choices, options = {}) {
      const { checkbox } = await inquirer();
      const validate = options.validate;
      // Checked in the prompt itself: an empty answer keeps the question open with the message, and no ✔ is drawn.
      return ask(() =>
        checkbox(
          {
            message,
            choices,
            theme,
            ...(validate
              ? {
                  validate: (chosen: ReadonlyArray<{ value: unknown }>) =>
                    validate(chosen.map((c) => c.value) as never),
                }
              : {}),
          },
          context,
        ),
      );
    },
  };
}

function plain(text: string): string {
  return text;
}

/** Ctrl-C (inquirer's ExitPromptError) and an aborted prompt become CancelledError, exit 130. */
async function ask<T>(prompt: () => Promise<T>): Promise<T> {
  try {
    return await prompt();
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError')
      throw new CancelledError('cancelled at the prompt', { cause: error });
    throw error;
  }
}
