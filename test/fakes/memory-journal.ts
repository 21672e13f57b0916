import type { HeldLock, Journal, Journals, RotationLocks } from '../../src/ports.js';
import { JOURNAL_VERSION, journalProblem, type RotationJournal } from '../../src/domain/rotation.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Rotation journals in memory, stored as the JSON text a file would hold (so a test can plant any text)
 * and checked on read by the same rules as the file journal.
 */
export class MemoryJournals implements Journals {
  /** Connection name → journal text. */
  readonly texts = new Map<string, string>();
  private failWrites = 0;

  /** The next write fails, as on a full disk. */
  failNextWrite(): void {
    this.failWrites += 1;
  }

  of(connectionName: string): Journal {
    const path = `/memory/rotate-${connectionName}.journal.json`;
    return {
      path,
      read: async () => {
        const text = this.texts.get(connectionName);
        if (text === undefined) return undefined;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw new ConfigError(`the rotation journal ${path} is corrupt (not JSON)`);
        }
        const record = (value ?? {}) as Record<string, unknown>;
        if (record.version !== JOURNAL_VERSION)
          throw new ConfigError(`the rotation journal ${path} has version ${JSON.stringify(record.version ?? null)}`);
        const problem = journalProblem(record, connectionName);
        if (problem) throw new ConfigError(`the rotation journal ${path} is corrupt: ${problem}`);
        return record as unknown as RotationJournal;
      },
      write: async (journal) => {
        if (this.failWrites > 0) {
          this.failWrites -= 1;
          throw Object.assign(new Error('no space left on device (injected)'), { code: 'ENOSPC' });
        }
        this.texts.set(connectionName, JSON.stringify(journal, null, 2));
      },
      clear: async () => {
        this.texts.delete(connectionName);
      },
    };
  }

  /** The parsed journal of a connection, if any (no checks). */
  get(connectionName: string): RotationJournal | undefined {
    const text = this.texts.get(connectionName);
    return text === undefined ? undefined : (JSON.parse(text) as RotationJournal);
  }
}

/** Rotation locks in memory; `requests` records each acquisition's wait, and a held lock is never granted twice. */
export class MemoryRotationLocks implements RotationLocks {
  readonly held = new Set<string>();
  readonly requests: Array<{ name: string; waitMs: number }> = [];

  path(connectionName: string): string {
    return `/memory/rotate-${connectionName}.lock`;
  }

  async isHeld(connectionName: string): Promise<boolean> {
    return this.held.has(connectionName);
  }

  async acquire(connectionName: string, waitMs: number): Promise<HeldLock | undefined> {
    this.requests.push({ name: connectionName, waitMs });
    if (this.held.has(connectionName)) return undefined;
    this.held.add(connectionName);
    return {
      path: this.path(connectionName),
      release: async () => {
        this.held.delete(connectionName);
      },
    };
  }
}
