import { describe, expect, it } from 'vitest';
import { openSecretsManagerStore, RECORD_FORMAT } from '../../../src/store/aws-secrets-manager.js';
import { CLAIM_LEASE_MS, claimIsLive, claimProblem, newClaim, type Here } from '../../../src/domain/claim.js';
import { pendingAccount, type RotationJournal } from '../../../src/domain/rotation.js';
import { ConfigError, LockHeldError } from '../../../src/errors.js';
import type { Connection } from '../../../src/domain/connection.js';
import { FixedClock } from '../../fakes/fixed-clock.js';
import { MemorySecretsManager } from '../../fakes/memory-secrets-manager.js';

const NAME = 'AWS Production';
const SECRET = 'datablast-aws/AWS=20Production';
const KEY = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const NEW_KEY = { accessKeyId: 'AKIAI44QH8DHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' };

/** A host: its own store over the shared fake, its own name and live pids. */
function host(sm: MemorySecretsManager, clock: FixedClock, name: string, alive: (pid: number) => boolean = () => true) {
  const here: Here = { host: name, isAlive: alive };
  return openSecretsManagerStore({
    secretsManager: async () => sm,
    prefix: 'datablast-aws/',
    region: 'us-east-1',
    dir: '/nonexistent',
    clock,
    here,
  });
}

function connection(): Connection {
  return { name: NAME, accessKeyId: KEY.accessKeyId, region: 'us-east-1', createdAt: '2026-01-01T00:00:00.000Z' };
}

function journal(clock: FixedClock): RotationJournal {
  const at = clock.now().toISOString();
  return {
    version: 1,
    connection: NAME,
    phase: 'creating',
    startedAt: at,
    updatedAt: at,
    userName: 'datablast',
    oldAccessKeyId: KEY.accessKeyId,
    keysBefore: [KEY.accessKeyId],
    keepOld: false,
  };
}

async function seeded() {
  const sm = new MemorySecretsManager();
  const clock = new FixedClock();
  const laptop = host(sm, clock, 'laptop');
  await laptop.secrets.set(NAME, KEY);
  await laptop.connections.put(connection());
  return { sm, clock, laptop };
}

function current(sm: MemorySecretsManager): Record<string, unknown> {
  const secret = sm.secrets.get(SECRET)!;
  const version = [...secret.versions.values()].find((v) => v.stages.includes('AWSCURRENT'))!;
  return JSON.parse(version.value) as Record<string, unknown>;
}

