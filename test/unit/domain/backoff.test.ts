import { describe, expect, it } from 'vitest';
import { nextDelay, poll, retry } from '../../../src/domain/backoff.js';
import { FixedClock } from '../../fakes/fixed-clock.js';

const policy = { initialDelayMs: 100, maxDelayMs: 800, timeoutMs: 3_000 };

describe('backoff', () => {
  it('doubles the pause from the first delay up to the cap', () => {
    const delays: number[] = [];
    let d = 0;
    for (let i = 0; i < 6; i += 1) delays.push((d = nextDelay(d, policy)));
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
  });

  it('polls until done and reports the attempts', async () => {
    const clock = new FixedClock();
    const result = await poll(clock, policy, async (n) => (n === 3 ? { done: true, value: 'x' } : { done: false }));
    expect(result).toEqual({ done: true, value: 'x', attempts: 3, elapsedMs: 300 });
    expect(clock.sleeps).toEqual([100, 200]);
  });

  it('gives up at the deadline and never sleeps past it', async () => {
    const clock = new FixedClock();
    const result = await poll(clock, policy, async () => ({ done: false }));
    expect(result.done).toBe(false);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(3_000);
    expect(clock.sleeps).toEqual([100, 200, 400, 800, 800, 700]);
  });

  it('starts again from the first pause when a step asks for it', async () => {
    const clock = new FixedClock();
    await poll(clock, policy, async (n) => (n === 5 ? { done: true, value: 0 } : { done: false, resetDelay: n === 3 }));
    expect(clock.sleeps).toEqual([100, 200, 100, 200]);
  });

  it('stops after maxAttempts', async () => {
    const clock = new FixedClock();
    const result = await poll(clock, { ...policy, maxAttempts: 2 }, async () => ({ done: false }));
    expect(result).toMatchObject({ done: false, attempts: 2 });
  });

  it('jitters each pause within [0, delay]', async () => {
    const clock = new FixedClock();
    await poll(
      clock,
      { ...policy, jitter: true },
      async (n) => (n === 3 ? { done: true, value: 0 } : { done: false }),
      {
        random: () => 0.5,
      },
    );
    expect(clock.sleeps).toEqual([50, 100]);
  });

  it('retries retryable errors and throws the last one when time runs out', async () => {
    const clock = new FixedClock();
    let calls = 0;
    const error = await retry(
      clock,
      policy,
      async () => {
        calls += 1;
        throw new Error(`busy ${calls}`);
      },
      () => true,
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe(`busy ${calls}`);
    expect(calls).toBeGreaterThan(3);
  });

  it('throws a non-retryable error at once', async () => {
    const clock = new FixedClock();
    await expect(
      retry(
        clock,
        policy,
        async () => {
          throw new Error('denied');
        },
        () => false,
      ),
    ).rejects.toThrow('denied');
    expect(clock.sleeps).toEqual([]);
  });

  it('returns the value once a retry succeeds, telling each wait', async () => {
    const clock = new FixedClock();
    const waits: number[] = [];
    const value = await retry(
      clock,
      policy,
      async (n) => {
        if (n < 3) throw new Error('again');
        return n;
      },
      () => true,
      { onWait: (info) => waits.push(info.delayMs) },
    );
    expect(value).toBe(3);
    expect(waits).toEqual([100, 200]);
  });
});
