import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { type Moto, MOTO_SELF_ROTATION_POLICY, startMoto } from '../support/moto.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { runBin, type ProcessResult } from '../support/cli-process.js';
import { CLOSED_ENDPOINT, looksLikeCrash, mapLimit, scratchDir } from '../support/sweep.js';
import { FaultProxy, MotoWorld, PASSPHRASE } from '../integration/rotate-support.js';
import { openSecretStore } from '../../src/store/secret-store.js';
import { rotationLockPath } from '../../src/store/journal.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/**
 * The secret-hygiene sweep (issue 7): every command, on its success and failure paths, with and without
 * --debug, with both secret stores, through the built binary against moto. No secret ever seen (the
 * admin's, each connection's, each key a rotation or create-user made) may appear on stdout (except
 * credential-process and env, whose job it is), on stderr, in any file the CLI wrote, or in the argv or
 * environment of a child process: a preload records every child_process call, and production starts none.
 */

const RECORDER = resolve(import.meta.dirname, '../support/spawn-recorder.mjs');
let moto: Moto;
let keyring: Keyring;
let proxy: FaultProxy;
let echo: Server;
let echoUrl: string;
/** Every secret any run could have seen; filled as keys are made, and from the stores after each change. */
const secrets = new Set<string>();
let echoed = '';

beforeAll(async () => {
  [moto, keyring] = await Promise.all([startMoto(), startKeyring()]);
  proxy = new FaultProxy(moto.url);
  await proxy.start();
  // A server that answers every call with an AWS error quoting a secret back, as a careless proxy or
  // service might: the SDK's error message then carries it, and our output must not.
  echo = createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'text/xml' });
    res.end(
      `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized; the request was signed with ${echoed}</Message></Error><RequestId>echo</RequestId></ErrorResponse>`,
    );
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const address = echo.address();
  echoUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  echo?.close();
  await proxy?.stop();
  await Promise.all([moto?.stop(), keyring?.stop()]);
});

interface Run {
  args: string[];
  result: ProcessResult;
  /** credential-process and env print the secret: that is their job. */
  mayPrint: boolean;
}

interface Step {
  args: string[];
  stdin?: string;
  env?: Record<string, string | undefined>;
  mayPrint?: boolean;
  /** The exit codes this path may end with (each one an exit path of the sweep). */
  codes: number[];
  /** Run with --debug only (the path is slow, or the plain run would change what the debug run meets). */
  debugOnly?: boolean;
  /** The path never touches the secret store (it fails before, or is about AWS only): the file store's sweep covers it. */
  storeIndependent?: boolean;
}

/** One store's sweep: a moto world, a config dir, a HOME, and the runs. */
class Sweep {
  readonly runs: Run[] = [];
  readonly world: MotoWorld;
  readonly home = scratchDir('dbaws-hygiene-home-');
  readonly inputs = scratchDir('dbaws-hygiene-inputs-');
  readonly spawnLog = join(scratchDir('dbaws-hygiene-spawn-'), 'spawn.jsonl');
  readonly codes = new Set<number>();

  constructor(readonly store: 'file' | 'keychain') {
    // The passphrase from a file, as cron and exported profiles use it (a profile never carries a passphrase).
    const passphraseFile = join(this.inputs, 'store-passphrase');
    if (store === 'file') writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const storeEnv: Record<string, string> =
      store === 'file'
        ? { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile }
        : { DATABLAST_AWS_SECRET_STORE: 'keychain', ...keyring.env };
    this.world = new MotoWorld(moto, join(scratchDir(`dbaws-hygiene-${store}-`), 'config'), storeEnv);
  }

