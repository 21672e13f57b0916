import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { inquirerPrompter } from '../../../src/ui/prompts.js';
import type { GlobalOptions } from '../../../src/ports.js';
import { createContext } from '../../../src/context.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { CancelledError } from '../../../src/errors.js';

const globals: GlobalOptions = {
  json: false,
  input: true,
  color: false,
  profile: undefined,
  region: undefined,
  endpointUrl: undefined,
  debug: false,
};

function setup() {
  const input = new PassThrough();
  const output = new PassThrough();
  let drawn = '';
  output.on('data', (chunk: Buffer) => (drawn += chunk.toString('utf8')));
  const ctx = createContext(globals, { io: bufferedIO(), env: {} });
  const prompter = inquirerPrompter(ctx, { input, output });
  const type = (keys: string) => setTimeout(() => input.write(keys), 50);
  return { prompter, type, drawn: () => drawn };
}

describe('inquirerPrompter', () => {
  it('returns what was typed at an input prompt', async () => {
    const { prompter, type } = setup();
    type('my-connection\r');
    await expect(prompter.input('Connection name?')).resolves.toBe('my-connection');
  });

  it('masks a password as it is typed', async () => {
    const { prompter, type, drawn } = setup();
    type('s3cretValueThatIsLong\r');
    await expect(prompter.password('Secret access key?')).resolves.toBe('s3cretValueThatIsLong');
    expect(drawn()).toContain('Secret access key?');
    expect(drawn()).not.toContain('s3cretValueThatIsLong');
  });

  it('turns Ctrl-C into a CancelledError (exit 130)', async () => {
    const { prompter, type } = setup();
    type('\u0003');
    const error = await prompter.confirm('Remove it?').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).exitCode).toBe(130);
  });
});
