import { cpSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLE_KEY,
  SWEEP_PASSPHRASE,
  hashTree,
  looksLikeCrash,
  mapLimit,
  runIn,
  scratchDir,
  sweepEnv,
} from '../support/sweep.js';
import { openEncryptedFileStore } from '../../src/store/encrypted-file.js';
import { journalPath } from '../../src/store/journal.js';
import type { ProcessResult } from '../support/cli-process.js';

/**
 * Corrupt state (issue 7): damaged metadata, journals and secrets, and metadata and secrets out of step,
 * met by the built binary. Each gives exit 3 or 6 naming the file and the repair step, nothing damaged
 * is written over, `list` shows what it can, and following the repair step works.
 */

const ID = EXAMPLE_KEY.accessKeyId;
const SECRET = EXAMPLE_KEY.secretAccessKey;
const STAGING = { accessKeyId: 'AKIAI44QHXDHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' };

let template: string;
let home: string;
let corrupted = 0;
let commands = 0;

beforeAll(async () => {
  home = scratchDir('dbaws-corrupt-home-');
  template = scratchDir('dbaws-corrupt-template-');
  const env = sweepEnv(template, home);
  for (const [name, pair] of [
    ['prod', EXAMPLE_KEY],
    ['staging', STAGING],
  ] as const) {
    const added = await runIn(
      env,
      ['add-connection', name, '--access-key-id', pair.accessKeyId, '--secret-stdin', '--no-test'],
      { stdin: pair.secretAccessKey },
    );
    expect(added.exitCode, added.stderr).toBe(0);
  }
});

/** A fresh copy of the seeded state (prod and staging, file store). */
function world() {
  const dir = join(scratchDir('dbaws-corrupt-'), 'config');
  cpSync(template, dir, { recursive: true });
  const env = sweepEnv(dir, home);
  const config = join(dir, 'config.json');
  const secrets = join(dir, 'secrets.enc');
  const raw = () => openEncryptedFileStore({ dir, env: { DATABLAST_AWS_PASSPHRASE: SWEEP_PASSPHRASE } });
  const run = async (
    args: string[],
    options: { stdin?: string; env?: Record<string, string | undefined> } = {},
  ): Promise<ProcessResult> => {
    commands += 1;
    const result = await runIn(env, args, options);
    expect(looksLikeCrash(result.stderr), `${args.join(' ')}: ${result.stderr}`).toBe(false);
    return result;
  };
  /** Runs a command and checks its exit code and that stderr names every given text (paths, repair steps). */
  const expectRun = async (
    args: string[],
    code: number,
    names: string[],
    options: { stdin?: string; env?: Record<string, string | undefined> } = {},
  ) => {
    const result = await run(args, options);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(code);
    for (const text of names) expect(result.stderr, `${args.join(' ')} names ${text}`).toContain(text);
    return result;
  };
  return { dir, env, config, secrets, raw, run, expectRun };
}

/** The commands that must refuse a damaged metadata file, each with what stderr must name. */
async function everyCommandRefuses(w: ReturnType<typeof world>, code: number, names: string[]): Promise<void> {
  const before = hashTree(w.dir);
  const runs: Array<[string[], string?]> = [
    [['list']],
    [['show', 'prod']],
    [['credential-process', 'prod']],
    [['env', 'prod']],
    [['test', 'prod']],
    [['rotate', 'prod']],
    [['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test'], SECRET],
    [['add-connection', 'prod', '--access-key-id', ID, '--secret-stdin', '--no-test', '--force'], SECRET],
    [['remove', 'prod', '--yes']],
  ];
  // All at once, as they would be from several shells: none may write over the damage.
  await mapLimit(runs, 4, ([args, stdin]) => w.expectRun(args, code, names, { stdin }));
  expect(hashTree(w.dir), 'nothing was written over the damaged state').toEqual(before);
}

