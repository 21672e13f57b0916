import { describe, expect, it } from 'vitest';
import { isThrottling, translateAwsError } from '../../../src/aws/errors.js';
import { pacedAws, THROTTLE_RETRY, type PacingCounts } from '../../../src/aws/throttle.js';
import { AdaptiveLimit } from '../../../src/domain/concurrency.js';
import { FakeAws, sdkError } from '../../fakes/fake-aws.js';
import { FixedClock } from '../../fakes/fixed-clock.js';

describe('isThrottling', () => {
  it("knows IAM's answer (HTTP 400 Throttling, Rate exceeded) raw and translated, and nothing else", () => {
    const raw = sdkError('Throttling', 'Rate exceeded', 400);
    expect(isThrottling(raw)).toBe(true);
    expect(isThrottling(translateAwsError(raw, 'iam:ListAccessKeys'))).toBe(true);
    expect(isThrottling(sdkError('ThrottlingException', 'Rate exceeded', 400))).toBe(true);
    expect(isThrottling(sdkError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409))).toBe(false);
    expect(isThrottling(sdkError('AccessDenied', 'no', 403))).toBe(false);
    expect(isThrottling(new Error('boom'))).toBe(false);
  });
});

describe('pacedAws', () => {
  const setup = (limit = new AdaptiveLimit(8)) => {
    const clock = new FixedClock();
    const fake = new FakeAws({ now: () => clock.now() });
    const key = fake.seedUser('u', { withKey: true })!;
    const counts: PacingCounts = { iam: 0, sts: 0, throttled: 0 };
    const aws = pacedAws(fake, limit, clock, counts, { random: () => 1 });
    return { clock, fake, key, counts, aws, limit };
  };

  it('retries a throttled call with exponential backoff up to the cap, tells the limit, and answers', async () => {
    const { clock, fake, key, counts, aws, limit } = setup();
    for (let i = 0; i < 8; i++) fake.failNext('listAccessKeys', sdkError('Throttling', 'Rate exceeded', 400));
    const session = await aws.as(key);
    expect((await session.iam.listAccessKeys('u')).map((k) => k.accessKeyId)).toEqual([key.accessKeyId]);
    // random() = 1: the full computed pause each time (full jitter draws from 0 up to it).
    expect(clock.sleeps).toEqual([500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
    expect(counts).toEqual({ iam: 1, sts: 0, throttled: 8 });
    // One cut per epoch: the retried call begins in the new epoch, so each of its throttles cuts once.
    expect(limit.state).toMatchObject({ limit: 1, cuts: 8 });
  });

  it('does not retry other refusals, and passes them on as they are', async () => {
    const { fake, key, counts, aws, clock } = setup();
    fake.failNext('createAccessKey', sdkError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409));
    const session = await aws.as(key);
    await expect(session.iam.createAccessKey('u')).rejects.toMatchObject({ awsCode: 'LimitExceeded', exitCode: 5 });
    expect(clock.sleeps).toEqual([]);
    expect(counts).toEqual({ iam: 1, sts: 0, throttled: 0 });
  });

  it('paces STS too, and gives up with exit 5 and a clear message only after THROTTLE_RETRY', async () => {
    const { fake, key, aws, clock } = setup();
    for (let i = 0; i < 1000; i++) fake.failNext('getCallerIdentity', sdkError('Throttling', 'Rate exceeded', 400));
    const session = await aws.as(key);
    await expect(session.sts.getCallerIdentity()).rejects.toMatchObject({
      exitCode: 5,
      awsCode: 'Throttling',
      message: expect.stringMatching(/^AWS kept throttling sts:GetCallerIdentity for 600 s, retrying with backoff/),
    });
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(THROTTLE_RETRY.timeoutMs);
  });
});
