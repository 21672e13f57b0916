import { afterEach, describe, expect, it, vi } from 'vitest';
import { sdkError } from '../../fakes/fake-aws.js';
import { pendingAccount, PROOF_POLICY } from '../../../src/domain/rotation.js';
import { redact } from '../../../src/domain/redact.js';
import { LOCK_WAIT_MS, type RotateFailure, type RotateResult } from '../../../src/commands/rotate.js';
import {
  NAME,
  USER,
  assertConverged,
  assertInvariant,
  journalOf,
  rotateIn,
  rotationWorld,
  type RotationWorld,
} from './rotate-harness.js';

const one = (r: { result?: unknown }) => r.result as RotateResult;
const many = (r: { result?: unknown }) => r.result as Array<RotateResult | RotateFailure>;

describe('rotate: the happy path', () => {
  it('creates, stores, proves, switches and deletes the old key, and records it all', async () => {
    const world = rotationWorld();
    const old = world.original.get(NAME)!;
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(0);
    const result = one(run);
    const stored = world.secrets.entries.get(NAME)!;
    expect(result).toEqual({
      name: NAME,
      status: 'rotated',
      oldAccessKeyId: old.accessKeyId,
      newAccessKeyId: stored.accessKeyId,
      oldKey: 'deleted',
      recovered: null,
    });
    assertConverged(world);
    const connection = world.connections.entries.get(NAME)!;
    expect(connection.keyCreatedAt).toBe(world.aws.keys.get(stored.accessKeyId)!.createDate);
    expect(connection.lastRotatedAt).toBe(world.clock.now().toISOString());
    expect(connection.previousAccessKeyIds).toEqual([old.accessKeyId]);
  });

  it("takes the protocol's steps in order, each signed by the right key", async () => {
    const world = rotationWorld();
    const old = world.original.get(NAME)!.accessKeyId;
    const run = await rotateIn(world);
    const fresh = world.secrets.entries.get(NAME)!.accessKeyId;
    const aws = run.ports.log.filter((l) => l.includes(' iam:') || l.includes(' sts:'));
    expect(aws).toEqual([
      `${old} sts:getCallerIdentity`,
      `${old} iam:listAccessKeys`,
      `${old} iam:createAccessKey`,
      `${fresh} sts:getCallerIdentity`,
      `${fresh} sts:getCallerIdentity`,
      `${fresh} sts:getCallerIdentity`,
      `${fresh} iam:listAccessKeys`,
      // The gateway confirms each retirement with ListAccessKeys (aws/iam.ts); the fake stands for that gateway.
      `${fresh} iam:updateAccessKey`,
      `${fresh} iam:deleteAccessKey`,
    ]);
    // The new secret is stored under the pending entry before anything else happens with it.
    const storePending = run.ports.log.indexOf('secrets:set');
    expect(storePending).toBe(run.ports.log.indexOf(`${old} iam:createAccessKey`) + 1);
  });

  it('keeps the old key inactive with --keep-old', async () => {
    const world = rotationWorld();
    const old = world.original.get(NAME)!.accessKeyId;
    const run = await rotateIn(world, { keepOld: true });
    expect(one(run)).toMatchObject({ status: 'rotated', oldKey: 'inactive' });
    expect(world.aws.keys.get(old)!.status).toBe('Inactive');
    assertConverged(world, NAME, { keepOld: true });
  });

  it('signs every IAM call with the admin credentials under --admin, and proves the new key with STS only', async () => {
    const world = rotationWorld();
    const old = world.original.get(NAME)!.accessKeyId;
    const run = await rotateIn(world, { admin: true });
    expect(one(run).status).toBe('rotated');
    const iam = run.ports.log.filter((l) => l.includes(' iam:'));
    expect(iam.every((l) => l.startsWith('admin '))).toBe(true);
    expect(run.ports.log).toContain(`${old} sts:getCallerIdentity`);
    assertConverged(world);
  });

  it('never shows a secret: not on stdout, not on stderr, not in the result, not in the journal', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 2;
    const old = world.original.get(NAME)!;
    const run = await rotateIn(world, {}, { json: true });
    const stored = world.secrets.entries.get(NAME)!;
    const everything = run.stdout + run.stderr + JSON.stringify(run.result);
    for (const secret of [old.secretAccessKey, stored.secretAccessKey]) expect(everything).not.toContain(secret);
    // Progress lines mask key ids; the result (CLI.md) carries them in full.
    expect(run.stderr).not.toContain(stored.accessKeyId);
    expect(run.stderr).toContain(`${stored.accessKeyId.slice(0, 4)}`);
    expect(JSON.stringify(run.result)).toContain(stored.accessKeyId);
    // Every secret the run obtained is remembered, so main scrubs it from anything on stderr.
    expect(redact(`x ${stored.secretAccessKey} y`)).not.toContain(stored.secretAccessKey);
  });

  it('writes plain, timestamped progress lines when stderr is not a terminal', async () => {
    const world = rotationWorld();
    const run = await rotateIn(world);
    const lines = run.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(4);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z prod: /);
  });
});

