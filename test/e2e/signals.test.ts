import { spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListAttachedUserPoliciesCommand, ListUserPoliciesCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN } from '../support/cli-process.js';
import { scratchDir } from '../support/sweep.js';
import { MotoWorld } from '../integration/rotate-support.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/**
 * Signals (issue 7): SIGINT or SIGTERM at random instants of every mutating command (add-connection,
 * remove, rotate, create-user --create-key, attach-policy), against moto with the file store and the built
 * binary. A signal that reaches the running CLI ends it with exit 130 and leaves no temp or lock file; the
 * next run accepts or repairs whatever state it left, and converges.
 */

let moto: Moto;
let refuse: RefusingProxy;
let world: MotoWorld;
const tally = { kills: 0, exit130: 0, beforeStart: 0, finishedFirst: 0 };

beforeAll(async () => {
  moto = await startMoto();
  refuse = new RefusingProxy(moto.url);
  await refuse.start();
  world = new MotoWorld(moto, join(scratchDir('dbaws-signals-'), 'config'));
  await world.reset();
});

afterAll(async () => {
  await refuse?.stop();
  await moto?.stop();
});

interface Killed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** False when the run had already ended when its signal was due. */
  signalled: boolean;
}

/** Starts the CLI; `signal` sends a signal if it is still running. */
function startCli(
  args: string[],
  options: { stdin?: string; admin?: boolean; endpoint?: string },
): { signal(s: NodeJS.Signals): void; ended: Promise<Killed> } {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: world.configDir,
    ...world.env({ admin: options.admin, endpoint: options.endpoint }),
  };
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  let signalled = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin ?? '');
  const ended = new Promise<Killed>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, killedBy) => resolve({ code, signal: killedBy, stderr, signalled }));
  });
  return {
    signal(s) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalled = true;
      child.kill(s);
    },
    ended,
  };
}

/** Starts the CLI and sends `signal` after `afterMs` if it is still running; resolves when it ends. */
async function runAndSignal(
  args: string[],
  options: { stdin?: string; admin?: boolean; endpoint?: string },
  signal: NodeJS.Signals,
  afterMs: number,
): Promise<Killed> {
  const cli = startCli(args, options);
  const timer = setTimeout(() => cli.signal(signal), afterMs);
  try {
    return await cli.ended;
  } finally {
    clearTimeout(timer);
  }
}

/** Checks how a signalled run ended: exit 130 with our message, or killed before Node ran our code. */
function expectCancelled(
  run: Killed,
  signal: NodeJS.Signals,
  afterMs: number,
  label: string,
  resumable: () => boolean = () => false,
): void {
  if (!run.signalled) {
    tally.finishedFirst += 1;
    expect(run.code, `${label}: ${run.stderr}`).toBe(0);
    return;
  }
  if (run.code === 0 && !run.stderr.includes('cancelled') && !run.stderr.includes('interrupted')) {
    // The signal was sent while the process was already on its way out (its work done, its output written).
    tally.finishedFirst += 1;
    return;
  }
  tally.kills += 1;
  if (run.signal === signal) {
    // Node's default action: the signal came before bin/datablast-aws.js installed its handler. How long
    // Node takes to get there depends on the machine's load, so no time bound here: the state checks that
    // follow every signal still apply, and the sweep asserts that most signals met the handler (exit 130).
    tally.beforeStart += 1;
    return;
  }
  expect(run.stderr, label).not.toMatch(/\n\s+at /);
  if (resumable()) {
    // CLI.md: a resumable interruption (a rotation journal remains) is exit 8, not 130.
    expect(run.code, `${label}: ${run.stderr}`).toBe(8);
    expect(run.stderr, label).toContain(`interrupted (${signal})`);
    expect(run.stderr, label).toContain('run the same command again');
    // The signal met the handler, as an exit 130 does.
    tally.exit130 += 1;
    return;
  }
  expect(run.code, `${label}: ${run.stderr}`).toBe(130);
  expect(run.stderr, label).toContain(`cancelled (${signal})`);
  tally.exit130 += 1;
}

/** No temp file of an atomic write, no lock, no takeover guard left in the config dir. */
function expectNoLeftovers(label: string): void {
  const names = readdirSync(world.configDir);
  expect(
    names.filter((n) => /\.tmp$|\.lock$|\.takeover$|\.stale-/.test(n)),
    `${label}: ${names.join(', ')}`,
  ).toEqual([]);
}

