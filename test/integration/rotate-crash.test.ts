import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { FaultProxy, MotoWorld, useMotoAndProxy, type ProxyMode } from './rotate-support.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';
import { journalPath } from '../../src/store/journal.js';

let moto: Moto;
let proxy: FaultProxy;
let world: MotoWorld;

useMotoAndProxy((m, p) => {
  moto = m;
  proxy = p;
});

beforeEach(async () => {
  world = new MotoWorld(moto, tempConfigDir('dbaws-rotate-crash-'));
  await world.reset();
  proxy.set({ kind: 'pass' });
});

/** Makes the connection's key look `days` old in the metadata (as if added long ago). */
function ageKey(name: string, days: number): void {
  const path = join(world.configDir, 'config.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { connections: Record<string, { keyCreatedAt?: string }> };
  file.connections[name]!.keyCreatedAt = new Date(Date.now() - days * 86_400_000).toISOString();
  writeFileSync(path, JSON.stringify(file, null, 2), { mode: 0o600 });
}

/** Starts `rotate` as a child of the built binary and SIGKILLs it after `killAfterMs`; resolves with how it ended. */
function rotateAndKill(
  args: string[],
  killAfterMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...world.env() },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout });
    });
  });
}

/**
 * Starts `rotate` and SIGKILLs it `afterMs` after its journal appears (or never, if it finishes first):
 * kills that land inside the rotation whatever the machine's load, where fixed instants may all miss.
 */
function rotateAndKillInside(
  args: string[],
  afterMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const journal = journalPath(world.configDir, 'prod');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...world.env() },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let killTimer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      if (killTimer || !existsSync(journal)) return;
      killTimer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    }, 2);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(killTimer);
      resolve({ code, signal, stdout });
    });
  });
}