describe('a damaged connection file', () => {
  it.each([
    ['cut in half', (text: string) => text.slice(0, Math.floor(text.length / 2)), 'is not valid JSON'],
    ['replaced by binary junk', () => '\u0000\u00ff\u0013junk', 'is not valid JSON'],
    ['emptied', () => '', 'is not valid JSON'],
    ['a JSON list', () => '[]', 'is not a datablast-aws connection file'],
    ['null', () => 'null', 'is not a datablast-aws connection file'],
  ])(
    '%s: every command exits 3 naming the file and the backup to restore, writes nothing, and the restore works',
    async (_what, damage, problem) => {
      const w = world();
      writeFileSync(w.config, damage(readFileSync(w.config, 'utf8')));
      corrupted += 1;
      await everyCommandRefuses(w, 3, [w.config, problem, `cp "${w.config}.bak" "${w.config}"`]);
      // The repair step as printed: the backup holds the file before its last write (prod only), and the
      // secret of the connection added last is still there, reported by list with its own repair step.
      cpSync(`${w.config}.bak`, w.config);
      const listed = await w.expectRun(['list', '--json'], 0, ['"staging"', 'datablast-aws remove staging']);
      expect(
        (JSON.parse(listed.stdout) as Array<{ name: string; status: string }>).map((c) => [c.name, c.status]),
      ).toEqual([['prod', 'ok']]);
      const cleaned = await w.expectRun(['remove', 'staging', '--yes'], 0, []);
      expect(cleaned.stdout).toContain('Removed connection "staging" and its secret');
      expect((await w.expectRun(['list'], 0, [])).stderr).toBe('');
    },
  );

  it('from a newer version: exit 3 asking for an upgrade, and it is never written over', async () => {
    const w = world();
    const file = JSON.parse(readFileSync(w.config, 'utf8')) as Record<string, unknown>;
    writeFileSync(w.config, JSON.stringify({ ...file, version: 2 }));
    corrupted += 1;
    await everyCommandRefuses(w, 3, [w.config, 'newer version', 'Upgrade']);
  });

  it('with one broken entry: list shows the good ones (exit 3, naming the entry and the repair), every other command refuses', async () => {
    const w = world();
    const file = JSON.parse(readFileSync(w.config, 'utf8')) as { connections: Record<string, Record<string, unknown>> };
    delete file.connections.staging!.accessKeyId;
    writeFileSync(w.config, JSON.stringify(file, null, 2));
    corrupted += 1;
    const before = hashTree(w.dir);
    const listed = await w.expectRun(['list', '--json'], 3, [
      w.config,
      'connection "staging": "accessKeyId" is missing',
      'listing the 1 connection that could be read',
      `cp "${w.config}.bak"`,
    ]);
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['prod']);
    const human = await w.expectRun(['list'], 3, ['"staging"']);
    expect(human.stdout).toMatch(/^prod\t/);
    await w.expectRun(['credential-process', 'prod'], 3, [w.config]);
    await w.expectRun(['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test'], 3, [w.config], {
      stdin: SECRET,
    });
    await w.expectRun(['remove', 'staging', '--yes'], 3, [w.config]);
    expect(hashTree(w.dir)).toEqual(before);
  });
});

describe('a damaged rotation journal', () => {
  it.each([
    ['from an older version', (j: Record<string, unknown>) => JSON.stringify({ ...j, version: 0 }), 'has version 0'],
    [
      'from a newer version',
      (j: Record<string, unknown>) => JSON.stringify({ ...j, version: 2 }),
      'A newer datablast-aws started this rotation',
    ],
    ['cut short', (j: Record<string, unknown>) => JSON.stringify(j).slice(0, 40), 'is corrupt (not JSON)'],
    [
      'of another connection',
      (j: Record<string, unknown>) => JSON.stringify({ ...j, connection: 'staging' }),
      'belongs to connection "staging"',
    ],
  ])(
    '%s: rotate exits 3 naming the journal and the repair, leaves it as it is, and the other commands still work',
    async (_what, damage, problem) => {
      const w = world();
      const path = journalPath(w.dir, 'prod');
      const journal = {
        version: 1,
        connection: 'prod',
        phase: 'created',
        startedAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:01.000Z',
        userName: 'datablast',
        oldAccessKeyId: ID,
        keysBefore: [ID],
        newAccessKeyId: STAGING.accessKeyId,
        keepOld: false,
      };
      writeFileSync(path, damage(journal), { mode: 0o600 });
      corrupted += 1;
      const before = hashTree(w.dir);
      await w.expectRun(['rotate', 'prod'], 3, [path, problem, `delete ${path} and run rotate again`]);
      await w.expectRun(['rotate', 'prod', '--dry-run'], 3, [path]);
      // staging fails too (AWS is a closed port here): the more urgent exit 5 decides, and prod's entry says 3.
      const all = await w.expectRun(['rotate', '--all', '--json'], 5, [path]);
      expect(
        (JSON.parse(all.stdout) as Array<{ name: string; status: string; error: { exitCode: number } }>).find(
          (e) => e.name === 'prod',
        ),
      ).toMatchObject({ status: 'failed', error: { exitCode: 3 } });
      expect(hashTree(w.dir)).toEqual(before);
      expect((await w.expectRun(['credential-process', 'prod'], 0, [])).stdout).toContain(ID);
      // list lists, and says what it cannot know (issue 13: never "ok" over an unreadable journal).
      const listed = await w.expectRun(['list', '--json'], 3, ['rotation journal of "prod" cannot be read']);
      expect((JSON.parse(listed.stdout) as Array<{ status: string }>).map((c) => c.status)).toEqual([
        'unknown: rotation journal unreadable',
        'ok',
      ]);
    },
  );
});

