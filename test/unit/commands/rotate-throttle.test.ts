import { describe, expect, it } from 'vitest';
import { pendingAccount } from '../../../src/domain/rotation.js';
import { THROTTLE_RETRY } from '../../../src/aws/throttle.js';
import type { RotateFailure, RotateResult } from '../../../src/commands/rotate.js';
import { assertConverged, assertInvariant, journalOf, rotateIn, rotationWorld } from './rotate-harness.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `conn-${String(i + 1).padStart(2, '0')}`);
const entriesOf = (result: unknown) => result as Array<RotateResult | RotateFailure>;

describe('rotate --all under IAM throttling (a fake IAM with a token bucket)', () => {
  it('rotates every connection, none fails for throttling, and the concurrency drops', async () => {
    const all = names(30);
    const world = rotationWorld({ connections: all });
    // Two IAM calls a second, a burst of two; each IAM call takes 20 ms of the fake clock.
    world.aws.throttleIam(2, 2, { ms: 20, sleep: (ms) => world.clock.sleep(ms) });
    const run = await rotateIn(world, { all: true, name: undefined, concurrency: 8 }, { json: true });
    expect(run.exitCode, run.stderr).toBe(0);
    const entries = entriesOf(run.result);
    expect(entries.map((e) => e.status)).toEqual(all.map(() => 'rotated'));
    for (const name of all) assertConverged(world, name);
    expect(world.aws.throttledCalls).toBeGreaterThan(0);
    // The summary: on stderr only (stdout is the array), with the rate and how far the concurrency fell.
    const summary = run.stderr.split('\n').find((l) => l.includes('rotate --all:'));
    expect(summary).toMatch(
      /30 connections in [\d.]+ s \(30 rotated, 0 skipped or rolled back, 0 failed\): [\d.]+ rotations\/s, [\d.]+ IAM calls\/s/,
    );
    const lowest = Number(/concurrency 8, down to (\d+)/.exec(summary ?? '')?.[1]);
    expect(lowest).toBeGreaterThanOrEqual(1);
    expect(lowest).toBeLessThan(8);
    expect(summary).toContain(`${world.aws.throttledCalls} throttling answers retried`);
    // The waits are said, at most every 10 s (of the clock), so that a long one never looks like a hang.
    const notices = run.stderr.split('\n').filter((l) => l.includes('AWS is throttling'));
    expect(notices.length).toBeGreaterThan(0);
    expect(notices[0]).toMatch(
      /AWS is throttling \(iam:\w+\): retrying with backoff \([\d.]+ s\); \d+ throttling answers? so far, \d+ connections? at once now$/,
    );
    const times = notices.map((l) => Date.parse(l.split(' ')[0]!));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(10_000);
  });

  it('keeps to --concurrency when IAM never throttles', async () => {
    const world = rotationWorld({ connections: names(6) });
    const run = await rotateIn(world, { all: true, name: undefined, concurrency: 3 });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /rotate --all: 6 connections in .* \(6 rotated, 0 skipped or rolled back, 0 failed\): .*; concurrency 3 throughout\n/,
    );
  });

  it('past THROTTLE_RETRY of nothing but throttling, a connection fails with exit 5 before touching anything', async () => {
    const world = rotationWorld({ connections: ['a', 'b'] });
    world.aws.throttleIam(0, 0);
    const run = await rotateIn(world, { all: true, name: undefined }, { json: true });
    expect(run.exitCode).toBe(5);
    for (const entry of entriesOf(run.result)) {
      expect(entry.status).toBe('failed');
      const failure = entry as RotateFailure;
      expect(failure.error.message).toMatch(/^AWS kept throttling iam:ListAccessKeys for 600 s/);
      expect(failure.error.hint).toContain('--concurrency');
      expect(failure.error.awsCode).toBe('Throttling');
    }
    // The clock (fake) ran the whole policy: backoff pauses, each at most the cap.
    expect(Math.max(...world.clock.sleeps)).toBeLessThanOrEqual(THROTTLE_RETRY.maxDelayMs);
    for (const name of ['a', 'b']) {
      assertInvariant(world, name);
      expect(journalOf(world, name)).toBeUndefined();
    }
  });

  it('throttled for good after the new key exists: resumable (exit 8), no key lost; the next run finishes', async () => {
    const world = rotationWorld();
    // Two IAM calls pass (ListAccessKeys, CreateAccessKey), then IAM throttles everything.
    world.aws.throttleIam(0, 2);
    const run = await rotateIn(world, {});
    expect(run.exitCode, run.stderr).toBe(8);
    expect(run.stderr).toMatch(/interrupted: AWS kept throttling iam:\w+ for 600 s/);
    const journal = journalOf(world);
    expect(journal).toBeDefined();
    expect(world.secrets.entries.has(pendingAccount('prod'))).toBe(true);
    assertInvariant(world);
    world.aws.throttleIam(1000);
    const again = await rotateIn(world, {});
    expect(again.exitCode, again.stderr).toBe(0);
    assertConverged(world);
  });
});
