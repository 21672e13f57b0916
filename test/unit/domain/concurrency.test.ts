import { describe, expect, it } from 'vitest';
import {
  AIMD_ROUND,
  AdaptiveLimit,
  aimdNext,
  aimdStart,
  mapAdaptively,
  mapConcurrently,
  type AimdOutcome,
  type AimdState,
} from '../../../src/domain/concurrency.js';

const ok: AimdOutcome = { kind: 'ok' };
const throttled = (epoch: number): AimdOutcome => ({ kind: 'throttled', epoch });
const run = (state: AimdState, outcomes: AimdOutcome[]) => outcomes.reduce(aimdNext, state);
const oks = (n: number) => Array.from({ length: n }, () => ok);

describe('the adaptive limit (AIMD), pure decisions', () => {
  it('starts at the most the caller allows, never below 1', () => {
    expect(aimdStart(8)).toMatchObject({ limit: 8, max: 8, lowest: 8, cuts: 0, epoch: 0 });
    expect(aimdStart(0).limit).toBe(1);
  });

  it('halves on a throttling answer, down to 1 and never below', () => {
    let s = aimdStart(16);
    const limits: number[] = [];
    for (let i = 0; i < 6; i++) {
      s = aimdNext(s, throttled(s.epoch));
      limits.push(s.limit);
    }
    expect(limits).toEqual([8, 4, 2, 1, 1, 1]);
    expect(s).toMatchObject({ lowest: 1, cuts: 6 });
  });

  it('cuts once per epoch: answers to calls begun before the cut do not cut again', () => {
    const s = aimdStart(16);
    // Eight calls were under way at the old pace; all eight come back throttled.
    const after = run(
      s,
      Array.from({ length: 8 }, () => throttled(0)),
    );
    expect(after).toMatchObject({ limit: 8, cuts: 1, epoch: 1 });
    // A call begun after the cut that is throttled too cuts again.
    expect(aimdNext(after, throttled(1))).toMatchObject({ limit: 4, cuts: 2 });
  });

  it('grows by one after a run of successes (a round per slot), up to the start and no further', () => {
    let s = run(aimdStart(4), [throttled(0), throttled(1)]);
    expect(s.limit).toBe(1);
    s = run(s, oks(AIMD_ROUND * 1 - 1));
    expect(s.limit).toBe(1);
    s = aimdNext(s, ok);
    expect(s.limit).toBe(2);
    s = run(s, oks(AIMD_ROUND * 2));
    expect(s.limit).toBe(3);
    s = run(s, oks(AIMD_ROUND * 3));
    expect(s.limit).toBe(4);
    s = run(s, oks(1000));
    expect(s.limit).toBe(4);
  });

  it('a throttling answer, even an old one, starts the run of successes over', () => {
    let s = run(aimdStart(8), [throttled(0)]);
    s = run(s, oks(AIMD_ROUND * 4 - 1));
    s = aimdNext(s, throttled(0));
    expect(s).toMatchObject({ limit: 4, successes: 0 });
    s = aimdNext(s, ok);
    expect(s.limit).toBe(4);
  });
});

/** A task the test ends by hand, and a log of how many ran at once. */
function gate() {
  const open: Array<() => void> = [];
  let running = 0;
  let most = 0;
  const work = async (n: number) => {
    running += 1;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => open.push(resolve));
    running -= 1;
    return n * 10;
  };
  const settle = () => new Promise((r) => setImmediate(r));
  return { open, work, settle, running: () => running, most: () => most };
}

describe('mapAdaptively', () => {
  it('runs at most the current limit at once, re-reads it as work ends, keeps the order', async () => {
    const limit = new AdaptiveLimit(4);
    const g = gate();
    const done = mapAdaptively([1, 2, 3, 4, 5, 6, 7, 8], limit, g.work);
    await g.settle();
    expect(g.running()).toBe(4);
    // Throttled: the limit halves; the four under way go on, nothing new starts until two remain.
    limit.record({ kind: 'throttled', epoch: 0 });
    g.open.shift()!();
    await g.settle();
    expect(g.running()).toBe(3);
    g.open.shift()!();
    await g.settle();
    expect(g.running()).toBe(2);
    g.open.shift()!();
    await g.settle();
    expect(g.running()).toBe(2);
    // Successes grow it again: a third starts at once.
    for (let i = 0; i < AIMD_ROUND * 2; i++) limit.record({ kind: 'ok' });
    await g.settle();
    expect(limit.limit).toBe(3);
    expect(g.running()).toBe(3);
    while (g.open.length) {
      g.open.shift()!();
      await g.settle();
    }
    expect(await done).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(g.most()).toBe(4);
  });

  it('answers an empty list at once, and rejects with the first failure', async () => {
    expect(await mapAdaptively([], new AdaptiveLimit(2), async () => 1)).toEqual([]);
    await expect(
      mapAdaptively([1, 2], new AdaptiveLimit(2), async (n) => {
        if (n === 2) throw new Error('boom');
        return n;
      }),
    ).rejects.toThrow('boom');
  });

  it('mapConcurrently still bounds a fixed concurrency', async () => {
    let running = 0;
    let most = 0;
    const out = await mapConcurrently([1, 2, 3, 4, 5], 2, async (n) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      return n;
    });
    expect(out).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});
