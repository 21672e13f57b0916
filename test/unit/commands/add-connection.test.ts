import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addConnectionCommand, type AddConnectionOptions } from '../../../src/commands/add-connection.js';
import { saveConnection } from '../../../src/onboarding/connection.js';
import type { GlobalOptions } from '../../../src/ports.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import { ConfigError, CredentialsRejectedError, UsageError } from '../../../src/errors.js';
import type { Connection } from '../../../src/domain/connection.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { MemoryConnectionStore } from '../../fakes/memory-connection-store.js';
import { sdkError } from '../../fakes/fake-aws.js';
import { CANCEL } from '../../fakes/scripted-prompter.js';
import { fakeWorld, runCli, type FakeWorld } from '../../support/run-cli.js';
import { captureOptions, EXAMPLE_ID, EXAMPLE_SECRET, leaks, seedConnection } from './helpers.js';

const NOW = '2026-11-28T12:00:00.000Z';

/** A world holding one IAM user with one key that nobody has stored yet. */
function worldWithKey() {
  const world = fakeWorld();
  const key = world.aws.seedUser('datablast', { withKey: true })!;
  return { world, key };
}

/** A connection store whose writes fail, like a full disk or a read-only config dir. */
class FailingPutStore extends MemoryConnectionStore {
  override async put(): Promise<void> {
    throw new ConfigError('cannot write /memory/config.json (injected)');
  }
}

function csvFile(content: string | Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'dba-csv-'));
  const file = join(dir, 'datablast_accessKeys.csv');
  writeFileSync(file, content);
  return file;
}

describe('add-connection: argv → options', () => {
  const base: AddConnectionOptions = {
    name: 'prod',
    accessKeyId: undefined,
    secretStdin: false,
    fromEnv: false,
    fromCsv: undefined,
    description: undefined,
    force: false,
    test: true,
    deliverTo: [],
    kmsKeyId: undefined,
    execTimeoutMs: undefined,
  };
  it.each<[string[], Partial<AddConnectionOptions>]>([
    [['prod'], {}],
    [['prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin'], { accessKeyId: EXAMPLE_ID, secretStdin: true }],
    [['AWS Production', '--from-env', '--no-test'], { name: 'AWS Production', fromEnv: true, test: false }],
    [
      ['prod', '--from-csv', 'keys.csv', '--description', 'BI warehouse', '--force'],
      { fromCsv: 'keys.csv', description: 'BI warehouse', force: true },
    ],
    [['--access-key-id', EXAMPLE_ID, 'prod'], { accessKeyId: EXAMPLE_ID }],
  ])('%j', async (argv, expected) => {
    expect(await captureOptions(addConnectionCommand, argv)).toEqual({ ...base, ...expected });
  });

  it.each<[string[], string]>([
    [['prod', '--from-env', '--from-csv', 'keys.csv'], '--from-env and --from-csv cannot be combined'],
    [['prod', '--access-key-id', EXAMPLE_ID, '--from-env'], '--access-key-id and --from-env cannot be combined'],
    [['prod', '--secret-stdin'], '--secret-stdin needs --access-key-id'],
    [
      ['prod', '--access-key-id', EXAMPLE_ID, '--secret-access-key', EXAMPLE_SECRET],
      '--secret-access-key is not accepted',
    ],
    [['prod', '--secret', EXAMPLE_SECRET], '--secret is not accepted'],
    [['prod', '--secret-access-key'], 'visible to other users in `ps`'],
  ])('refuses %j', async (argv, message) => {
    const error = await captureOptions(addConnectionCommand, argv).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toContain(message);
    expect((error as UsageError).message).not.toContain(EXAMPLE_SECRET);
  });
});

