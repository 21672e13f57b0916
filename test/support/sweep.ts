import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runBin, type ProcessResult } from './cli-process.js';

/** The passphrase of the file secret store in the hardening sweeps. */
export const SWEEP_PASSPHRASE = 'hardening sweep passphrase';
/** AWS's documented example key pair: well-formed, never valid anywhere. */
export const EXAMPLE_KEY = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
} as const;
/** A loopback port nothing listens on: an AWS call that should never happen fails at once (exit 5), instead of reaching the internet. */
export const CLOSED_ENDPOINT = 'http://127.0.0.1:9';

/** Every file under `dir` (recursively) → sha256 of its bytes and its mode; a new, missing or changed file shows up as a difference. */
export function hashTree(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = statSync(path);
    const key = relative(dir, path);
    tree[key] = entry.isFile()
      ? `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${(info.mode & 0o777).toString(8)}`
      : `dir ${(info.mode & 0o777).toString(8)}`;
  }
  return tree;
}

/** Runs `work` over `items` with at most `limit` at once; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A private scratch directory. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The environment of a CLI child in a sweep: its own config dir with the encrypted file store, an empty
 * HOME (no ~/.aws), no instance metadata lookups, and AWS pointed at `endpoint` (a closed port by default).
 */
export function sweepEnv(configDir: string, home: string, endpoint = CLOSED_ENDPOINT): Record<string, string> {
  return {
    HOME: home,
    DATABLAST_AWS_CONFIG_DIR: configDir,
    DATABLAST_AWS_SECRET_STORE: 'file',
    DATABLAST_AWS_PASSPHRASE: SWEEP_PASSPHRASE,
    AWS_ENDPOINT_URL: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: 'us-east-1',
  };
}

/** True when stderr carries a JavaScript stack trace or our internal-error text. */
export function looksLikeCrash(stderr: string): boolean {
  return /\n\s+at .+[:(]/.test(stderr) || stderr.includes('unexpected internal error');
}

/** Runs the built binary in a sweep environment. */
export function runIn(
  env: Record<string, string>,
  args: string[],
  options: { stdin?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return runBin(args, {
    env: { ...env, ...options.env },
    stdin: options.stdin ?? '',
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}