/** `rounds` instants spread over [60 ms, duration + 60 ms], one at random in each slice; signals alternate. */
function instants(rounds: number, durationMs: number): Array<{ at: number; signal: NodeJS.Signals }> {
  return Array.from({ length: rounds }, (_, i) => ({
    at: Math.round(60 + ((i + Math.random()) / rounds) * durationMs),
    signal: i % 2 === 0 ? 'SIGINT' : 'SIGTERM',
  }));
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const result = await work();
  return [result, Date.now() - started];
}

describe('a signal at a random instant of each mutating command (moto, file store, built binary)', () => {
  it('add-connection: exit 130, and the same command run again stores the key', async () => {
    const user = 'sig-add-user';
    const pair = await userWithKey(user);
    const args = ['add-connection', 'sig-add', '--access-key-id', pair.accessKeyId, '--secret-stdin', '--force'];
    const [clean, duration] = await timed(() => world.cli(args, { stdin: pair.secretAccessKey }));
    expect(clean.exitCode, clean.stderr).toBe(0);
    for (const { at, signal } of instants(5, duration)) {
      const label = `add-connection, ${signal} at ${at} ms`;
      expectCancelled(await runAndSignal(args, { stdin: pair.secretAccessKey }, signal, at), signal, at, label);
      expectNoLeftovers(label);
      const listed = await world.cli(['list', '--json']);
      expect(listed.exitCode, `${label}, then list: ${listed.stderr}`).toBe(0);
      const again = await world.cli(args, { stdin: pair.secretAccessKey });
      expect(again.exitCode, `${label}, then again: ${again.stderr}`).toBe(0);
      expect((await world.secrets()).get('sig-add')).toEqual(pair);
      expect(world.connection('sig-add')?.accessKeyId).toBe(pair.accessKeyId);
    }
  }, 120_000);

  it('remove: exit 130, and remove run again finishes the job, leaving neither metadata nor secret', async () => {
    const pair: AccessKeyPair = {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    };
    const seed = async () =>
      expect(
        (
          await world.cli(
            ['add-connection', 'sig-rm', '--access-key-id', pair.accessKeyId, '--secret-stdin', '--no-test', '--force'],
            { stdin: pair.secretAccessKey },
          )
        ).exitCode,
      ).toBe(0);
    await seed();
    const [clean, duration] = await timed(() => world.cli(['remove', 'sig-rm', '--yes']));
    expect(clean.exitCode, clean.stderr).toBe(0);
    for (const { at, signal } of instants(5, duration)) {
      const label = `remove, ${signal} at ${at} ms`;
      await seed();
      expectCancelled(await runAndSignal(['remove', 'sig-rm', '--yes'], {}, signal, at), signal, at, label);
      expectNoLeftovers(label);
      const again = await world.cli(['remove', 'sig-rm', '--yes']);
      // 3: the interrupted run had already removed everything.
      expect([0, 3], `${label}, then again: ${again.stderr}`).toContain(again.exitCode);
      expect(world.connection('sig-rm')).toBeUndefined();
      expect((await world.secrets()).has('sig-rm')).toBe(false);
    }
  }, 120_000);

  it("rotate: exit 130 (8 when a journal remains) with the protocol's invariant intact, and rotate run again converges", async () => {
    let before = await world.addUserConnection('sig-rot', 'sig-rot-user');
    const [clean, duration] = await timed(() => world.cli(['rotate', 'sig-rot', '--json']));
    expect(clean.exitCode, clean.stderr).toBe(0);
    before = await world.assertConverged('sig-rot', 'sig-rot-user', before);
    for (const { at, signal } of instants(5, duration)) {
      const label = `rotate, ${signal} at ${at} ms`;
      const run = await runAndSignal(['rotate', 'sig-rot', '--json'], {}, signal, at);
      expectCancelled(run, signal, at, label, () => world.journal('sig-rot') !== undefined);
      expectNoLeftovers(label);
      await world.assertInvariant('sig-rot', 'sig-rot-user');
      const again = await world.cli(['rotate', 'sig-rot', '--json']);
      expect(again.exitCode, `${label}, then again: ${again.stderr}`).toBe(0);
      before = await world.assertConverged('sig-rot', 'sig-rot-user', before);
    }
  }, 180_000);

  it('rotate interrupted while AWS does not accept the new key yet: exit 8 (its journal remains), and rotate run again converges', async () => {
    const before = await world.addUserConnection('sig-rot-wait', 'sig-rot-wait-user');
    // Refuse only the new key, so that the rotation gets past its check of the current one.
    refuse.spare.add(before.accessKeyId);
    refuse.refusing = true;
    const cli = startCli(['rotate', 'sig-rot-wait'], { endpoint: refuse.url });
    await refuse.waitForRefusals(2);
    cli.signal('SIGTERM');
    const ended = await cli.ended;
    refuse.refusing = false;
    refuse.spare.clear();
    tally.kills += 1;
    expect(ended.code, ended.stderr).toBe(8);
    expect(ended.stderr).toContain('interrupted (SIGTERM)');
    expect(world.journal('sig-rot-wait')?.phase).toBe('created');
    expectNoLeftovers('rotate interrupted while waiting');
    await world.assertInvariant('sig-rot-wait', 'sig-rot-wait-user');
    const again = await world.cli(['rotate', 'sig-rot-wait', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'resumed', oldKey: 'deleted' });
    await world.assertConverged('sig-rot-wait', 'sig-rot-wait-user', before);
  }, 60_000);

  it('create-user --create-key: exit 130 and no key left that nobody holds; run again, it converges', async () => {
    const args = (i: number) => ['create-user', `sig-cu-${i}`, '--create-key', '--connection', `sig-cu-${i}`];
    const [clean, duration] = await timed(() => world.cli(args(0), { admin: true }));
    expect(clean.exitCode, clean.stderr).toBe(0);
    const rounds = instants(5, duration);
    for (const [index, { at, signal }] of rounds.entries()) {
      const i = index + 1;
      const label = `create-user, ${signal} at ${at} ms`;
      expectCancelled(await runAndSignal(args(i), { admin: true }, signal, at), signal, at, label);
      expectNoLeftovers(label);
      await expectEveryKeyHeld(`sig-cu-${i}`, `sig-cu-${i}`, label);
      const again = await world.cli(args(i), { admin: true });
      expect(again.exitCode, `${label}, then again: ${again.stderr}`).toBe(0);
      const stored = (await world.secrets()).get(`sig-cu-${i}`)!;
      expect((await world.keys(`sig-cu-${i}`)).map((k) => k.id)).toEqual([stored.accessKeyId]);
    }
  }, 180_000);

  it('create-user --create-key while AWS does not accept the new key yet: Ctrl-C deletes the key it made, and exits 130', async () => {
    refuse.refusing = true;
    const cli = startCli(['create-user', 'sig-wait', '--create-key', '--connection', 'sig-wait'], {
      admin: true,
      endpoint: refuse.url,
    });
    // Ctrl-C once the key exists and the CLI is waiting for AWS to accept it.
    await refuse.waitForRefusals(2);
    cli.signal('SIGINT');
    const ended = await cli.ended;
    refuse.refusing = false;
    tally.kills += 1;
    expect(ended.code, ended.stderr).toBe(130);
    tally.exit130 += 1;
    expect(ended.stderr).toContain('undoing the step under way');
    expect(ended.stderr).toMatch(/deleting the new key AKIA\*+\w{4} again \(cancelled\)/);
    expect(await world.keys('sig-wait')).toEqual([]);
    expect(world.connection('sig-wait')).toBeUndefined();
    expectNoLeftovers('create-user cancelled while waiting');
  }, 60_000);

  it('attach-policy: exit 130, and attach-policy run again converges on exactly the policies asked for', async () => {
    const user = 'sig-ap-user';
    await world.iam().send(new CreateUserCommand({ UserName: user }));
    const args = [
      'attach-policy',
      user,
      '--service',
      's3',
      '--service',
      'rds',
      '--service',
      'lambda',
      '--bucket',
      'sig-exports',
      '--self-rotation',
    ];
    const [clean, duration] = await timed(() => world.cli(args, { admin: true }));
    expect(clean.exitCode, clean.stderr).toBe(0);
    for (const { at, signal } of instants(4, duration)) {
      const label = `attach-policy, ${signal} at ${at} ms`;
      await resetPolicies(user);
      expectCancelled(await runAndSignal(args, { admin: true }, signal, at), signal, at, label);
      const again = await world.cli(args, { admin: true });
      expect(again.exitCode, `${label}, then again: ${again.stderr}`).toBe(0);
      const iam = world.iam();
      const attached = (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: user })))
        .AttachedPolicies!.map((p) => p.PolicyName)
        .sort();
      const inline = (await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames!.sort();
      expect(attached).toEqual(['AWSLambda_ReadOnlyAccess', 'AmazonRDSReadOnlyAccess', 'AmazonS3ReadOnlyAccess']);
      expect(inline).toEqual(['datablast-s3-buckets', 'datablast-self-rotation']);
    }
  }, 120_000);
});

