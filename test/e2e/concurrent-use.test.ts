import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { hashTree, looksLikeCrash, runIn, scratchDir, sweepEnv, SWEEP_PASSPHRASE } from '../support/sweep.js';
import type { ProcessResult } from '../support/cli-process.js';
import { MotoWorld } from '../integration/rotate-support.js';
import { openEncryptedFileStore } from '../../src/store/encrypted-file.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/**
 * Concurrent use (issue 7): many add-connection, remove, list and rotate processes of the built binary at
 * once on one config dir. No connection is lost, none comes back, every file still parses, and every
 * stored secret is the one its connection was given.
 */

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
let moto: Moto;
let keyring: Keyring;
let processes = 0;

beforeAll(async () => {
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
});

afterAll(async () => {
  await Promise.all([moto?.stop(), keyring?.stop()]);
  console.log(
    `concurrent use: ${processes} processes run, at most 20 at once on one config dir, 0 connections lost, 0 files corrupted`,
  );
});

/** A distinct, well-formed key pair per index. */
function keyFor(i: number): AccessKeyPair {
  const tail = [...'ABCDEF'].map((_, k) => BASE32[(i >> (5 * k)) & 31]).join('');
  return { accessKeyId: `AKIACONCURRENT${tail}`, secretAccessKey: `${'c'.repeat(34)}${String(i).padStart(6, '0')}` };
}

function expectOk(result: ProcessResult, label: string): void {
  expect(result.exitCode, `${label}: ${result.stderr}`).toBe(0);
  expect(looksLikeCrash(result.stderr), `${label}: ${result.stderr}`).toBe(false);
}

/** Starts every job at the same moment and waits for all. */
async function together<T>(jobs: Array<() => Promise<T>>): Promise<T[]> {
  processes += jobs.length;
  return Promise.all(jobs.map((job) => job()));
}

describe.each(['file', 'keychain'] as const)('add-connection, remove and list at once with the %s store', (store) => {
  it('lose no connection, resurrect none, and leave every file whole', async () => {
    const dir = join(scratchDir('dbaws-concurrent-'), 'config');
    const env = {
      ...sweepEnv(dir, scratchDir('dbaws-concurrent-home-')),
      DATABLAST_AWS_SECRET_STORE: store,
      ...(store === 'keychain' ? keyring.env : {}),
    };
    const add =
      (name: string, pair: AccessKeyPair, extra: string[] = []) =>
      () =>
        runIn(
          env,
          ['add-connection', name, '--access-key-id', pair.accessKeyId, '--secret-stdin', '--no-test', ...extra],
          { stdin: pair.secretAccessKey },
        );

    // Seed: one connection to keep (and replace), four to remove.
    processes += 5;
    expectOk(await add('keep', keyFor(100))(), 'seed keep');
    for (let i = 0; i < 4; i++) expectOk(await add(`old ${i}`, keyFor(200 + i))(), `seed old ${i}`);

    const jobs: Array<() => Promise<ProcessResult>> = [
      ...Array.from({ length: 12 }, (_, i) => add(`new ${i}`, keyFor(i))),
      ...Array.from({ length: 4 }, (_, i) => () => runIn(env, ['remove', `old ${i}`, '--yes'])),
      add('keep', keyFor(101), ['--force']),
      () => runIn(env, ['list', '--json']),
      () => runIn(env, ['list', '--json']),
    ];
    const results = await together(jobs.sort(() => Math.random() - 0.5));
    results.forEach((r, i) => expectOk(r, `job ${i}`));
    for (const r of results.filter((x) => x.stdout.startsWith('['))) expect(() => JSON.parse(r.stdout)).not.toThrow();

    const expected = ['keep', ...Array.from({ length: 12 }, (_, i) => `new ${i}`)].sort();
    const listed = await runIn(env, ['list', '--json']);
    processes += 1;
    expectOk(listed, 'final list');
    expect(listed.stderr, 'no secret without a connection, no connection without a secret').toBe('');
    const entries = JSON.parse(listed.stdout) as Array<{ name: string; accessKeyId: string; status: string }>;
    expect(entries.map((e) => e.name).sort()).toEqual(expected);
    expect(entries.every((e) => e.status === 'ok')).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).version).toBe(1);

    // Every connection holds the very key it was given, in the metadata and in the secret store.
    const want = new Map<string, AccessKeyPair>([
      ['keep', keyFor(101)],
      ...Array.from({ length: 12 }, (_, i) => [`new ${i}`, keyFor(i)] as [string, AccessKeyPair]),
    ]);
    const printed = await together([...want.keys()].map((name) => () => runIn(env, ['credential-process', name])));
    [...want.entries()].forEach(([name, pair], i) => {
      expectOk(printed[i]!, `credential-process ${name}`);
      expect(JSON.parse(printed[i]!.stdout)).toEqual({
        Version: 1,
        AccessKeyId: pair.accessKeyId,
        SecretAccessKey: pair.secretAccessKey,
        Expiration: expect.any(String),
      });
      expect(entries.find((e) => e.name === name)?.accessKeyId).toBe(pair.accessKeyId);
    });
    if (store === 'file') {
      const raw = await openEncryptedFileStore({ dir, env: { DATABLAST_AWS_PASSPHRASE: SWEEP_PASSPHRASE } });
      expect((await raw.list()).sort()).toEqual(expected);
    }
    expect(
      Object.keys(hashTree(dir)).filter((n) => !['config.json', 'config.json.bak', 'secrets.enc'].includes(n)),
      'no temp or lock file left',
    ).toEqual([]);
  }, 120_000);
});

