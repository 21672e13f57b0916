import { DbusConnection, DbusError, type DbusValue, type MethodCall, type Variant } from './dbus.js';
import type { RawSecretStore } from './secret-store.js';
import {
  classifyKeychainError,
  KEYCHAIN_ATTEMPTS,
  keychainFailureKind,
  type KeychainOperation,
} from './keychain-errors.js';

// The freedesktop Secret Service API (gnome-keyring, KeePassXC, KWallet) spoken directly over the
// session bus. Items carry the attributes keyring-rs gives them ({service, username}), so entries
// written by earlier versions through @napi-rs/keyring are found, and theirs find ours.
//
// Sessions use the "plain" algorithm, as aws-vault's keyring library does: the secret crosses only
// this user's own session bus, where any process of the same user may ask the Secret Service for it
// anyway (SECURITY.md), and the encrypted alternative costs a Diffie-Hellman exchange on every run.

const BUS_NAME = 'org.freedesktop.secrets';
const SERVICE_PATH = '/org/freedesktop/secrets';
const SERVICE = 'org.freedesktop.Secret.Service';
const ITEM = 'org.freedesktop.Secret.Item';
const COLLECTION = 'org.freedesktop.Secret.Collection';
const NO_OBJECT = '/';

/** The process's connection to the bus, and its Secret Service session once a call needs one. */
interface Link {
  bus: DbusConnection;
  session: () => Promise<string>;
}

/**
 * The keychain on Linux. One bus connection and one session per process, opened on first use; every
 * call has a deadline, so a frozen bus or a stopped daemon is exit 6 in `timeoutMs`, never a hang.
 * A locked item or collection is reported as locked: we never raise an unlock prompt, which nobody
 * would see in cron.
 */
export class SecretServiceStore implements RawSecretStore {
  readonly kind = 'keychain' as const;
  readonly location = 'the keychain';
  private link: Promise<Link> | undefined;

  constructor(
    /** Undefined when there is no session bus: every call then fails as "no keychain service is running". */
    private readonly socketPath: string | undefined,
    private readonly service: string,
    private readonly timeoutMs: number,
  ) {}

  async get(account: string): Promise<string | undefined> {
    return this.call('read', account, async (link) => {
      // The session and the search leave together (one round trip), and the secret comes in a second.
      const [session, found] = await Promise.all([
        link.session(),
        this.search(link.bus, { service: this.service, username: account }),
      ]);
      if (found.unlocked.length === 0) {
        if (found.locked.length > 0) throw lockedError();
        return undefined;
      }
      if (found.unlocked.length > 1)
        throw new DbusError('datablast.Ambiguous', `Entry is matched by ${found.unlocked.length} credentials`);
      const [secrets] = await this.request(link.bus, {
        destination: BUS_NAME,
        path: SERVICE_PATH,
        interface: SERVICE,
        member: 'GetSecrets',
        signature: 'aoo',
        body: [found.unlocked, session],
      });
      const entry = (secrets as Array<[string, DbusValue[]]>).find(([path]) => path === found.unlocked[0]);
      return entry ? (entry[1][2] as Buffer).toString('utf8') : undefined;
    });
  }

  /** A search only: no session is opened and no secret crosses the bus. */
  async has(account: string): Promise<boolean> {
    return this.call('read', account, async ({ bus }) => {
      const found = await this.search(bus, { service: this.service, username: account });
      if (found.unlocked.length > 0) return true;
      if (found.locked.length > 0) throw lockedError();
      return false;
    });
  }

  async set(account: string, value: string): Promise<void> {
    await this.call('store', account, async (link) => {
      const { bus } = link;
      const [session, [collection]] = await Promise.all([
        link.session(),
        this.request(bus, {
          destination: BUS_NAME,
          path: SERVICE_PATH,
          interface: SERVICE,
          member: 'ReadAlias',
          signature: 's',
          body: ['default'],
        }),
      ]);
      if (collection === NO_OBJECT)
        throw new DbusError('datablast.Locked', 'no result found: there is no default keyring');
      const properties: Array<[string, Variant]> = [
        ['org.freedesktop.Secret.Item.Label', { signature: 's', value: `keyring:${account}@${this.service}` }],
        [
          'org.freedesktop.Secret.Item.Attributes',
          {
            signature: 'a{ss}',
            value: [
              ['service', this.service],
              ['username', account],
            ],
          },
        ],
      ];
      const [, prompt] = await this.request(bus, {
        destination: BUS_NAME,
        path: collection as string,
        interface: COLLECTION,
        member: 'CreateItem',
        signature: 'a{sv}(oayays)b',
        body: [properties, [session, Buffer.alloc(0), Buffer.from(value, 'utf8'), 'text/plain'], true],
      });
      if (prompt !== NO_OBJECT) throw lockedError();
    });
  }

  async delete(account: string): Promise<boolean> {
    return this.call('delete', account, async ({ bus }) => {
      const found = await this.search(bus, { service: this.service, username: account });
      if (found.locked.length > 0) throw lockedError();
      for (const item of found.unlocked) {
        const [prompt] = await this.request(bus, {
          destination: BUS_NAME,
          path: item,
          interface: ITEM,
          member: 'Delete',
        });
        if (prompt !== NO_OBJECT) throw lockedError();
      }
      return found.unlocked.length > 0;
    });
  }

  async list(): Promise<string[]> {
    return this.call('list', undefined, async ({ bus }) => {
      const items = await this.itemsByName(bus);
      return [...items.keys()].sort();
    });
  }

