import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addConnectionCommand } from '../../../src/commands/add-connection.js';
import { runCli, type FakeWorld } from '../../support/run-cli.js';
import { captureOptions, handOffWorld, leaks, seedConnection } from './helpers.js';
import type { ConsumerResult } from '../../../src/onboarding/hand-off.js';

/**
 * The hand-off that ends init, create-user --create-key and add-connection (--deliver-to): the connection
 * remembers its consumers, the key just stored goes to each through the same service as `deliver`, the
 * result lists them as deliver does, and a failed consumer leaves the connection saved with exit 5.
 */

/** A script that records its environment's key and its argv, for the exec: consumer. */
function recorder(): { spec: string; seen: () => { env: string; argv: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'dbaws-handoff-exec-'));
  const script = join(dir, 'push.sh');
  writeFileSync(
    script,
    `printf '%s %s %s %s' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_REGION" "$DATABLAST_CONNECTION" > '${dir}/env'\nprintf '%s' "$*" > '${dir}/argv'\necho pushed\n`,
    { mode: 0o700 },
  );
  return {
    spec: `exec:sh '${script}'`,
    seen: () => ({ env: readFileSync(join(dir, 'env'), 'utf8'), argv: readFileSync(join(dir, 'argv'), 'utf8') }),
  };
}

const states = (consumers: ConsumerResult[]) => consumers.map((c) => [c.spec, c.state]);
const INIT = [
  'init',
  '--no-input',
  '--user',
  'dbx',
  '--service',
  's3',
  '--connection',
  'prod',
  '--region',
  'eu-west-1',
];

function storedKey(world: FakeWorld, name: string) {
  return world.secrets.entries.get(name)!;
}

describe('--deliver-to on the onboarding commands: argv → options', () => {
  it('add-connection takes the same flags as deliver, parsed by the same code', async () => {
    const handOff = ['--deliver-to', 'datablast', '--deliver-to', 'exec:./p.sh', '--kms-key-id', 'alias/k'];
    const expected = {
      deliverTo: ['datablast', 'exec:./p.sh'],
      kmsKeyId: 'alias/k',
      execTimeoutMs: 30_000,
    };
    const timeout = ['--exec-timeout', '30'];
    expect(await captureOptions(addConnectionCommand, ['prod', ...handOff, ...timeout])).toMatchObject(expected);
    await expect(captureOptions(addConnectionCommand, ['prod', '--exec-timeout', '0'])).rejects.toThrow(
      /--exec-timeout/,
    );
  });
});