describe('a damaged secret store', () => {
  it.each([
    [
      'altered (one byte of ciphertext flipped)',
      (w: ReturnType<typeof world>) => flipCiphertext(w.secrets),
      'the passphrase is wrong or the file was altered',
    ],
    [
      'read with the wrong passphrase',
      () => ({ DATABLAST_AWS_PASSPHRASE: 'wrong passphrase' }),
      'the passphrase is wrong or the file was altered',
    ],
    [
      'cut short',
      (w: ReturnType<typeof world>) => writeFileSync(w.secrets, readFileSync(w.secrets, 'utf8').slice(0, 100)),
      'not JSON; it may be truncated',
    ],
    [
      'with scrypt parameters scrypt refuses',
      (w: ReturnType<typeof world>) => setKdf(w.secrets, { N: 3 }),
      'scrypt N is not a power of two',
    ],
    [
      'with scrypt parameters that would take minutes',
      (w: ReturnType<typeof world>) => setKdf(w.secrets, { N: 2 ** 20, r: 32, p: 16 }),
      'scrypt cost out of range',
    ],
  ])(
    '%s: the commands that need a secret exit 6 naming the file, list still lists (status unknown, exit 6), and nothing is written over it',
    async (_what, damage, problem) => {
      const w = world();
      const extraEnv = damage(w) ?? {};
      corrupted += 1;
      const before = hashTree(w.dir);
      const started = Date.now();
      const options = { env: extraEnv };
      const runs: string[][] = [
        ['credential-process', 'prod'],
        ['env', 'prod'],
        ['test', 'prod'],
        ['rotate', 'prod'],
        ['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test'],
        ['remove', 'prod', '--yes'],
      ];
      await mapLimit(runs, 4, (args) => w.expectRun(args, 6, [w.secrets, problem], { ...options, stdin: SECRET }));
      const listed = await w.expectRun(
        ['list', '--json'],
        6,
        ['could not read the secret store', w.secrets, problem],
        options,
      );
      expect(
        (JSON.parse(listed.stdout) as Array<{ name: string; status: string }>).map((c) => [c.name, c.status]),
      ).toEqual([
        ['prod', 'unknown: secret store unavailable'],
        ['staging', 'unknown: secret store unavailable'],
      ]);
      expect(hashTree(w.dir), 'nothing was written over the damaged store').toEqual(before);
      expect(Date.now() - started, 'a damaged file fails fast, whatever its parameters').toBeLessThan(30_000);
    },
  );

  it('an entry that is not a key pair: exit 6 with the repair step, which works (add-connection --force replaces it)', async () => {
    const w = world();
    await (await w.raw()).set('prod', 'this is not a key pair');
    corrupted += 1;
    await w.expectRun(['credential-process', 'prod'], 6, [
      'the secret stored for "prod"',
      'add-connection prod --force',
    ]);
    await w.expectRun(['list'], 6, ['the secret stored for "prod"']);
    const configBefore = readFileSync(w.config);
    await w.expectRun(
      ['add-connection', 'prod', '--force', '--access-key-id', ID, '--secret-stdin', '--no-test'],
      0,
      [],
      { stdin: SECRET },
    );
    expect(readFileSync(`${w.config}.bak`), 'the metadata was backed up before it was replaced').toEqual(configBefore);
    expect(JSON.parse((await w.expectRun(['credential-process', 'prod'], 0, [])).stdout)).toEqual({
      Version: 1,
      AccessKeyId: ID,
      SecretAccessKey: SECRET,
      Expiration: expect.any(String),
    });
  });
});

