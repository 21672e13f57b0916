import { expect } from 'vitest';
import type {
  Aws,
  AwsSession,
  ConnectionStore,
  Context,
  GlobalOptions,
  Iam,
  Journals,
  SecretStore,
  Sts,
} from '../../../src/ports.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import type { AccessKeyPair, Connection, Credentials } from '../../../src/domain/connection.js';
import { pendingAccount, type RotationJournal } from '../../../src/domain/rotation.js';
import { CliError } from '../../../src/errors.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { rotate, type RotateOptions, type RotateOutcome } from '../../../src/commands/rotate.js';
import { fakeWorld, type FakeWorld } from '../../support/run-cli.js';

/** The connection every rotation test rotates, and its IAM user. */
export const NAME = 'prod';
export const USER = 'datablast';

/** A fake world (in-memory journals and locks) with the keys the rotation tests follow. */
export interface RotationWorld extends FakeWorld {
  /** The key each connection started with. */
  original: Map<string, AccessKeyPair>;
  /** Keys the test planted that the tool must never touch. */
  foreign: Set<string>;
  /** Inactive keys the test planted that nobody holds: allowed by the invariant, gone once converged. */
  stale: Set<string>;
}

/** A world with user `datablast` and connection `prod` holding its one key, 120 days old. */
export function rotationWorld(options: { connections?: string[]; keyCreatedAt?: string | null } = {}): RotationWorld {
  const world: RotationWorld = {
    ...fakeWorld(),
    original: new Map(),
    foreign: new Set(),
    stale: new Set(),
  };
  const created = '2026-07-31T12:00:00.000Z';
  for (const [i, name] of (options.connections ?? [NAME]).entries()) {
    const user = i === 0 ? USER : `${USER}-${i}`;
    world.aws.seedUser(user);
    const pair = world.aws.issueKey(user, 0, created);
    world.secrets.entries.set(name, pair);
    world.original.set(name, pair);
    const connection: Connection = {
      name,
      accessKeyId: pair.accessKeyId,
      region: 'eu-west-1',
      createdAt: created,
      userName: user,
      accountId: world.aws.accountId,
    };
    if (options.keyCreatedAt !== null) connection.keyCreatedAt = options.keyCreatedAt ?? created;
    world.connections.entries.set(name, connection);
  }
  return world;
}

/** The user a connection of `rotationWorld` belongs to. */
export function userOf(world: RotationWorld, name: string): string {
  return world.connections.entries.get(name)?.userName ?? USER;
}

/** The journal of a connection, if any. */
export function journalOf(world: RotationWorld, name = NAME): RotationJournal | undefined {
  return world.journals.get(name);
}

/** Every call made through the ports, as "signer service:method" (signer: admin, or the key id). */
export type CallLog = string[];

/** Decides, for the Nth port call (1-based), whether to crash before it, after it, or to fail it once. */
export interface Fault {
  /** The Nth port call of the run (1-based)... */
  at?: number;
  /** ...or the Nth (`occurrence`, default 1) call whose label ends with `on`, e.g. "secrets:set" or "iam:createAccessKey". */
  on?: string;
  occurrence?: number;
  /** crash: this and every later port call fail, as in a killed process; fail: this call fails once (fail-after: after taking effect, like a lost response). */
  mode: 'crash-before' | 'crash-after' | 'fail' | 'fail-after';
  /** For `fail`: the error to throw (default: a SecretStore-like or service failure given by the caller). */
  error?: () => Error;
}

/** Counts port calls and applies a fault; after a crash every port call fails, as in a dead process. */
export class Ports {
  calls = 0;
  crashed = false;
  readonly log: CallLog = [];
  /** The journal text at the instant of the crash, to prove nothing was written after it. */
  journalAtCrash: string | undefined | null = null;

  constructor(
    private readonly world: RotationWorld,
    private readonly fault?: Fault,
  ) {}

  private async call<T>(label: string, work: () => Promise<T>): Promise<T> {
    if (this.crashed) throw new Error(`simulated crash: ${label} after the process died`);
    this.calls += 1;
    this.log.push(label);
    const hit = this.hits(label);
    if (hit && this.fault!.mode === 'crash-before') this.crash();
    if (hit && this.fault!.mode === 'fail') throw this.fault!.error?.() ?? new Error(`injected failure of ${label}`);
    let result: T;
    try {
      result = await work();
    } finally {
      // The process dies after the call, whatever the call's outcome was.
      if (hit && this.fault!.mode === 'crash-after') this.crash();
    }
    if (hit && this.fault!.mode === 'fail-after')
      throw this.fault!.error?.() ?? new Error(`injected failure after ${label}`);
    return result;
  }

  private matched = 0;

  private hits(label: string): boolean {
    const fault = this.fault;
    if (!fault) return false;
    if (fault.at !== undefined) return fault.at === this.calls;
    if (fault.on !== undefined && label.endsWith(fault.on)) {
      this.matched += 1;
      return this.matched === (fault.occurrence ?? 1);
    }
    return false;
  }

  private crash(): never {
    this.crashed = true;
    this.journalAtCrash = this.world.journals.texts.get(NAME);
    throw new Error('simulated crash');
  }

  private wrap<T extends object>(target: T, prefix: string): T {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const value = Reflect.get(t, prop, receiver) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) =>
          this.call(`${prefix}:${prop}`, () => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args));
      },
    });
  }

  private session(session: AwsSession, signer: string): AwsSession {
    return { sts: this.wrap<Sts>(session.sts, `${signer} sts`), iam: this.wrap<Iam>(session.iam, `${signer} iam`) };
  }

  aws(): Aws {
    const aws = this.world.aws;
    return {
      admin: async () => this.session(await aws.admin(), 'admin'),
      as: async (credentials: Credentials) => this.session(await aws.as(credentials), credentials.accessKeyId),
    };
  }

  secrets(): SecretStore {
    return this.wrap<SecretStore>(this.world.secrets, 'secrets');
  }

  connections(): ConnectionStore {
    return this.wrap<ConnectionStore>(this.world.connections, 'connections');
  }
}