describe('rotate: eventual consistency', () => {
  it('waits for AWS to accept the new key, with capped exponential backoff, then rotates', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 6;
    const run = await rotateIn(world);
    expect(one(run).status).toBe('rotated');
    expect(run.stderr).toContain('waiting for AWS to accept the new key');
    // 6 refusals then 3 successes: the first attempt at once, then backoff 250 and 500s (the cap), then 250s
    // between successes (PROOF_POLICY through domain/backoff.ts's poll).
    expect(world.clock.sleeps).toEqual([250, 500, 500, 500, 500, 500, 250, 250]);
    assertConverged(world);
  });

  it('needs three successes in a row: a refusal in between starts the count again', async () => {
    const world = rotationWorld();
    // The current key's proof and two successes of the new key pass; the fourth call is refused.
    world.aws.failNext('getCallerIdentity', sdkError('InvalidClientTokenId', 'not yet', 403), 3);
    const run = await rotateIn(world);
    expect(one(run).status).toBe('rotated');
    // 1 (current) + 2 successes + 1 refusal + 3 successes in a row.
    expect(run.ports.log.filter((l) => l.endsWith('sts:getCallerIdentity'))).toHaveLength(7);
  });

  it('rolls back when AWS never accepts the new key: deletes it with the old key, keeps the old one, exit 5', async () => {
    const world = rotationWorld();
    world.aws.propagationDelayCalls = 1_000_000;
    const old = world.original.get(NAME)!;
    const start = world.clock.now().getTime();
    const run = await rotateIn(world, {}, { json: true });
    expect(run.exitCode).toBe(5);
    const result = one(run);
    expect(result).toMatchObject({ status: 'rolled-back', oldAccessKeyId: old.accessKeyId, oldKey: null });
    expect(world.secrets.entries.get(NAME)).toEqual(old);
    expect(world.aws.keysOf(USER).map((k) => k.accessKeyId)).toEqual([old.accessKeyId]);
    expect(run.ports.log).toContain(`${old.accessKeyId} iam:deleteAccessKey`);
    expect(journalOf(world)).toBeUndefined();
    expect(world.secrets.entries.has(pendingAccount(NAME))).toBe(false);
    const waited = world.clock.now().getTime() - start;
    expect(waited).toBeGreaterThanOrEqual(PROOF_POLICY.timeoutMs);
    expect(waited).toBeLessThan(PROOF_POLICY.timeoutMs + 5_000);
    expect(Math.max(...world.clock.sleeps)).toBe(PROOF_POLICY.maxDelayMs);
    assertInvariant(world);
    expect(run.stderr).toContain('rolled back');
  });

  it("retries retiring the old key while IAM does not yet accept the new key's signature", async () => {
    const world = rotationWorld();
    world.aws.failNext('updateAccessKey', sdkError('InvalidClientTokenId', 'not yet', 403));
    world.aws.failNext('updateAccessKey', sdkError('InvalidClientTokenId', 'not yet', 403));
    const run = await rotateIn(world);
    expect(one(run).status).toBe('rotated');
    expect(run.ports.log.filter((l) => l.endsWith('iam:updateAccessKey'))).toHaveLength(3);
    assertConverged(world);
  });
});

