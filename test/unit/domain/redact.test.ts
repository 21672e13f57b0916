import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { redact, rememberSecret } from '../../../src/domain/redact.js';
import { runCli, fakeWorld } from '../../support/run-cli.js';
import { sdkError } from '../../fakes/fake-aws.js';

const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+';
const secret = fc.string({ unit: fc.constantFrom(...SECRET_CHARS), minLength: 40, maxLength: 40 });
/** Text around a secret: anything, but not itself secret-shaped where it touches it. */
const around = fc
  .string({ maxLength: 60 })
  .map((t) => t.replace(/[A-Za-z0-9/+=]+$/, '').replace(/^[A-Za-z0-9/+=]+/, ''));

describe('redact (every stderr write goes through it)', () => {
  it('removes a remembered secret wherever it appears, even inside other text', () => {
    fc.assert(
      fc.property(secret, fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (s, before, after) => {
        rememberSecret(s);
        expect(redact(`${before}${s}${after}${s}`)).not.toContain(s);
      }),
      { numRuns: 200 },
    );
  });

  it('masks a secret it never saw, such as one an AWS error or a proxy quoted back', () => {
    fc.assert(
      fc.property(secret, around, around, (s, before, after) => {
        expect(redact(`${before} ${s} ${after}`)).not.toContain(s);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves text without secrets alone: key ids, ARNs, paths, request ids', () => {
    const text =
      'AKIAIOSFODNN7EXAMPLE arn:aws:iam::123456789012:user/datablast /home/me/.config/datablast-aws/config.json 4f2a1c3e-9b1d-4c55-8a0e-2b9f5d6c7e81';
    expect(redact(text)).toBe(text);
  });

  it('is applied by main to everything on stderr, the --debug detail included', async () => {
    const unseen = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2Fy';
    const world = fakeWorld();
    const key = world.aws.seedUser('datablast', { withKey: true })!;
    world.aws.failNext(
      'getCallerIdentity',
      sdkError('SignatureDoesNotMatch', `The request signature we calculated does not match ${unseen}`, 403),
    );
    const run = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin', '--debug'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(run.exitCode).toBe(4);
    // The --debug detail prints the SDK error's own stack, whose message nobody scrubbed before main's stderr.
    expect(run.stderr).toContain('SignatureDoesNotMatch: The request signature we calculated does not match ****');
    expect(run.stderr).not.toContain(unseen);
    expect(run.stderr).not.toContain(key.secretAccessKey);
  });
});
