import { spawn } from 'node:child_process';
import type { Consumer, DeliveryOutcome } from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { redact, rememberSecret } from '../domain/redact.js';

/** How long an `exec:` command may run by default before it is stopped. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** After SIGTERM to the command's process group, how long before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** How much of the command's output we keep (its last bytes): enough to explain a failure, bounded memory. */
export const MAX_EXEC_OUTPUT_BYTES = 16 * 1024;

/** Variables a delivery command must not inherit: they belong to another key or are our own secrets. */
const WITHHELD = ['AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'DATABLAST_AWS_PASSPHRASE'];

/** What the exec consumer needs: the environment it passes on, and how long a command may take. */
export interface ExecDeps {
  env: Readonly<Record<string, string | undefined>>;
  timeoutMs?: number;
}

/**
 * The `exec:COMMAND` consumer: runs `sh -c COMMAND` with the key in its environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_DEFAULT_REGION, DATABLAST_CONNECTION), never in its argv; exit 0 is
 * delivered. The command runs in its own process group, so a timeout stops everything it started; its output
 * is kept bounded and scrubbed of the secret before anyone sees it.
 */
export function execConsumer(command: string, deps: ExecDeps): Consumer {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return {
    async deliver(connection, pair) {
      rememberSecret(pair.secretAccessKey);
      const run = await runCommand(command, childEnv(deps.env, connection, pair), timeoutMs);
      const output = redact(run.output).trim();
      const seconds = `${(run.ms / 1000).toFixed(1)} s`;
      const shown = output === '' ? {} : { output };
      if (run.error)
        return {
          status: 'failed',
          message: `could not start the command: ${run.error}`,
          hint: 'Check that sh exists.',
        };
      if (run.timedOut)
        return {
          status: 'failed',
          message: `the command did not finish within ${timeoutMs / 1000} s and was stopped`,
          hint: 'Make it finish sooner, or give it longer with --exec-timeout SECONDS.',
          ...shown,
        };
      if (run.code === 0) return { status: 'delivered', detail: `the command exited 0 after ${seconds}`, ...shown };
      const how = run.code === null ? `was killed by ${run.signal ?? 'a signal'}` : `exited ${run.code}`;
      return {
        status: 'failed',
        message: `the command ${how} after ${seconds}`,
        hint: 'Its output is shown above; fix the command, then run `datablast-aws deliver NAME` again.',
        ...shown,
      } satisfies DeliveryOutcome;
    },
  };
}

/** The child's environment: ours, minus what belongs to another key, plus the key being delivered. */
export function childEnv(
  env: Readonly<Record<string, string | undefined>>,
  connection: Connection,
  pair: AccessKeyPair,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !WITHHELD.includes(k)) result[k] = v;
  return {
    ...result,
    AWS_ACCESS_KEY_ID: pair.accessKeyId,
    AWS_SECRET_ACCESS_KEY: pair.secretAccessKey,
    AWS_REGION: connection.region,
    AWS_DEFAULT_REGION: connection.region,
    DATABLAST_CONNECTION: connection.name,
  };
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
  ms: number;
  error?: string;
}

/** Runs `sh -c command` in its own process group with a deadline; keeps the last bytes of stdout and stderr. */
function runCommand(command: string, env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    // detached: a process group of its own, so that a timeout stops the whole pipeline the command started.
    const child = spawn('sh', ['-c', command], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let kept = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      kept = Buffer.concat([kept, chunk]);
      if (kept.length > MAX_EXEC_OUTPUT_BYTES) kept = kept.subarray(kept.length - MAX_EXEC_OUTPUT_BYTES);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      killer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);
    let done = false;
    const finish = (result: Omit<RunResult, 'output' | 'timedOut' | 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      // A background process the command left behind keeps the pipes open; stop it with the group.
      if (timedOut) signalGroup('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...result, output: kept.toString('utf8'), timedOut, ms: Date.now() - started });
    };
    child.on('error', (error) => finish({ code: null, signal: null, error: error.message }));
    // 'exit', not 'close': a grandchild holding the pipes open must not keep us waiting past the command itself.
    child.on('exit', (code, signal) => {
      // Give the pipes a moment to deliver what the command wrote just before it exited.
      setTimeout(() => finish({ code, signal }), 50);
    });
  });
}
