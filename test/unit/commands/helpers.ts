import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Context, GlobalOptions, Terminal } from '../../../src/ports.js';
import { specOf } from '../../../src/domain/consumer.js';
import { datablastConsumer } from '../../../src/consumers/datablast.js';
import { execConsumer } from '../../../src/consumers/exec.js';
import { MemoryConnectionStore } from '../../fakes/memory-connection-store.js';
import { createContext, defaultGlobals } from '../../../src/context.js';
import type { AccessKeyPair, Connection } from '../../../src/domain/connection.js';
import { bufferedIO } from '../../../src/ui/io.js';
import { fakeWorld, type FakeWorld } from '../../support/run-cli.js';

/** AWS's documented example pair: the only real-looking key material tests may use. */
export const EXAMPLE_ID = 'AKIAIOSFODNN7EXAMPLE';
export const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const defaults: GlobalOptions = defaultGlobals();

class Captured extends Error {}

/**
 * Parses argv with a command's Commander wiring, its run function swapped for one that records
 * the options (cli/cli's "argv → options" tests). Throws what the wiring throws (guards).
 */
export async function captureOptions<O>(
  make: (ctx: Context, run: (ctx: Context, opts: O) => Promise<never>) => Command,
  argv: string[],
  globals: Partial<GlobalOptions> = {},
): Promise<O> {
  const ctx = createContext({ ...defaults, ...globals }, { io: bufferedIO(), env: {} });
  const seen: O[] = [];
  const command = make(ctx, async (_ctx, opts) => {
    seen.push(opts);
    throw new Captured();
  });
  command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    await command.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (!(error instanceof Captured)) throw error;
  }
  if (seen.length !== 1) throw new Error('the run function was not called');
  return seen[0]!;
}

/** Seeds a working connection: an IAM user with a key in the fake AWS, its secret and its metadata. */
export async function seedConnection(
  world: FakeWorld,
  name: string,
  extra: Partial<Connection> = {},
): Promise<AccessKeyPair> {
  const userName = extra.userName ?? 'datablast';
  if (!world.aws.users.has(userName)) world.aws.seedUser(userName);
  const pair = world.aws.issueKey(userName, 0);
  await world.secrets.set(name, pair);
  await world.connections.put({
    name,
    accessKeyId: pair.accessKeyId,
    accountId: world.aws.accountId,
    arn: `arn:aws:iam::${world.aws.accountId}:user/${userName}`,
    userName,
    region: 'eu-west-1',
    createdAt: world.clock.now().toISOString(),
    ...extra,
  });
  return pair;
}

/** Fails when the secret shows up in either stream. */
export function leaks(result: { stdout: string; stderr: string }, secret: string): string[] {
  return [result.stdout.includes(secret) && 'stdout', result.stderr.includes(secret) && 'stderr'].filter(
    (s): s is string => Boolean(s),
  );
}

/** A terminal that plays back keys and records what was written. */
export class ScriptedTerminal implements Terminal {
  written = '';
  constructor(private readonly keys: string[]) {}
  write(text: string): void {
    this.written += text;
  }
  async readKey(): Promise<string> {
    const key = this.keys.shift();
    if (key === undefined) throw new Error('no more keys');
    return key;
  }
}

/**
 * A fake world whose in-memory connection store has a real directory (for the rotation lock a hand-off
 * takes). With `terminal`, the datablast consumer is interactive on it (asking the world's prompter), and
 * exec: consumers are the real ones; without, every consumer is the real one (datablast pending off a TTY).
 */
export function handOffWorld(terminal?: ScriptedTerminal): FakeWorld {
  const connections = new MemoryConnectionStore();
  Object.defineProperty(connections, 'dir', { value: mkdtempSync(join(tmpdir(), 'dbaws-handoff-')) });
  const world = fakeWorld({ connections });
  if (terminal)
    world.consumer = async (record, options) => {
      const spec = specOf(record);
      if (spec.kind === 'datablast')
        return datablastConsumer({
          interactive: true,
          terminal: () => terminal,
          prompter: async () => world.prompter,
          copy: async () => undefined,
        });
      if (spec.kind === 'exec')
        return execConsumer(spec.command, { env: world.env, timeoutMs: options?.execTimeoutMs });
      throw new Error(`no fake for ${record.spec}`);
    };
  return world;
}