describe('add-connection --deliver-to', () => {
  it('hands the stored key to an exec: script (environment only, never argv) and leaves datablast pending off a terminal', async () => {
    const world = handOffWorld();
    const key = world.aws.seedUser('datablast', { withKey: true })!;
    const push = recorder();
    const result = await runCli(
      [
        'add-connection',
        'prod',
        '--access-key-id',
        key.accessKeyId,
        '--secret-stdin',
        '--region',
        'eu-west-1',
        '--deliver-to',
        push.spec,
        '--deliver-to',
        'datablast',
        '--json',
      ],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as { consumers: ConsumerResult[]; tested: boolean };
    expect(json.tested).toBe(true);
    expect(states(json.consumers)).toEqual([
      [push.spec, 'delivered'],
      ['datablast', 'pending'],
    ]);
    expect(json.consumers[0]).toMatchObject({ accessKeyId: key.accessKeyId, handedThisRun: true, output: 'pushed' });
    expect(json.consumers[1]!.detail).toContain('deliver prod --confirm-delivered');
    expect(push.seen()).toEqual({ env: `${key.accessKeyId} ${key.secretAccessKey} eu-west-1 prod`, argv: '' });
    expect(world.connections.entries.get('prod')!.consumers!.map((c) => c.state?.status)).toEqual([
      'delivered',
      'pending',
    ]);
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
    expect(JSON.stringify(world.connections.entries.get('prod'))).not.toContain(key.secretAccessKey);
  });

  it('exits 5 when a consumer fails, with the connection saved and working, and names deliver NAME', async () => {
    const world = handOffWorld();
    const key = world.aws.seedUser('datablast', { withKey: true })!;
    const result = await runCli(
      [
        'add-connection',
        'AWS Production',
        '--access-key-id',
        key.accessKeyId,
        '--secret-stdin',
        '--deliver-to',
        'exec:echo "$AWS_SECRET_ACCESS_KEY"; exit 3',
      ],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(5);
    expect(result.stdout).toContain('Saved connection "AWS Production"');
    expect(result.stdout).toContain('✗ exec:echo "$AWS_SECRET_ACCESS_KEY"; exit 3  failed: the command exited 3');
    expect(result.stderr).toContain("once fixed, run `datablast-aws deliver 'AWS Production'`");
    expect(storedKey(world, 'AWS Production')).toEqual(key);
    expect(world.connections.entries.get('AWS Production')!.consumers![0]!.state).toMatchObject({ status: 'failed' });
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('refuses a bad spec before asking AWS or storing anything', async () => {
    const world = handOffWorld();
    const key = world.aws.seedUser('datablast', { withKey: true })!;
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin', '--deliver-to', 'slack'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('is not a consumer');
    expect(world.aws.calls).toEqual([]);
    expect(world.connections.entries.size).toBe(0);
  });

  it('--force keeps the consumers of the replaced connection and hands them the new key', async () => {
    const world = handOffWorld();
    await seedConnection(world, 'prod');
    const push = recorder();
    expect((await runCli(['deliver', 'prod', '--deliver-to', push.spec], world)).exitCode).toBe(0);
    const next = world.aws.issueKey('datablast', 0);
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', next.accessKeyId, '--secret-stdin', '--force', '--json'],
      world,
      { stdin: next.secretAccessKey },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(states(JSON.parse(result.stdout).consumers)).toEqual([[push.spec, 'delivered']]);
    expect(push.seen().env).toContain(`${next.accessKeyId} ${next.secretAccessKey}`);
  });
});

describe('create-user --create-key --deliver-to', () => {
  it('hands the new key over, and a re-run converges without handing it again', async () => {
    const world = handOffWorld();
    world.aws.seedUser('admin');
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-handoff-count-'));
    const counter = `exec:echo "$AWS_ACCESS_KEY_ID" >> '${join(dir, 'runs')}'`;
    const argv = ['create-user', 'dbx', '--create-key', '--connection', 'prod', '--deliver-to', counter, '--json'];
    const first = await runCli(argv, world);
    expect(first.exitCode, first.stderr).toBe(0);
    const json = JSON.parse(first.stdout) as { keyCreated: boolean; consumers: ConsumerResult[] };
    expect(json.keyCreated).toBe(true);
    expect(states(json.consumers)).toEqual([[counter, 'delivered']]);
    const key = storedKey(world, 'prod');
    expect(readFileSync(join(dir, 'runs'), 'utf8')).toBe(`${key.accessKeyId}\n`);
    expect(leaks(first, key.secretAccessKey)).toEqual([]);

    const again = await runCli(argv, world);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ keyCreated: false, consumers: [{ handedThisRun: false }] });
    expect(readFileSync(join(dir, 'runs'), 'utf8')).toBe(`${key.accessKeyId}\n`);
  });

  it('leaves datablast pending without a terminal', async () => {
    const world = handOffWorld();
    const result = await runCli(
      ['create-user', 'dbx', '--create-key', '--connection', 'prod', '--deliver-to', 'datablast'],
      world,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('… datablast  pending');
    expect(world.connections.entries.get('prod')!.consumers![0]!.state!.status).toBe('pending');
  });

  it('refuses --deliver-to without --create-key', async () => {
    const result = await runCli(['create-user', 'dbx', '--deliver-to', 'datablast'], handOffWorld());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--deliver-to needs --create-key');
  });
});

describe('init --deliver-to', () => {
  it('hands the new key to each consumer after the test; JSON lists them as deliver does', async () => {
    const world = handOffWorld();
    const push = recorder();
    const result = await runCli([...INIT, '--deliver-to', push.spec, '--deliver-to', 'datablast', '--json'], world);
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as { consumers: ConsumerResult[]; test: { ok: boolean } };
    expect(json.test.ok).toBe(true);
    expect(states(json.consumers)).toEqual([
      [push.spec, 'delivered'],
      ['datablast', 'pending'],
    ]);
    const key = storedKey(world, 'prod');
    expect(push.seen()).toEqual({ env: `${key.accessKeyId} ${key.secretAccessKey} eu-west-1 prod`, argv: '' });
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('under --no-input without --deliver-to adds no consumer, and the next steps name Datablast and deliver', async () => {
    const world = handOffWorld();
    const result = await runCli(INIT, world);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(world.connections.entries.get('prod')!.consumers).toBeUndefined();
    expect(result.stdout).toContain('hand it to Datablast  Connections → New connection → Amazon Web Services');
    expect(result.stdout).toContain(
      'Name,\n                        Access Key ID, Secret Access Key, Region and Description',
    );
    expect(result.stdout).toContain('datablast-aws deliver prod --deliver-to datablast');
    const json = JSON.parse((await runCli([...INIT, '--json'], world)).stdout);
    expect(json.consumers).toEqual([]);
  });

  it('says how to confirm a pending Datablast hand-off', async () => {
    const result = await runCli([...INIT, '--deliver-to', 'datablast'], handOffWorld());
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('… datablast  pending');
    expect(result.stdout).toContain('once saved there: datablast-aws deliver prod --confirm-delivered');
  });

  it('exits 5 when a consumer fails, the connection saved and tested', async () => {
    const world = handOffWorld();
    const result = await runCli([...INIT, '--deliver-to', 'exec:exit 7', '--json'], world);
    expect(result.exitCode).toBe(5);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      keyCreated: true,
      test: { ok: true },
      consumers: [{ spec: 'exec:exit 7', state: 'failed' }],
    });
    expect(result.stderr).toContain('once fixed, run `datablast-aws deliver prod`');
    expect(world.secrets.entries.has('prod')).toBe(true);
  });

  it('refuses a bad spec before any change, and --dry-run plans the hand-off', async () => {
    const world = handOffWorld();
    const bad = await runCli([...INIT, '--deliver-to', 'exec:'], world);
    expect(bad.exitCode).toBe(2);
    expect(world.aws.users.size).toBe(0);
    const dry = await runCli([...INIT, '--deliver-to', 'datablast', '--dry-run'], world);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('hand the key to datablast');
    expect(world.aws.users.size).toBe(0);
  });

  it('on a re-run adds a new consumer to the existing connection and hands it the stored key', async () => {
    const world = handOffWorld();
    expect((await runCli(INIT, world)).exitCode).toBe(0);
    const push = recorder();
    const result = await runCli([...INIT, '--deliver-to', push.spec, '--json'], world);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ keyCreated: false, alreadySetUp: false });
    expect(push.seen().env).toContain(storedKey(world, 'prod').secretAccessKey);
  });
});
