/**
 * The one backoff: every poll and retry in the product goes through `poll` or `retry`, each caller naming
 * its policy. Time comes from the injected clock, so tests run the longest waits in no time.
 */

/** How a loop waits between attempts and when it gives up. */
export interface BackoffPolicy {
  /** The first pause. */
  initialDelayMs: number;
  /** Pauses double up to this. */
  maxDelayMs: number;
  /** Give up once this long has passed since the first attempt (measured on the clock). */
  timeoutMs: number;
  /** Or after this many attempts (default: no limit but the time). */
  maxAttempts?: number;
  /**
   * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): each pause is a random share of
   * the computed one, so many clients retrying at once spread out. Off by default: single-client polls.
   */
  jitter?: boolean;
}

/** The clock the loops sleep on (the Context's Clock satisfies it). */
export interface BackoffClock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** What one attempt of a poll says: done with a value, or try again (optionally from the first pause). */
export type PollStep<T> = { done: true; value: T } | { done: false; resetDelay?: boolean };

/** Told before each pause, for progress lines. */
export interface WaitInfo {
  /** Attempts made so far (1 after the first). */
  attempt: number;
  /** The pause about to be taken. */
  delayMs: number;
  elapsedMs: number;
  remainingMs: number;
}

/** The outcome of a poll: its value, or the fact that time (or attempts) ran out first. */
export type PollResult<T> =
  { done: true; value: T; attempts: number; elapsedMs: number } | { done: false; attempts: number; elapsedMs: number };

/** The pause after `previousMs` (0: none yet), doubling from the initial delay up to the cap. */
export function nextDelay(previousMs: number, policy: Pick<BackoffPolicy, 'initialDelayMs' | 'maxDelayMs'>): number {
  if (previousMs <= 0) return policy.initialDelayMs;
  return Math.min(policy.maxDelayMs, previousMs * 2);
}

/**
 * Calls `step` until it says done, pausing with backoff between attempts; gives up (done: false) once the
 * policy's time or attempts are spent. The last pause is cut so the loop never waits past its deadline.
 */
export async function poll<T>(
  clock: BackoffClock,
  policy: BackoffPolicy,
  step: (attempt: number) => Promise<PollStep<T>>,
  options: { onWait?: (info: WaitInfo) => void; random?: () => number } = {},
): Promise<PollResult<T>> {
  const started = clock.now().getTime();
  let delay = 0;
  for (let attempt = 1; ; attempt += 1) {
    const result = await step(attempt);
    const elapsedMs = clock.now().getTime() - started;
    if (result.done) return { done: true, value: result.value, attempts: attempt, elapsedMs };
    const remainingMs = policy.timeoutMs - elapsedMs;
    if (remainingMs <= 0 || (policy.maxAttempts !== undefined && attempt >= policy.maxAttempts)) {
      return { done: false, attempts: attempt, elapsedMs };
    }
    delay = result.resetDelay ? policy.initialDelayMs : nextDelay(delay, policy);
    const jittered = policy.jitter ? Math.round(delay * (options.random ?? Math.random)()) : delay;
    const pause = Math.min(jittered, remainingMs);
    options.onWait?.({ attempt, delayMs: pause, elapsedMs, remainingMs });
    await clock.sleep(pause);
  }
}

/**
 * Calls `fn` until it succeeds; an error that `retryable` accepts is tried again with backoff while the
 * policy allows, any other error (or the last one) is thrown as it is.
 */
export async function retry<T>(
  clock: BackoffClock,
  policy: BackoffPolicy,
  fn: (attempt: number) => Promise<T>,
  retryable: (error: unknown, attempt: number) => boolean,
  options: { onWait?: (info: WaitInfo, error: unknown) => void; random?: () => number } = {},
): Promise<T> {
  let lastError: unknown;
  const result = await poll<T>(
    clock,
    policy,
    async (attempt) => {
      try {
        return { done: true, value: await fn(attempt) };
      } catch (error) {
        if (!retryable(error, attempt)) throw error;
        lastError = error;
        return { done: false };
      }
    },
    { onWait: (info) => options.onWait?.(info, lastError), ...(options.random ? { random: options.random } : {}) },
  );
  if (result.done) return result.value;
  throw lastError;
}
