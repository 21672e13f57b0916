import { CancelledError, ExitCode } from './errors.js';

/**
 * Ctrl-C and SIGTERM. Every step of every command is ordered so that stopping between two steps leaves a
 * state the next run accepts or repairs (the rotation journal is written before each step; add-connection
 * stores the secret before the metadata, remove deletes in the opposite order). So a signal stops the run
 * at once: the synchronous cleanups registered here remove what an in-flight write would leave (an atomic
 * write's temp file, a lock we hold), and the process exits 130 — or 8 when it leaves work the next run
 * resumes (a rotation journal), as CLI.md documents for a resumable interruption.
 *
 * One window is not safe to cut: between creating an access key and storing its secret, a key would exist
 * whose secret nobody holds. Such work runs in `critical()`: a signal then wakes its sleeps with a
 * CancelledError, so it undoes its own step (deletes the key) and ends with exit 130. A second signal stops
 * everything at once.
 */

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
const resumables = new Set<() => boolean>();
const sleepers = new Set<(error: Error) => void>();
let received: NodeJS.Signals | undefined;
let criticalDepth = 0;
let forcedExit: ((signal: NodeJS.Signals) => void) | undefined;

/** Registers a synchronous cleanup to run if a signal ends the process; returns its removal. */
export function onInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/**
 * Registers a synchronous check, run when a signal ends the process after the cleanups: true when the
 * interrupted work left state that the same command resumes (then the exit code is 8, not 130).
 */
export function onInterruptResumable(check: () => boolean): () => void {
  resumables.add(check);
  return () => {
    resumables.delete(check);
  };
}

/** Whether any registered check reports resumable state; a check that fails counts as resumable. */
function resumableLeft(): boolean {
  return [...resumables].some((check) => {
    try {
      return check();
    } catch {
      return true;
    }
  });
}

/** The signal that interrupted this run, if one did. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return received;
}

/** A sleep that ends early with a CancelledError once SIGINT or SIGTERM has arrived (the system clock's sleep). */
export function interruptibleSleep(ms: number): Promise<void> {
  if (received) return Promise.reject(cancelled(received));
  return new Promise((resolve, reject) => {
    const wake = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      sleepers.delete(wake);
      resolve();
    }, ms);
    sleepers.add(wake);
  });
}

/**
 * Runs work that a signal must not cut short (see above). A signal meanwhile cancels its sleeps; if it
 * still succeeds, the process exits 130 as soon as it is done.
 */
export async function critical<T>(work: () => Promise<T>): Promise<T> {
  criticalDepth += 1;
  let done = false;
  try {
    const result = await work();
    done = true;
    return result;
  } finally {
    criticalDepth -= 1;
    if (done && criticalDepth === 0 && received) forcedExit?.(received);
  }
}

/**
 * Installs the handlers for SIGINT and SIGTERM (the executable does, once; in-process callers such as the
 * tests do not). `exit` ends the process; `write` puts text on stderr.
 */
export function installSignalHandlers(exit: (code: number) => void, write: (text: string) => void): void {
  forcedExit = (signal) => {
    const cut = criticalDepth > 0;
    for (const cleanup of [...cleanups]) {
      try {
        cleanup();
      } catch {
        // Best effort: the next run tolerates what is left (a lock of a dead process, a stray temp file).
      }
    }
    cleanups.clear();
    if (resumableLeft()) {
      write(`\nerror: interrupted (${signal})\n${RESUMABLE_HINT}\n`);
      exit(ExitCode.interrupted);
      return;
    }
    write(`\nerror: cancelled (${signal})\n${cut ? CUT_HINT : HINT}\n`);
    exit(ExitCode.cancelled);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (received !== undefined || criticalDepth === 0) {
        forcedExit!(received ?? signal);
        return;
      }
      received = signal;
      write(
        `\n${signal}: undoing the step under way so that no key is left behind (press Ctrl-C again to stop at once)\n`,
      );
      for (const wake of [...sleepers]) wake(cancelled(signal));
      sleepers.clear();
    });
  }
}

const HINT =
  'If a rotation was under way, run the same command again: it finishes or undoes it first. Anything else can simply be run again.';
const RESUMABLE_HINT =
  'A rotation was under way and its journal remains: run the same command again; it finishes or undoes the rotation first.';
const CUT_HINT =
  'Stopped while a new access key was being created and saved: if `aws iam list-access-keys` shows a key no connection holds, delete it, then run the command again.';

function cancelled(signal: NodeJS.Signals): CancelledError {
  return new CancelledError(`cancelled (${signal})`, { hint: HINT });
}