describe('add-connection: storing a key', () => {
  it('tests the key with STS, then stores the secret and the metadata learnt from AWS', async () => {
    const { world, key } = worldWithKey();
    const result = await runCli(
      ['add-connection', 'AWS Production', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: `${key.secretAccessKey}\n` },
    );
    expect(result.stderr).not.toContain('error');
    expect(result.exitCode).toBe(0);
    expect(world.secrets.entries.get('AWS Production')).toEqual(key);
    expect(world.connections.entries.get('AWS Production')).toMatchObject({
      name: 'AWS Production',
      accessKeyId: key.accessKeyId,
      accountId: '123456789012',
      arn: 'arn:aws:iam::123456789012:user/datablast',
      userName: 'datablast',
      region: 'us-east-1',
      createdAt: NOW,
      keyCreatedAt: NOW,
      lastTestedAt: NOW,
    });
    expect(world.aws.calls).toEqual(['sts:getCallerIdentity', 'iam:listAccessKeys']);
    expect(result.stdout).toContain(
      'Saved connection "AWS Production": AKIA************AAAQ (user datablast, account 123456789012, region us-east-1).',
    );
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('prints the connection JSON of CLI.md with tested and notes under --json', async () => {
    const { world, key } = worldWithKey();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin', '--json', '--description', 'BI'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'prod',
      accessKeyId: key.accessKeyId,
      accountId: '123456789012',
      arn: 'arn:aws:iam::123456789012:user/datablast',
      userName: 'datablast',
      region: 'us-east-1',
      description: 'BI',
      createdAt: NOW,
      keyCreatedAt: NOW,
      lastTestedAt: NOW,
      lastRotatedAt: null,
      tested: true,
      replaced: false,
      notes: [],
      consumers: [],
    });
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('stores nothing and exits 4 when AWS rejects the secret', async () => {
    const { world, key } = worldWithKey();
    const wrong = `${key.secretAccessKey.slice(0, 39)}Z`;
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: wrong },
    );
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(
      'does not match its access key id (SignatureDoesNotMatch) on sts:GetCallerIdentity; nothing was stored',
    );
    expect(result.stderr).not.toContain('--no-test');
    expect(world.secrets.entries.size).toBe(0);
    expect(world.connections.entries.size).toBe(0);
    expect(leaks(result, wrong)).toEqual([]);
  });

  it('stores nothing and exits 4 when AWS does not know the key id', async () => {
    const world = fakeWorld();
    const result = await runCli(['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin'], world, {
      stdin: EXAMPLE_SECRET,
    });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('(InvalidClientTokenId) on sts:GetCallerIdentity; nothing was stored');
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
  });

  it('stores nothing and exits 5 with a --no-test hint when AWS cannot be reached', async () => {
    const { world, key } = worldWithKey();
    world.aws.failNext(
      'getCallerIdentity',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    );
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('nothing was stored');
    expect(result.stderr).toContain('--no-test');
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
  });

  it('refuses an existing name without --force (exit 3) before calling AWS or reading the secret', async () => {
    const { world, key } = worldWithKey();
    await world.connections.put({ name: 'prod', accessKeyId: EXAMPLE_ID, region: 'us-east-1', createdAt: NOW });
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('error: connection "prod" exists');
    expect(result.stderr).toContain('--force');
    expect(world.aws.calls).toEqual([]);
    expect(world.connections.entries.get('prod')!.accessKeyId).toBe(EXAMPLE_ID);
  });

  it('replaces an existing connection with --force', async () => {
    const world = fakeWorld();
    await seedConnection(world, 'prod');
    const fresh = world.aws.issueKey('datablast', 0);
    const result = await runCli(
      ['add-connection', 'prod', '--force', '--access-key-id', fresh.accessKeyId, '--secret-stdin', '--json'],
      world,
      { stdin: fresh.secretAccessKey },
    );
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ replaced: true, accessKeyId: fresh.accessKeyId });
    expect(world.secrets.entries.get('prod')).toEqual(fresh);
  });

  it('makes no AWS call under --no-test and records what the key id tells', async () => {
    const world = fakeWorld();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', 'AKIARZPUZDIKAAAAAAAA', '--secret-stdin', '--no-test', '--json'],
      world,
      { stdin: EXAMPLE_SECRET },
    );
    expect(result.exitCode).toBe(0);
    expect(world.aws.calls).toEqual([]);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({ tested: false, lastTestedAt: null, arn: null, accountId: '123456789012' });
    expect(json.notes).toContain('account 123456789012 was read from the key id, not confirmed with AWS');
    expect(world.secrets.entries.get('prod')).toEqual({
      accessKeyId: 'AKIARZPUZDIKAAAAAAAA',
      secretAccessKey: EXAMPLE_SECRET,
    });
  });

  it('says it did not test the key in human output under --no-test', async () => {
    const result = await runCli(
      ['add-connection', 'AWS Prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin', '--no-test'],
      fakeWorld(),
      { stdin: EXAMPLE_SECRET },
    );
    expect(result.stdout).toContain("run `datablast-aws test 'AWS Prod'` to check it");
    expect(leaks(result, EXAMPLE_SECRET)).toEqual([]);
  });
});