/** What one in-process rotate run produced. */
export interface RunResult {
  result?: RotateOutcome;
  error?: unknown;
  exitCode: number;
  stdout: string;
  stderr: string;
  ports: Ports;
  ctx: Context;
}

/** Runs `rotate` in-process over the world (through counting ports), as main would, and reports exit code and streams. */
export async function rotateIn(
  world: RotationWorld,
  opts: Partial<RotateOptions> = {},
  options: { fault?: Fault; json?: boolean; tty?: boolean; journals?: Journals } = {},
): Promise<RunResult> {
  const io = bufferedIO({ tty: options.tty ?? false });
  const ports = new Ports(world, options.fault);
  const globals: GlobalOptions = defaultGlobals({ json: options.json ?? false });
  const ctx = createContext(globals, {
    io,
    env: world.env,
    clock: world.clock,
    secrets: async () => ports.secrets(),
    connections: async () => ports.connections(),
    aws: async () => ports.aws(),
    prompter: async () => world.prompter,
    journals: async () => options.journals ?? world.journals,
    locks: async () => world.locks,
    ...(world.consumer ? { consumer: world.consumer } : {}),
  });
  const full: RotateOptions = { all: false, concurrency: 4, keepOld: false, admin: false, dryRun: false, ...opts };
  if (!full.all && full.name === undefined) full.name = NAME;
  try {
    const result = await rotate(ctx, full);
    return { result, exitCode: ctx.exitCode, stdout: io.stdout, stderr: io.stderr, ports, ctx };
  } catch (error) {
    const exitCode = error instanceof CliError ? error.exitCode : 1;
    return {
      error,
      exitCode,
      stdout: io.stdout,
      stderr: `${io.stderr}error: ${(error as Error).message}\n${error instanceof CliError && error.hint ? `${error.hint}\n` : ''}`,
      ports,
      ctx,
    };
  }
}

/**
 * The invariant of the protocol, true at every instant (after any crash): the connection's stored
 * key exists in AWS with that secret and is active, and every key the user has in IAM either has
 * its secret in the store, or is announced by the journal (the old key being retired, or a new key
 * whose creation the journal announced: the next run deletes or adopts it), or was kept inactive
 * by --keep-old, or was planted by the test as foreign.
 */
export function assertInvariant(world: RotationWorld, name = NAME): void {
  const stored = world.secrets.entries.get(name);
  expect(stored, `the secret store holds a key for ${name}`).toBeDefined();
  const key = world.aws.keys.get(stored!.accessKeyId);
  expect(key, `the stored key ${stored!.accessKeyId} of ${name} exists in IAM`).toBeDefined();
  expect(key!.secretAccessKey, "the stored secret is the key's secret").toBe(stored!.secretAccessKey);
  expect(key!.status, 'the stored key is active').toBe('Active');
  const heldSecrets = new Map([...world.secrets.entries.values()].map((p) => [p.accessKeyId, p.secretAccessKey]));
  const journal = journalOf(world, name);
  const previous = world.connections.entries.get(name)?.previousAccessKeyIds ?? [];
  for (const k of world.aws.keysOf(userOf(world, name))) {
    if (heldSecrets.get(k.accessKeyId) === k.secretAccessKey) continue;
    if (world.foreign.has(k.accessKeyId) || world.stale.has(k.accessKeyId)) continue;
    // The old key being retired, or a new key the journal announced (the next run deletes or adopts it).
    if (journal && (k.accessKeyId === journal.oldAccessKeyId || !journal.keysBefore.includes(k.accessKeyId))) continue;
    if (k.status === 'Inactive' && previous.includes(k.accessKeyId)) continue;
    expect.fail(
      `IAM holds key ${k.accessKeyId} (${k.status}) of ${userOf(world, name)} whose secret nobody holds (journal: ${journal?.phase ?? 'none'})`,
    );
  }
}

/**
 * After a successful run: the invariant, no journal, no pending entry, the metadata names the stored
 * key, the key was rotated, and IAM holds exactly the stored key (plus the old one, inactive, with --keep-old).
 */
export function assertConverged(
  world: RotationWorld,
  name = NAME,
  options: { keepOld?: boolean; rotated?: boolean } = {},
): void {
  assertInvariant(world, name);
  expect(journalOf(world, name), 'no journal is left').toBeUndefined();
  expect(world.secrets.entries.has(pendingAccount(name)), 'no pending entry is left').toBe(false);
  const stored = world.secrets.entries.get(name)!;
  const connection = world.connections.entries.get(name)!;
  expect(connection.accessKeyId, 'the metadata names the stored key').toBe(stored.accessKeyId);
  const original = world.original.get(name)!;
  if (options.rotated !== false) {
    expect(stored.accessKeyId, 'the key was rotated').not.toBe(original.accessKeyId);
    expect(connection.previousAccessKeyIds).toContain(original.accessKeyId);
    expect(connection.lastRotatedAt).toBeDefined();
  }
  const keys = world.aws.keysOf(userOf(world, name)).filter((k) => !world.foreign.has(k.accessKeyId));
  const expected = [stored.accessKeyId];
  if (options.keepOld && stored.accessKeyId !== original.accessKeyId) expected.push(original.accessKeyId);
  expect(keys.map((k) => k.accessKeyId).sort()).toEqual(expected.sort());
  for (const k of keys) if (k.accessKeyId !== stored.accessKeyId) expect(k.status).toBe('Inactive');
}