describe('claims: the lock of a shared connection', () => {
  it('of hosts racing for a claim, exactly one wins', async () => {
    const { sm, clock } = await seeded();
    const hosts = ['a', 'b', 'c', 'd', 'e'].map((name) => host(sm, clock, name));
    const locks = await Promise.all(hosts.map((h) => h.locks!.acquire(NAME, 0)));
    expect(locks.filter((lock) => lock !== undefined)).toHaveLength(1);
    expect(await hosts[0]!.locks!.isHeld(NAME)).toBe(true);
  });

  it("another host's claim holds for its lease, then is taken over", async () => {
    const { sm, clock } = await seeded();
    const ci = host(sm, clock, 'ci');
    expect(await host(sm, clock, 'laptop').locks!.acquire(NAME, 0)).toBeDefined();
    expect(await ci.locks!.acquire(NAME, 0)).toBeUndefined();
    clock.advance(CLAIM_LEASE_MS + 1);
    expect(await ci.locks!.acquire(NAME, 0)).toBeDefined();
    expect(current(sm).claim).toMatchObject({ host: 'ci' });
  });

  it('a claim whose holder died on this host is taken over at once', async () => {
    const { sm, clock } = await seeded();
    const dead = new Set<number>();
    expect(await host(sm, clock, 'box').locks!.acquire(NAME, 0)).toBeDefined();
    const holder = (current(sm).claim as { pid: number }).pid;
    expect(await host(sm, clock, 'box').locks!.acquire(NAME, 0)).toBeUndefined();
    dead.add(holder);
    expect(await host(sm, clock, 'box', (pid) => !dead.has(pid)).locks!.acquire(NAME, 0)).toBeDefined();
  });

  it('a holder whose claim was taken over writes nothing more: its next step is refused (exit 7)', async () => {
    const { sm, clock, laptop } = await seeded();
    const lock = await laptop.locks!.acquire(NAME, 0);
    await laptop.journals!.of(NAME).write(journal(clock));
    clock.advance(CLAIM_LEASE_MS + 1);
    const ci = host(sm, clock, 'ci');
    const taken = await ci.locks!.acquire(NAME, 0);
    expect(taken).toBeDefined();
    const before = JSON.stringify(current(sm));
    const step = { ...journal(clock), phase: 'created' as const, newAccessKeyId: NEW_KEY.accessKeyId };
    await expect(laptop.journals!.of(NAME).write(step)).rejects.toBeInstanceOf(LockHeldError);
    await expect(laptop.secrets.set(pendingAccount(NAME), NEW_KEY)).rejects.toBeInstanceOf(LockHeldError);
    await expect(laptop.secrets.set(NAME, NEW_KEY)).rejects.toBeInstanceOf(LockHeldError);
    // Its release leaves the new holder's claim alone.
    await lock!.release();
    expect(JSON.stringify(current(sm))).toBe(before);
    expect(await ci.journals!.of(NAME).read()).toMatchObject({ phase: 'creating' });
  });

  it("each of the holder's writes renews its lease; release takes the claim off", async () => {
    const { sm, clock, laptop } = await seeded();
    const lock = await laptop.locks!.acquire(NAME, 0);
    const first = (current(sm).claim as { expiresAt: string }).expiresAt;
    clock.advance(60_000);
    await laptop.journals!.of(NAME).write(journal(clock));
    expect(Date.parse((current(sm).claim as { expiresAt: string }).expiresAt)).toBe(Date.parse(first) + 60_000);
    await lock!.release();
    expect(current(sm).claim).toBeUndefined();
    expect(current(sm).rotation).toMatchObject({ phase: 'creating' });
    await laptop.journals!.of(NAME).clear();
    expect(current(sm).rotation).toBeUndefined();
  });

  it('writes of a host that holds no claim keep the holder’s claim and journal', async () => {
    const { sm, clock, laptop } = await seeded();
    await laptop.locks!.acquire(NAME, 0);
    await laptop.journals!.of(NAME).write(journal(clock));
    const ci = host(sm, clock, 'ci');
    await ci.connections.put({ ...connection(), lastTestedAt: clock.now().toISOString() });
    expect(current(sm)).toMatchObject({ claim: { host: 'laptop' }, rotation: { phase: 'creating' } });
    expect(current(sm).connection).toMatchObject({ lastTestedAt: clock.now().toISOString() });
  });
});

describe('the pending key is the AWSPENDING version of the connection’s secret', () => {
  it('is stored, read and dropped by its label; AWSCURRENT and the listing stay as they were', async () => {
    const { sm, laptop } = await seeded();
    await laptop.locks!.acquire(NAME, 0);
    await laptop.secrets.set(pendingAccount(NAME), NEW_KEY);
    const secret = sm.secrets.get(SECRET)!;
    const pending = [...secret.versions.values()].filter((v) => v.stages.includes('AWSPENDING'));
    expect(pending).toHaveLength(1);
    expect(JSON.parse(pending[0]!.value)).toEqual({ format: RECORD_FORMAT, ...NEW_KEY });
    const other = host(sm, new FixedClock(), 'ci');
    expect(await other.secrets.get(pendingAccount(NAME))).toEqual(NEW_KEY);
    expect(await other.secrets.get(NAME)).toEqual(KEY);
    expect(await other.secrets.list()).toEqual([NAME]);
    expect(await laptop.secrets.delete(pendingAccount(NAME))).toBe(true);
    expect(await other.secrets.get(pendingAccount(NAME))).toBeUndefined();
    expect(await other.secrets.has(NAME)).toBe(true);
  });
});