describe('add-connection: where the secret comes from', () => {
  it('strips one trailing newline from --secret-stdin', async () => {
    const { world, key } = worldWithKey();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin', '--json'],
      world,
      { stdin: `${key.secretAccessKey}\r\n` },
    );
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).notes).toEqual([]);
    expect(world.secrets.entries.get('prod')!.secretAccessKey).toBe(key.secretAccessKey);
  });

  it('trims surrounding whitespace and says so without echoing the secret', async () => {
    const { world, key } = worldWithKey();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', ` ${key.accessKeyId} `, '--secret-stdin'],
      world,
      { stdin: `  ${key.secretAccessKey}  \n\n` },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('note: removed whitespace around the access key id');
    expect(result.stderr).toContain('note: removed whitespace around the secret access key');
    expect(world.secrets.entries.get('prod')).toEqual(key);
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('rejects an empty --secret-stdin with exit 2', async () => {
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin'],
      fakeWorld(),
      { stdin: '\n' },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('standard input was empty');
  });

  it('takes the secret from AWS_SECRET_ACCESS_KEY when --access-key-id is given alone', async () => {
    const { world, key } = worldWithKey();
    world.env.AWS_SECRET_ACCESS_KEY = key.secretAccessKey;
    const result = await runCli(['add-connection', 'prod', '--access-key-id', key.accessKeyId], world);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('taken from AWS_SECRET_ACCESS_KEY');
    expect(world.secrets.entries.get('prod')).toEqual(key);
  });

  it('exits 2 naming --secret-stdin when the secret is missing under --no-input', async () => {
    const world = fakeWorld();
    const result = await runCli(['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--no-input'], world, {
      tty: true,
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no secret access key given for --access-key-id');
    expect(result.stderr).toContain('--secret-stdin');
    expect(world.prompter.asked).toEqual([]);
  });

  it('exits 2 listing the input modes when no key is given and stdin is not a terminal', async () => {
    const result = await runCli(['add-connection', 'prod'], fakeWorld());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no access key given');
    expect(result.stderr).toMatch(/--access-key-id.*--from-env.*--from-csv/);
  });

  it('asks for the key id, the hidden secret, the region and a description on a terminal', async () => {
    const { world, key } = worldWithKey();
    world.env.AWS_DEFAULT_REGION = 'eu-north-1';
    world.prompter
      .answer('Access key ID', key.accessKeyId)
      .answer('Secret access key', key.secretAccessKey)
      .answer('AWS region', '')
      .answer('Description', 'nightly sync');
    const result = await runCli(['add-connection', 'prod'], world, { tty: true });
    expect(result.exitCode).toBe(0);
    world.prompter.assertDone();
    expect(world.secrets.entries.get('prod')).toEqual(key);
    // The region's default follows the region rule, AWS_DEFAULT_REGION included.
    expect(world.connections.entries.get('prod')).toMatchObject({ region: 'eu-north-1', description: 'nightly sync' });
  });

  it('says it trimmed whitespace around a typed key id, as the README promises', async () => {
    const { world, key } = worldWithKey();
    world.prompter
      .answer('Access key ID', ` ${key.accessKeyId} `)
      .answer('Secret access key', key.secretAccessKey)
      .answer('AWS region', 'us-east-1')
      .answer('Description', '');
    const result = await runCli(['add-connection', 'prod'], world, { tty: true });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('removed whitespace around the access key id');
    expect(world.secrets.entries.get('prod')).toEqual(key);
  });

  it('takes the region from AWS_DEFAULT_REGION without a terminal', async () => {
    const { world, key } = worldWithKey();
    world.env.AWS_DEFAULT_REGION = 'ap-south-1';
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(world.connections.entries.get('prod')!.region).toBe('ap-south-1');
  });

  it('refuses more than 64 KiB on --secret-stdin (exit 2), storing nothing', async () => {
    const { world, key } = worldWithKey();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: 'y\n'.repeat(40_000) },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('more than 64 KiB');
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
  });

  it.each([['/dev/zero'], ['a pipe that never ends']])(
    'reads at most 64 KiB of --from-csv %s (exit 2)',
    async (what) => {
      const { world } = worldWithKey();
      let file = '/dev/zero';
      let child: import('node:child_process').ChildProcess | undefined;
      if (what !== '/dev/zero') {
        const dir = mkdtempSync(join(tmpdir(), 'dbaws-fifo-'));
        file = join(dir, 'fifo');
        (await import('node:child_process')).execFileSync('mkfifo', [file]);
        child = (await import('node:child_process')).spawn('sh', ['-c', `yes > '${file}'`], { stdio: 'ignore' });
      }
      try {
        const result = await runCli(['add-connection', 'prod', '--from-csv', file], world);
        expect(result.exitCode).toBe(2);
        expect(result.stderr).toContain('more than 64 KiB');
      } finally {
        child?.kill();
      }
    },
  );

  it('asks only for the hidden secret when --access-key-id is given on a terminal', async () => {
    const { world, key } = worldWithKey();
    world.prompter
      .answer('Secret access key (hidden)', key.secretAccessKey)
      .answer('AWS region', '')
      .answer('Description', '');
    const result = await runCli(['add-connection', 'prod', '--access-key-id', key.accessKeyId], world, { tty: true });
    expect(result.exitCode).toBe(0);
    world.prompter.assertDone();
  });

  it('exits 130 and stores nothing when the prompt is cancelled', async () => {
    const { world, key } = worldWithKey();
    world.prompter.answer('Access key ID', key.accessKeyId).answer('Secret access key', CANCEL);
    const result = await runCli(['add-connection', 'prod'], world, { tty: true });
    expect(result.exitCode).toBe(130);
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
  });

  it('takes both halves from the environment with --from-env', async () => {
    const { world, key } = worldWithKey();
    world.env.AWS_ACCESS_KEY_ID = key.accessKeyId;
    world.env.AWS_SECRET_ACCESS_KEY = key.secretAccessKey;
    const result = await runCli(['add-connection', 'prod', '--from-env'], world);
    expect(result.exitCode).toBe(0);
    expect(world.secrets.entries.get('prod')).toEqual(key);
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('refuses temporary credentials from the environment (AWS_SESSION_TOKEN set)', async () => {
    const world = fakeWorld({
      env: {
        AWS_ACCESS_KEY_ID: 'ASIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: EXAMPLE_SECRET,
        AWS_SESSION_TOKEN: 'token',
      },
    });
    const result = await runCli(['add-connection', 'prod', '--from-env'], world);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('temporary credentials: they expire and cannot be stored');
    expect(world.aws.calls).toEqual([]);
  });

  it('refuses a temporary ASIA key id however it is given', async () => {
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', 'ASIAIOSFODNN7EXAMPLE', '--secret-stdin'],
      fakeWorld(),
      { stdin: EXAMPLE_SECRET },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('is a temporary access key (ASIA…)');
  });

  it('names the missing variable under --from-env', async () => {
    const result = await runCli(
      ['add-connection', 'prod', '--from-env'],
      fakeWorld({ env: { AWS_ACCESS_KEY_ID: EXAMPLE_ID } }),
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--from-env: AWS_SECRET_ACCESS_KEY is not set');
  });

  it('reads the console CSV with --from-csv and suggests deleting the file', async () => {
    const { world, key } = worldWithKey();
    const file = csvFile(`\ufeffAccess key ID,Secret access key\r\n${key.accessKeyId},${key.secretAccessKey}\r\n`);
    const result = await runCli(['add-connection', 'prod', '--from-csv', file], world);
    expect(result.exitCode).toBe(0);
    expect(world.secrets.entries.get('prod')).toEqual(key);
    expect(result.stderr).toContain('still holds the secret in plain text');
    expect(leaks(result, key.secretAccessKey)).toEqual([]);
  });

  it('keeps the user name of the five-column CSV when the key is not tested', async () => {
    const world = fakeWorld();
    const file = csvFile(
      `User name,Password,Access key ID,Secret access key,Console login link\nbi-reader,,${EXAMPLE_ID},${EXAMPLE_SECRET},https://example.signin.aws.amazon.com/console\n`,
    );
    const result = await runCli(['add-connection', 'prod', '--from-csv', file, '--no-test', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).userName).toBe('bi-reader');
  });

  it.each<[string, () => string, string]>([
    ['a missing file', () => join(tmpdir(), 'no-such-dir-dba', 'keys.csv'), 'cannot read the file (no such file)'],
    ['a directory', () => tmpdir(), 'this is a directory'],
    [
      'a file with two keys',
      () =>
        csvFile(`Access key ID,Secret access key\n${EXAMPLE_ID},${EXAMPLE_SECRET}\n${EXAMPLE_ID},${EXAMPLE_SECRET}\n`),
      'holds 2 keys',
    ],
    ['a UTF-16 file', () => csvFile(Buffer.from('\ufeffAccess key ID', 'utf16le')), 'UTF-16'],
  ])('exits 2 on %s', async (_label, file, message) => {
    const world = fakeWorld();
    const result = await runCli(['add-connection', 'prod', '--from-csv', file()], world);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(world.secrets.entries.size).toBe(0);
  });

  it('refuses a secret given as a flag without echoing it', async () => {
    const world = fakeWorld();
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--secret-access-key', EXAMPLE_SECRET],
      world,
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('shell history');
    expect(leaks(result, EXAMPLE_SECRET)).toEqual([]);
    expect(world.secrets.entries.size).toBe(0);
  });
});

describe('add-connection: validation before anything is stored', () => {
  it.each<[string, string[], string, string]>([
    [
      'a digit 0 for the letter O',
      ['--access-key-id', 'AKIAI0SFODNN7EXAMPLE'],
      EXAMPLE_SECRET,
      'did you mean the letter O?',
    ],
    [
      'a short secret',
      ['--access-key-id', EXAMPLE_ID],
      EXAMPLE_SECRET.slice(1),
      'is 39 characters long; it should be 40',
    ],
    [
      'an invalid region',
      ['--access-key-id', EXAMPLE_ID, '--region', 'eu-frankfurt'],
      EXAMPLE_SECRET,
      '--region: "eu-frankfurt" is not an AWS region name',
    ],
    [
      'an availability zone',
      ['--access-key-id', EXAMPLE_ID, '--region', 'eu-west-1b'],
      EXAMPLE_SECRET,
      'Did you mean eu-west-1?',
    ],
    ['a name with a newline', ['--access-key-id', EXAMPLE_ID], EXAMPLE_SECRET, 'control character'],
  ])('exits 2 on %s, with no AWS call', async (label, flags, secret, message) => {
    const world = fakeWorld();
    const name = label === 'a name with a newline' ? 'pro\nd' : 'prod';
    const result = await runCli(['add-connection', name, ...flags, '--secret-stdin'], world, { stdin: secret });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(world.aws.calls).toEqual([]);
    expect(world.secrets.entries.size).toBe(0);
    expect(leaks(result, secret)).toEqual([]);
  });

  it('uses AWS_REGION when --region is absent', async () => {
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin', '--no-test', '--json'],
      fakeWorld({ env: { AWS_REGION: 'ap-southeast-4' } }),
      { stdin: EXAMPLE_SECRET },
    );
    expect(JSON.parse(result.stdout).region).toBe('ap-southeast-4');
  });

  it('prefers --region to AWS_REGION', async () => {
    const result = await runCli(
      [
        'add-connection',
        'prod',
        '--access-key-id',
        EXAMPLE_ID,
        '--secret-stdin',
        '--no-test',
        '--json',
        '--region',
        'eu-central-2',
      ],
      fakeWorld({ env: { AWS_REGION: 'ap-southeast-4' } }),
      {
        stdin: EXAMPLE_SECRET,
      },
    );
    expect(JSON.parse(result.stdout).region).toBe('eu-central-2');
  });

  it('names AWS_REGION when that is the malformed value', async () => {
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', EXAMPLE_ID, '--secret-stdin', '--no-test'],
      fakeWorld({ env: { AWS_REGION: 'Frankfurt' } }),
      { stdin: EXAMPLE_SECRET },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('AWS_REGION');
  });
});

describe('add-connection: a change made by another process meanwhile', () => {
  /** Makes `change` happen just before add-connection gets the connection's lock (as if deliver ran then). */
  function meanwhile(world: FakeWorld, change: () => void): void {
    const acquire = world.locks.acquire.bind(world.locks);
    world.locks.acquire = async (name, waitMs) => {
      change();
      return acquire(name, waitMs);
    };
  }

  it('--force keeps a consumer another process added after add-connection first read the connection', async () => {
    const { world, key } = worldWithKey();
    await seedConnection(world, 'prod');
    meanwhile(world, () => {
      world.connections.entries.get('prod')!.consumers = [{ kind: 'exec', spec: 'exec:./hand-over.sh' }];
    });
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin', '--force', '--json'],
      world,
      { stdin: key.secretAccessKey },
    );
    // The kept consumer is handed the new key (the script does not exist here: that hand-off fails, exit 5).
    expect(result.stderr).toContain('handing key AKIA************AAAQ to exec:./hand-over.sh');
    expect(result.exitCode).toBe(5);
    expect(world.connections.entries.get('prod')?.consumers).toMatchObject([{ spec: 'exec:./hand-over.sh' }]);
    expect(world.connections.entries.get('prod')?.accessKeyId).toBe(key.accessKeyId);
  });

  it('without --force, a connection another process added meanwhile is not replaced (exit 3)', async () => {
    const { world, key } = worldWithKey();
    meanwhile(world, () => {
      world.connections.entries.set('prod', {
        name: 'prod',
        accessKeyId: EXAMPLE_ID,
        region: 'us-east-1',
        createdAt: NOW,
      });
    });
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('connection "prod" exists');
    expect(world.connections.entries.get('prod')?.accessKeyId).toBe(EXAMPLE_ID);
    expect(world.secrets.entries.has('prod')).toBe(false);
  });
});

describe('add-connection: write order and rollback', () => {
  it('exits 6 and writes no metadata when the secret store fails', async () => {
    const { world, key } = worldWithKey();
    world.secrets.failNext('set');
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      world,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(6);
    expect(world.connections.entries.size).toBe(0);
  });

  it('deletes the secret it wrote when the metadata write fails', async () => {
    const { world, key } = worldWithKey();
    const failing = fakeWorld({ aws: world.aws, connections: new FailingPutStore() });
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      failing,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('cannot write /memory/config.json');
    expect(failing.secrets.entries.size).toBe(0);
  });

  it('puts the old secret back when a --force replacement cannot write the metadata', async () => {
    const world = fakeWorld({ connections: new FailingPutStore() });
    const old = await seedOld(world);
    const fresh = world.aws.issueKey('datablast', 0);
    const result = await runCli(
      ['add-connection', 'prod', '--force', '--access-key-id', fresh.accessKeyId, '--secret-stdin'],
      world,
      { stdin: fresh.secretAccessKey },
    );
    expect(result.exitCode).toBe(3);
    expect(world.secrets.entries.get('prod')).toEqual(old);
  });

  it('says the secret was left behind when the rollback itself fails, with the first error and its exit code', async () => {
    const { world, key } = worldWithKey();
    const failing = fakeWorld({ aws: world.aws, connections: new FailingPutStore() });
    failing.secrets.failNext('delete');
    const result = await runCli(
      ['add-connection', 'prod', '--access-key-id', key.accessKeyId, '--secret-stdin'],
      failing,
      { stdin: key.secretAccessKey },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('the secret of "prod" was stored and could not be taken back');
    expect(result.stderr).toContain('datablast-aws remove prod');
  });
});

describe('saveConnection (the core shared with create-user and init)', () => {
  const globals: GlobalOptions = defaultGlobals();
  const contextOf = (world: FakeWorld) =>
    createContext(globals, {
      io: bufferedIO(),
      env: world.env,
      clock: world.clock,
      secrets: async () => world.secrets,
      connections: async () => world.connections,
      aws: async () => world.aws,
      prompter: async () => world.prompter,
    });

  it('records services, buckets and the key creation date it is given, without asking IAM', async () => {
    const { world, key } = worldWithKey();
    const saved = await saveConnection(contextOf(world), {
      name: 'prod',
      pair: key,
      region: 'eu-west-1',
      test: true,
      force: false,
      services: ['s3'],
      buckets: ['reports'],
      keyCreatedAt: '2026-11-01T00:00:00.000Z',
      userName: 'datablast',
    });
    expect(saved).toMatchObject({ tested: true, replaced: false, notes: [] });
    expect(saved.connection).toMatchObject({
      name: 'prod',
      userName: 'datablast',
      keyCreatedAt: '2026-11-01T00:00:00.000Z',
    });
    expect(world.connections.entries.get('prod')).toMatchObject({ services: ['s3'], buckets: ['reports'] });
    expect(world.aws.calls).toEqual(['sts:getCallerIdentity']);
  });

  it('throws CredentialsRejectedError and stores nothing for a rejected key', async () => {
    const world = fakeWorld();
    const error = await saveConnection(contextOf(world), {
      name: 'prod',
      pair: { accessKeyId: EXAMPLE_ID, secretAccessKey: EXAMPLE_SECRET },
      region: 'us-east-1',
      test: true,
      force: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialsRejectedError);
    expect(world.secrets.entries.size + world.connections.entries.size).toBe(0);
  });

  it('keeps the given user name for an untested key', async () => {
    const world = fakeWorld();
    const saved = await saveConnection(contextOf(world), {
      name: 'prod',
      pair: { accessKeyId: EXAMPLE_ID, secretAccessKey: EXAMPLE_SECRET },
      region: 'us-east-1',
      test: false,
      force: false,
      userName: 'bi',
    });
    expect(saved.connection.userName).toBe('bi');
    expect(saved.tested).toBe(false);
  });

  it('keeps the ARN but no user name for a root key, with a note', async () => {
    const world = fakeWorld();
    const key = world.aws.seedUser('root-holder', { withKey: true })!;
    world.aws.users.get('root-holder')!.arn = 'arn:aws:iam::123456789012:root';
    const saved = await saveConnection(contextOf(world), {
      name: 'prod',
      pair: key,
      region: 'us-east-1',
      test: true,
      force: false,
    });
    expect(saved.connection).toMatchObject({ arn: 'arn:aws:iam::123456789012:root', userName: null });
    expect(saved.notes.join(' ')).toContain('root user key');
  });

  it('carries on without a key creation date when IAM denies ListAccessKeys', async () => {
    const { world, key } = worldWithKey();
    world.aws.failNext('listAccessKeys', sdkError('AccessDenied', 'not authorized', 403));
    const saved = await saveConnection(contextOf(world), {
      name: 'prod',
      pair: key,
      region: 'us-east-1',
      test: true,
      force: false,
    });
    expect(saved.connection.keyCreatedAt).toBeNull();
    expect(world.secrets.entries.get('prod')).toEqual(key);
  });
});

async function seedOld(world: FakeWorld) {
  world.aws.seedUser('datablast');
  const old = world.aws.issueKey('datablast', 0);
  await world.secrets.set('prod', old);
  world.connections.entries.set('prod', {
    name: 'prod',
    accessKeyId: old.accessKeyId,
    region: 'us-east-1',
    createdAt: NOW,
  } satisfies Connection);
  return old;
}
