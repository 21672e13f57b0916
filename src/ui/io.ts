import type { IO } from '../context.js';

/** The real process streams. */
export function processIO(): IO {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    // Getters: touching process.stdin builds its stream, which `--version` has no use for.
    get stdinIsTTY() {
      return Boolean(process.stdin.isTTY);
    },
    get stdoutIsTTY() {
      return Boolean(process.stdout.isTTY);
    },
    get stderrIsTTY() {
      return Boolean(process.stderr.isTTY);
    },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** In-memory streams for tests: what was written is in `stdout` / `stderr`. */
export interface BufferedIO extends IO {
  readonly stdout: string;
  readonly stderr: string;
}

/** Builds in-memory streams; `stdin` is what readStdin returns. */
export function bufferedIO(options: { stdin?: string; tty?: boolean } = {}): BufferedIO {
  let stdout = '';
  let stderr = '';
  const tty = options.tty ?? false;
  return {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    stdinIsTTY: tty,
    stdoutIsTTY: tty,
    stderrIsTTY: tty,
    readStdin: async () => options.stdin ?? '',
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
