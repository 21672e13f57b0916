import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, SecretStoreError } from '../../../src/errors.js';
import {
  classifyKeychainError,
  keychainFailureKind,
  openKeychainStore,
  sessionBusSocket,
  unixSocketPath,
} from '../../../src/store/keychain.js';

// The first eight were measured with @napi-rs/keyring 2.1.2 against gnome-keyring and libdbus here;
// the rest are strings of its native binary (keyring-rs, dbus-secret-service, secret-service) or macOS.
const measured: Array<[string, ReturnType<typeof keychainFailureKind>]> = [
  ['Platform failure: DBus error: Failed to connect to socket /nonexistent: No such file or directory', 'unavailable'],
  [
    'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead',
    'unavailable',
  ],
  [
    'Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files',
    'unavailable',
  ],
  [
    'Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.',
    'timeout',
  ],
  ["Couldn't access platform storage: Secret Service: unlock prompt was dismissed", 'locked'],
  ['Platform failure: DBus error: Message recipient disconnected from message bus without replying', 'disconnected'],
  ['zbus error: org.freedesktop.Secret.Error.IsLocked: Cannot get secret of a locked object', 'locked'],
  ["Couldn't access platform storage: Secret Service: no result found", 'locked'],
  ["Couldn't access platform storage: Secret Service: object locked", 'locked'],
  ['SS error: prompt dismissed', 'locked'],
  ['SS error: connection closed before prompt completed', 'locked'],
  ['Platform failure: No DBus session or Secret Service provider found', 'unavailable'],
  ['no secret service provider or dbus session found', 'unavailable'],
  ['Entry is matched by 2 credentials: [..]', 'ambiguous'],
  ['Platform secure storage failure: User interaction is not allowed.', 'locked'],
  ['something nobody anticipated', 'other'],
];

describe('keychain failures', () => {
  it.each(measured)('%s is %s', (message, kind) => {
    expect(keychainFailureKind(new Error(message))).toBe(kind);
  });

  it('says a locked keychain is locked, and what to do, never that the secret is missing', () => {
    const error = classifyKeychainError(
      new Error("Couldn't access platform storage: Secret Service: unlock prompt was dismissed"),
      'read',
      'AWS Production',
    );
    expect(error).toBeInstanceOf(SecretStoreError);
    expect(error.exitCode).toBe(ExitCode.secretStore);
    expect(error.message).toBe(
      'could not read the secret of "AWS Production" from the keychain: the keychain is locked',
    );
    expect(error.hint).toMatch(/Unlock it/);
    expect(error.hint).toMatch(/DATABLAST_AWS_SECRET_STORE=file/);
  });

  it('says no keychain service is running when D-Bus or the Secret Service is missing', () => {
    const error = classifyKeychainError(
      new Error('Platform failure: DBus error: Failed to connect to socket /x: No such file or directory'),
      'store',
      'p',
    );
    expect(error.message).toMatch(/^could not store the secret of "p" in the keychain: no keychain service is running/);
    expect(error.hint).toMatch(/Start one/);
    expect(error.hint).toMatch(/DATABLAST_AWS_SECRET_STORE=file/);
  });

  it('says the keychain stopped while answering when the Secret Service crashed mid-call (again, after the one repeat)', () => {
    const error = classifyKeychainError(
      new Error('Platform failure: DBus error: Message recipient disconnected from message bus without replying'),
      'read',
      'p',
    );
    expect(error.message).toBe(
      'could not read the secret of "p" from the keychain: the keychain service stopped while answering, twice (it may have crashed)',
    );
    expect(error.hint).toMatch(/^Run the command again; .*gnome-keyring-daemon --replace/);
    expect(error.hint).toMatch(/DATABLAST_AWS_SECRET_STORE=file/);
  });

  it('says the keychain did not answer on a timeout', () => {
    const error = classifyKeychainError(new Error('DBus error: Did not receive a reply.'), 'list', undefined, 5_000);
    expect(error.message).toBe('could not list the secrets in the keychain: the keychain did not answer within 5 s');
  });
});

describe('a Secret Service that drops a call', () => {
  const dropped = 'Platform failure: DBus error: Message recipient disconnected from message bus without replying';

  /** A native module whose getPassword answers from `script`, one answer a call (an Error is thrown). */
  function scripted(script: Array<string | Error>): {
    keyring: typeof import('@napi-rs/keyring');
    calls: () => number;
  } {
    let calls = 0;
    class AsyncEntry {
      async getPassword(): Promise<string | undefined> {
        const answer = script[calls++];
        if (answer instanceof Error) throw answer;
        return answer;
      }
    }
    return { keyring: { AsyncEntry } as unknown as typeof import('@napi-rs/keyring'), calls: () => calls };
  }

  it('repeats the call once, and answers from the repeat', async () => {
    const { keyring, calls } = scripted([new Error(dropped), 'the secret']);
    const store = await openKeychainStore({ platform: 'darwin', keyring });
    await expect(store.get('prod')).resolves.toBe('the secret');
    expect(calls()).toBe(2);
  });

  it('gives up after the repeat with exit 6, saying the keychain stopped while answering', async () => {
    const { keyring, calls } = scripted([new Error(dropped), new Error(dropped), 'never asked']);
    const store = await openKeychainStore({ platform: 'darwin', keyring });
    const error = await store.get('prod').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretStoreError);
    expect((error as SecretStoreError).message).toMatch(/stopped while answering, twice/);
    expect(calls()).toBe(2);
  });

  it('never repeats any other failure (a locked keychain stays one call)', async () => {
    const { keyring, calls } = scripted([new Error('Secret Service: object locked'), 'never asked']);
    const store = await openKeychainStore({ platform: 'darwin', keyring });
    await expect(store.get('prod')).rejects.toThrow(/the keychain is locked/);
    expect(calls()).toBe(1);
  });
});

