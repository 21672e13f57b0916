import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SecretStore } from '../../src/ports.js';
import { ExitCode, SecretStoreError } from '../../src/errors.js';
import { openSecretStore } from '../../src/store/secret-store.js';
import { startKeyring, type Keyring } from '../support/keyring.js';
import { runTsWorker } from '../support/ts-worker.js';

const worker = fileURLToPath(new URL('./workers/keychain-worker.mjs', import.meta.url));

interface WorkerResult {
  ok: boolean;
  value?: unknown;
  error?: { name: string; exitCode: number; message: string; hint?: string };
  elapsedMs: number;
  processMs: number;
}

// The adapter talks to the D-Bus the process environment names, and @napi-rs/keyring (libdbus) keeps
// its first connection for the life of the process: the in-process tests share one keyring, set in
// process.env before the first call (so they run one after the other) and emptied after each test,
// and every other environment is tried in a fresh child process, as the CLI would meet it.
describe.sequential('the keychain store against a real gnome-keyring', () => {
  const pair = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const saved = { ...process.env };
  let keyring: Keyring;
  let scratch: string;

  function useEnv(env: Record<string, string | undefined>): void {
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  const open = (): Promise<SecretStore> => openSecretStore(process.env, scratch);

  /** What the Secret Service itself holds for an account, read with libsecret's secret-tool. */
  function secretToolLookup(account: string): string {
    const result = spawnSync('secret-tool', ['lookup', 'service', 'datablast-aws', 'username', account], {
      env: { ...process.env, ...keyring.env },
    });
    return result.stdout.toString();
  }

  async function failure(
    promise: Promise<unknown>,
    pattern: RegExp,
    boundMs = 10_000,
  ): Promise<{ error: SecretStoreError; elapsed: number }> {
    const started = performance.now();
    const error = await promise.then(
      (value) => value,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(SecretStoreError);
    expect((error as SecretStoreError).exitCode).toBe(ExitCode.secretStore);
    expect((error as SecretStoreError).message).toMatch(pattern);
    expect(elapsed).toBeLessThan(boundMs);
    return { error: error as SecretStoreError, elapsed };
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'dbaws-keychain-'));
    keyring = await startKeyring();
    useEnv(keyring.env);
  });

  // Each test starts from an empty keyring, whatever the one before it left behind when it failed.
  afterEach(async () => {
    const secrets = await open();
    for (const account of await secrets.list()) await secrets.delete(account);
  });

  afterAll(async () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    useEnv(saved);
    await keyring?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('stores, reads, overwrites, lists and deletes real secrets in the Secret Service', async () => {
    const secrets = await open();
    expect(secrets.kind).toBe('keychain');
    const accounts = [
      'AWS Production',
      'Производство ü 生产',
      `quotes "double" & 'single'`,
      'slash/back\\slash',
      'rotate:AWS Production:pending',
    ];
    for (const [i, account] of accounts.entries())
      await secrets.set(account, { ...pair, accessKeyId: `AKIAIOSFODNN7EXAMP${String(i).padStart(2, '0')}` });
    for (const [i, account] of accounts.entries()) {
      expect(await secrets.get(account)).toEqual({
        ...pair,
        accessKeyId: `AKIAIOSFODNN7EXAMP${String(i).padStart(2, '0')}`,
      });
    }
    // Pinned to the Secret Service (not the kernel keyring): libsecret sees the very entry.
    expect(JSON.parse(secretToolLookup('AWS Production'))).toEqual({ ...pair, accessKeyId: 'AKIAIOSFODNN7EXAMP00' });
    expect(await secrets.list()).toEqual([...accounts].sort());
    for (const account of accounts) expect(await secrets.has(account)).toBe(true);
    expect(await secrets.has('never stored')).toBe(false);

    await secrets.set('AWS Production', { ...pair, secretAccessKey: 'x'.repeat(40) });
    expect((await secrets.get('AWS Production'))?.secretAccessKey).toBe('x'.repeat(40));
    expect(await (await open()).get('AWS Production')).toEqual({ ...pair, secretAccessKey: 'x'.repeat(40) });

    expect(await secrets.get('never stored')).toBeUndefined();
    for (const account of accounts) expect(await secrets.delete(account)).toBe(true);
    expect(await secrets.delete('AWS Production')).toBe(false);
    expect(await secrets.get('AWS Production')).toBeUndefined();
    expect(await secrets.has('AWS Production')).toBe(false);
    expect(secretToolLookup('AWS Production')).toBe('');
    expect(await secrets.list()).toEqual([]);
  });

  it('finds, replaces and deletes the entries @napi-rs/keyring wrote (earlier versions), and that library finds ours', async () => {
    const napi = createRequire(import.meta.url)('@napi-rs/keyring') as typeof import('@napi-rs/keyring');
    const theirs = (account: string) =>
      new napi.Entry('datablast-aws', account, { linux: { store: 'secret-service' } });
    theirs('written before').setPassword(JSON.stringify(pair));
    theirs('not a key pair').setPassword('hunter2');
    const secrets = await open();
    // An entry is there, whatever it holds: show reports it stored, and only a read says what is wrong with it.
    expect(await secrets.has('not a key pair')).toBe(true);
    await expect(secrets.get('not a key pair')).rejects.toThrow(/is not a datablast-aws access key/);
    expect(await secrets.delete('not a key pair')).toBe(true);
    expect(await secrets.get('written before')).toEqual(pair);
    expect(await secrets.list()).toEqual(['written before']);
    await secrets.set('written before', { ...pair, secretAccessKey: 'y'.repeat(40) });
    expect(JSON.parse(theirs('written before').getPassword()!)).toEqual({ ...pair, secretAccessKey: 'y'.repeat(40) });
    expect(await secrets.list()).toEqual(['written before']);
    await secrets.set('written now', pair);
    expect(JSON.parse(theirs('written now').getPassword()!)).toEqual(pair);
    expect(await secrets.delete('written before')).toBe(true);
    expect(theirs('written before').getPassword()).toBeNull();
    expect(theirs('written now').deletePassword()).toBe(true);
    expect(await secrets.list()).toEqual([]);
  });

  it('answers each call in milliseconds', async () => {
    const secrets = await open();
    await secrets.set('timing', pair);
    const timings: Record<string, number> = {};
    for (const [name, call] of [
      ['set', () => secrets.set('timing', pair)],
      ['get', () => secrets.get('timing')],
      ['list', () => secrets.list()],
      ['delete', () => secrets.delete('timing')],
    ] as const) {
      const started = performance.now();
      await call();
      timings[name] = performance.now() - started;
    }
    console.log(
      `keychain latency (ms): ${Object.entries(timings)
        .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
        .join(', ')}`,
    );
    for (const ms of Object.values(timings)) expect(ms).toBeLessThan(1_000);
  });

  /** Runs one call in a fresh process with the keyring's environment plus `env`. */
  async function inFreshProcess(
    operation: string,
    account: string,
    env: Record<string, string | undefined>,
  ): Promise<WorkerResult> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...keyring.env };
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete childEnv[name];
      else childEnv[name] = value;
    }
    const started = performance.now();
    const { code, stdout, stderr } = await runTsWorker(worker, [operation, account], childEnv);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return { ...(JSON.parse(stdout) as WorkerResult), processMs: Math.round(performance.now() - started) };
  }

  function expectExit6(result: WorkerResult, pattern: RegExp): void {
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ name: 'SecretStoreError', exitCode: ExitCode.secretStore });
    expect(result.error!.message).toMatch(pattern);
    expect(result.error!.hint).toMatch(/DATABLAST_AWS_SECRET_STORE=file/);
    expect(result.elapsedMs).toBeLessThan(10_000);
  }

  it.each(['get', 'set', 'delete', 'list'])(
    'fails %s with exit 6 "no keychain service is running" when D-Bus is unreachable',
    async (operation) => {
      const result = await inFreshProcess(operation, 'AWS Production', {
        DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
      });
      // The message, not the clock, proves it did not wait out the deadline: a timeout says so in other words
      // (wall-time bounds fail on a loaded machine; speed is the bench's to measure).
      expectExit6(result, /no keychain service is running/);
      expect(result.error!.message).not.toMatch(/did not answer|timed out/);
      console.log(`D-Bus unreachable, ${operation}: exit 6 in ${result.elapsedMs} ms`);
    },
  );

  it('fails with exit 6 when no D-Bus address is set at all', async () => {
    const result = await inFreshProcess('get', 'AWS Production', { DBUS_SESSION_BUS_ADDRESS: undefined });
    expectExit6(result, /no keychain service is running/);
    console.log(`no DBUS_SESSION_BUS_ADDRESS: exit 6 in ${result.elapsedMs} ms`);
  });

  it('fails with exit 6 when the bus runs but nothing provides the Secret Service', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-bus-'));
    const config = join(dir, 'bus.conf');
    writeFileSync(
      config,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${join(dir, 'bus')}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`,
    );
    const bus: ChildProcess = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const address = await new Promise<string>((resolve) =>
        bus.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())),
      );
      for (const operation of ['get', 'list']) {
        const result = await inFreshProcess(operation, 'AWS Production', { DBUS_SESSION_BUS_ADDRESS: address });
        expectExit6(result, /no keychain service is running/);
        console.log(`bus without a Secret Service, ${operation}: exit 6 in ${result.elapsedMs} ms`);
      }
    } finally {
      bus.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with exit 6 within seconds when the bus daemon is frozen (accepts, never answers)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-frozen-'));
    const sockets: Socket[] = [];
    const server: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(join(dir, 'bus'), resolve));
    try {
      const result = await inFreshProcess('get', 'AWS Production', {
        DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}`,
      });
      expectExit6(result, /did not answer/);
      expect(result.processMs).toBeLessThan(10_000);
      console.log(`frozen D-Bus daemon: exit 6 in ${result.elapsedMs} ms (process ${result.processMs} ms)`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to store into a keyring that was never unlocked, saying it is locked', async () => {
    const locked = await startKeyring({ locked: true });
    try {
      const result = await inFreshProcess('set', 'AWS Production', locked.env);
      expectExit6(result, /the keychain is locked/);
      expect(result.error!.hint).toMatch(/Unlock it/);
    } finally {
      await locked.stop();
    }
  });

  it('fails with exit 6 within seconds when the Secret Service hangs (daemon stopped)', async () => {
    const secrets = await open();
    await secrets.set('hang', pair);
    const daemon = keyring.ownerPid()!;
    process.kill(daemon, 'SIGSTOP');
    try {
      for (const call of [
        () => secrets.get('hang'),
        () => secrets.set('hang', pair),
        () => secrets.delete('hang'),
        () => secrets.list(),
      ]) {
        const { error, elapsed } = await failure(call(), /did not answer/);
        expect(error.hint).toMatch(/unlock or restart it/);
        console.log(`stopped Secret Service: exit 6 in ${elapsed.toFixed(0)} ms`);
      }
      // A process whose very first call meets the hung service (libdbus connects in the entry's constructor).
      const fresh = await inFreshProcess('get', 'hang', {});
      expectExit6(fresh, /did not answer/);
      console.log(`stopped Secret Service, fresh process: exit 6 in ${fresh.elapsedMs} ms`);
    } finally {
      process.kill(daemon, 'SIGCONT');
    }
    expect(await secrets.get('hang')).toEqual(pair);
    expect(await secrets.delete('hang')).toBe(true);
  });

  it('repeats a call the Secret Service dropped by crashing, and gets the answer from the daemon the bus starts again', async () => {
    const secrets = await open();
    await secrets.set('crash', pair);
    // A daemon that dies holding the call, as gnome-keyring 42 did once in CI (an abort under many clients).
    const daemon = keyring.ownerPid()!;
    process.kill(daemon, 'SIGSTOP');
    const pending = inFreshProcess('get', 'crash', {});
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    process.kill(daemon, 'SIGKILL');
    const result = await pending;
    expect(result).toMatchObject({ ok: true, value: pair });
    const restarted = keyring.ownerPid();
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(daemon);
    console.log(`Secret Service crashed mid-call: answered by the restarted daemon in ${result.elapsedMs} ms`);
    expect(await secrets.delete('crash')).toBe(true);
  });

  it('reports a locked keyring as locked (exit 6), never as a missing secret', async () => {
    // A keyring of its own: the shared one stays unlocked for the clean-up and any test after this one.
    const shared = keyring;
    keyring = await startKeyring();
    useEnv(keyring.env);
    try {
      await lockedKeyring();
    } finally {
      await keyring.stop();
      keyring = shared;
      useEnv(keyring.env);
    }
  });

  async function lockedKeyring(): Promise<void> {
    const secrets = await open();
    await secrets.set('AWS Production', pair);
    await keyring.lock();
    for (const call of [
      () => secrets.get('AWS Production'),
      () => secrets.has('AWS Production'),
      () => secrets.list(),
      () => secrets.delete('AWS Production'),
      () => secrets.set('AWS Production', pair),
    ]) {
      const { error, elapsed } = await failure(call(), /the keychain is locked/);
      expect(error.hint).toMatch(/Unlock it/);
      expect(error.hint).toMatch(/DATABLAST_AWS_SECRET_STORE=file/);
      console.log(`locked keyring: exit 6 in ${elapsed.toFixed(0)} ms`);
    }
    for (const operation of ['get', 'list'])
      expectExit6(await inFreshProcess(operation, 'AWS Production', {}), /the keychain is locked/);
  }
});
