import { expect } from 'vitest';
import { CliError } from '../../src/errors.js';

/** The error `promise` rejects with, asserted to be a `type` (our CliError by default); fails the test if it resolves. */
export async function rejection<E extends CliError = CliError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E = CliError as never,
): Promise<E> {
  const outcome = await promise.then(
    (value: unknown) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error('expected the call to fail');
  expect(outcome.error).toBeInstanceOf(type);
  return outcome.error as E;
}
