import { spawn } from 'node:child_process';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Moto } from '../support/moto.js';
import { BIN, type ProcessResult } from '../support/cli-process.js';
import { startAwsRecorder } from '../support/aws-recorder.js';
import { FaultProxy, PASSPHRASE, useMotoAndProxy } from './rotate-support.js';
import { SharedWorld } from './shared-store-support.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

// One rotation across hosts (issue 15, item 3): hosts with their own config dirs share connections through moto's
// Secrets Manager (real versions and staging labels) and rotate them with the built binary.

let moto: Moto;
let proxy: FaultProxy;
let world: SharedWorld;

useMotoAndProxy((m, p) => {
  moto = m;
  proxy = p;
});

beforeEach(async () => {
  world = new SharedWorld(moto);
  await world.reset();
});

function outcome(result: ProcessResult): string {
  if (result.exitCode !== 0) return `exit ${result.exitCode}`;
  return (JSON.parse(result.stdout) as { status: string }).status;
}

describe('rotation of a connection shared through Secrets Manager', () => {
  it('a rotation on one host is what every host uses next: the new key in AWSCURRENT, the old one gone', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    const other = world.host();
    const rotated = await other.cli(['rotate', 'prod', '--json']);
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    expect(outcome(rotated)).toBe('rotated');
    const current = await world.assertConverged('prod', 'datablast', original);
    // No claim and no journal left in the secret; AWSPENDING taken off the new key's version.
    const record = await world.record('prod');
    expect(record?.claim).toBeUndefined();
    expect(record?.rotation).toBeUndefined();
    expect(await world.record('prod', 'AWSPENDING')).toBeUndefined();

    const printed = await world.cli(['credential-process', 'prod']);
    expect(printed.exitCode, printed.stderr).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject(current && { AccessKeyId: current.accessKeyId });
    const listed = await world.cli(['list', '--json']);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'prod', accessKeyId: current.accessKeyId, status: 'ok' }]);
  }, 120_000);

  it.each([2, 10])(
    '%i hosts whose cron fires at the same moment: exactly one rotation, the others wait for it and skip',
    async (hosts) => {
      const original = await world.addUserConnection('prod', 'datablast');
      await world.ageKey('prod', 120);
      const machines = [world, ...Array.from({ length: hosts - 1 }, () => world.host())];
      const runs = await Promise.all(machines.map((m) => m.cli(['rotate', 'prod', '--older-than', '90', '--json'])));
      const outcomes = runs.map(outcome);
      expect(
        outcomes.filter((o) => o === 'rotated'),
        outcomes.join(', '),
      ).toHaveLength(1);
      // The others waited for the claim (the cron form waits for the holder), then found a young key: no failure.
      for (const [i, o] of outcomes.entries()) expect(['rotated', 'skipped'], runs[i]!.stderr).toContain(o);
      await world.assertConverged('prod', 'datablast', original);
      const current = (await world.secrets()).get('prod')!;
      const printed = await Promise.all(machines.map((m) => m.cli(['credential-process', 'prod'])));
      for (const p of printed) expect(JSON.parse(p.stdout)).toMatchObject({ AccessKeyId: current.accessKeyId });
    },
    180_000,
  );
});

/** The requests that change something in AWS. */
const MUTATING = /^(Create|Put|Update|Delete|Tag)/;

/**
 * Runs `rotate` on `machine` through the proxy, which holds the `occurrence`-th request for `action` (forwarded first
 * when `forward`: it takes effect, but the host never learns of it); the host is SIGKILLed right there.
 */
