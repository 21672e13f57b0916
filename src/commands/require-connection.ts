import type { ConnectionStore } from '../context.js';
import type { Connection } from '../domain/connection.js';
import { ConfigError } from '../errors.js';

// Apart from show.ts (which re-exports it) because show.ts loads Commander, and credential-process
// reads its connection through here without Commander.

/** The named connection, or a ConfigError (exit 3) that suggests a near name and `list`. */
export async function requireConnection(store: ConnectionStore, name: string): Promise<Connection> {
  const connection = await store.get(name);
  if (connection) return connection;
  const near = (await store.list()).find((c) => c.name.toLowerCase() === name.toLowerCase() || c.name.trim() === name.trim());
  throw new ConfigError(`no connection named ${JSON.stringify(name)}`, {
    hint: near ? `Did you mean ${JSON.stringify(near.name)}? Names are case-sensitive.` : '`datablast-aws list` shows the connections; `datablast-aws add-connection NAME` adds one.',
  });
}
