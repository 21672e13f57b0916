import type { Clock, ConnectionStore, Consumer, ConsumerOptions, DeliveryOutcome } from '../ports.js';
import type { AccessKeyPair } from '../domain/connection.js';
import { withState, type ConsumerRecord, type ConsumerState } from '../domain/consumer.js';
import { redact } from '../domain/redact.js';
import { ConfigError } from '../errors.js';

/** One consumer's hand-off as it went: the record's new state plus what to tell a person. */
export interface HandOffEntry {
  record: ConsumerRecord & { state: ConsumerState };
  outcome: DeliveryOutcome;
}

/** What a hand-off needs: the metadata store (each outcome is saved at once), the clock, and the consumers. */
export interface HandOffDeps {
  connections: ConnectionStore;
  clock: Clock;
  consumer: (record: ConsumerRecord, options?: ConsumerOptions) => Promise<Consumer>;
  /** Told before each consumer is handed the key (progress lines). */
  onStart?: (record: ConsumerRecord) => void;
  options?: ConsumerOptions;
}

/**
 * Hands `pair` to each of the connection's consumers that `select` picks, one after the other, saving each
 * outcome in the connection's metadata as soon as it is known: a run stopped half-way keeps what it achieved.
 * The caller holds the connection's rotation lock. A consumer's own failure is an outcome, not an exception.
 */
export async function handOff(
  deps: HandOffDeps,
  name: string,
  pair: AccessKeyPair,
  select: (record: ConsumerRecord) => boolean = () => true,
): Promise<HandOffEntry[]> {
  const entries: HandOffEntry[] = [];
  const initial = await current(deps.connections, name);
  for (const record of initial.consumers ?? []) {
    if (!select(record)) continue;
    deps.onStart?.(record);
    const consumer = await deps.consumer(record, deps.options);
    const outcome = await consumer.deliver(initial, pair);
    const state = stateFor(outcome, record.state, pair.accessKeyId, deps.clock.now().toISOString());
    // Re-read before writing: only this consumer's state changes, whatever else changed meanwhile.
    const fresh = await current(deps.connections, name);
    await deps.connections.put({ ...fresh, consumers: withState(fresh.consumers ?? [], record.spec, state) });
    entries.push({ record: { ...record, state }, outcome });
  }
  return entries;
}

/** The state a delivery outcome leaves a consumer in; a repeated pending keeps the time it began. */
export function stateFor(
  outcome: DeliveryOutcome,
  previous: ConsumerState | undefined,
  accessKeyId: string,
  now: string,
): ConsumerState {
  switch (outcome.status) {
    case 'delivered':
      return { status: 'delivered', accessKeyId, at: now };
    case 'pending': {
      const since = previous?.status === 'pending' && previous.accessKeyId === accessKeyId ? previous.since : now;
      return { status: 'pending', accessKeyId, since };
    }
    case 'failed':
      return { status: 'failed', accessKeyId, at: now, message: redact(outcome.message) };
  }
}

async function current(store: ConnectionStore, name: string) {
  const connection = await store.get(name);
  if (!connection)
    throw new ConfigError(`the connection ${JSON.stringify(name)} was removed during the hand-off`, {
      hint: 'Add it again, then deliver its key.',
    });
  return connection;
}