describe("rotate: the user's other key", () => {
  it('deletes an inactive key that no connection holds first, and says so', async () => {
    const world = rotationWorld();
    const stale = world.aws.issueKey(USER, 0, '2026-01-01T00:00:00.000Z');
    world.aws.keys.get(stale.accessKeyId)!.status = 'Inactive';
    const run = await rotateIn(world);
    expect(one(run).status).toBe('rotated');
    expect(run.stderr).toMatch(/deleting the inactive key AKIA\*+\w{4} of datablast, which no connection holds/);
    expect(world.aws.keys.has(stale.accessKeyId)).toBe(false);
    assertConverged(world);
  });

  it('never touches an active key it does not hold: exit 5 naming the key and how to decide', async () => {
    const world = rotationWorld();
    const foreign = world.aws.issueKey(USER, 0, '2026-01-01T00:00:00.000Z');
    world.foreign.add(foreign.accessKeyId);
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain(foreign.accessKeyId);
    expect(run.stderr).toMatch(/never touched/);
    expect(run.stderr).toMatch(/get-access-key-last-used/);
    expect(world.aws.keys.get(foreign.accessKeyId)!.status).toBe('Active');
    expect(run.ports.log.some((l) => /iam:(create|update|delete)AccessKey/.test(l))).toBe(false);
    expect(journalOf(world)).toBeUndefined();
    assertInvariant(world);
  });

  it('never touches a key another connection holds, even an inactive one', async () => {
    const world = rotationWorld();
    const other = world.aws.issueKey(USER, 0);
    world.aws.keys.get(other.accessKeyId)!.status = 'Inactive';
    world.secrets.entries.set('staging', other);
    world.connections.entries.set('staging', {
      name: 'staging',
      accessKeyId: other.accessKeyId,
      region: 'eu-west-1',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain('"staging"');
    expect(world.aws.keys.has(other.accessKeyId)).toBe(true);
  });

  it('refuses to rotate a key another connection also holds (it would break that one)', async () => {
    const world = rotationWorld();
    const pair = world.original.get(NAME)!;
    world.secrets.entries.set('prod-copy', pair);
    world.connections.entries.set('prod-copy', {
      name: 'prod-copy',
      accessKeyId: pair.accessKeyId,
      region: 'eu-west-1',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('"prod-copy"');
    expect(world.aws.keysOf(USER)).toHaveLength(1);
  });
});

describe('rotate: permissions and credentials', () => {
  it('names the missing permission and suggests attach-policy --self-rotation or --admin', async () => {
    const world = rotationWorld();
    world.aws.failNext(
      'listAccessKeys',
      sdkError(
        'AccessDenied',
        `User: arn:aws:iam::123456789012:user/${USER} is not authorized to perform: iam:ListAccessKeys`,
        403,
      ),
    );
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain('iam:ListAccessKeys');
    expect(run.stderr).toContain(`datablast-aws attach-policy ${USER} --self-rotation`);
    expect(run.stderr).toContain('--admin');
    expect(journalOf(world)).toBeUndefined();
  });

  it('forgets the journal when CreateAccessKey is denied: nothing was created, nothing to resume', async () => {
    const world = rotationWorld();
    world.aws.failNext(
      'createAccessKey',
      sdkError('AccessDenied', 'not authorized to perform: iam:CreateAccessKey', 403),
    );
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain('iam:CreateAccessKey');
    expect(journalOf(world)).toBeUndefined();
    expect(world.aws.keysOf(USER)).toHaveLength(1);
  });

  it('says the current key does not work (exit 4) and changes nothing', async () => {
    const world = rotationWorld();
    world.aws.keys.get(world.original.get(NAME)!.accessKeyId)!.status = 'Inactive';
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(4);
    expect(run.stderr).toContain('does not work');
    expect(run.stderr).toContain('datablast-aws test prod');
    expect(world.aws.keysOf(USER)).toHaveLength(1);
  });

  it("refuses a key that is not an IAM user's (exit 3)", async () => {
    const world = rotationWorld();
    const as = world.aws.as.bind(world.aws);
    world.aws.as = async (credentials) => {
      const session = await as(credentials);
      return {
        ...session,
        sts: {
          getCallerIdentity: async () => ({
            account: '123456789012',
            arn: 'arn:aws:sts::123456789012:assumed-role/ops/me',
            userId: 'AROAX:me',
          }),
        },
      };
    };
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('not an IAM user');
    expect(world.aws.keysOf(USER)).toHaveLength(1);
  });

  it('reports a failure before the journal as itself, not as an interruption', async () => {
    const world = rotationWorld();
    world.aws.failNext('getCallerIdentity');
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(journalOf(world)).toBeUndefined();
  });

  it('reports a connection that does not exist (exit 3)', async () => {
    const world = rotationWorld();
    const run = await rotateIn(world, { name: 'nope' });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('no connection named "nope"');
  });
});

describe('rotate --older-than', () => {
  it('skips a key younger than DAYS without any AWS call (age from the metadata)', async () => {
    const world = rotationWorld({ keyCreatedAt: '2026-11-01T00:00:00.000Z' });
    const run = await rotateIn(world, { olderThan: 90 });
    expect(run.exitCode).toBe(0);
    expect(one(run)).toMatchObject({ status: 'skipped', newAccessKeyId: null, oldKey: null });
    expect(run.ports.log.filter((l) => / (iam|sts):/.test(l))).toEqual([]);
    expect(world.secrets.entries.get(NAME)).toEqual(world.original.get(NAME));
  });

  it('rotates a key as old as DAYS or older', async () => {
    const world = rotationWorld({ keyCreatedAt: '2026-08-30T12:00:00.000Z' });
    const run = await rotateIn(world, { olderThan: 90 });
    expect(one(run).status).toBe('rotated');
  });

  it('reads the age from ListAccessKeys when the metadata does not know it', async () => {
    const young = rotationWorld({ keyCreatedAt: null });
    world_key_date(young, '2026-11-20T00:00:00.000Z');
    const run = await rotateIn(young, { olderThan: 90 });
    expect(one(run).status).toBe('skipped');
    expect(run.ports.log.filter((l) => / iam:/.test(l))).toEqual([
      `${young.original.get(NAME)!.accessKeyId} iam:listAccessKeys`,
    ]);

    const old = rotationWorld({ keyCreatedAt: null });
    const run2 = await rotateIn(old, { olderThan: 90 });
    expect(one(run2).status).toBe('rotated');
  });
});

function world_key_date(world: RotationWorld, date: string): void {
  world.aws.keys.get(world.original.get(NAME)!.accessKeyId)!.createDate = date;
}

describe('rotate --dry-run', () => {
  it('prints the plan and changes nothing, with read calls only', async () => {
    const world = rotationWorld();
    const stale = world.aws.issueKey(USER, 0);
    world.aws.keys.get(stale.accessKeyId)!.status = 'Inactive';
    const before = JSON.stringify([...world.aws.keys.entries()]);
    const run = await rotateIn(world, { dryRun: true });
    expect(run.exitCode).toBe(0);
    const result = one(run);
    expect(result.dryRun).toBe(true);
    expect(result.plan!.join('\n')).toContain(`delete the inactive key ${stale.accessKeyId}`);
    expect(result.plan!.join('\n')).toContain('create a new access key');
    expect(JSON.stringify([...world.aws.keys.entries()])).toBe(before);
    expect(
      run.ports.log.every((l) =>
        /(sts:getCallerIdentity|iam:listAccessKeys|secrets:get|connections:(get|list))$/.test(l),
      ),
    ).toBe(true);
    expect(journalOf(world)).toBeUndefined();
  });

  it('describes how it would finish an interrupted rotation, without finishing it', async () => {
    const world = rotationWorld();
    await rotateIn(world, {}, { fault: { on: 'iam:updateAccessKey', mode: 'crash-before' } });
    const journal = journalOf(world);
    expect(journal).toBeDefined();
    const run = await rotateIn(world, { dryRun: true });
    expect(one(run).plan![0]).toContain('an interrupted rotation');
    expect(journalOf(world)).toEqual(journal);
  });
});

describe('rotate --all', () => {
  it('rotates every connection, one failure does not stop the others, exit code of the failure', async () => {
    const world = rotationWorld({ connections: ['a', 'b', 'c'] });
    const foreign = world.aws.issueKey(`${USER}-1`, 0);
    world.foreign.add(foreign.accessKeyId);
    const run = await rotateIn(world, { all: true, name: undefined }, { json: true });
    expect(run.exitCode).toBe(5);
    const entries = many(run);
    expect(entries.map((e) => [e.name, e.status])).toEqual([
      ['a', 'rotated'],
      ['b', 'failed'],
      ['c', 'rotated'],
    ]);
    const failed = entries[1] as RotateFailure;
    expect(failed.error).toMatchObject({ exitCode: 5 });
    expect(failed.error.message).toContain(foreign.accessKeyId);
    assertConverged(world, 'a');
    assertConverged(world, 'c');
    assertInvariant(world, 'b');
    expect(run.stderr).toContain('b: user datablast-1 already has two access keys');
  });

  it('gives the most urgent exit code when several fail', async () => {
    const world = rotationWorld({ connections: ['a', 'b'] });
    world.aws.keys.get(world.original.get('a')!.accessKeyId)!.status = 'Inactive';
    const foreign = world.aws.issueKey(`${USER}-1`, 0);
    world.foreign.add(foreign.accessKeyId);
    const run = await rotateIn(world, { all: true, name: undefined });
    expect(many(run).map((e) => e.status)).toEqual(['failed', 'failed']);
    expect(run.exitCode).toBe(4);
  });

  it('rotates at most --concurrency connections at once', async () => {
    const world = rotationWorld({ connections: ['a', 'b', 'c', 'd', 'e', 'f'] });
    let inFlight = 0;
    let most = 0;
    const create = world.aws.as.bind(world.aws);
    world.aws.as = async (credentials) => {
      const session = await create(credentials);
      const sts = session.sts;
      return {
        ...session,
        sts: {
          getCallerIdentity: async () => {
            inFlight += 1;
            most = Math.max(most, inFlight);
            await new Promise((r) => setTimeout(r, 2));
            inFlight -= 1;
            return sts.getCallerIdentity();
          },
        },
      };
    };
    const run = await rotateIn(world, { all: true, name: undefined, concurrency: 2 });
    expect(many(run).map((e) => (e.status === 'failed' ? e.error.message : e.status))).toEqual(
      Array(6).fill('rotated'),
    );
    expect(most).toBe(2);
  });

  it('is an empty list, exit 0, when there are no connections', async () => {
    const world = rotationWorld({ connections: [] });
    const run = await rotateIn(world, { all: true, name: undefined });
    expect(run.result).toEqual([]);
    expect(run.exitCode).toBe(0);
  });
});

describe('rotate: the journal and the lock', () => {
  it('refuses a corrupt journal with exit 3, naming its path, and touches nothing', async () => {
    const world = rotationWorld();
    world.journals.texts.set(NAME, '{"version": 1, "phase": "creat');
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain(world.journals.of(NAME).path);
    expect(world.journals.texts.get(NAME)).toBe('{"version": 1, "phase": "creat');
    expect(run.ports.log.filter((l) => / (iam|sts):/.test(l))).toEqual([]);
  });

  it('refuses a journal of another version with exit 3', async () => {
    const world = rotationWorld();
    world.journals.texts.set(NAME, JSON.stringify({ version: 2, connection: NAME, phase: 'warp' }));
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('version 2');
  });

  it('refuses to resume when the connection was replaced during the rotation (exit 3, nothing touched)', async () => {
    const world = rotationWorld();
    await rotateIn(world, {}, { fault: { on: 'secrets:set', mode: 'crash-after' } });
    expect(journalOf(world)?.phase).toBeDefined();
    const replacement = world.aws.issueKey('someone-else', 0);
    world.aws.seedUser('someone-else');
    world.secrets.entries.set(NAME, replacement);
    const keys = JSON.stringify([...world.aws.keys.keys()]);
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('replaced during the rotation');
    expect(JSON.stringify([...world.aws.keys.keys()])).toBe(keys);
  });

  it('exits 7 while another rotation of the same connection holds the lock, after waiting LOCK_WAIT_MS', async () => {
    const world = rotationWorld();
    const lock = await world.locks.acquire(NAME, 0);
    expect(lock).toBeDefined();
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(7);
    expect(world.locks.requests.at(-1)).toEqual({ name: NAME, waitMs: LOCK_WAIT_MS });
    expect(run.stderr).toContain('another rotation of "prod" is in progress');
    expect(world.aws.keysOf(USER)).toHaveLength(1);
    await lock!.release();
    const again = await rotateIn(world);
    expect(one(again).status).toBe('rotated');
    expect(world.locks.held.size, 'the lock is released after the run').toBe(0);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});
