import { existsSync } from 'node:fs';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { SharedWorld } from './shared-store-support.js';
import { checkSharedState, sharedHostsScenario } from '../../scripts/lib/shared-hosts.mjs';

// The bench's shared-hosts row (issue 15, item 5), smaller: 5 hosts (processes of the built binary, each with its own
// config dir) rotate the same 8 connections, shared through moto's Secrets Manager, at the same instant. The checks
// are the bench's own (scripts/lib/shared-hosts.mjs); this file proves them, and that they can fail.

const HOSTS = 5;
const CONNECTIONS = 8;

let moto: Moto;
let world: SharedWorld;

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
  world = new SharedWorld(moto);
  await world.reset();
});

afterAll(async () => {
  await moto?.stop();
});

describe('hosts racing to rotate the same shared connections', () => {
  it(`${HOSTS} hosts × ${CONNECTIONS} connections: each rotated exactly once, no orphan key, every host prints the current key`, async () => {
    const report = await sharedHostsScenario({
      bin: BIN,
      endpoint: moto.url,
      admin: world.admin,
      hosts: HOSTS,
      connections: CONNECTIONS,
      workDir: tempConfigDir('dbaws-hosts-'),
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' },
      checkAll: true,
    });
    expect(report.problems).toEqual([]);
    expect(report.rotations).toBe(CONNECTIONS);
    expect(report.createAccessKey).toBe(CONNECTIONS);
    expect(report.credentialChecks).toBe(HOSTS * CONNECTIONS);
    expect(report.hosts).toHaveLength(HOSTS);
    for (const host of report.hosts) {
      expect(host.other, `host ${host.host}`).toEqual([]);
      expect(host.rotated + host.skipped + host.held, `host ${host.host}`).toBe(CONNECTIONS);
      // A host that found a claim held past its wait exits 7 (CLI.md), even when every other entry went well.
      expect(host.exitCode, `host ${host.host}`).toBe(host.held ? 7 : 0);
    }

    // The same end state through the rotation tests' own checker: the stored key works, nothing pending or
    // journaled, and IAM holds exactly the new key.
    for (const seeded of report.seeded)
      await world.assertConverged(seeded.name, seeded.userName, {
        accessKeyId: seeded.originalKeyId,
        secretAccessKey: '',
      });

    // The checks are not vacuous: a second key for one user and a pending version of another are caught.
    const [first, second] = report.seeded;
    const orphan = await world.createKey(first!.userName);
    await world.sm().send(
      new PutSecretValueCommand({
        SecretId: world.secretId(second!.name),
        SecretString: JSON.stringify({ format: 'datablast-aws/connection@1' }),
        VersionStages: ['AWSPENDING'],
      }),
    );
    const after = await checkSharedState({ endpoint: moto.url, admin: world.admin, seeded: report.seeded });
    expect(after.problems).toHaveLength(2);
    expect(after.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${first!.name}: IAM holds \\[.*${orphan.accessKeyId} Active.*\\]`)),
        `${second!.name}: 1 AWSPENDING version(s) left`,
      ]),
    );
  }, 120_000);
});
