import type { ConnectionStore } from '../../src/ports.js';
import type { Connection } from '../../src/domain/connection.js';

/** An in-memory connection metadata store. */
export class MemoryConnectionStore implements ConnectionStore {
  readonly path = '/memory/config.json';
  readonly dir = '/memory';
  readonly entries = new Map<string, Connection>();

  constructor(connections: Connection[] = []) {
    for (const c of connections) this.entries.set(c.name, structuredClone(c));
  }

  async list(): Promise<Connection[]> {
    return [...this.entries.values()].map((c) => structuredClone(c)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<Connection | undefined> {
    const c = this.entries.get(name);
    return c ? structuredClone(c) : undefined;
  }

  async put(connection: Connection): Promise<void> {
    this.entries.set(connection.name, structuredClone(connection));
  }

  async delete(name: string): Promise<boolean> {
    return this.entries.delete(name);
  }
}
