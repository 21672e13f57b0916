import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_VERSION, pendingAccount, type RotationJournal } from '../../../src/domain/rotation.js';
import { fileJournals, journalPath } from '../../../src/store/journal.js';
import type { RotateResult } from '../../../src/commands/rotate.js';
import { NAME, USER, assertConverged, assertInvariant, journalOf, rotateIn, rotationWorld } from './rotate-harness.js';

/** Issue 13: the rotation defects, each with a test that failed before its fix. */

const one = (r: { result?: unknown }) => r.result as RotateResult;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('false success: the old key is reported from what IAM lists, never from the absence of an error', () => {
  it('UpdateAccessKey and DeleteAccessKey "succeed" without effect: not exit 0, not "deleted", resumable', async () => {
    const world = rotationWorld();
    const old = world.original.get(NAME)!.accessKeyId;
    world.aws.succeedWithoutEffect('updateAccessKey');
    world.aws.succeedWithoutEffect('deleteAccessKey');
    const run = await rotateIn(world, {}, { json: true });
    expect(run.exitCode).toBe(8);
    expect(run.result).toBeUndefined();
    expect(run.stdout).not.toContain('deleted');
    expect(run.stderr).toContain('does not confirm that access key');
    expect(world.aws.keys.get(old)?.status).toBe('Active');
    expect(journalOf(world)?.phase).toBe('switched');
    assertInvariant(world);
    // Run again: the deactivation goes through; the hollow deletion is caught the same way.
    const second = await rotateIn(world);
    expect(second.exitCode).toBe(8);
    expect(second.stderr).toContain('does not confirm that access key');
    assertInvariant(world);
    // And again: the retirement is repeated, and confirmed this time.
    const again = await rotateIn(world);
    expect(one(again)).toMatchObject({ status: 'resumed', oldKey: 'deleted' });
    assertConverged(world);
  });

  it('--keep-old: a deactivation without effect is not reported as "inactive"', async () => {
    const world = rotationWorld();
    world.aws.succeedWithoutEffect('updateAccessKey');
    const run = await rotateIn(world, { keepOld: true });
    expect(run.exitCode).toBe(8);
    expect(run.stderr).toContain('does not confirm that access key');
  });
});

describe('a pending entry whose journal is lost', () => {
  it('names the real state (the pending entry, no journal) and the repair, not "two connections share one IAM user"', async () => {
    const world = rotationWorld();
    const fresh = world.aws.issueKey(USER, 0);
    world.secrets.entries.set(pendingAccount(NAME), fresh);
    const keys = JSON.stringify([...world.aws.keys.entries()]);
    const run = await rotateIn(world);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain(
      `the other one, ${fresh.accessKeyId}, is the new key of an unfinished rotation of "prod"`,
    );
    expect(run.stderr).toContain('pending secret-store entry');
    expect(run.stderr).toContain('journal is missing');
    expect(run.stderr).toContain(`aws iam delete-access-key --user-name ${USER} --access-key-id ${fresh.accessKeyId}`);
    expect(run.stderr).not.toContain('Two connections share one IAM user');
    expect(JSON.stringify([...world.aws.keys.entries()])).toBe(keys);
  });
});

describe('rotate --older-than checks the secret store on every run', () => {
  it('a young key with an unusable store is exit 6, not "skipped"', async () => {
    const world = rotationWorld({ keyCreatedAt: '2026-11-01T00:00:00.000Z' });
    world.secrets.failNext('get');
    const run = await rotateIn(world, { olderThan: 90 });
    expect(run.exitCode).toBe(6);
    expect(run.result).toBeUndefined();
  });

  it('a young key whose secret is missing is exit 3, not "skipped"', async () => {
    const world = rotationWorld({ keyCreatedAt: '2026-11-01T00:00:00.000Z' });
    world.secrets.entries.delete(NAME);
    const run = await rotateIn(world, { olderThan: 90 });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('missing from the memory secret store');
  });
});

describe('a planted journal is never acted on', () => {
  /**
   * A journal that, if trusted, makes the run delete an active key it does not hold: phase "creating",
   * and a key "created since the start" that is in fact somebody else's.
   */
  function planted(world: ReturnType<typeof rotationWorld>): { dir: string; victim: string } {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-planted-'));
    dirs.push(dir);
    const victim = world.aws.issueKey(USER, 0, world.clock.now().toISOString()).accessKeyId;
    world.foreign.add(victim);
    const at = world.clock.now().toISOString();
    const journal: RotationJournal = {
      version: JOURNAL_VERSION,
      connection: NAME,
      phase: 'creating',
      startedAt: at,
      updatedAt: at,
      userName: USER,
      oldAccessKeyId: world.original.get(NAME)!.accessKeyId,
      keysBefore: [world.original.get(NAME)!.accessKeyId],
      keepOld: false,
    };
    writeFileSync(journalPath(dir, NAME), JSON.stringify(journal), { mode: 0o600 });
    return { dir, victim };
  }

  it('a journal writable by group or others: exit 3, the active key untouched', async () => {
    const world = rotationWorld();
    const { dir, victim } = planted(world);
    chmodSync(journalPath(dir, NAME), 0o666);
    const run = await rotateIn(world, {}, { journals: fileJournals(dir) });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('writable by others');
    expect(world.aws.keys.get(victim)?.status).toBe('Active');
    expect(run.ports.log.filter((l) => / (iam|sts):/.test(l))).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('a journal owned by another user: exit 3, the active key untouched', async () => {
    const world = rotationWorld();
    const { dir, victim } = planted(world);
    chownSync(journalPath(dir, NAME), 4242, 4242);
    const run = await rotateIn(world, {}, { journals: fileJournals(dir) });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('belongs to another user');
    expect(world.aws.keys.get(victim)?.status).toBe('Active');
  });

  it.each([
    ['a malformed old key id', { oldAccessKeyId: 'AKIA-not-a-key-id' }, 'oldAccessKeyId'],
    ['a malformed key in keysBefore', { keysBefore: ['AKIAAAAAAAAAAAAAAAAQ', 'rm -rf'] }, 'keysBefore'],
    ['a malformed new key id', { phase: 'created', newAccessKeyId: 'ASIA0000' }, 'newAccessKeyId'],
    ['an unknown phase', { phase: 'deleting' }, 'unknown phase'],
    ['another connection', { connection: 'other' }, 'belongs to connection "other"'],
    ['a user name IAM would refuse', { userName: 'a b' }, 'userName'],
  ])('%s: exit 3, nothing acted on', async (_title, change, problem) => {
    const world = rotationWorld();
    const { dir } = planted(world);
    const path = journalPath(dir, NAME);
    const { readFileSync } = await import('node:fs');
    const journal = { ...JSON.parse(readFileSync(path, 'utf8')), ...change } as Record<string, unknown>;
    writeFileSync(path, JSON.stringify(journal));
    const run = await rotateIn(world, {}, { journals: fileJournals(dir) });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain(problem);
    expect(run.ports.log.filter((l) => / (iam|sts):/.test(l))).toEqual([]);
  });
});
