import { existsSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { MotoWorld } from './rotate-support.js';

let moto: Moto;
let world: MotoWorld;

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  world = new MotoWorld(moto, tempConfigDir('dbaws-rotate-'));
  await world.reset();
});

describe('rotate against moto (keys and signatures checked)', () => {
  it('rotates: the stored key works, IAM holds exactly it, the old key is gone', async () => {
    const original = await world.addUserConnection('AWS Production', 'datablast');
    const run = await world.cli(['rotate', 'AWS Production', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    const stored = await world.assertConverged('AWS Production', 'datablast', original);
    expect(result).toEqual({
      name: 'AWS Production',
      status: 'rotated',
      oldAccessKeyId: original.accessKeyId,
      newAccessKeyId: stored.accessKeyId,
      oldKey: 'deleted',
      recovered: null,
    });
    expect(await world.works(original)).toBeUndefined();
    const connection = world.connection('AWS Production')!;
    expect(connection.previousAccessKeyIds).toEqual([original.accessKeyId]);
    expect(connection.lastRotatedAt).toBeDefined();
    expect(connection.keyCreatedAt).toBeDefined();
    // Progress on stderr is plain and timestamped (no TTY), key ids masked, no secret anywhere.
    for (const line of run.stderr.trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /);
    expect(run.stderr).not.toContain(stored.accessKeyId);
    expect(run.stdout + run.stderr).not.toContain(stored.secretAccessKey);
    expect(run.stdout + run.stderr).not.toContain(original.secretAccessKey);
  });

  it('--keep-old leaves the old key inactive', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    const run = await world.cli(['rotate', 'prod', '--keep-old', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'rotated', oldKey: 'inactive' });
    await world.assertConverged('prod', 'datablast', original, { keepOld: true });
    // A second rotation deletes that inactive key (no connection holds it) to make room.
    const second = await world.cli(['rotate', 'prod', '--keep-old', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/deleting the inactive key AKIA\*+\w{4} of datablast, which no connection holds/);
    expect(await world.keys('datablast')).toHaveLength(2);
  });

  it('deletes a leftover inactive key that no connection holds, and says so', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    const leftover = await world.createKey('datablast');
    await world.deactivate('datablast', leftover.accessKeyId);
    const run = await world.cli(['rotate', 'prod']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toContain('which no connection holds');
    expect((await world.keys('datablast')).map((k) => k.id)).not.toContain(leftover.accessKeyId);
    await world.assertConverged('prod', 'datablast', original);
  });

  it('never deletes a foreign active key: exit 5 naming it, nothing changed', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    const foreign = await world.createKey('datablast');
    world.foreign.add(foreign.accessKeyId);
    const run = await world.cli(['rotate', 'prod']);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain(foreign.accessKeyId);
    expect(await world.keys('datablast')).toEqual(
      [original.accessKeyId, foreign.accessKeyId].sort().map((id) => ({ id, status: 'Active' })),
    );
    expect(await world.works(foreign)).toBeDefined();
    await world.assertInvariant('prod', 'datablast');
  });

  it('without the self-rotation policy: names the permission; --admin rotates with the admin credentials', async () => {
    const original = await world.addUserConnection('prod', 'datablast', { selfRotation: false });
    const own = await world.cli(['rotate', 'prod']);
    expect(own.exitCode).toBe(5);
    expect(own.stderr).toContain('iam:ListAccessKeys');
    expect(own.stderr).toContain('attach-policy datablast --self-rotation');
    const admin = await world.cli(['rotate', 'prod', '--admin', '--json'], { admin: true });
    expect(admin.exitCode, admin.stderr).toBe(0);
    await world.assertConverged('prod', 'datablast', original);
  });

  it('--dry-run changes nothing', async () => {
    const original = await world.addUserConnection('prod', 'datablast');
    const run = await world.cli(['rotate', 'prod', '--dry-run', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dryRun: true, status: 'rotated' });
    expect(await world.keys('datablast')).toEqual([{ id: original.accessKeyId, status: 'Active' }]);
    expect((await world.secrets()).get('prod')).toEqual(original);
  });

  it('--all rotates several connections; a failure in one does not stop the others; exit 5', async () => {
    const originals = new Map([
      ['alpha', await world.addUserConnection('alpha', 'user-alpha')],
      ['beta', await world.addUserConnection('beta', 'user-beta')],
      ['gamma', await world.addUserConnection('gamma', 'user-gamma')],
      ['delta', await world.addUserConnection('delta', 'user-delta')],
    ]);
    const foreign = await world.createKey('user-gamma');
    world.foreign.add(foreign.accessKeyId);
    const run = await world.cli(['rotate', '--all', '--concurrency', '2', '--json']);
    expect(run.exitCode, run.stderr).toBe(5);
    const entries = JSON.parse(run.stdout) as Array<{ name: string; status: string }>;
    expect(entries.map((e) => [e.name, e.status])).toEqual([
      ['alpha', 'rotated'],
      ['beta', 'rotated'],
      ['delta', 'rotated'],
      ['gamma', 'failed'],
    ]);
    for (const name of ['alpha', 'beta', 'delta'])
      await world.assertConverged(name, `user-${name}`, originals.get(name)!);
    await world.assertInvariant('gamma', 'user-gamma');
    // cron's line: every key is young now (gamma's too, it was just added), so the nightly run skips them all.
    const again = await world.cli(['rotate', '--all', '--older-than', '90', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as Array<{ status: string }>).map((e) => e.status)).toEqual([
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
  }, 120_000);
});
