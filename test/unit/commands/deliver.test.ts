import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deliverCommand, type DeliverResult } from '../../../src/commands/deliver.js';
import { fakeWorld, runCli } from '../../support/run-cli.js';
import { MemoryConnectionStore } from '../../fakes/memory-connection-store.js';
import { captureOptions, leaks, seedConnection } from './helpers.js';

/** A fake world whose in-memory store has a real directory, for the rotation lock that deliver takes. */
function world() {
  const connections = new MemoryConnectionStore();
  Object.defineProperty(connections, 'dir', { value: mkdtempSync(join(tmpdir(), 'dbaws-deliver-')) });
  return fakeWorld({ connections });
}

describe('deliver: argv → options', () => {
  it('collects repeated --deliver-to, the KMS key and the exec timeout', async () => {
    expect(
      await captureOptions(deliverCommand, [
        'prod',
        '--deliver-to',
        'datablast',
        '--deliver-to',
        'exec:./push.sh',
        '--kms-key-id',
        'alias/k',
        '--exec-timeout',
        '90',
      ]),
    ).toEqual({
      name: 'prod',
      deliverTo: ['datablast', 'exec:./push.sh'],
      confirmDelivered: false,
      kmsKeyId: 'alias/k',
      execTimeoutMs: 90_000,
    });
    expect(await captureOptions(deliverCommand, ['prod', '--confirm-delivered'])).toMatchObject({
      confirmDelivered: true,
      deliverTo: [],
    });
  });

  it('rejects a bad timeout', async () => {
    await expect(captureOptions(deliverCommand, ['prod', '--exec-timeout', '0'])).rejects.toThrow(/--exec-timeout/);
  });
});

describe('deliver', () => {
  it('adds consumers, remembers them, and hands the key to each: exec delivered, datablast pending without a terminal', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    const result = await runCli(
      [
        'deliver',
        'prod',
        '--deliver-to',
        'exec:test "$AWS_ACCESS_KEY_ID" = ' + pair.accessKeyId,
        '--deliver-to',
        'datablast',
        '--json',
      ],
      w,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as DeliverResult;
    expect(json).toMatchObject({ name: 'prod', accessKeyId: pair.accessKeyId });
    expect(json.consumers.map((c) => [c.spec, c.state])).toEqual([
      [`exec:test "$AWS_ACCESS_KEY_ID" = ${pair.accessKeyId}`, 'delivered'],
      ['datablast', 'pending'],
    ]);
    expect(json.consumers[1]!.detail).toContain('deliver prod --confirm-delivered');
    const stored = (await w.connections.get('prod'))!.consumers!;
    expect(stored.map((c) => c.state?.status)).toEqual(['delivered', 'pending']);
    expect(stored[0]!.state).toEqual({
      status: 'delivered',
      accessKeyId: pair.accessKeyId,
      at: w.clock.now().toISOString(),
    });
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
  });

  it('confirms the pending datablast hand-off, and refuses when nothing awaits it', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    await runCli(['deliver', 'prod', '--deliver-to', 'datablast'], w);
    w.clock.advance(3_600_000);
    const confirmed = await runCli(['deliver', 'prod', '--confirm-delivered', '--json'], w);
    expect(confirmed.exitCode, confirmed.stderr).toBe(0);
    expect((await w.connections.get('prod'))!.consumers![0]!.state).toEqual({
      status: 'delivered',
      accessKeyId: pair.accessKeyId,
      at: w.clock.now().toISOString(),
    });
    // Confirming again changes nothing.
    expect((await runCli(['deliver', 'prod', '--confirm-delivered'], w)).exitCode).toBe(0);

    const other = world();
    await seedConnection(other, 'bare');
    const none = await runCli(['deliver', 'bare', '--confirm-delivered'], other);
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toContain('has no datablast consumer to confirm');
  });

  it('refuses to confirm a pending hand-off of a key that is no longer current', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    await runCli(['deliver', 'prod', '--deliver-to', 'datablast'], w);
    await w.secrets.set('prod', w.aws.issueKey('datablast', 0));
    const result = await runCli(['deliver', 'prod', '--confirm-delivered'], w);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('no longer the current key');
  });

  it('exits 5 when a consumer fails, keeping the failure and our message in the record', async () => {
    const w = world();
    const pair = await seedConnection(w, 'prod');
    const result = await runCli(
      ['deliver', 'prod', '--deliver-to', 'exec:echo "$AWS_SECRET_ACCESS_KEY"; exit 4', '--deliver-to', 'exec:true'],
      w,
    );
    expect(result.exitCode).toBe(5);
    expect(result.stdout).toContain('✗ exec:echo "$AWS_SECRET_ACCESS_KEY"; exit 4  failed: the command exited 4');
    expect(result.stdout).toContain('✓ exec:true  delivered');
    const stored = (await w.connections.get('prod'))!.consumers!;
    expect(stored[0]!.state).toMatchObject({ status: 'failed', accessKeyId: pair.accessKeyId });
    expect(leaks(result, pair.secretAccessKey)).toEqual([]);
    expect(JSON.stringify(stored)).not.toContain(pair.secretAccessKey);
  });

  it('hands the key again to every consumer; with --deliver-to, only to the new one and those that lack the key', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-deliver-count-'));
    const counter = (n: string) => `exec:echo x >> '${join(dir, n)}'`;
    await runCli(['deliver', 'prod', '--deliver-to', counter('a')], w);
    await runCli(['deliver', 'prod'], w);
    await runCli(['deliver', 'prod', '--deliver-to', counter('b')], w);
    const runs = (n: string) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean).length;
    expect(runs('a')).toBe(2);
    expect(runs('b')).toBe(1);
  });

  it('refuses bad input before touching anything', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    const bad = await runCli(['deliver', 'prod', '--deliver-to', 'exec:'], w);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('the exec: command is empty');
    const none = await runCli(['deliver', 'prod'], w);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('has no consumers');
    const both = await runCli(['deliver', 'prod', '--confirm-delivered', '--deliver-to', 'datablast'], w);
    expect(both.exitCode).toBe(2);
    const missing = await runCli(['deliver', 'nope', '--deliver-to', 'datablast'], w);
    expect(missing.exitCode).toBe(3);
    expect((await w.connections.get('prod'))!.consumers).toBeUndefined();
  });

  it('waits for a rotation of the same connection, then exits 7', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    w.locks.held.add('prod');
    const result = await runCli(['deliver', 'prod', '--deliver-to', 'exec:true'], w);
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toContain('another process is changing "prod"');
    expect(w.locks.requests).toEqual([{ name: 'prod', waitMs: 10_000 }]);
  });

  it('records the region and KMS key of a Secrets Manager consumer when it is added', async () => {
    const w = world();
    await seedConnection(w, 'prod');
    w.env.DATABLAST_AWS_KMS_KEY_ID = 'alias/datablast';
    const result = await runCli(['deliver', 'prod', '--deliver-to', 'aws-secrets-manager:datablast/prod'], w);
    // The fake AWS has no Secrets Manager: the delivery fails, the consumer is remembered.
    expect(result.exitCode).toBe(5);
    expect((await w.connections.get('prod'))!.consumers![0]).toMatchObject({
      kind: 'aws-secrets-manager',
      spec: 'aws-secrets-manager:datablast/prod',
      region: 'eu-west-1',
      kmsKeyId: 'alias/datablast',
      state: { status: 'failed' },
    });
  });
});