  env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      ...this.world.env(),
      HOME: this.home,
      AWS_EC2_METADATA_DISABLED: 'true',
      NODE_OPTIONS: `--import=${RECORDER}`,
      DBAWS_SPAWN_LOG: this.spawnLog,
      ...extra,
    };
  }

  admin(): Record<string, string> {
    return { AWS_ACCESS_KEY_ID: this.world.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: this.world.admin.secretAccessKey };
  }

  /** A user allowed to rotate its own key, and a key for it (remembered as a secret to watch). */
  async user(userName: string): Promise<AccessKeyPair> {
    const iam = this.world.iam();
    await iam.send(new CreateUserCommand({ UserName: userName }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: userName,
        PolicyName: 'self-rotation',
        PolicyDocument: MOTO_SELF_ROTATION_POLICY,
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
    secrets.add(key.SecretAccessKey!);
    return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  }

  /**
   * Runs a step with --debug, which prints the most (stacks, request ids, the SDK's log and every call), and
   * for a failure path also plainly, whose message and hint are worded for people. A plain success prints
   * a subset of what its --debug run does, so it is not run again. With the keychain, whose runs differ from
   * the file store's only in where secrets live, --debug only.
   */
  async step(step: Step): Promise<void> {
    if (step.storeIndependent && this.store === 'keychain') return;
    const plainToo = !step.debugOnly && this.store === 'file' && !step.codes.includes(0);
    for (const debug of plainToo ? [false, true] : [true]) {
      const args = debug ? [...step.args, '--debug'] : step.args;
      const result = await runBin(args, { env: this.env(step.env), stdin: step.stdin ?? '', timeoutMs: 120_000 });
      this.runs.push({ args, result, mayPrint: step.mayPrint ?? false });
      this.codes.add(result.exitCode ?? -1);
      if (process.env.HYG_TIMING) console.log(`${result.ms} ms exit ${result.exitCode}: ${args.join(' ')}`);
      expect(step.codes, `${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`).toContain(result.exitCode);
    }
  }

  /** Steps that change nothing, several at once. */
  async parallel(steps: Step[]): Promise<void> {
    await mapLimit(steps, 4, (s) => this.step(s));
  }

  /** Learns every secret now in the store (new keys from rotate, create-user, init). */
  async learn(): Promise<void> {
    const saved = process.env.DBUS_SESSION_BUS_ADDRESS;
    if (this.store === 'keychain') process.env.DBUS_SESSION_BUS_ADDRESS = keyring.env.DBUS_SESSION_BUS_ADDRESS;
    try {
      const store = await openSecretStore(this.world.env() as Record<string, string>, this.world.configDir);
      for (const account of await store.list()) {
        const pair = await store.get(account);
        if (pair) secrets.add(pair.secretAccessKey);
      }
    } finally {
      if (saved === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
      else process.env.DBUS_SESSION_BUS_ADDRESS = saved;
    }
  }
}

/** The JSON the sweep's latest run printed. */
function lastJson(s: Sweep): unknown {
  return JSON.parse(s.runs.at(-1)!.result.stdout);
}

/** Every file under `dirs`, as bytes. */
function filesUnder(...dirs: string[]): Array<{ path: string; bytes: Buffer }> {
  return dirs.filter(existsSync).flatMap((dir) =>
    readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => ({ path: join(e.parentPath, e.name), bytes: readFileSync(join(e.parentPath, e.name)) })),
  );
}

/** Asserts the sweep's outcome: no secret on any stream (but where allowed), in any file, or in any child process. */
function assertClean(sweep: Sweep): { files: number; children: number } {
  expect(secrets.size).toBeGreaterThanOrEqual(4);
  for (const { args, result, mayPrint } of sweep.runs) {
    const label = `${sweep.store}: ${args.join(' ')}`;
    for (const secret of secrets) {
      expect(result.stderr.includes(secret), `stderr of ${label}`).toBe(false);
      if (!mayPrint) expect(result.stdout.includes(secret), `stdout of ${label}`).toBe(false);
    }
    if (!args.includes('--debug'))
      expect(looksLikeCrash(result.stderr), `no stack trace without --debug: ${label}\n${result.stderr}`).toBe(false);
    expect(result.stderr, label).not.toContain('unexpected internal error');
  }
  const files = filesUnder(sweep.world.configDir, sweep.home);
  for (const file of files) {
    for (const secret of secrets) {
      expect(file.bytes.includes(Buffer.from(secret)), file.path).toBe(false);
      expect(file.bytes.includes(Buffer.from(secret, 'utf16le')), file.path).toBe(false);
    }
  }
  const children = existsSync(sweep.spawnLog) ? readFileSync(sweep.spawnLog, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of children)
    for (const secret of secrets)
      expect(line.includes(secret), `a child process carries a secret: ${line.slice(0, 200)}`).toBe(false);
  expect(children, 'the CLI starts no child process').toEqual([]);
  return { files: files.length, children: children.length };
}

describe('the child-process recorder', () => {
  it('records a child started through an ESM named import, with its argv and environment', () => {
    const log = join(scratchDir('dbaws-recorder-'), 'spawn.jsonl');
    const script =
      "import { spawnSync } from 'node:child_process'; spawnSync('true', ['--flag'], { env: { TOKEN: 'x' } });";
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: `--import=${RECORDER}`, DBAWS_SPAWN_LOG: log },
    });
    expect(run.status, run.stderr.toString()).toBe(0);
    const [entry] = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { fn: string; command: string; args: string[]; env: Record<string, string> });
    expect(entry).toMatchObject({ fn: 'spawnSync', command: 'true', args: ['--flag'], env: { TOKEN: 'x' } });
  });
});

