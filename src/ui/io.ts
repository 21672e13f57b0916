import { writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isatty } from 'node:tty';
import type { IO } from '../ports.js';

/**
 * The real process streams. Building process.stdin/stdout/stderr (a pipe's socket, a file's stream)
 * cost about 7 ms of every run, a quarter of a bare Node start: the TTY flags come from isatty(), and
 * results go to file descriptor 1 with a blocking write; the streams are built only when needed
 * (reading stdin, writing stderr, a stdout that refuses a blocking write, Windows consoles).
 */
export function processIO(): IO {
  return {
    // Windows consoles need the stream's conversion.
    out: blockingWriter(
      (bytes, offset) => writeSync(1, bytes, offset),
      (bytes) => void process.stdout.write(bytes),
      process.platform === 'win32',
    ),
    err: (text) => void process.stderr.write(text),
    stdinIsTTY: isatty(0),
    stdoutIsTTY: isatty(1),
    stderrIsTTY: isatty(2),
    readStdin: async (maxBytes) => {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of process.stdin) {
        total += (chunk as Buffer).length;
        // Leaving the loop destroys the stream: `yes | …` gets SIGPIPE instead of filling our memory.
        if (total > maxBytes) return undefined;
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/**
 * Reads at most `maxBytes` of a file (or a device, a pipe, a process substitution): undefined when it
 * holds more, so `/dev/zero` or `<(yes)` cost at most that much memory. fs errors are thrown as they are.
 */
export async function readFileUpTo(path: string, maxBytes: number): Promise<Buffer | undefined> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return length > maxBytes ? undefined : buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/**
 * A writer that writes with `write` (a blocking write returning the bytes written) and, once that
 * reports EAGAIN (a non-blocking descriptor someone else set, full), hands the rest and everything
 * after it to `fallback` (a stream that queues), keeping the order. EPIPE (the reader went away, as
 * with `| head`) stops all further output quietly, as SIGPIPE would stop another program.
 */
export function blockingWriter(
  write: (bytes: Buffer, offset: number) => number,
  fallback: (bytes: Buffer) => void,
  fallbackFirst = false,
): (text: string) => void {
  let useFallback = fallbackFirst;
  let closed = false;
  return (text) => {
    if (closed) return;
    const bytes = Buffer.from(text, 'utf8');
    if (useFallback) {
      fallback(bytes);
      return;
    }
    let written = 0;
    while (written < bytes.length) {
      try {
        written += write(bytes, written);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') {
          closed = true;
          return;
        }
        if (code !== 'EAGAIN') throw error;
        useFallback = true;
        fallback(bytes.subarray(written));
        return;
      }
    }
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
    readStdin: async (maxBytes) => {
      const text = options.stdin ?? '';
      return Buffer.byteLength(text, 'utf8') > maxBytes ? undefined : text;
    },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
