import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built executable (run `npm run build` first; `npm test` does). */
export const BIN = resolve(import.meta.dirname, '../../bin/datablast-aws.js');

/** The result of one run of the built binary. */
export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A fresh, private config dir. */
export function tempConfigDir(prefix = 'dbaws-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Runs the built binary as a subprocess with a minimal, explicit environment (no inherited AWS_*
 * variables), optional stdin, and a hard timeout so a hang fails the test instead of the suite.
 */
export function runBin(
  args: string[],
  options: { env?: Record<string, string | undefined>; stdin?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const started = Date.now();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
  };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolvePromise({ exitCode, signal, stdout, stderr, ms: Date.now() - started });
    });
    // A child that exits before reading its input (a usage error) closes the pipe: that is no test failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}
