import { main } from '../../src/main.js';
import type { ContextParts } from '../../src/ports.js';
import { bufferedIO } from '../../src/ui/io.js';
import { MemorySecretStore } from '../fakes/memory-secret-store.js';
import { MemoryConnectionStore } from '../fakes/memory-connection-store.js';
import { FakeAws } from '../fakes/fake-aws.js';
import { FixedClock } from '../fakes/fixed-clock.js';
import { ScriptedPrompter } from '../fakes/scripted-prompter.js';
import { MemoryJournals, MemoryRotationLocks } from '../fakes/memory-journal.js';

/** The world a command test runs in: every port a fake you can inspect. */
export interface FakeWorld {
  secrets: MemorySecretStore;
  connections: MemoryConnectionStore;
  aws: FakeAws;
  clock: FixedClock;
  prompter: ScriptedPrompter;
  env: Record<string, string | undefined>;
  journals: MemoryJournals;
  locks: MemoryRotationLocks;
  /** Builds consumers instead of the real ones (consumers/open.ts) when set. */
  consumer?: ContextParts['consumer'];
}

/** A fresh fake world. */
export function fakeWorld(overrides: Partial<FakeWorld> = {}): FakeWorld {
  const clock = overrides.clock ?? new FixedClock();
  return {
    secrets: overrides.secrets ?? new MemorySecretStore(),
    connections: overrides.connections ?? new MemoryConnectionStore(),
    aws: overrides.aws ?? new FakeAws({ now: () => clock.now() }),
    clock,
    prompter: overrides.prompter ?? new ScriptedPrompter(),
    journals: overrides.journals ?? new MemoryJournals(),
    locks: overrides.locks ?? new MemoryRotationLocks(),
    env: overrides.env ?? {},
    ...(overrides.consumer ? { consumer: overrides.consumer } : {}),
  };
}

/** Runs the whole CLI (parsing, errors, exit code) in-process over a fake world. */
export async function runCli(
  argv: string[],
  world: FakeWorld = fakeWorld(),
  options: { stdin?: string; tty?: boolean } = {},
) {
  const io = bufferedIO(options);
  const parts: Partial<ContextParts> = {
    io,
    env: world.env,
    clock: world.clock,
    secrets: async () => world.secrets,
    connections: async () => world.connections,
    aws: async () => world.aws,
    prompter: async () => world.prompter,
    journals: async () => world.journals,
    locks: async () => world.locks,
    ...(world.consumer ? { consumer: world.consumer } : {}),
  };
  const exitCode = await main(['node', 'datablast-aws', ...argv], parts);
  return { exitCode, stdout: io.stdout, stderr: io.stderr, world };
}
