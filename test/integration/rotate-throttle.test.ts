import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startMoto, type Moto } from '../support/moto.js';
import { startAwsProxy, throttleIam, type AwsProxy } from '../../scripts/lib/real-parts.mjs';
import { BIN, runBin, tempConfigDir } from '../support/cli-process.js';
import { openConnectionStore } from '../../src/store/connections.js';
import { openSecretStore } from '../../src/store/secret-store.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';
import { ACCOUNT, PASSPHRASE } from './rotate-support.js';

// rotate --all through a proxy that throttles IAM as IAM does (HTTP 400 Throttling, "Rate exceeded"),
// in front of moto with keys and signatures checked.

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const CONNECTIONS = 20;
const RATE = 10;
const CONCURRENCY = 8;

let moto: Moto;
let proxy: AwsProxy;

beforeAll(async () => {
  if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  moto = await startMoto();
  proxy = await startAwsProxy(moto.url);
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

const bootstrap = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const selfRotation = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:UpdateAccessKey', 'iam:ListAccessKeys'],
      Resource: '*',
    },
    { Effect: 'Allow', Action: 'sts:GetCallerIdentity', Resource: '*' },
  ],
});

describe('rotate --all through a proxy that throttles IAM', () => {
  it(`rotates ${CONNECTIONS} connections at ${RATE} IAM calls/s: none fails, the concurrency drops`, async () => {
    const iam = new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: bootstrap });
    const env = {
      DATABLAST_AWS_CONFIG_DIR: tempConfigDir('dbaws-throttle-'),
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: PASSPHRASE,
    };
    const connections = await openConnectionStore(env);
    const secrets = await openSecretStore(env, connections.dir);
    const original = new Map<string, { userName: string; pair: AccessKeyPair }>();
    const now = new Date().toISOString();
    for (let i = 1; i <= CONNECTIONS; i++) {
      const name = `conn-${String(i).padStart(2, '0')}`;
      const userName = `throttled-${i}`;
      await iam.send(new CreateUserCommand({ UserName: userName }));
      await iam.send(
        new PutUserPolicyCommand({ UserName: userName, PolicyName: 'rotate', PolicyDocument: selfRotation }),
      );
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
      const pair = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      await secrets.set(name, pair);
      await connections.put({
        name,
        accessKeyId: pair.accessKeyId,
        accountId: ACCOUNT,
        arn: `arn:aws:iam::${ACCOUNT}:user/${userName}`,
        userName,
        region: 'us-east-1',
        createdAt: now,
        keyCreatedAt: now,
      });
      original.set(name, { userName, pair });
    }
    await moto.enforceAuth(0);

    const throttle = throttleIam(proxy, { rate: RATE, burst: RATE });
    try {
      const run = await runBin(['rotate', '--all', '--concurrency', String(CONCURRENCY), '--json'], {
        env: { ...env, AWS_ENDPOINT_URL: proxy.url, AWS_REGION: 'us-east-1' },
        timeoutMs: 120_000,
      });
      expect(run.exitCode, run.stderr.slice(-3000)).toBe(0);
      // stdout is CLI.md's array, nothing else.
      const entries = JSON.parse(run.stdout) as Array<{ name: string; status: string; newAccessKeyId: string }>;
      expect(entries.map((e) => e.status)).toEqual([...original.keys()].map(() => 'rotated'));
      expect(throttle.throttled(), 'the proxy throttled IAM').toBeGreaterThan(0);
      // The summary line on stderr: the rate, and how far the concurrency fell.
      const summary = run.stderr.split('\n').find((l) => l.includes('rotate --all:')) ?? '';
      expect(summary).toMatch(
        new RegExp(
          `${CONNECTIONS} connections in [\\d.]+ s \\(${CONNECTIONS} rotated, 0 skipped or rolled back, 0 failed\\): [\\d.]+ rotations/s, [\\d.]+ IAM calls/s`,
        ),
      );
      const lowest = Number(new RegExp(`concurrency ${CONCURRENCY}, down to (\\d+)`).exec(summary)?.[1]);
      expect(lowest, summary).toBeLessThan(CONCURRENCY);
      expect(lowest, summary).toBeGreaterThanOrEqual(1);
      // Every connection holds its new key, which works, and IAM holds exactly it.
      throttle.stop();
      for (const entry of entries) {
        const { userName, pair } = original.get(entry.name)!;
        const now = (await secrets.get(entry.name))!;
        expect(now.accessKeyId).toBe(entry.newAccessKeyId);
        expect(now.accessKeyId).not.toBe(pair.accessKeyId);
        const keys = await new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials: now }).send(
          new ListAccessKeysCommand({ UserName: userName }),
        );
        expect(keys.AccessKeyMetadata?.map((k) => k.AccessKeyId)).toEqual([now.accessKeyId]);
        const identity = await new STSClient({ endpoint: moto.url, region: 'us-east-1', credentials: now }).send(
          new GetCallerIdentityCommand({}),
        );
        expect(identity.Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/${userName}`);
      }
    } finally {
      throttle.stop();
    }
  }, 180_000);
});