describe('summary', () => {
  it('prints the counts; most signals landed in the middle of the work', () => {
    expect(tally.exit130).toBeGreaterThanOrEqual(15);
    console.log(
      `signals: ${tally.kills} signals sent at random instants, ${tally.exit130} exits 130, ${tally.beforeStart} before the CLI started, ` +
        `${tally.finishedFirst} runs done before their signal took effect; every next run accepted the state, 0 connections or keys lost`,
    );
  });
});

/** A user with one key, allowed to call STS and list its keys (so add-connection's test passes under moto's checks). */
async function userWithKey(userName: string): Promise<AccessKeyPair> {
  const { PutUserPolicyCommand } = await import('@aws-sdk/client-iam');
  await world.iam().send(new CreateUserCommand({ UserName: userName }));
  const policy = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['sts:GetCallerIdentity', 'iam:ListAccessKeys'], Resource: '*' }],
  };
  await world
    .iam()
    .send(
      new PutUserPolicyCommand({ UserName: userName, PolicyName: 'basic', PolicyDocument: JSON.stringify(policy) }),
    );
  return world.createKey(userName);
}

/** Every key of the user is held by the connection, or there is none (an interrupted create-user deleted its own). */
async function expectEveryKeyHeld(userName: string, connection: string, label: string): Promise<void> {
  const keys = await world.keys(userName).catch(() => []);
  const stored = (await world.secrets()).get(connection);
  for (const key of keys)
    expect(key.id, `${label}: IAM holds ${key.id} of ${userName}, which no connection holds`).toBe(stored?.accessKeyId);
}

