import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { FaultProxy, MotoWorld } from './rotate-support.js';
import { openSecretStore } from '../../src/store/secret-store.js';
import { pendingAccount } from '../../src/domain/rotation.js';

let moto: Moto;
let keyring: Keyring;
let proxy: FaultProxy;

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
  // The keychain adapter in this process (to read what the CLI stored) talks to the private bus too.
  Object.assign(process.env, keyring.env);
  proxy = new FaultProxy(moto.url);
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  await keyring?.stop();
  await moto?.stop();
});

function keychainWorld(): MotoWorld {
  return new MotoWorld(moto, tempConfigDir('dbaws-rotate-keychain-'), {
    DATABLAST_AWS_SECRET_STORE: 'keychain',
    ...keyring.env,
  });
}

describe('rotate with the OS keychain (a real Secret Service)', () => {
  it('stores, reads and deletes the pending entry, whose name carries a control character', async () => {
    const store = await openSecretStore({ DATABLAST_AWS_SECRET_STORE: 'keychain' }, tempConfigDir('dbaws-pending-'));
    const account = pendingAccount('AWS Production');
    const pair = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
    await store.set(account, pair);
    expect(await store.list()).toContain(account);
    expect(await store.get(account)).toEqual(pair);
    // The pending entry is not the connection's entry.
    expect(await store.get('AWS Production')).toBeUndefined();
    expect(await store.delete(account)).toBe(true);
    expect(await store.get(account)).toBeUndefined();
  });

  it('rotates, and resumes from the pending entry after a network failure while proving the new key', async () => {
    const world = keychainWorld();
    await world.reset();
    let before = await world.addUserConnection('AWS Production', 'datablast');
    const run = await world.cli(['rotate', 'AWS Production', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    before = await world.assertConverged('AWS Production', 'datablast', before);

    // Requests: 1 STS, 2 ListAccessKeys, 3 CreateAccessKey, 4 the new key's first STS: the network goes away there.
    proxy.set({ kind: 'down-from', n: 4 });
    const interrupted = await world.cli(['rotate', 'AWS Production', '--json'], { endpoint: proxy.url });
    expect(interrupted.exitCode, interrupted.stderr).toBe(8);
    expect(world.journal('AWS Production')?.phase).toBe('created');
    expect((await world.secrets()).has(pendingAccount('AWS Production'))).toBe(true);
    await world.assertInvariant('AWS Production', 'datablast');

    proxy.set({ kind: 'pass' });
    const resumed = await world.cli(['rotate', 'AWS Production', '--json'], { endpoint: proxy.url });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'resumed', recovered: 'finished' });
    await world.assertConverged('AWS Production', 'datablast', before);
  }, 120_000);
});