describe('the shared journal', () => {
  it('is read from the listing by another host: list and show read no secret value', async () => {
    const { sm, clock, laptop } = await seeded();
    const lock = await laptop.locks!.acquire(NAME, 0);
    await laptop.journals!.of(NAME).write(journal(clock));
    const ci = host(sm, clock, 'ci');
    sm.calls.length = 0;
    expect(await ci.journals!.of(NAME).read()).toMatchObject({ phase: 'creating', oldAccessKeyId: KEY.accessKeyId });
    expect(await ci.locks!.isHeld(NAME)).toBe(true);
    expect(sm.calls).toEqual(['ListSecrets']);
    await lock!.release();
    expect(await host(sm, clock, 'ci').locks!.isHeld(NAME)).toBe(false);
  });

  it('a journal or claim planted with bad fields is refused with a clear error, and nothing is written', async () => {
    const { sm, clock } = await seeded();
    const secret = sm.secrets.get(SECRET)!;
    const version = [...secret.versions.values()].find((v) => v.stages.includes('AWSCURRENT'))!;
    const planted = { ...current(sm), rotation: { ...journal(clock), oldAccessKeyId: 'not a key; rm -rf /' } };
    version.value = JSON.stringify(planted);
    const ci = host(sm, clock, 'ci');
    const before = sm.calls.length;
    await expect(ci.secrets.get(NAME)).rejects.toThrow(ConfigError);
    await expect(ci.secrets.get(NAME)).rejects.toThrow(/rotation journal: oldAccessKeyId/);
    expect(sm.calls.slice(before).every((c) => c === 'GetSecretValue')).toBe(true);
    version.value = JSON.stringify({ ...current(sm), rotation: undefined, claim: { token: 'x', host: 'h', pid: -1 } });
    await expect(host(sm, clock, 'ci').connections.get(NAME)).rejects.toThrow(/its claim/);
  });
});

describe('claims, pure', () => {
  const here: Here = { host: 'box', isAlive: (pid) => pid === 42 };
  const now = new Date('2026-12-07T00:00:00.000Z');

  it('live on this host while its process lives; elsewhere until its lease ends', () => {
    expect(claimIsLive(newClaim('tok-00000001', here, 42, now), now, here)).toBe(true);
    expect(claimIsLive(newClaim('tok-00000001', here, 43, now), now, here)).toBe(false);
    const remote = newClaim('tok-00000001', { host: 'ci' }, 43, now);
    expect(claimIsLive(remote, new Date(now.getTime() + CLAIM_LEASE_MS - 1), here)).toBe(true);
    expect(claimIsLive(remote, new Date(now.getTime() + CLAIM_LEASE_MS), here)).toBe(false);
  });

  it.each([
    [null, 'not an object'],
    [{ token: 'x', host: 'h', pid: 1, since: now.toISOString(), expiresAt: now.toISOString() }, '"token"'],
    [{ token: 'tok-00000001', host: 'a b', pid: 1, since: '', expiresAt: '' }, '"host"'],
    [{ token: 'tok-00000001', host: 'h', pid: 1.5, since: '', expiresAt: '' }, '"pid"'],
    [{ token: 'tok-00000001', host: 'h', pid: 1, since: 'yesterday', expiresAt: '' }, '"since"'],
  ])('refuses a malformed claim %j', (claim, problem) => {
    expect(claimProblem(claim)).toContain(problem);
  });

  it('accepts a claim it made', () => {
    expect(claimProblem(newClaim('0123abcd-0000', here, 7, now))).toBeUndefined();
  });
});

describe('test dates on a shared connection', () => {
  it('a test that only moves the test time by less than 10 minutes writes no version; anything else does', async () => {
    const { sm, clock, laptop } = await seeded();
    const at = (minutes: number) => new Date(clock.now().getTime() + minutes * 60_000).toISOString();
    const versions = () => sm.secrets.get(SECRET)!.versions.size;
    await laptop.connections.put({ ...connection(), lastTestedAt: at(0) });
    const first = versions();
    const ci = host(sm, clock, 'ci');
    await ci.connections.put({ ...(await ci.connections.get(NAME))!, lastTestedAt: at(5) });
    expect(versions()).toBe(first);
    await ci.connections.put({ ...(await ci.connections.get(NAME))!, lastTestedAt: at(6), description: 'BI' });
    expect(versions()).toBe(first + 1);
    await host(sm, clock, 'ci').connections.put({ ...(await ci.connections.get(NAME))!, lastTestedAt: at(17) });
    expect(versions()).toBe(first + 2);
    expect(current(sm).connection).toMatchObject({ lastTestedAt: at(17), description: 'BI' });
  });
});