  /** One search, every item's attributes (pipelined), then every secret in one GetSecrets. */
  async readAll(): Promise<Map<string, string | undefined>> {
    return this.call('read', undefined, async (link) => {
      const [session, items] = await Promise.all([link.session(), this.itemsByName(link.bus)]);
      // A name matched by two items is read alone afterwards, which reports it as ambiguous.
      const entries = new Map<string, string | undefined>();
      const unique: Array<[string, string]> = [];
      for (const [name, paths] of items) {
        if (paths.length === 1) unique.push([name, paths[0]!]);
        else entries.set(name, undefined);
      }
      if (unique.length === 0) return entries;
      let answer: DbusValue[];
      try {
        answer = await this.request(link.bus, {
          destination: BUS_NAME,
          path: SERVICE_PATH,
          interface: SERVICE,
          member: 'GetSecrets',
          signature: 'aoo',
          body: [unique.map(([, path]) => path), session],
        });
      } catch (error) {
        // An item deleted meanwhile fails the whole call: read each entry alone instead.
        if (!vanished(error)) throw error;
        for (const [name] of unique) entries.set(name, undefined);
        return entries;
      }
      const [secrets] = answer;
      const byPath = new Map(
        (secrets as Array<[string, DbusValue[]]>).map(([path, secret]) => [
          path,
          (secret[2] as Buffer).toString('utf8'),
        ]),
      );
      for (const [name, path] of unique) entries.set(name, byPath.get(path));
      return entries;
    });
  }

  /** Our items by account name: the attributes of every item at once (pipelined), never a secret. */
  private async itemsByName(bus: DbusConnection): Promise<Map<string, string[]>> {
    const found = await this.search(bus, { service: this.service });
    if (found.locked.length > 0) throw lockedError();
    const attributes = await Promise.all(
      found.unlocked.map((item) =>
        this.request(bus, {
          destination: BUS_NAME,
          path: item,
          interface: 'org.freedesktop.DBus.Properties',
          member: 'Get',
          signature: 'ss',
          body: [ITEM, 'Attributes'],
        }).catch((error: unknown) => {
          // Deleted by another process between the search and this read: it is simply gone.
          if (vanished(error)) return undefined;
          throw error;
        }),
      ),
    );
    const items = new Map<string, string[]>();
    attributes.forEach((answer, index) => {
      if (!answer) return;
      const name = new Map((answer[0] as Variant).value as Array<[string, string]>).get('username');
      if (name !== undefined) items.set(name, [...(items.get(name) ?? []), found.unlocked[index]!]);
    });
    return items;
  }

  private async search(
    bus: DbusConnection,
    attributes: Record<string, string>,
  ): Promise<{ unlocked: string[]; locked: string[] }> {
    const [unlocked, locked] = await this.request(bus, {
      destination: BUS_NAME,
      path: SERVICE_PATH,
      interface: SERVICE,
      member: 'SearchItems',
      signature: 'a{ss}',
      body: [Object.entries(attributes)],
    });
    return { unlocked: unlocked as string[], locked: locked as string[] };
  }

  private request(bus: DbusConnection, method: MethodCall): Promise<DbusValue[]> {
    return bus.call(method, this.timeoutMs);
  }

  /** Runs `work` over the process's link, opening it first; a call the service dropped by dying is made once more, over a new link. */
  private async call<T>(
    operation: KeychainOperation,
    account: string | undefined,
    work: (link: Link) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.link ??= this.connect();
        return await work(await this.link);
      } catch (error) {
        // After any failure the link is suspect (a dead service takes its session along): start afresh.
        const stale = this.link;
        this.link = undefined;
        stale?.then((link) => link.bus.close()).catch(() => undefined);
        const failure = asNativeError(error);
        if (keychainFailureKind(failure) === 'disconnected' && attempt < KEYCHAIN_ATTEMPTS) continue;
        throw classifyKeychainError(failure, operation, account, this.timeoutMs);
      }
    }
  }

  private async connect(): Promise<Link> {
    if (this.socketPath === undefined)
      throw new DbusError(
        'datablast.NoBus',
        'no D-Bus session: DBUS_SESSION_BUS_ADDRESS is not set, and no user bus runs',
      );
    const bus = new DbusConnection(this.socketPath, this.timeoutMs);
    let session: Promise<string> | undefined;
    return {
      bus,
      session: () =>
        (session ??= this.request(bus, {
          destination: BUS_NAME,
          path: SERVICE_PATH,
          interface: SERVICE,
          member: 'OpenSession',
          signature: 'sv',
          body: ['plain', { signature: 's', value: '' }],
        }).then(([, path]) => path as string)),
    };
  }
}

/** The error of a call on an object that no longer exists (another process deleted the item). */
function vanished(error: unknown): boolean {
  return (
    error instanceof DbusError &&
    (error.name === 'org.freedesktop.DBus.Error.UnknownMethod' ||
      error.name === 'org.freedesktop.DBus.Error.UnknownObject' ||
      error.name === 'org.freedesktop.Secret.Error.NoSuchObject')
  );
}

function lockedError(): DbusError {
  return new DbusError('org.freedesktop.Secret.Error.IsLocked', 'the item or its collection is locked');
}

/** An error whose message carries the D-Bus error name too, as the keychain classifier reads it. */
function asNativeError(error: unknown): Error {
  if (error instanceof DbusError) return new Error(`${error.name}: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}