describe('rotations at once with adds and removes (moto, file store)', () => {
  it('rotate every key while connections come and go: each rotation converges and nothing else is lost', async () => {
    const world = new MotoWorld(moto, join(scratchDir('dbaws-concurrent-rotate-'), 'config'));
    await world.reset();
    const originals: AccessKeyPair[] = [];
    for (let i = 0; i < 3; i++) originals.push(await world.addUserConnection(`rot ${i}`, `rot-user-${i}`));
    for (let i = 0; i < 3; i++) {
      const pair = keyFor(300 + i);
      expectOk(
        await world.cli(
          ['add-connection', `plain ${i}`, '--access-key-id', pair.accessKeyId, '--secret-stdin', '--no-test'],
          { stdin: pair.secretAccessKey },
        ),
        `seed plain ${i}`,
      );
    }
    processes += 6;
    // rot 0's key looks 120 days old, so that of two rotations with --older-than 90 one rotates and one skips.
    const path = join(world.configDir, 'config.json');
    const file = JSON.parse(readFileSync(path, 'utf8')) as { connections: Record<string, { keyCreatedAt?: string }> };
    file.connections['rot 0']!.keyCreatedAt = new Date(Date.now() - 120 * 86_400_000).toISOString();
    writeFileSync(path, JSON.stringify(file, null, '\t'), { mode: 0o600 });

    const rotate =
      (name: string, extra: string[] = []) =>
      () =>
        world.cli(['rotate', name, '--json', ...extra]);
    const jobs: Array<[string, () => Promise<ProcessResult>]> = [
      ['rotate rot 0 (a)', rotate('rot 0', ['--older-than', '90'])],
      ['rotate rot 0 (b)', rotate('rot 0', ['--older-than', '90'])],
      ['rotate rot 1', rotate('rot 1')],
      ['rotate rot 2 --keep-old', rotate('rot 2', ['--keep-old'])],
      ...Array.from({ length: 8 }, (_, i): [string, () => Promise<ProcessResult>] => [
        `add new ${i}`,
        () =>
          world.cli(
            ['add-connection', `new ${i}`, '--access-key-id', keyFor(i).accessKeyId, '--secret-stdin', '--no-test'],
            { stdin: keyFor(i).secretAccessKey },
          ),
      ]),
      ['remove plain 0', () => world.cli(['remove', 'plain 0', '--yes'])],
      ['remove plain 1', () => world.cli(['remove', 'plain 1', '--yes'])],
      ['list', () => world.cli(['list', '--json'])],
    ];
    const results = await together(jobs.map(([, job]) => job));
    const outcome = (i: number) =>
      results[i]!.exitCode === 0
        ? (JSON.parse(results[i]!.stdout) as { status: string }).status
        : `exit ${results[i]!.exitCode}`;
    const rot0 = [outcome(0), outcome(1)];
    expect(
      rot0.filter((o) => o === 'rotated'),
      rot0.join(', '),
    ).toHaveLength(1);
    for (const o of rot0) expect(['rotated', 'skipped', 'exit 7']).toContain(o);
    jobs.forEach(([label], i) => {
      if (i > 1) expectOk(results[i]!, label);
    });
    expect(outcome(2)).toBe('rotated');
    expect(outcome(3)).toBe('rotated');

    await world.assertConverged('rot 0', 'rot-user-0', originals[0]!);
    await world.assertConverged('rot 1', 'rot-user-1', originals[1]!);
    await world.assertConverged('rot 2', 'rot-user-2', originals[2]!, { keepOld: true });
    const expected = ['rot 0', 'rot 1', 'rot 2', 'plain 2', ...Array.from({ length: 8 }, (_, i) => `new ${i}`)].sort();
    const listed = await world.cli(['list', '--json']);
    processes += 1;
    expectOk(listed, 'final list');
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((e) => e.name).sort()).toEqual(expected);
    expect(listed.stderr).toBe('');
    expect([...(await world.secrets()).keys()].sort()).toEqual(expected);
    expect(readdirSync(world.configDir).sort()).toEqual(['config.json', 'config.json.bak', 'secrets.enc']);
  }, 180_000);
});
