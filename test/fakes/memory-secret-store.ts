import type { SecretStore } from '../../src/ports.js';
import type { AccessKeyPair } from '../../src/domain/connection.js';
import { SecretStoreError } from '../../src/errors.js';

type Operation = 'get' | 'has' | 'set' | 'delete' | 'list' | 'readAll';

/** An in-memory secret store; `failNext` makes the next call of a kind fail like a locked keychain. */
export class MemorySecretStore implements SecretStore {
  readonly kind = 'memory' as const;
  readonly entries = new Map<string, AccessKeyPair>();
  /** Accounts whose entry is there but cannot be read (not a key pair): get throws, readAll maps them to the error. */
  readonly damaged = new Set<string>();
  private failures: Operation[] = [];

  /** The next call of this kind throws a SecretStoreError (exit 6). */
  failNext(operation: Operation): void {
    this.failures.push(operation);
  }

  private maybeFail(operation: Operation): void {
    const index = this.failures.indexOf(operation);
    if (index >= 0) {
      this.failures.splice(index, 1);
      throw new SecretStoreError(`the secret store failed on ${operation} (injected)`);
    }
  }

  async get(account: string): Promise<AccessKeyPair | undefined> {
    this.maybeFail('get');
    if (this.damaged.has(account)) throw this.damage(account);
    const pair = this.entries.get(account);
    return pair ? { ...pair } : undefined;
  }

  async has(account: string): Promise<boolean> {
    this.maybeFail('has');
    return this.entries.has(account);
  }

  async set(account: string, pair: AccessKeyPair): Promise<void> {
    this.maybeFail('set');
    this.entries.set(account, { ...pair });
  }

  async delete(account: string): Promise<boolean> {
    this.maybeFail('delete');
    return this.entries.delete(account);
  }

  async list(): Promise<string[]> {
    this.maybeFail('list');
    return [...this.entries.keys()];
  }

  async readAll(): Promise<Map<string, AccessKeyPair | SecretStoreError>> {
    this.maybeFail('readAll');
    const all = new Map<string, AccessKeyPair | SecretStoreError>();
    for (const [account, pair] of this.entries)
      all.set(account, this.damaged.has(account) ? this.damage(account) : { ...pair });
    return all;
  }

  private damage(account: string): SecretStoreError {
    return new SecretStoreError(`the entry for ${JSON.stringify(account)} is damaged (injected)`);
  }
}