describe('rotate under real crashes and concurrency (moto, file store, built binary)', () => {
  it('concurrent rotations of one connection: exactly one rotates, the others exit 7 or find nothing to do', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    ageKey('prod', 120);
    const runs = await Promise.all(
      [1, 2, 3, 4].map(() => world.cli(['rotate', 'prod', '--older-than', '90', '--json'])),
    );
    const outcomes = runs.map((r) =>
      r.exitCode === 0 ? (JSON.parse(r.stdout) as { status: string }).status : `exit ${r.exitCode}`,
    );
    expect(
      outcomes.filter((o) => o === 'rotated'),
      outcomes.join(', '),
    ).toHaveLength(1);
    for (const o of outcomes) expect(['rotated', 'skipped', 'exit 7']).toContain(o);
    for (const r of runs.filter((x) => x.exitCode === 7))
      expect(r.stderr).toContain('another rotation of "prod" is in progress');
    await world.assertConverged('prod', 'datablast', original);
  }, 120_000);

  it('a real SIGKILL at 25 instants spread over a rotation, each followed by a re-run: the invariant holds every time', async () => {
    let before: AccessKeyPair = await world.addUserConnection('prod', 'datablast');
    // How long a whole run takes here, to spread the kills over it.
    const started = Date.now();
    const clean = await world.cli(['rotate', 'prod', '--json']);
    expect(clean.exitCode, clean.stderr).toBe(0);
    const duration = Date.now() - started;
    before = await world.assertConverged('prod', 'datablast', before);

    const seen: Record<string, number> = {};
    const rounds = 25;
    for (let i = 0; i < rounds; i++) {
      // Stratified: one random instant in each 1/25th of [100 ms, duration + 100 ms].
      // Even rounds: an instant over the whole run; odd rounds: an instant after the journal appeared.
      const killAt =
        i % 2 === 0
          ? Math.round(100 + ((i + Math.random()) / rounds) * duration)
          : Math.round(Math.random() * duration * 0.8);
      const killed =
        i % 2 === 0
          ? await rotateAndKill(['rotate', 'prod', '--json'], killAt)
          : await rotateAndKillInside(['rotate', 'prod', '--json'], killAt);
      const phase = world.journal('prod')?.phase ?? (killed.code === 0 ? 'finished' : 'no journal');
      seen[phase] = (seen[phase] ?? 0) + 1;
      await world.assertInvariant('prod', 'datablast');
      const rerun = await world.cli(['rotate', 'prod', '--json']);
      expect(rerun.exitCode, `round ${i} (killed at ${killAt} ms, ${phase}): ${rerun.stderr}`).toBe(0);
      expect(['rotated', 'resumed']).toContain((JSON.parse(rerun.stdout) as { status: string }).status);
      before = await world.assertConverged('prod', 'datablast', before);
    }
    // The kills landed inside the rotation, with a journal on disk, more than a few times.
    const inside = (seen.creating ?? 0) + (seen.created ?? 0) + (seen.switched ?? 0);
    expect(inside, JSON.stringify(seen)).toBeGreaterThanOrEqual(5);
    console.info(`rotate SIGKILL rounds (clean run ${duration} ms): ${JSON.stringify(seen)}`);
  }, 600_000);

  it('a network failure at any request ends resumable (exit 8 with a journal), and the same command then converges', async () => {
    let before: AccessKeyPair = await world.addUserConnection('prod', 'datablast');
    // Count the requests of a clean rotation through the proxy.
    proxy.set({ kind: 'pass' });
    const clean = await world.cli(['rotate', 'prod', '--json'], { endpoint: proxy.url });
    expect(clean.exitCode, clean.stderr).toBe(0);
    const actions = [...proxy.actions];
    expect(actions).toEqual([
      'GetCallerIdentity',
      'ListAccessKeys',
      'CreateAccessKey',
      'GetCallerIdentity',
      'GetCallerIdentity',
      'GetCallerIdentity',
      'ListAccessKeys',
      'UpdateAccessKey',
      // The IAM gateway confirms each retirement with ListAccessKeys (an HTTP 200 is not proof).
      'ListAccessKeys',
      'DeleteAccessKey',
      // The old key is reported deleted only once IAM no longer lists it.
      'ListAccessKeys',
    ]);
    before = await world.assertConverged('prod', 'datablast', before);

    const modes: ProxyMode[] = [];
    for (let n = 1; n <= actions.length; n++) modes.push({ kind: 'down-from', n }, { kind: 'lose-response', n });
    modes.push({ kind: 'fail-from', n: 3 }, { kind: 'fail-from', n: 5 }, { kind: 'fail-from', n: 8 });
    const outcomes: string[] = [];
    for (const mode of modes) {
      proxy.set(mode);
      const run = await world.cli(['rotate', 'prod', '--json'], { endpoint: proxy.url });
      const journal = world.journal('prod');
      const label = `${JSON.stringify(mode)} (${actions['n' in mode ? mode.n - 1 : 0]})`;
      outcomes.push(`${label}: exit ${run.exitCode}${journal ? ` journal ${journal.phase}` : ''}`);
      if (journal) expect(run.exitCode, `${label}: ${run.stderr}`).toBe(8);
      expect([0, 5, 8], `${label}: ${run.stderr}`).toContain(run.exitCode);
      if (run.exitCode === 8) expect(run.stderr).toContain('Run the same command again');
      await world.assertInvariant('prod', 'datablast');
      proxy.set({ kind: 'pass' });
      const rerun = await world.cli(['rotate', 'prod', '--json'], { endpoint: proxy.url });
      expect(rerun.exitCode, `${label} then re-run: ${rerun.stderr}`).toBe(0);
      before = await world.assertConverged('prod', 'datablast', before);
    }
    // Failures after CreateAccessKey must have left journals behind (and been finished by the re-runs).
    expect(outcomes.filter((o) => o.includes('journal')).length, outcomes.join('\n')).toBeGreaterThanOrEqual(8);
    console.info(`rotate through a failing proxy:\n${outcomes.join('\n')}`);
  }, 600_000);
});
