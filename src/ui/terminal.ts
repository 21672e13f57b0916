import { writeSync } from 'node:fs';
import type { Terminal } from '../ports.js';
import { CancelledError } from '../errors.js';

/**
 * The process's terminal: keys from stdin in raw mode, text straight to file descriptor 2. Only the hand-offs
 * that show a person a secret on their own screen use it; everything else goes through IO, whose stderr is
 * scrubbed of secrets.
 */
export function processTerminal(): Terminal {
  return {
    write(text) {
      writeSync(2, text);
    },
    readKey() {
      const stdin = process.stdin;
      return new Promise((resolve, reject) => {
        const wasRaw = stdin.isRaw;
        stdin.setRawMode(true);
        stdin.resume();
        stdin.once('data', (data: Buffer) => {
          stdin.setRawMode(wasRaw);
          stdin.pause();
          // Keys typed ahead arrive in one chunk: take the first, leave the rest for the next reader.
          const [key = '', ...rest] = [...data.toString('utf8')];
          if (rest.length > 0) stdin.unshift(Buffer.from(rest.join(''), 'utf8'));
          // Raw mode turns Ctrl-C and Ctrl-D into plain bytes: they still mean "stop".
          if (key === '\u0003' || key === '\u0004') reject(new CancelledError());
          else resolve(key);
        });
      });
    },
  };
}
