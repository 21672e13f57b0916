import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private D-Bus session with an unlocked gnome-keyring: a real Secret Service for one test file. */
export interface Keyring {
  /** Environment for a process that should use this keyring (DBUS_SESSION_BUS_ADDRESS, XDG_*). */
  env: Record<string, string>;
  /** The gnome-keyring-daemon's pid (e.g. to SIGSTOP it and simulate a wedged Secret Service). */
  pid: number;
  /** Locks every collection, as a screen lock or a fresh login without unlocking would. */
  lock(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts dbus-daemon and gnome-keyring-daemon (Debian packages dbus, gnome-keyring); fails, never skips, when they are missing. */
export async function startKeyring(options: { locked?: boolean } = {}): Promise<Keyring> {
  for (const tool of ['dbus-daemon', 'gnome-keyring-daemon']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed: apt-get install dbus gnome-keyring`);
  }
  const home = mkdtempSync(join(tmpdir(), 'dbaws-keyring-'));
  const runtime = join(home, 'run');
  spawnSync('mkdir', ['-p', runtime, join(home, 'data')]);
  chmodSync(runtime, 0o700);
  const baseEnv = { ...process.env, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: runtime, HOME: home };
  const bus: ChildProcess = spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', '--print-address=1'], { env: baseEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    bus.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim().split('\n')[0]!);
    });
    bus.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    setTimeout(() => reject(new Error('dbus-daemon did not print its address in 10 s')), 10_000).unref();
  });
  const env = { XDG_DATA_HOME: baseEnv.XDG_DATA_HOME, XDG_RUNTIME_DIR: runtime, DBUS_SESSION_BUS_ADDRESS: address };
  const daemonArgs = ['--foreground', options.locked ? '--start' : '--unlock', '--components=secrets'];
  const daemon: ChildProcess = spawn('gnome-keyring-daemon', daemonArgs, { env: { ...baseEnv, ...env }, stdio: ['pipe', 'ignore', 'ignore'] });
  if (!options.locked) daemon.stdin!.write('test-password');
  daemon.stdin!.end();
  // The daemon is ready once it owns org.freedesktop.secrets on our private bus.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = spawnSync('dbus-send', ['--session', '--dest=org.freedesktop.DBus', '--print-reply', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'], { env: { ...baseEnv, ...env } });
    if (probe.stdout?.toString().includes('boolean true')) break;
    if (daemon.exitCode !== null || Date.now() > deadline) {
      bus.kill('SIGKILL');
      daemon.kill('SIGKILL');
      throw new Error('gnome-keyring-daemon did not register the Secret Service within 15 s');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    env,
    pid: daemon.pid!,
    lock: async () => {
      const result = spawnSync('dbus-send', ['--session', '--dest=org.freedesktop.secrets', '--print-reply', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/collection/login'], { env: { ...baseEnv, ...env } });
      if (result.status !== 0) throw new Error(`locking the keyring failed: ${result.stderr?.toString()}`);
    },
    stop: async () => {
      daemon.kill('SIGTERM');
      bus.kill('SIGTERM');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
