import { describe, expect, it } from 'vitest';
import {
  addConsumers,
  allHold,
  consumerRecord,
  consumerRecordsProblem,
  consumersNeeding,
  deliveryFinishedAt,
  formatConsumerSpec,
  parseConsumerSpec,
  pendingFor,
  secretArnRegion,
  withState,
  type ConsumerRecord,
} from '../../../src/domain/consumer.js';
import { UsageError } from '../../../src/errors.js';

const KEY = 'AKIAIOSFODNN7EXAMPLE';
const NEW = 'AKIAI44QH8DHBEXAMPLE';
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:datablast/prod-AbCdEf';

function usage(text: string): string {
  try {
    parseConsumerSpec(text);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`${text} was accepted`);
}

describe('parseConsumerSpec', () => {
  it('reads the three kinds of consumer', () => {
    expect(parseConsumerSpec('datablast')).toEqual({ kind: 'datablast' });
    expect(parseConsumerSpec('exec:./push.sh --to ci')).toEqual({ kind: 'exec', command: './push.sh --to ci' });
    expect(parseConsumerSpec('exec:a:b')).toEqual({ kind: 'exec', command: 'a:b' });
    expect(parseConsumerSpec('aws-secrets-manager:datablast/prod')).toEqual({
      kind: 'aws-secrets-manager',
      secretId: 'datablast/prod',
    });
    expect(parseConsumerSpec(`aws-secrets-manager:${ARN}`)).toEqual({ kind: 'aws-secrets-manager', secretId: ARN });
  });

  it('gives back the text it read', () => {
    for (const text of ['datablast', 'exec:echo "$AWS_REGION"', `aws-secrets-manager:${ARN}`])
      expect(formatConsumerSpec(parseConsumerSpec(text))).toBe(text);
  });

  it('rejects unknown kinds, naming the flag and the accepted forms', () => {
    expect(usage('Datablast')).toBe('--deliver-to: "Datablast" is not a consumer');
    expect(usage('s3:bucket')).toContain('is not a consumer');
    expect(usage('')).toContain('is not a consumer');
  });

  it('rejects an empty command, a control character, and an overlong command', () => {
    expect(usage('exec:')).toContain('the exec: command is empty');
    expect(usage('exec:   ')).toContain('the exec: command is empty');
    expect(usage('exec:echo a\necho b')).toContain('control character');
    expect(usage('exec:echo \u001b[31m')).toContain('control character');
    expect(usage(`exec:${'x'.repeat(5000)}`)).toContain('the limit is 4096');
  });

  it('checks the secret name or ARN shape', () => {
    expect(usage('aws-secrets-manager:')).toContain('secret id is empty');
    expect(usage('aws-secrets-manager:has space')).toContain('is not a valid secret name');
    expect(usage(`aws-secrets-manager:${'a'.repeat(513)}`)).toContain('is not a valid secret name');
    expect(usage('aws-secrets-manager:arn:aws:s3:::bucket')).toContain('is not a Secrets Manager secret ARN');
    expect(usage('aws-secrets-manager:arn:aws:secretsmanager:eu-west-1:12345:secret:x')).toContain('ARN');
    expect(parseConsumerSpec('aws-secrets-manager:a/b_c+d=e.f@g-h').kind).toBe('aws-secrets-manager');
  });

  it('reads the region out of a secret ARN', () => {
    expect(secretArnRegion(ARN)).toBe('eu-west-1');
    expect(secretArnRegion('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x')).toBe('us-gov-west-1');
    expect(secretArnRegion('datablast/prod')).toBeUndefined();
  });
});