describe('unixSocketPath', () => {
  it.each([
    ['unix:path=/run/user/1000/bus', '/run/user/1000/bus'],
    ['unix:path=/tmp/dbus-WMM145KwND,guid=4baf2e69d3b0a487c16827f76b0acbfe', '/tmp/dbus-WMM145KwND'],
    ['unix:abstract=/tmp/dbus-abc,guid=1', '\0/tmp/dbus-abc'],
    ['unix:path=/tmp/with%20space', '/tmp/with space'],
    ['tcp:host=localhost,port=1234;unix:path=/second', '/second'],
    ['tcp:host=localhost,port=1234', undefined],
    ['launchd:env=DBUS_LAUNCHD_SESSION_BUS_SOCKET', undefined],
    ['', undefined],
  ])('finds the socket of %j', (address, path) => {
    expect(unixSocketPath(address)).toBe(path);
  });
});

describe('the Secret Service client against a bus that misbehaves', () => {
  let dir: string;
  let server: Server | undefined;
  const sockets: Socket[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dbaws-bus-'));
  });
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function listen(onConnection: (socket: Socket) => void): Promise<string> {
    const path = join(dir, 'bus');
    server = createServer((socket) => {
      sockets.push(socket);
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    return `unix:path=${path},guid=0123`;
  }

  async function failure(
    store: Awaited<ReturnType<typeof openKeychainStore>>,
  ): Promise<{ error: SecretStoreError; ms: number }> {
    const started = Date.now();
    const error = await store.get('prod').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretStoreError);
    expect((error as SecretStoreError).exitCode).toBe(ExitCode.secretStore);
    return { error: error as SecretStoreError, ms: Date.now() - started };
  }

  it('fails fast with exit 6 and "no keychain service is running" when nothing listens', async () => {
    const { error, ms } = await failure(
      await openKeychainStore({ platform: 'linux', busAddress: 'unix:path=/nonexistent' }),
    );
    expect(error.message).toMatch(
      /^could not read the secret of "prod" from the keychain: no keychain service is running/,
    );
    expect(ms).toBeLessThan(500);
  });

  it('says there is no D-Bus session when no address is set and no user bus runs', async () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = dir;
    try {
      const { error } = await failure(await openKeychainStore({ platform: 'linux', busAddress: undefined }));
      expect(error.message).toMatch(
        /no keychain service is running \(no D-Bus session: DBUS_SESSION_BUS_ADDRESS is not set/,
      );
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  it('finds the systemd user bus when no address is set (cron), and only when it exists', async () => {
    const address = await listen(() => undefined);
    expect(sessionBusSocket(undefined, { XDG_RUNTIME_DIR: dir })).toBe(unixSocketPath(address));
    expect(sessionBusSocket(undefined, { XDG_RUNTIME_DIR: join(dir, 'none') })).toBeUndefined();
    expect(sessionBusSocket('tcp:host=localhost,port=1', { XDG_RUNTIME_DIR: dir })).toBeUndefined();
  });

  it('fails with exit 6 within its bound when the bus accepts but never answers (a frozen bus)', async () => {
    const address = await listen(() => undefined);
    const { error, ms } = await failure(
      await openKeychainStore({ platform: 'linux', busAddress: address, timeoutMs: 300 }),
    );
    expect(error.message).toMatch(/the keychain did not answer within/);
    expect(ms).toBeLessThan(1_000);
  });

  it('fails with exit 6 when the bus refuses to authenticate us', async () => {
    const address = await listen((socket) => socket.once('data', () => socket.write('REJECTED EXTERNAL\r\n')));
    const { error } = await failure(await openKeychainStore({ platform: 'linux', busAddress: address }));
    expect(error.message).toMatch(/the message bus refused us: REJECTED EXTERNAL/);
  });

  it("fails with exit 6 at once when the bus announces a message over the protocol's 128 MiB limit (no waiting for it)", async () => {
    const header = Buffer.alloc(16);
    header.write('l', 0, 'latin1');
    header.writeUInt8(2, 1);
    header.writeUInt8(1, 3);
    header.writeUInt32LE(0xfffffff0, 4);
    header.writeUInt32LE(1, 8);
    const address = await listen((socket) =>
      socket.once('data', () => socket.write(Buffer.concat([Buffer.from('OK 0123456789abcdef\r\n'), header]))),
    );
    const { error, ms } = await failure(await openKeychainStore({ platform: 'linux', busAddress: address }));
    expect(error.message).toMatch(/over the protocol's limit/);
    expect(ms).toBeLessThan(1_000);
  });

  it('fails with exit 6 when the bus hangs up in the middle', async () => {
    const address = await listen((socket) => socket.once('data', () => socket.end()));
    const { error } = await failure(await openKeychainStore({ platform: 'linux', busAddress: address }));
    expect(error.message).toMatch(/closed the connection/);
  });
});