function rotateKilledAt(
  machine: SharedWorld,
  action: string,
  occurrence: number,
  forward: boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'rotate', 'prod', '--json'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        ...machine.env({ endpoint: proxy.url }),
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    proxy.set({ kind: 'stall', action, occurrence, forward, onStall: () => child.kill('SIGKILL') });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

describe('the story of the issue: a connection moved to Secrets Manager, rotated from cron on two hosts', () => {
  it('moves from the file store, then two hosts rotate it at the same minute: one rotates, the other skips, both work', async () => {
    const laptop = world;
    const file = { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE: PASSPHRASE };
    // Added to the laptop's own file store first, as before the team shared it.
    const original = await laptop.addUserConnection('prod', 'datablast', { env: file });
    const moved = await laptop.cli(['move-store', '--to', 'aws-secrets-manager', 'prod', '--json'], { env: file });
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect((await laptop.cli(['list', '--json'], { env: file })).stdout.trim()).toBe('[]');
    await laptop.ageKey('prod', 120);

    const server = laptop.host();
    const cron = await Promise.all(
      [laptop, server].map((host) => host.cli(['rotate', '--all', '--older-than', '90', '--json'])),
    );
    for (const run of cron) expect(run.exitCode, run.stderr).toBe(0);
    const statuses = cron.map((run) => (JSON.parse(run.stdout) as Array<{ status: string }>)[0]!.status).sort();
    expect(statuses).toEqual(['rotated', 'skipped']);
    const current = await laptop.assertConverged('prod', 'datablast', original);
    for (const host of [laptop, server]) {
      const printed = await host.cli(['credential-process', 'prod']);
      expect(JSON.parse(printed.stdout)).toMatchObject({ AccessKeyId: current.accessKeyId });
    }
    expect(await laptop.works(current)).toBe('arn:aws:iam::123456789012:user/datablast');

    // The next nights: the key is young, and no host writes anything (not even a claim).
    const before = await laptop.sm().send(new GetSecretValueCommand({ SecretId: laptop.secretId('prod') }));
    const nights = await Promise.all(
      [laptop, server].map((host) => host.cli(['rotate', '--all', '--older-than', '90', '--json'])),
    );
    for (const run of nights) expect(JSON.parse(run.stdout)).toMatchObject([{ status: 'skipped' }]);
    const after = await laptop.sm().send(new GetSecretValueCommand({ SecretId: laptop.secretId('prod') }));
    expect(after.VersionId).toBe(before.VersionId);
  }, 120_000);
});

describe('a host killed (SIGKILL) at every request of a rotation, another host finishing it', () => {
  it('every time, the other host converges: one working key in AWSCURRENT, no orphan key, nothing pending', async () => {
    let before: AccessKeyPair = await world.addUserConnection('prod', 'datablast');
    const laptop = world;
    const server = world.host();
    proxy.set({ kind: 'pass' });
    const clean = await laptop.cli(['rotate', 'prod', '--json'], { endpoint: proxy.url });
    expect(clean.exitCode, clean.stderr).toBe(0);
    const actions = [...proxy.actions];
    // Every step of the protocol goes through Secrets Manager and IAM: the claim, the journal, the pending version.
    expect(actions).toEqual(expect.arrayContaining(['PutSecretValue', 'UpdateSecretVersionStage', 'CreateAccessKey']));
    before = await world.assertConverged('prod', 'datablast', before);

    const seen: Record<string, number> = {};
    // A host's only effects are its requests (the shared store writes nothing on the host), and reads change
    // nothing: so a kill right after each write, and one before the first, meets every state a crash can leave.
    const rounds: Array<{ action: string; occurrence: number; forward: boolean }> = [];
    actions.forEach((action, i) => {
      if (!MUTATING.test(action)) return;
      const occurrence = actions.slice(0, i + 1).filter((a) => a === action).length;
      if (rounds.length === 0) rounds.push({ action, occurrence, forward: false });
      rounds.push({ action, occurrence, forward: true });
    });
    for (const round of rounds) {
      const label = `${round.action} #${round.occurrence} ${round.forward ? 'done' : 'not sent'}`;
      const killed = await rotateKilledAt(laptop, round.action, round.occurrence, round.forward);
      const phase = (await world.record('prod'))?.rotation?.phase ?? (killed.code === 0 ? 'finished' : 'no journal');
      seen[phase] = (seen[phase] ?? 0) + 1;
      await world.assertInvariant('prod', 'datablast');
      // The other host finishes or undoes the dead host's rotation, then rotates afresh if it had to undo.
      proxy.set({ kind: 'pass' });
      const rerun = await server.cli(['rotate', 'prod', '--json']);
      expect(rerun.exitCode, `${label} (${phase}): ${rerun.stderr}`).toBe(0);
      expect(['rotated', 'resumed'], label).toContain(outcome(rerun));
      before = await world.assertConverged('prod', 'datablast', before);
      expect((await world.record('prod'))?.claim, `${label}: no claim left`).toBeUndefined();
      // The killed host hands out the current key, too.
      const printed = await laptop.cli(['credential-process', 'prod']);
      expect(JSON.parse(printed.stdout), label).toMatchObject({ AccessKeyId: before.accessKeyId });
    }
    expect(seen.creating ?? 0, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.created ?? 0, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.switched ?? 0, JSON.stringify(seen)).toBeGreaterThan(0);
    console.info(
      `shared-store SIGKILL rounds (${rounds.length} over ${actions.length} requests): ${JSON.stringify(seen)}`,
    );
  }, 600_000);
});

describe('bad input in the shared store: a clear error, and nothing else touched', () => {
  /** IAM's keys and the secret's current value, to compare before and after. */
  async function snapshot() {
    return { keys: await world.keys('datablast'), record: JSON.stringify(await world.record('prod')) };
  }

  it('a secret under the prefix that is not ours stops rotate --all before any change (exit 3)', async () => {
    await world.addUserConnection('prod', 'datablast');
    await world.sm().send(new CreateSecretCommand({ Name: 'datablast-aws/intruder', SecretString: 'not ours' }));
    const before = await snapshot();
    const run = await world.cli(['rotate', '--all', '--json']);
    expect(run.exitCode, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/datablast-aws\/intruder: no managed-by=datablast-aws tag/);
    expect(run.stderr).not.toContain('not ours');
    expect(await snapshot()).toEqual(before);
  }, 60_000);

  it.each([
    ['a journal with a key id that is not one', { rotation: { oldAccessKeyId: 'AKIA; rm -rf /' } }, /rotation journal/],
    ['a claim with no holder', { claim: { token: 'x' } }, /its claim/],
  ])(
    '%s planted in the secret: rotate refuses it (exit 3) and changes nothing',
    async (_label, plant, message) => {
      await world.addUserConnection('prod', 'datablast');
      await world.rewrite('prod', (record) => {
        const now = new Date().toISOString();
        const base = {
          version: 1,
          connection: 'prod',
          phase: 'created',
          startedAt: now,
          updatedAt: now,
          userName: 'datablast',
          keysBefore: [],
          keepOld: false,
        };
        if ('rotation' in plant) Object.assign(record, { rotation: { ...base, ...plant.rotation } });
        else Object.assign(record, plant);
      });
      const before = await snapshot();
      const run = await world.host().cli(['rotate', 'prod', '--json']);
      expect(run.exitCode, run.stderr).toBe(3);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(/datablast-aws\/prod/);
      expect(await snapshot()).toEqual(before);
    },
    60_000,
  );

  it('KMS refusing to encrypt the claim names the permission (exit 5); no key is created', async () => {
    await world.addUserConnection('prod', 'datablast');
    const recorder = await startAwsRecorder(moto.url);
    try {
      recorder.inject({
        target: 'secretsmanager.PutSecretValue',
        type: 'AccessDeniedException',
        message: 'Access to KMS is not allowed',
      });
      const before = await snapshot();
      const run = await world.cli(['rotate', 'prod', '--json'], { endpoint: recorder.url });
      expect(run.exitCode, run.stderr).toBe(5);
      expect(run.stderr).toMatch(/AWS KMS refused to encrypt the secret datablast-aws\/prod/);
      expect(run.stderr).toMatch(/kms:GenerateDataKey and kms:Decrypt/);
      expect(recorder.calls).not.toContain('secretsmanager.UpdateSecretVersionStage');
      expect(await snapshot()).toEqual(before);
    } finally {
      await recorder.stop();
    }
  }, 60_000);
});
