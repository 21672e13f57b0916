import { existsSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, type ProcessResult } from '../support/cli-process.js';
import { SharedWorld } from './shared-store-support.js';

// One rotation across hosts (issue 15, item 3): hosts with their own config dirs share connections through moto's
// Secrets Manager (real versions and staging labels) and rotate them with the built binary.

let moto: Moto;
let world: SharedWorld;

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
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
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { name: 'prod', accessKeyId: current.accessKeyId, status: 'ok' },
    ]);
  }, 120_000);

  it.each([2, 10])(
    '%i hosts whose cron fires at the same moment: exactly one rotation, the others skip or find it held',
    async (hosts) => {
      const original = await world.addUserConnection('prod', 'datablast');
      await world.ageKey('prod', 120);
      const machines = [world, ...Array.from({ length: hosts - 1 }, () => world.host())];
      const runs = await Promise.all(
        machines.map((m) => m.cli(['rotate', 'prod', '--older-than', '90', '--json'])),
      );
      const outcomes = runs.map(outcome);
      expect(
        outcomes.filter((o) => o === 'rotated'),
        outcomes.join(', '),
      ).toHaveLength(1);
      for (const [i, o] of outcomes.entries()) expect(['rotated', 'skipped', 'exit 7'], runs[i]!.stderr).toContain(o);
      await world.assertConverged('prod', 'datablast', original);
      const current = (await world.secrets()).get('prod')!;
      const printed = await Promise.all(machines.map((m) => m.cli(['credential-process', 'prod'])));
      for (const p of printed) expect(JSON.parse(p.stdout)).toMatchObject({ AccessKeyId: current.accessKeyId });
    },
    180_000,
  );
});
