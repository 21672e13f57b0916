import type { Command } from 'commander';
import type { Context, GlobalOptions } from '../../../src/ports.js';
import { createContext } from '../../../src/context.js';
import type { AccessKeyPair, Connection } from '../../../src/domain/connection.js';
import { bufferedIO } from '../../../src/ui/io.js';
import type { FakeWorld } from '../../support/run-cli.js';

/** AWS's documented example pair: the only real-looking key material tests may use. */
export const EXAMPLE_ID = 'AKIAIOSFODNN7EXAMPLE';
export const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const defaults: GlobalOptions = {
  json: false,
  input: false,
  color: false,
  profile: undefined,
  region: undefined,
  endpointUrl: undefined,
  debug: false,
};

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