describe.each(['file', 'keychain'] as const)('secret hygiene with the %s store', (store) => {
  it('no secret on any stream, in any file or in any child process, over every command and exit path', async () => {
    const started = Date.now();
    const s = new Sweep(store);
    await s.world.reset();
    secrets.add(s.world.admin.secretAccessKey);
    const own = await s.user(`hyg-own-${store}`);
    const shared = await s.user(`hyg-shared-${store}`);
    const wrong = {
      accessKeyId: shared.accessKeyId,
      secretAccessKey: `${shared.secretAccessKey.slice(0, -1)}${shared.secretAccessKey.endsWith('A') ? 'B' : 'A'}`,
    };
    secrets.add(wrong.secretAccessKey);
    const csv = join(s.inputs, 'keys.csv');
    writeFileSync(csv, `\uFEFFAccess key ID,Secret access key\r\n${shared.accessKeyId},${shared.secretAccessKey}\r\n`);
    const badPolicy = join(s.inputs, 'policy.json');
    writeFileSync(badPolicy, `{"Version": "2012-10-17", "Statement": "${shared.secretAccessKey}"`);
    const admin = s.admin();
    const full = store === 'file';
    const brokenStore =
      store === 'file'
        ? { DATABLAST_AWS_PASSPHRASE: 'not the passphrase', DATABLAST_AWS_PASSPHRASE_FILE: undefined }
        : { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
    const closed = { AWS_ENDPOINT_URL: CLOSED_ENDPOINT };
    const id = (pair: AccessKeyPair) => ['--access-key-id', pair.accessKeyId];
    echoed = `${own.secretAccessKey} ${shared.secretAccessKey} ${s.world.admin.secretAccessKey}`;

    // add-connection: every input mode, and every way it fails.
    await s.step({
      args: ['add-connection', 'leak', ...id(own), '--secret-stdin', '--force'],
      stdin: own.secretAccessKey,
      codes: [0],
    });
    await s.step({
      args: ['add-connection', 'leak-json', ...id(shared), '--secret-stdin', '--json', '--force'],
      stdin: shared.secretAccessKey,
      codes: [0],
    });
    await s.step({
      args: ['add-connection', 'leak-env', '--from-env', '--force'],
      env: { AWS_ACCESS_KEY_ID: shared.accessKeyId, AWS_SECRET_ACCESS_KEY: shared.secretAccessKey },
      codes: [0],
    });
    await s.step({ args: ['add-connection', 'leak-csv', '--from-csv', csv, '--force'], codes: [0], debugOnly: !full });
    await s.step({
      args: ['add-connection', 'wrong', ...id(wrong), '--no-test', '--force'],
      env: { AWS_SECRET_ACCESS_KEY: wrong.secretAccessKey },
      codes: [0],
      debugOnly: !full,
    });
    await s.parallel([
      {
        args: ['add-connection', 'leak', ...id(own), '--secret-stdin'],
        stdin: own.secretAccessKey,
        codes: [3],
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(own), '--secret-stdin'],
        stdin: `${own.secretAccessKey}x`,
        codes: [2],
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', '--access-key-id', own.secretAccessKey, '--secret-stdin'],
        stdin: own.secretAccessKey,
        codes: [2],
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(own), '--secret-access-key', own.secretAccessKey],
        codes: [2],
        debugOnly: !full,
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(wrong), '--secret-stdin'],
        stdin: wrong.secretAccessKey,
        codes: [4],
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(own), '--secret-stdin'],
        stdin: own.secretAccessKey,
        env: closed,
        codes: [5],
        debugOnly: !full,
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(own), '--secret-stdin'],
        stdin: own.secretAccessKey,
        env: { AWS_ENDPOINT_URL: echoUrl },
        codes: [5],
        storeIndependent: true,
      },
      {
        args: ['add-connection', 'bad', ...id(own), '--secret-stdin', '--no-test'],
        stdin: own.secretAccessKey,
        env: brokenStore,
        codes: [6],
      },
    ]);

    // Reading: list, show, and the two commands that print the secret on purpose.
    await s.parallel([
      { args: ['list'], codes: [0], debugOnly: !full },
      { args: ['list', '--json'], codes: [0] },
      { args: ['show', 'leak'], codes: [0], debugOnly: !full },
      { args: ['show', 'leak', '--json'], codes: [0] },
      { args: ['show', 'missing'], codes: [3], debugOnly: !full, storeIndependent: true },
      { args: ['list'], env: brokenStore, codes: [6] },
      { args: ['credential-process', 'leak'], mayPrint: true, codes: [0] },
      { args: ['env', 'leak'], mayPrint: true, codes: [0] },
      { args: ['env', 'leak', '--json'], mayPrint: true, codes: [0], debugOnly: !full },
      { args: ['credential-process', 'missing'], codes: [3], debugOnly: !full, storeIndependent: true },
      { args: ['credential-process', 'leak'], env: brokenStore, codes: [6] },
      { args: ['export-profile', 'leak', '--print'], codes: [0], debugOnly: !full, storeIndependent: true },
      { args: ['completion', 'bash'], codes: [0], debugOnly: true, storeIndependent: true },
    ]);
    await s.step({
      args: ['export-profile', 'leak', '--profile-name', 'leak'],
      env: { AWS_CONFIG_FILE: join(s.home, '.aws', 'config') },
      codes: [0],
    });

    // test: passing, rejected, unreachable, denied, an AWS error quoting the secret back.
    await s.parallel([
      { args: ['test', 'leak'], codes: [0] },
      {
        args: ['test', 'leak', '--service', 's3', '--last-used'],
        codes: [0, 5],
        debugOnly: !full,
        storeIndependent: true,
      },
      { args: ['test', 'leak', '--admin'], env: admin, codes: [0], debugOnly: !full, storeIndependent: true },
      { args: ['test', 'wrong'], codes: [4] },
      { args: ['test', 'leak'], env: closed, codes: [5], debugOnly: !full, storeIndependent: true },
      { args: ['test', 'leak'], env: { AWS_ENDPOINT_URL: echoUrl }, codes: [5] },
      { args: ['test', '--all', '--json'], codes: [4], debugOnly: !full },
    ]);

    // rotate: rotated, planned, with --admin, refused, unreachable, interrupted (8) then resumed, and --all.
    // --now: "leak" has an exported profile (a consumer), so without it the old key would wait for evidence.
    await s.step({ args: ['rotate', 'leak', '--now', '--json'], codes: [0] });
    await s.learn();
    await s.parallel([
      { args: ['rotate', 'leak', '--now', '--dry-run'], codes: [0] },
      { args: ['rotate', 'wrong'], codes: [3], debugOnly: !full, storeIndependent: true },
      { args: ['rotate', 'leak', '--now'], env: closed, codes: [5], debugOnly: !full, storeIndependent: true },
      { args: ['rotate', 'leak', '--now'], env: { AWS_ENDPOINT_URL: echoUrl }, codes: [5] },
    ]);
    await s.step({
      args: ['rotate', 'leak', '--now', '--admin', '--keep-old'],
      env: admin,
      codes: [0],
      debugOnly: !full,
    });
    await s.learn();
    // From CreateAccessKey on (after sts, ListAccessKeys, the make-room DeleteAccessKey and the ListAccessKeys that
    // confirms it), so the rotation is cut with its journal written: exit 8.
    proxy.set({ kind: 'down-from', n: 5 });
    await s.step({
      args: ['rotate', 'leak', '--now'],
      env: { AWS_ENDPOINT_URL: proxy.url },
      codes: [8],
      debugOnly: true,
    });
    proxy.set({ kind: 'pass' });
    await s.learn();
    await s.step({ args: ['rotate', 'leak', '--now', '--json'], codes: [0], debugOnly: true });
    await s.learn();
    if (full) {
      // Another rotation holds the lock (this test process stands in for it): exit 7 after the wait.
      const lock = rotationLockPath(s.world.configDir, 'leak');
      writeFileSync(
        lock,
        JSON.stringify({
          pid: process.pid,
          hostname: (await import('node:os')).hostname(),
          createdAt: new Date().toISOString(),
          token: 'held-by-the-test',
        }),
        { mode: 0o600 },
      );
      await s.step({ args: ['rotate', 'leak', '--now'], codes: [7], debugOnly: true });
      (await import('node:fs')).rmSync(lock);
    }
    await s.step({ args: ['rotate', '--all', '--json', '--older-than', '0'], codes: [3, 4], debugOnly: true });
    await s.learn();

    // The rotation lifecycle (issue 14) over a connection with a consumer: the hand-off pending then confirmed
    // (deliver), the key's last use (show --last-used, test by default), each rotate flag of the lifecycle.
    const life = await s.user(`hyg-life-${store}`);
    await s.step({
      args: ['add-connection', 'life', ...id(life), '--secret-stdin', '--force', '--deliver-to', 'datablast'],
      stdin: life.secretAccessKey,
      codes: [0],
    });
    await s.step({ args: ['deliver', 'life', '--confirm-delivered', '--json'], codes: [0] });
    await s.parallel([
      { args: ['show', 'life', '--last-used'], codes: [0] },
      { args: ['show', 'life', '--last-used', '--json'], codes: [0], debugOnly: !full },
      { args: ['test', 'life', '--json'], codes: [0] },
      { args: ['test', 'life', '--no-last-used'], codes: [0], debugOnly: !full },
    ]);
    // Created, switched, handed to Datablast: pending off a terminal, so the lifecycle waits there.
    await s.step({ args: ['rotate', 'life', '--idle', '0s', '--grace', '0s', '--json'], codes: [0] });
    expect(lastJson(s)).toMatchObject({ status: 'delivery-pending', lifecycle: { phase: 'switched' } });
    await s.learn();
    await s.step({ args: ['deliver', 'life', '--confirm-delivered'], codes: [0] });
    await s.parallel([
      { args: ['show', 'life', '--last-used', '--json'], codes: [0] },
      { args: ['test', 'life'], codes: [0] },
    ]);
    await s.step({ args: ['rotate', 'life', '--idle', '0s', '--grace', '7d', '--require-new-key-use'], codes: [0, 9] });
    await s.step({ args: ['rotate', 'life', '--idle', '0s', '--grace', '7d', '--json'], codes: [0, 9] });
    expect(lastJson(s)).toMatchObject({ status: 'deactivated', lifecycle: { phase: 'deactivated' } });
    await s.step({ args: ['rotate', 'life', '--reactivate-old', '--json'], codes: [0] });
    expect(lastJson(s)).toMatchObject({ status: 'reactivated' });
    await s.step({ args: ['test', 'life', '--json'], codes: [0], debugOnly: true });
    await s.step({ args: ['rotate', 'life', '--now', '--json'], codes: [0] });
    expect(lastJson(s)).toMatchObject({ oldKey: 'deleted' });
    await s.learn();
    await s.step({ args: ['rotate', 'life', '--now'], codes: [0], debugOnly: true });
    await s.learn();

    // Onboarding with the admin credentials: create-user (with a key), attach-policy, init, and their failures.
    await s.step({
      // With the hand-off that ends onboarding: datablast, pending off a terminal (no child process).
      args: [
        'create-user',
        `hyg-created-${store}`,
        '--create-key',
        '--connection',
        'created',
        '--deliver-to',
        'datablast',
      ],
      env: admin,
      codes: [0],
    });
    await s.learn();
    await s.parallel([
      {
        args: ['create-user', `hyg-created-${store}`],
        env: { ...admin, AWS_SECRET_ACCESS_KEY: wrong.secretAccessKey },
        codes: [4],
        storeIndependent: true,
      },
      {
        args: ['attach-policy', `hyg-created-${store}`, '--policy-file', badPolicy, '--policy-name', 'extra'],
        env: admin,
        codes: [2],
        storeIndependent: true,
      },
      {
        args: ['attach-policy', 'nobody', '--service', 's3'],
        env: admin,
        codes: [5],
        debugOnly: !full,
        storeIndependent: true,
      },
    ]);
    await s.step({
      args: ['attach-policy', `hyg-created-${store}`, '--service', 's3', '--self-rotation'],
      env: admin,
      codes: [0],
      debugOnly: !full,
      storeIndependent: true,
    });
    await s.step({
      args: [
        'init',
        '--no-input',
        '--user',
        `hyg-init-${store}`,
        '--service',
        'rds',
        '--connection',
        'initialized',
        '--deliver-to',
        'datablast',
        '--json',
        '--yes',
      ],
      env: admin,
      codes: [0],
    });
    await s.learn();

    // remove: plain, --json, with --delete-key signed by the key itself and by the admin, and a missing one.
    await s.step({ args: ['remove', 'leak-env', '--yes'], codes: [0, 3] });
    await s.step({ args: ['remove', 'leak-json', '--yes', '--json'], codes: [0, 3], debugOnly: !full });
    // moto does not evaluate ${aws:username}, so the self-rotation policy does not let the key delete itself there: exit 5.
    await s.step({ args: ['remove', 'created', '--delete-key', '--yes'], codes: [0, 5] });
    await s.step({
      args: ['remove', 'leak-csv', '--delete-key', '--admin', '--yes'],
      env: admin,
      codes: [0, 3],
      debugOnly: !full,
    });
    await s.step({ args: ['remove', 'missing', '--yes'], codes: [3], debugOnly: !full, storeIndependent: true });

    if (full) await refusesLoosePassphraseFile(s);

    await s.learn();
    const { files, children } = assertClean(s);
    if (full) expect([...s.codes].sort((a, b) => a - b)).toEqual([0, 2, 3, 4, 5, 6, 7, 8]);
    else expect([...s.codes]).toEqual(expect.arrayContaining([0, 4, 5, 6, 8]));
    console.log(
      `secret hygiene (${store}): ${s.runs.length} runs over ${new Set(s.runs.map((r) => r.args[0])).size} commands, exit codes ${[...s.codes].sort((a, b) => a - b).join(',')}, ` +
        `${secrets.size} secrets watched, ${files} files scanned, ${children} child processes, 0 leaks, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 300_000);
});

/** The encrypted file store refuses a passphrase file others may read, and says so without quoting the passphrase. */
async function refusesLoosePassphraseFile(s: Sweep): Promise<void> {
  const passFile = join(s.inputs, 'passphrase');
  writeFileSync(passFile, `${PASSPHRASE}\n`);
  chmodSync(passFile, 0o644);
  const loose = await runBin(['credential-process', 'initialized', '--debug'], {
    env: {
      ...s.env(),
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: undefined,
      DATABLAST_AWS_PASSPHRASE_FILE: passFile,
    },
  });
  s.runs.push({
    args: ['credential-process', 'initialized', '--debug', '(world-readable passphrase file)'],
    result: loose,
    mayPrint: false,
  });
  expect(loose.exitCode, loose.stderr).toBe(6);
  expect(loose.stderr).toContain('chmod 600');
  expect(loose.stderr).not.toContain(PASSPHRASE);
}