async function resetPolicies(userName: string): Promise<void> {
  const { DetachUserPolicyCommand, DeleteUserPolicyCommand } = await import('@aws-sdk/client-iam');
  const iam = world.iam();
  for (const p of (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: userName }))).AttachedPolicies ??
    []) {
    await iam.send(new DetachUserPolicyCommand({ UserName: userName, PolicyArn: p.PolicyArn! }));
  }
  for (const name of (await iam.send(new ListUserPoliciesCommand({ UserName: userName }))).PolicyNames ?? []) {
    await iam.send(new DeleteUserPolicyCommand({ UserName: userName, PolicyName: name }));
  }
}

/**
 * A proxy to moto that, while `refusing`, answers STS calls signed by any key but the admin's with
 * InvalidClientTokenId, as AWS does for a key that has not propagated yet.
 */
class RefusingProxy {
  refusing = false;
  /** Key ids never refused, even while refusing. */
  readonly spare = new Set<string>();
  url = '';
  private server: Server | undefined;
  private refusals = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const keyId = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '')?.[1];
        if (
          this.refusing &&
          /Action=GetCallerIdentity/.test(body.toString()) &&
          keyId !== world.admin.accessKeyId &&
          !this.spare.has(keyId ?? '')
        ) {
          this.refusals += 1;
          this.waiters.forEach((w) => w());
          res.writeHead(403, { 'content-type': 'text/xml' });
          res.end(
            '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>refused</RequestId></ErrorResponse>',
          );
          return;
        }
        const target = new URL(this.target);
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => req.socket.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Resolves once `n` calls have been refused. */
  /** Resolves after `n` more refusals (counted from this call, so that earlier tests' refusals do not count). */
  waitForRefusals(n: number): Promise<void> {
    const target = this.refusals + n;
    return new Promise((resolve) => {
      const check = () => {
        if (this.refusals >= target) resolve();
      };
      this.waiters.push(check);
      check();
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
