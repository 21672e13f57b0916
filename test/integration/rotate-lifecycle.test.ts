import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GetAccessKeyLastUsedCommand } from '@aws-sdk/client-iam';
import type { Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { FaultProxy, MotoWorld, useMotoAndProxy } from './rotate-support.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/*
 * The rotation lifecycle against moto, which records each key's last use on every signed request and answers
 * GetAccessKeyLastUsed with time, service and region: the windows are shortened with --idle and --grace.
 */

let moto: Moto;
let proxy: FaultProxy;
let world: MotoWorld;

useMotoAndProxy((m, p) => {
  moto = m;
  proxy = p;
});

beforeEach(async () => {
  world = new MotoWorld(moto, tempConfigDir('dbaws-lifecycle-'));
  await world.reset();
  proxy.set({ kind: 'pass' });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection with one exec consumer (`exec:true` unless told), its key as stored. */
async function connectionWithConsumer(command = 'true', exitCode = 0): Promise<AccessKeyPair> {
  const original = await world.addUserConnection('prod', 'datablast');
  const added = await world.cli(['deliver', 'prod', '--deliver-to', `exec:${command}`]);
  expect(added.exitCode, added.stderr).toBe(exitCode);
  return original;
}

async function rotate(...args: string[]) {
  const run = await world.cli(['rotate', 'prod', '--json', ...args]);
  return { ...run, result: run.stdout ? JSON.parse(run.stdout) : undefined };
}

const statusOf = async (id: string) => (await world.keys('datablast')).find((k) => k.id === id)?.status;

describe('the rotation lifecycle against moto', () => {
  it('a consumer that keeps using the old key holds it (exit 9, untouched); once it switches: deactivated after idle, deleted after grace', async () => {
    const original = await connectionWithConsumer();
    const first = await rotate('--idle', '3s', '--grace', '3s');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.result).toMatchObject({ status: 'delivered', oldAccessKeyId: original.accessKeyId });
    expect(await statusOf(original.accessKeyId)).toBe('Active');

    // The consumer keeps signing with the old key after delivery; it never switches, night after night.
    for (let night = 0; night < 2; night++) {
      await sleep(3_200);
      expect(await world.works(original)).toBeDefined();
      const held = await rotate('--idle', '3s', '--grace', '3s');
      expect(held.exitCode, held.stderr).toBe(9);
      expect(held.result).toMatchObject({
        status: 'held',
        lifecycle: { phase: 'delivered', oldKeyLastUsed: { service: 'sts', region: 'us-east-1' } },
      });
      expect(held.stderr).toMatch(/service sts, region us-east-1/);
      expect(await statusOf(original.accessKeyId)).toBe('Active');
    }

    // It switches: once the old key is quiet for the idle window it is deactivated, not deleted.
    await sleep(3_200);
    const deactivated = await rotate('--idle', '3s', '--grace', '3s');
    expect(deactivated.exitCode, deactivated.stderr).toBe(0);
    expect(deactivated.result).toMatchObject({ status: 'deactivated' });
    expect(await statusOf(original.accessKeyId)).toBe('Inactive');

    // The state is visible everywhere meanwhile.
    const listed = JSON.parse((await world.cli(['list', '--json'])).stdout);
    expect(listed[0].rotation).toMatchObject({ phase: 'deactivated' });

    await sleep(3_200);
    const retired = await rotate('--idle', '3s', '--grace', '3s');
    expect(retired.exitCode, retired.stderr).toBe(0);
    expect(retired.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
    await world.assertConverged('prod', 'datablast', original);
  });

  it('reads last use from AWS: the new key is proven in use, the old key idle, with --require-new-key-use', async () => {
    const original = await connectionWithConsumer();
    const first = await rotate('--idle', '2s', '--require-new-key-use');
    const fresh = (await world.secrets()).get('prod')!;
    expect(first.result.newAccessKeyId).toBe(fresh.accessKeyId);
    const used = await world.iam().send(new GetAccessKeyLastUsedCommand({ AccessKeyId: original.accessKeyId }));
    expect(used.AccessKeyLastUsed?.LastUsedDate).toBeDefined();
    await sleep(2_200);
    expect(await world.works(fresh)).toBeDefined();
    const next = await rotate('--idle', '2s', '--require-new-key-use', '--grace', '0s');
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
  });

  it('an exec consumer that fails holds the lifecycle at deliver (exit 5, old key active); it resumes once it succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-exec-'));
    const original = await connectionWithConsumer(`test -e ${dir}/ok`, 5);
    const failed = await rotate('--idle', '0s', '--grace', '0s');
    expect(failed.exitCode, failed.stderr).toBe(5);
    expect(failed.result).toMatchObject({ status: 'delivery-failed' });
    expect(await statusOf(original.accessKeyId)).toBe('Active');
    expect(await world.works((await world.secrets()).get('prod')!)).toBeDefined();
    await world.cli(['deliver', 'prod']); // still failing: nothing changes
    writeFileSync(join(dir, 'ok'), '');
    const done = await rotate('--idle', '0s', '--grace', '0s');
    expect(done.exitCode, done.stderr).toBe(0);
    expect(done.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
    await world.assertConverged('prod', 'datablast', original);
  });
});

/** Runs rotate through the proxy, SIGKILLs it once the proxy stalls (or the marker appears); resolves when it is dead. */
function killedRun(args: string[], stall: (onStall: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        ...world.env({ endpoint: proxy.url }),
      },
      stdio: 'ignore',
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    stall(() => child.kill('SIGKILL'));
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`the run ended by itself (${String(_code)}) before the stall`));
      else resolve();
    });
  });
}

