import type { Clock, Context, ContextParts, GlobalOptions, IO } from './ports.js';
import { lazy } from './lazy.js';
import { interruptibleSleep } from './signals.js';

/** The real clock. */
export const systemClock: Clock = {
  now: () => new Date(),
  // Ctrl-C ends a sleep with a CancelledError, so that waiting work can undo its step (signals.ts).
  sleep: (ms) => interruptibleSleep(ms),
};

/** The global options when none is given (main resolves the real ones from argv and the environment). */
export function defaultGlobals(overrides: Partial<GlobalOptions> = {}): GlobalOptions {
  return {
    json: false,
    input: false,
    color: false,
    profile: undefined,
    region: undefined,
    endpointUrl: undefined,
    debug: false,
    ...overrides,
  };
}

/**
 * Builds the context: every port is created lazily, and each adapter's library is
 * loaded with `await import()` on first use, so `--help` and `list` never load the AWS SDK.
 */
export function createContext(
  globals: GlobalOptions,
  parts: Partial<ContextParts> & { io: IO; env: Record<string, string | undefined> },
): Context {
  const { io, env } = parts;
  const clock = parts.clock ?? systemClock;
  // DATABLAST_AWS_SECRET_STORE=aws-secrets-manager: one adapter serves both the secrets and the metadata.
  const shared =
    env.DATABLAST_AWS_SECRET_STORE === 'aws-secrets-manager'
      ? lazy(async () => (await import('./store/open-stores.js')).openSharedStore(ctx))
      : undefined;
  const connections =
    parts.connections ??
    (shared
      ? async () => (await shared()).connections
      : lazy(async () => (await import('./store/connections.js')).openConnectionStore(env)));
  const ctx: Context = {
    io,
    env,
    globals,
    clock,
    exitCode: 0,
    connections,
    prompter: parts.prompter ?? lazy(async () => (await import('./ui/prompts.js')).inquirerPrompter(ctx)),
    secrets:
      parts.secrets ??
      (shared ? async () => (await shared()).secrets : undefined) ??
      lazy(async () => (await import('./store/secret-store.js')).openSecretStore(env, (await connections()).dir)),
    // A shared store keeps the journals and locks itself, so that every host sees one rotation.
    journals:
      parts.journals ??
      lazy(
        async () =>
          (shared ? (await shared()).journals : undefined) ??
          (await import('./store/journal.js')).fileJournals((await connections()).dir),
      ),
    locks:
      parts.locks ??
      lazy(
        async () =>
          (shared ? (await shared()).locks : undefined) ??
          (await import('./store/journal.js')).fileRotationLocks((await connections()).dir),
      ),
    aws: parts.aws ?? lazy(async () => (await import('./aws/gateways.js')).sdkAws(ctx)),
    stores: parts.stores ?? (async (kind) => (await import('./store/open-stores.js')).openStores(ctx, kind)),
    consumer:
      parts.consumer ??
      (async (record, options) => (await import('./consumers/open.js')).openConsumer(ctx, record, options)),
  };
  return ctx;
}