describe('metadata and secrets out of step', () => {
  it('a connection whose secret is missing: exit 3 with the repair step for the commands that need it, list says "secret missing", remove cleans up', async () => {
    const w = world();
    await (await w.raw()).delete('prod');
    corrupted += 1;
    for (const args of [
      ['credential-process', 'prod'],
      ['env', 'prod'],
      ['test', 'prod'],
      ['rotate', 'prod'],
    ]) {
      await w.expectRun(args, 3, ['"prod"', 'add-connection']);
    }
    const listed = await w.expectRun(['list', '--json'], 3, ['no secret is stored for "prod"']);
    expect(
      (JSON.parse(listed.stdout) as Array<{ name: string; status: string }>).map((c) => [c.name, c.status]),
    ).toEqual([
      ['prod', 'secret missing'],
      ['staging', 'ok'],
    ]);
    const configBefore = readFileSync(w.config);
    const removed = await w.expectRun(['remove', 'prod', '--yes'], 0, []);
    expect(removed.stdout).toContain('(no secret was stored)');
    expect(readFileSync(`${w.config}.bak`)).toEqual(configBefore);
    expect(
      (JSON.parse((await w.expectRun(['list', '--json'], 0, [])).stdout) as Array<{ name: string }>).map((c) => c.name),
    ).toEqual(['staging']);
  });

  it('a secret without its connection: list names it and the repair step, which works; nothing else is disturbed', async () => {
    const w = world();
    const file = JSON.parse(readFileSync(w.config, 'utf8')) as { connections: Record<string, unknown> };
    delete file.connections.staging;
    writeFileSync(w.config, JSON.stringify(file, null, '\t'), { mode: 0o600 });
    corrupted += 1;
    const listed = await w.expectRun(['list', '--json'], 0, [
      'holds a secret for "staging"',
      'datablast-aws remove staging',
    ]);
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['prod']);
    await w.expectRun(['credential-process', 'staging'], 3, ['no connection named "staging"']);
    await w.expectRun(['show', 'staging'], 3, ['no connection named "staging"']);
    const removed = await w.expectRun(['remove', 'staging', '--yes', '--json'], 0, []);
    expect(JSON.parse(removed.stdout)).toMatchObject({
      name: 'staging',
      accessKeyId: STAGING.accessKeyId,
      secretDeleted: true,
      key: 'kept',
    });
    expect(await (await w.raw()).list()).toEqual(['prod']);
    expect((await w.expectRun(['list'], 0, [])).stderr).toBe('');
    expect((await w.expectRun(['credential-process', 'prod'], 0, [])).stdout).toContain(ID);
  });

  it('lock files left by a killed process (unreadable, old) are taken over: the next write goes through and leaves no lock', async () => {
    const w = world();
    for (const lock of [`${w.config}.lock`, `${w.secrets}.lock`]) {
      writeFileSync(lock, '{"pid": 12');
      const old = new Date(Date.now() - 60_000);
      utimesSync(lock, old, old);
    }
    corrupted += 1;
    await w.expectRun(['add-connection', 'new', '--access-key-id', ID, '--secret-stdin', '--no-test'], 0, [], {
      stdin: SECRET,
    });
    expect(Object.keys(hashTree(w.dir)).sort()).toEqual(['config.json', 'config.json.bak', 'secrets.enc']);
  });
});

describe('summary', () => {
  it('prints the counts', () => {
    expect(corrupted).toBeGreaterThanOrEqual(18);
    console.log(
      `corrupt state: ${corrupted} states corrupted, ${commands} commands run against them, every one exit 3 or 6 naming the file, 0 damaged files written over`,
    );
  });
});

function flipCiphertext(path: string): void {
  const envelope = JSON.parse(readFileSync(path, 'utf8')) as { ciphertext: string };
  const bytes = Buffer.from(envelope.ciphertext, 'base64');
  bytes[0] = bytes[0]! ^ 0x01;
  writeFileSync(path, JSON.stringify({ ...envelope, ciphertext: bytes.toString('base64') }, null, 2));
}

function setKdf(path: string, params: Record<string, number>): void {
  const envelope = JSON.parse(readFileSync(path, 'utf8')) as { kdf: Record<string, unknown> };
  writeFileSync(path, JSON.stringify({ ...envelope, kdf: { ...envelope.kdf, ...params } }, null, 2));
}
