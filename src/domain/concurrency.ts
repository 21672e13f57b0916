/** Runs `work` over `items` with at most `limit` at once; results keep the input order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/*
 * Concurrency that adapts to throttling: additive increase, multiplicative decrease (AIMD), as TCP's
 * congestion control and the AWS SDKs' "adaptive" retry mode do. The limit starts at the most the caller
 * allows, halves on a throttling answer and grows by one after a run of successes, never below 1.
 */

/** Where an adaptive limit stands; the decisions below are pure functions of it. */
export interface AimdState {
  /** How many may run at once now. */
  limit: number;
  /** The most the caller allows (where the limit starts). */
  max: number;
  /** Successes since the limit last changed. */
  successes: number;
  /** Bumped by every cut: a throttling answer to a call begun before the last cut is old news. */
  epoch: number;
  /** The lowest the limit went. */
  lowest: number;
  /** How many times the limit was halved. */
  cuts: number;
}

/** One answer, as the limit sees it: a success, or a throttling answer to a call begun in `epoch`. */
export type AimdOutcome = { kind: 'ok' } | { kind: 'throttled'; epoch: number };

/**
 * Successes in a row that earn one more slot: `ROUND` per slot in use, about one round of every running
 * rotation's calls (TCP grows by one segment a round trip, not an acknowledgement).
 */
export const AIMD_ROUND = 5;

/** The state before the first call: the limit at `max`. */
export function aimdStart(max: number): AimdState {
  const limit = Math.max(1, Math.floor(max));
  return { limit, max: limit, successes: 0, epoch: 0, lowest: limit, cuts: 0 };
}

/**
 * The next state after one answer. A throttling answer halves the limit (never below 1) once per epoch:
 * the calls already under way when the limit was cut were sent at the old pace, and their answers must
 * not cut it again. A run of successes (AIMD_ROUND per slot) adds one slot, up to `max`.
 */
export function aimdNext(state: AimdState, outcome: AimdOutcome): AimdState {
  if (outcome.kind === 'throttled') {
    if (outcome.epoch < state.epoch) return { ...state, successes: 0 };
    const limit = Math.max(1, Math.floor(state.limit / 2));
    return {
      ...state,
      limit,
      successes: 0,
      epoch: state.epoch + 1,
      lowest: Math.min(state.lowest, limit),
      cuts: state.cuts + 1,
    };
  }
  const successes = state.successes + 1;
  if (state.limit < state.max && successes >= state.limit * AIMD_ROUND)
    return { ...state, limit: state.limit + 1, successes: 0 };
  return { ...state, successes };
}

/** A live adaptive limit over `aimdNext`: callers record answers, the runner reads the limit. */
export class AdaptiveLimit {
  private current: AimdState;
  private readonly listeners: Array<() => void> = [];

  constructor(max: number) {
    this.current = aimdStart(max);
  }

  /** The state now (a copy). */
  get state(): AimdState {
    return { ...this.current };
  }

  /** How many may run at once now. */
  get limit(): number {
    return this.current.limit;
  }

  /** The epoch to hand back with a throttling answer to a call begun now. */
  get epoch(): number {
    return this.current.epoch;
  }

  /** Records one answer; listeners hear of a changed limit. */
  record(outcome: AimdOutcome): void {
    const before = this.current.limit;
    this.current = aimdNext(this.current, outcome);
    if (this.current.limit !== before) for (const listener of this.listeners) listener();
  }

  /** Calls `listener` whenever the limit changes. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}

/**
 * Runs `work` over `items` with at most `limit.limit` at once, re-reading the limit as work ends and
 * whenever it changes; work already under way is never stopped. Results keep the input order; the first
 * rejection rejects the whole (callers that must not stop catch inside `work`).
 */
export function mapAdaptively<T, R>(
  items: readonly T[],
  limit: Pick<AdaptiveLimit, 'limit' | 'onChange'>,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  if (items.length === 0) return Promise.resolve(results);
  return new Promise<R[]>((resolve, reject) => {
    let next = 0;
    let running = 0;
    let failed = false;
    const pump = () => {
      while (!failed && next < items.length && running < Math.max(1, limit.limit)) {
        const index = next++;
        running += 1;
        work(items[index]!).then(
          (value) => {
            results[index] = value;
            running -= 1;
            if (next >= items.length && running === 0) resolve(results);
            else pump();
          },
          (error: unknown) => {
            failed = true;
            reject(error);
          },
        );
      }
    };
    limit.onChange(pump);
    pump();
  });
}
