import type { Prompter } from '../../src/ports.js';
import { CancelledError } from '../../src/errors.js';

type Answer = string | boolean | string[] | typeof CANCEL;

/** Answering this to a question behaves like Ctrl-C at that prompt. */
export const CANCEL = Symbol('cancel');

/**
 * Answers questions in order, matching each by a fragment of its text; fails on a surprise
 * question, and `assertDone()` fails on a leftover answer (cli/cli internal/prompter/test.go).
 */
export class ScriptedPrompter implements Prompter {
  private readonly script: Array<{ match: string; answer: Answer }> = [];
  readonly asked: string[] = [];

  /** Queues an answer for the next question whose text contains `match`. */
  answer(match: string, answer: Answer): this {
    this.script.push({ match, answer });
    return this;
  }

  assertDone(): void {
    if (this.script.length) throw new Error(`unused prompt answers: ${this.script.map((s) => s.match).join(', ')}`);
  }

  private next(message: string): Answer {
    this.asked.push(message);
    const step = this.script.shift();
    if (!step) throw new Error(`unexpected prompt: ${message}`);
    if (!message.includes(step.match))
      throw new Error(`expected a prompt containing "${step.match}", got "${message}"`);
    if (step.answer === CANCEL) throw new CancelledError();
    return step.answer;
  }

  async input(
    message: string,
    options?: { default?: string; validate?: (value: string) => string | true },
  ): Promise<string> {
    const value = String(this.next(message));
    const answer = value === '' && options?.default !== undefined ? options.default : value;
    const valid = options?.validate?.(answer) ?? true;
    if (valid !== true) throw new Error(`scripted answer "${answer}" to "${message}" is invalid: ${valid}`);
    return answer;
  }

  async password(message: string, options?: { validate?: (value: string) => string | true }): Promise<string> {
    const value = String(this.next(message));
    const valid = options?.validate?.(value) ?? true;
    if (valid !== true) throw new Error(`scripted answer to "${message}" is invalid: ${valid}`);
    return value;
  }

  async confirm(message: string): Promise<boolean> {
    return Boolean(this.next(message));
  }

  async select<T extends string>(message: string, choices: Array<{ value: T }>): Promise<T> {
    const value = this.next(message) as T;
    if (!choices.some((c) => c.value === value)) throw new Error(`"${value}" is not a choice of "${message}"`);
    return value;
  }

  /** Messages a checkbox's validate showed: the real prompt stays open on them, so the next answer is taken. */
  readonly rejected: string[] = [];
  /** The choices each checkbox offered, with what was preselected. */
  readonly offered: Array<Array<{ value: string; checked?: boolean }>> = [];

  async checkbox<T extends string>(
    message: string,
    choices: Array<{ value: T; checked?: boolean }>,
    options?: { validate?: (values: T[]) => string | true },
  ): Promise<T[]> {
    this.offered.push(choices.map((c) => ({ value: c.value, checked: c.checked })));
    for (;;) {
      const values = this.next(message) as T[];
      for (const v of values)
        if (!choices.some((c) => c.value === v)) throw new Error(`"${v}" is not a choice of "${message}"`);
      const valid = options?.validate?.(values) ?? true;
      if (valid === true) return values;
      this.rejected.push(valid);
    }
  }
}