describe('kill -9 inside every lifecycle phase, then the next run converges', () => {
  const cases: Array<{ phase: string; action: string; occurrence?: number; forward: boolean; args?: string[] }> = [
    { phase: 'await-idle', action: 'GetAccessKeyLastUsed', forward: false },
    { phase: 'await-idle (answered)', action: 'GetAccessKeyLastUsed', forward: true },
    { phase: 'deactivate', action: 'UpdateAccessKey', forward: false },
    { phase: 'deactivate (taken effect)', action: 'UpdateAccessKey', forward: true },
    { phase: 'delete', action: 'DeleteAccessKey', forward: false },
    { phase: 'delete (taken effect)', action: 'DeleteAccessKey', forward: true },
  ];
  for (const c of cases) {
    it(c.phase, async () => {
      const original = await connectionWithConsumer();
      await killedRun(['rotate', 'prod', '--idle', '0s', '--grace', '0s'], (kill) =>
        proxy.set({ kind: 'stall', action: c.action, forward: c.forward, onStall: kill }),
      );
      proxy.set({ kind: 'pass' });
      await world.assertInvariant('prod', 'datablast');
      const again = await rotate('--idle', '0s', '--grace', '0s');
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.result.oldKey).toBe('deleted');
      await world.assertConverged('prod', 'datablast', original);
    });
  }

  it('await-grace (a run that starts from a deactivated key)', async () => {
    const original = await connectionWithConsumer();
    expect((await rotate('--idle', '0s')).result).toMatchObject({ status: 'deactivated' });
    // recover lists the keys first, then await-grace lists them again.
    await killedRun(['rotate', 'prod', '--grace', '0s'], (kill) =>
      proxy.set({ kind: 'stall', action: 'ListAccessKeys', occurrence: 2, forward: true, onStall: kill }),
    );
    proxy.set({ kind: 'pass' });
    const again = await rotate('--grace', '0s');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
    await world.assertConverged('prod', 'datablast', original);
  });

  it('reactivate (--reactivate-old)', async () => {
    const original = await connectionWithConsumer();
    await rotate('--idle', '0s');
    await killedRun(['rotate', 'prod', '--reactivate-old'], (kill) =>
      proxy.set({ kind: 'stall', action: 'UpdateAccessKey', forward: true, onStall: kill }),
    );
    proxy.set({ kind: 'pass' });
    const again = await rotate('--reactivate-old');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.result).toMatchObject({ status: 'reactivated' });
    expect(await statusOf(original.accessKeyId)).toBe('Active');
  });

  it('deliver (killed while the exec consumer runs)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-exec-'));
    const mark = join(dir, 'mark');
    const original = await connectionWithConsumer(`if [ -e ${mark} ]; then exit 0; fi; touch ${mark}; sleep 8`);
    await killedRun(['rotate', 'prod', '--idle', '0s', '--grace', '0s'], (kill) => {
      const timer = setInterval(() => {
        if (existsSync(mark)) {
          clearInterval(timer);
          kill();
        }
      }, 50);
    });
    await world.assertInvariant('prod', 'datablast');
    const again = await rotate('--idle', '0s', '--grace', '0s');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.result).toMatchObject({ status: 'retired', oldKey: 'deleted' });
    await world.assertConverged('prod', 'datablast', original);
  });
});
