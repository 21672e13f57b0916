import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { tempConfigDir } from '../support/cli-process.js';
import { invalidClientTokenId, startAwsProxy, type AwsProxy } from '../../scripts/lib/real-parts.mjs';
import { MotoWorld } from './rotate-support.js';

// IAM is eventually consistent: AWS may refuse a new key for seconds after creating it. A proxy in
// front of moto plays that part: every call signed by the rotation's new key is refused
// (InvalidClientTokenId, 403) until D seconds after CreateAccessKey answered. The rotation must then
// be over (the process exited) within D + 2 s of that answer: a bound on the polling policy
// (PROOF_POLICY) with slack, not a micro-benchmark; the process's start-up before CreateAccessKey is
// not part of it. D = 4 s falls just after a poll of the former 2 s-capped backoff, which measured
// about D + 2.5 s here; the 0.5 s cap measured about D + 1 s.
const D = 4_000;

let moto: Moto;
let keyring: Keyring;
let proxy: AwsProxy;
let world: MotoWorld;

beforeAll(async () => {
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
  // The keychain adapter in this process (to check what the CLI stored) talks to the private bus too.
  Object.assign(process.env, keyring.env);
  proxy = await startAwsProxy(moto.url);
  // The keychain, as on a desktop: the file store's key derivation would add CPU time to each run
  // on a machine that CI keeps busy with other test files, and this test is about the waiting.
  world = new MotoWorld(moto, tempConfigDir('dbaws-propagation-'), {
    DATABLAST_AWS_SECRET_STORE: 'keychain',
    ...keyring.env,
  });
  await world.reset();
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([moto?.stop(), keyring?.stop()]);
});

it(`finishes a rotation within D + 2 s when AWS accepts the new key only D = ${D / 1000} s after creating it`, async () => {
  const original = await world.addUserConnection('slow', 'slow-user');
  let created: { id: string; at: number } | undefined;
  let refused = 0;
  let firstAccepted: number | undefined;
  proxy.observe = (request, body) => {
    if (request.action === 'CreateAccessKey' && request.status === 200)
      created = { id: /<AccessKeyId>(\w+)<\/AccessKeyId>/.exec(body)![1]!, at: Date.now() };
  };
  proxy.intercept = (request) => {
    if (created === undefined || request.accessKeyId !== created.id) return undefined;
    if (Date.now() - created.at < D) {
      refused += 1;
      return invalidClientTokenId();
    }
    firstAccepted ??= Date.now();
    return undefined;
  };

  const started = Date.now();
  const run = await world.cli(['rotate', 'slow', '--json'], { endpoint: proxy.url });
  const finished = Date.now();

  expect(run.exitCode, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({
    name: 'slow',
    status: 'rotated',
    oldAccessKeyId: original.accessKeyId,
    newAccessKeyId: created?.id,
  });
  expect(refused, 'the new key was refused while "propagating"').toBeGreaterThanOrEqual(3);
  expect(run.stderr).toContain('waiting for AWS to accept the new key');
  expect(firstAccepted! - created!.at).toBeGreaterThanOrEqual(D);
  const afterCreation = finished - created!.at;
  expect(
    afterCreation,
    `the rotation ended ${afterCreation} ms after CreateAccessKey (${finished - started} ms in all); AWS accepted the key from ${D} ms`,
  ).toBeLessThan(D + 2_000);
  await world.assertConverged('slow', 'slow-user', original);
}, 60_000);