describe('consumer records', () => {
  const exec = consumerRecord(parseConsumerSpec('exec:./push.sh'));
  const datablast = consumerRecord(parseConsumerSpec('datablast'));
  const secret = consumerRecord(parseConsumerSpec('aws-secrets-manager:datablast/prod'), { region: 'eu-west-1' });

  it('adds a consumer once, keeping the state of one already there', () => {
    const delivered = withState([exec], exec.spec, {
      status: 'delivered',
      accessKeyId: KEY,
      at: '2026-01-01T00:00:00Z',
    });
    const added = addConsumers(delivered, [consumerRecord(parseConsumerSpec('exec:./push.sh')), datablast]);
    expect(added.map((c) => c.spec)).toEqual(['exec:./push.sh', 'datablast']);
    expect(added[0]!.state?.status).toBe('delivered');
  });

  it('knows which consumers still need a key, and when all hold it', () => {
    let consumers: ConsumerRecord[] = [exec, datablast, secret];
    expect(consumersNeeding(consumers, NEW).map((c) => c.spec)).toEqual([exec.spec, datablast.spec, secret.spec]);
    expect(allHold(consumers, NEW)).toBe(false);
    consumers = withState(consumers, exec.spec, { status: 'delivered', accessKeyId: NEW, at: '2026-01-02T10:00:00Z' });
    consumers = withState(consumers, secret.spec, {
      status: 'delivered',
      accessKeyId: KEY,
      at: '2026-01-01T00:00:00Z',
    });
    consumers = withState(consumers, datablast.spec, {
      status: 'pending',
      accessKeyId: NEW,
      since: '2026-01-02T09:00:00Z',
    });
    // The secret still holds the old key; Datablast awaits a person's word.
    expect(consumersNeeding(consumers, NEW).map((c) => c.spec)).toEqual([datablast.spec, secret.spec]);
    expect(pendingFor(consumers, NEW).map((c) => c.spec)).toEqual([datablast.spec]);
    expect(deliveryFinishedAt(consumers, NEW)).toBeUndefined();
    consumers = withState(consumers, secret.spec, {
      status: 'delivered',
      accessKeyId: NEW,
      at: '2026-01-02T11:00:00Z',
    });
    consumers = withState(consumers, datablast.spec, {
      status: 'delivered',
      accessKeyId: NEW,
      at: '2026-01-02T10:30:00Z',
    });
    expect(allHold(consumers, NEW)).toBe(true);
    expect(deliveryFinishedAt(consumers, NEW)).toBe('2026-01-02T11:00:00Z');
  });

  it('counts a failed delivery as still needing the key', () => {
    const failed = withState([exec], exec.spec, {
      status: 'failed',
      accessKeyId: NEW,
      at: '2026-01-02T10:00:00Z',
      message: 'the command exited 1',
    });
    expect(allHold(failed, NEW)).toBe(false);
  });

  it('holds vacuously without consumers', () => {
    expect(allHold([], NEW)).toBe(true);
  });
});

describe('consumerRecordsProblem (the metadata check on read)', () => {
  const good: ConsumerRecord[] = [
    {
      kind: 'datablast',
      spec: 'datablast',
      state: { status: 'pending', accessKeyId: KEY, since: '2026-01-01T00:00:00Z' },
    },
    { kind: 'exec', spec: 'exec:./push.sh', state: { status: 'failed', accessKeyId: KEY, at: 'x', message: 'm' } },
    { kind: 'aws-secrets-manager', spec: 'aws-secrets-manager:a', region: 'eu-west-1', kmsKeyId: 'alias/k' },
  ];

  it('accepts an absent field and well-formed records', () => {
    expect(consumerRecordsProblem(undefined)).toBeUndefined();
    expect(consumerRecordsProblem(good)).toBeUndefined();
    expect(consumerRecordsProblem(JSON.parse(JSON.stringify(good)))).toBeUndefined();
  });

  it.each([
    ['not a list', {}, '"consumers" is not a list'],
    ['a non-object', ['datablast'], '"consumers"[0]: not an object'],
    ['an unknown kind', [{ kind: 'email', spec: 'datablast' }], '"kind" is not a consumer kind'],
    ['a kind that does not match', [{ kind: 'exec', spec: 'datablast' }], '"kind" does not match "spec"'],
    ['a bad spec', [{ kind: 'exec', spec: 'exec:' }], 'the exec: command is empty'],
    [
      'a bad state',
      [{ kind: 'datablast', spec: 'datablast', state: { status: 'done', accessKeyId: KEY } }],
      '"state.status"',
    ],
    [
      'a state without a time',
      [{ kind: 'datablast', spec: 'datablast', state: { status: 'delivered', accessKeyId: KEY } }],
      '"state.at"',
    ],
    ['a duplicate', [good[0], good[0]], 'lists a consumer twice'],
    ['a region that is not text', [{ ...good[2], region: 5 }], '"region" is not text'],
  ])('reports %s', (_what, value, expected) => {
    expect(consumerRecordsProblem(value)).toContain(expected);
  });
});
