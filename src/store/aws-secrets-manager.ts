import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  Clock,
  ConnectionStore,
  HeldLock,
  Journals,
  RotationLocks,
  SecretListing,
  SecretsManager,
  SecretStore,
  Stores,
} from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { poll, retry } from '../domain/backoff.js';
import {
  claimIsLive,
  claimProblem,
  describeClaim,
  newClaim,
  renewClaim,
  type Claim,
  type Here,
} from '../domain/claim.js';
import {
  connectionOfPendingAccount,
  JOURNAL_VERSION,
  journalProblem,
  type RotationJournal,
} from '../domain/rotation.js';
import { AwsError, CliError, ConfigError, LockHeldError, SecretStoreError, UsageError } from '../errors.js';
import { onInterruptResumable } from '../signals.js';
import { byName, connectionProblem, DamagedConnectionFileError } from './connections.js';

/**
 * The `aws-secrets-manager` store: one secret per connection, `<prefix><encoded name>`, holding the key pair AND
 * the connection's metadata, so every host that reads the prefix sees the same connections.
 *
 * Layout (each version self-contained, so a rotation can stage a whole new record as AWSPENDING):
 * - SecretString: `{"format":"datablast-aws/connection@1","accessKeyId","secretAccessKey","connection":{…}}`;
 *   the pair or the connection may be absent (a key-only entry, such as a rotation's pending one).
 * - Description: the summary `list` shows, readable from ListSecrets without any value:
 *   `{"datablast-aws":1,"version":VERSION_ID,"keyId":"AKIA…"|null,"connection":{name, accessKeyId, …}|null}`: the
 *   stored pair's key id (never its secret), so that `list` can check it against the metadata without a read.
 * - Tag managed-by=datablast-aws: a secret under the prefix without it is not ours and is never touched.
 * - Writes are compare-and-swap: the new version goes in under our label WRITE_STAGE (its version id is our client
 *   request token), then AWSCURRENT moves to it with RemoveFromVersionId = the version we read. A host that lost the
 *   race re-reads and re-applies its change.
 * - Rotation across hosts: the value also holds the rotation journal and the claim (domain/claim.ts), the lock that
 *   a host takes by one such compare-and-swap. Of hosts racing for it, one wins; the others re-read, see the
 *   winner's claim and wait or stop. Every write of the holder checks that the claim is still its own (a fence), and
 *   renews its lease. The new key waits as the AWSPENDING version (put with a client request token) until it is
 *   proven and moved into AWSCURRENT. A claim whose holder died is taken over by the next run on any host, which
 *   finishes or undoes the rotation from the journal, as on one machine.
 */

/** The default name prefix (CLI.md, DATABLAST_AWS_SECRETS_PREFIX). */
export const DEFAULT_SECRETS_PREFIX = 'datablast-aws/';
/** The tag that marks a secret as ours. */
export const MANAGED_BY = { key: 'managed-by', value: 'datablast-aws' } as const;
/** The `format` of a stored value this code reads and writes. */
export const RECORD_FORMAT = 'datablast-aws/connection@1';
/** Our staging label for a version being written, before AWSCURRENT moves to it. */
export const WRITE_STAGE = 'DATABLAST_WRITE';
/** Secrets Manager's limits: a name of 512 characters, a description of 2048. */
const MAX_SECRET_NAME = 512;
const MAX_DESCRIPTION = 2048;
/** Name characters Secrets Manager allows (ASCII letters, digits, /_+=.@-). */
const SECRET_NAME_ALPHABET = /^[A-Za-z0-9/_+=.@-]+$/;
/** Characters a connection name keeps as they are in a secret name; every other byte becomes `=XX`. */
const KEPT = /^[A-Za-z0-9_.@-]$/;

/** What one ListSecrets pass found under the prefix: our summaries, and why each other secret is not ours. */
interface Listing {
  ours: Map<string, Summary>;
  problems: string[];
}

/** An access key id as IAM's API defines it (16 to 128 word characters), as a summary may carry it. */
const ACCESS_KEY_ID = /^\w{16,128}$/;

/** What one secret holds. */
export interface StoredRecord {
  format: typeof RECORD_FORMAT;
  accessKeyId?: string;
  secretAccessKey?: string;
  connection?: Connection;
  /** The rotation under way, shared by every host (ids and times only, as the local journal file). */
  rotation?: RotationJournal;
  /** The host that holds the connection's lock. */
  claim?: Claim;
}

/**
 * A connection name as a secret name suffix: ASCII letters, digits and `_.@-` stay; every other UTF-8 byte (space,
 * `/`, `+`, `=`, any non-ASCII) becomes `=` and two upper-case hex digits. A `-` that would leave the name ending in
 * a hyphen and six characters (what AWS reads as an ARN's random suffix) is encoded too. Reversible: decodeName.
 */
export function encodeName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += KEPT.test(ch) ? ch : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length >= 7 && out[out.length - 7] === '-') out = `${out.slice(0, -7)}=2D${out.slice(-6)}`;
  return out;
}

/** The connection name an encoded suffix stands for, or undefined when it is not one encodeName writes. */
export function decodeName(encoded: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const ch = encoded[i]!;
    if (ch === '=') {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (KEPT.test(ch)) bytes.push(ch.charCodeAt(0));
    else return undefined;
  }
  const name = new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
  return encodeName(name) === encoded ? name : undefined;
}

/** Checks DATABLAST_AWS_SECRETS_PREFIX against Secrets Manager's name alphabet. */
export function validatePrefix(prefix: string): string {
  if (!SECRET_NAME_ALPHABET.test(prefix) || prefix.length > 256) {
    throw new UsageError(
      `DATABLAST_AWS_SECRETS_PREFIX is ${JSON.stringify(prefix.slice(0, 40))}; a Secrets Manager name prefix is 1 to 256 of A-Z a-z 0-9 / _ + = . @ -`,
      { hint: `Unset it for the default (${DEFAULT_SECRETS_PREFIX}), or choose a prefix such as team/datablast-aws/.` },
    );
  }
  return prefix;
}

/** What the store needs: the gateway in the store's region, the settings, and a clock for its retries. */
export interface SecretsManagerStoreOptions {
  secretsManager: () => Promise<SecretsManager>;
  prefix: string;
  region: string;
  /** The KMS key of secrets this store creates (DATABLAST_AWS_KMS_KEY_ID); absent: aws/secretsmanager. */
  kmsKeyId?: string | undefined;
  /** The local directory for journals and locks (the config dir). */
  dir: string;
  clock: Clock;
  /** Client request tokens (default: random UUIDs). */
  token?: () => string;
  /** This host, for claims (default: os.hostname() and process.kill(pid, 0)). */
  here?: Here;
}

interface Current {
  versionId: string;
  record: StoredRecord;
}

/** The summary a description holds. */
interface Summary {
  /** The key id of the stored pair, or undefined for an entry without one. */
  keyId: string | undefined;
  /** True when the summary describes the version AWSCURRENT is on (a write stopped before its description lags). */
  fresh: boolean;
  connection: Connection | undefined;
  /** The rotation journal and the claim; 'in-value' when they did not fit in the description. */
  rotation: RotationJournal | 'in-value' | undefined;
  claim: Claim | 'in-value' | undefined;
}

/** This host as claims name it. */
const thisHost: Here = {
  // Within what claimProblem accepts, so that no host's own claim makes its connection unreadable to others.
  host:
    hostname()
      .replace(/[^\w.-]/g, '-')
      .slice(0, 253) || 'unknown-host',
  isAlive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      // EPERM: alive, but another user's.
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/** How long a claim is sought when its holder is busy: the caller's wait, polled at this pace. */
const CLAIM_POLL = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: true } as const;

/** Opens the `aws-secrets-manager` store: both ports over one adapter, sharing what was read (credential-process: one GetSecretValue). */
export function openSecretsManagerStore(options: SecretsManagerStoreOptions): Stores {
  const prefix = validatePrefix(options.prefix);
  const token = options.token ?? randomUUID;
  const here = options.here ?? thisHost;
  const where = `AWS Secrets Manager (${options.region}, prefix ${prefix})`;
  const read = new Map<string, Current | undefined>();
  let listing: Promise<Listing> | undefined;
  /** The claims this process holds, by connection name: its writes to those secrets are fenced by them. */
  const held = new Map<string, Claim>();
  /** Connections whose shared journal this process saw or wrote: a signal then exits 8 (resumable). */
  const journaled = new Set<string>();
  onInterruptResumable(() => journaled.size > 0);

  const secretName = (name: string): string => {
    const full = `${prefix}${encodeName(name)}`;
    if (full.length > MAX_SECRET_NAME)
      throw new UsageError(
        `the connection name ${JSON.stringify(name)} makes a secret name of ${full.length} characters; Secrets Manager allows ${MAX_SECRET_NAME}`,
        { hint: 'Choose a shorter name, or one with fewer characters outside A-Z a-z 0-9 _ . @ -.' },
      );
    return full;
  };

  const gateway = async (): Promise<SecretsManager> => options.secretsManager();

  /** AWSCURRENT of one connection's secret, validated; undefined when there is no such secret. */
  const load = async (name: string, fresh = false): Promise<Current | undefined> => {
    if (!fresh && read.has(name)) return read.get(name);
    const id = secretName(name);
    const value = await kms(() => gateway().then((sm) => sm.getValue(id)), id, 'read');
    const current = value ? { versionId: value.versionId, record: parseRecord(value.value, id, name) } : undefined;
    read.set(name, current);
    return current;
  };

  /**
   * Checks that a write may go ahead on `record` and gives the claim the new version carries: the holder's claim,
   * its lease renewed; a claim that is not ours, unchanged. A write of a connection whose claim this process held
   * and lost (it expired and another host took it over) is refused: the other host now owns the rotation.
   */
  const fence = (name: string, record: StoredRecord | undefined): Claim | undefined => {
    const mine = held.get(name);
    if (!mine) return record?.claim;
    if (!record)
      throw new ConfigError(`no connection named ${JSON.stringify(name)} in ${where}`, {
        hint: 'It was removed while this run held it. Run `datablast-aws list`.',
      });
    // Kept in `held` after it is lost: every later write of this run is refused the same way.
    if (record.claim?.token !== mine.token) {
      throw new LockHeldError(
        `this run's claim on ${JSON.stringify(name)} in ${where} was taken over${record.claim ? ` (now ${describeClaim(record.claim)})` : ''}; it stopped before its next step`,
        {
          hint: 'Its lease ran out while it waited; the host that took it over finishes or undoes the rotation. Run `datablast-aws list` to see where it stands.',
        },
      );
    }
    const renewed = renewClaim(mine, options.clock.now());
    held.set(name, renewed);
    return renewed;
  };

  /** One compare-and-swap of `next` over `current` (absent: create the secret); throws when another host won. */
  const swap = async (sm: SecretsManager, name: string, current: Current | undefined, next: StoredRecord) => {
    const id = secretName(name);
    const version = token();
    const value = JSON.stringify(next);
    if (next.secretAccessKey) rememberSecret(next.secretAccessKey);
    listing = undefined;
    if (!current) {
      await kms(
        () =>
          sm.create(id, value, {
            tags: { [MANAGED_BY.key]: MANAGED_BY.value },
            clientRequestToken: version,
            description: describe(next, version),
            ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
          }),
        id,
        'write',
      );
    } else {
      await kms(() => sm.put(id, value, version, [WRITE_STAGE]), id, 'write');
      await sm.moveStage(id, 'AWSCURRENT', version, current.versionId);
      await sm.setDescription(id, describe(next, version));
    }
    read.set(name, { versionId: version, record: next });
  };

  /** Another host created the secret, or moved AWSCURRENT, between our read and our write. */
  const lostRace = (error: unknown): boolean =>
    error instanceof CliError &&
    (error.awsCode === 'ResourceExistsException' || error.awsCode === 'InvalidParameterException');

  /**
   * One read-modify-write, compare-and-swap on AWSCURRENT; a lost race re-reads and re-applies `change`. `change`
   * returning undefined writes nothing. The claim travels with every write (fence).
   */
  const write = async (
    name: string,
    change: (record: StoredRecord | undefined) => StoredRecord | undefined,
    { release = false } = {},
  ): Promise<void> => {
    const sm = await gateway();
    await retry(
      options.clock,
      { initialDelayMs: 100, maxDelayMs: 2_000, timeoutMs: 30_000, maxAttempts: 6, jitter: true },
      async (attempt) => {
        const current = await load(name, attempt > 1);
        const claim = fence(name, current?.record);
        const changed = change(current?.record);
        if (!changed) return;
        const { claim: _dropped, ...rest } = changed;
        await swap(sm, name, current, claim && !release ? { ...rest, claim } : rest);
      },
      (error) => {
        const lost = lostRace(error);
        if (lost) read.delete(name);
        return lost;
      },
    );
  };

  /** Every secret under the prefix, as its description summarises it; ListSecrets only, no value. */
  const summaries = (): Promise<Listing> => {
    listing ??= (async () => {
      const found = await (await gateway()).listByPrefix(prefix);
      const ours = new Map<string, Summary>();
      const problems: string[] = [];
      for (const secret of found) {
        const outcome = summaryOf(secret, prefix);
        if (typeof outcome === 'string') problems.push(`${secret.name}: ${outcome}`);
        else ours.set(outcome.name, outcome.summary);
      }
      return { ours, problems };
    })();
    const pending = listing;
    pending.catch(() => {
      if (listing === pending) listing = undefined;
    });
    return pending;
  };

  /** Our summaries; a secret under the prefix that is not ours makes it a damaged store (list shows the rest). */
  const connectionSummaries = async (): Promise<Map<string, Summary>> => {
    const { ours, problems } = await summaries();
    if (problems.length === 0) return ours;
    const readable = [...ours.values()].flatMap((s) => (s.connection ? [s.connection] : []));
    throw new DamagedConnectionFileError(
      `${problems.length === 1 ? 'a secret' : `${problems.length} secrets`} under ${prefix} in ${where} ${problems.length === 1 ? 'is' : 'are'} not a datablast-aws connection (${problems[0]})`,
      readable.sort(byName),
      {
        hint: `Nothing was changed. Move secrets that are not datablast-aws connections out of ${prefix} (or use another DATABLAST_AWS_SECRETS_PREFIX); inspect one with \`aws secretsmanager describe-secret --secret-id NAME\`.`,
      },
    );
  };

  const remove = async (name: string): Promise<boolean> => {
    const id = secretName(name);
    listing = undefined;
    const deleted = await (await gateway()).deleteNow(id);
    read.set(name, undefined);
    held.delete(name);
    journaled.delete(name);
    return deleted;
  };

  /**
   * A rotation's pending entry (domain/rotation.ts pendingAccount) is the AWSPENDING version of the connection's own
   * secret: a key-only record, read by its label. Undefined when there is none.
   */
  const loadPending = async (name: string): Promise<{ versionId: string; pair: AccessKeyPair } | undefined> => {
    const id = secretName(name);
    const value = await kms(() => gateway().then((sm) => sm.getValue(id, { stage: 'AWSPENDING' })), id, 'read');
    if (!value) return undefined;
    const record = parseRecord(value.value, id, name);
    if (!record.accessKeyId || !record.secretAccessKey) return undefined;
    return {
      versionId: value.versionId,
      pair: { accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey },
    };
  };

  const pending = {
    async get(name: string) {
      return (await loadPending(name))?.pair;
    },
    async set(name: string, pair: AccessKeyPair) {
      const id = secretName(name);
      const sm = await gateway();
      const current = await load(name, true);
      if (!current)
        throw new ConfigError(`no connection named ${JSON.stringify(name)} in ${where}`, {
          hint: 'It was removed while the rotation ran. Run `datablast-aws list`.',
        });
      fence(name, current.record);
      const value = JSON.stringify({ format: RECORD_FORMAT, ...pair });
      // The client request token makes a retried put (the SDK's own retries) the same version, not a second one.
      await kms(() => sm.put(id, value, token(), ['AWSPENDING']), id, 'write');
      listing = undefined;
    },
    async delete(name: string) {
      const found = await loadPending(name);
      if (!found) return false;
      try {
        await (await gateway()).removeStage(secretName(name), 'AWSPENDING', found.versionId);
      } catch (error) {
        // Another host moved the label meanwhile: this version is no longer pending either way.
        if (!lostRace(error)) throw error;
      }
      listing = undefined;
      return true;
    },
  };

  const secrets: SecretStore = {
    kind: 'aws-secrets-manager',
    async get(account) {
      const owner = connectionOfPendingAccount(account);
      if (owner !== undefined) return pending.get(owner);
      const record = (await load(account))?.record;
      if (!record?.accessKeyId || !record.secretAccessKey) return undefined;
      rememberSecret(record.secretAccessKey);
      return { accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey };
    },
    async has(account) {
      const owner = connectionOfPendingAccount(account);
      if (owner !== undefined) return (await pending.get(owner)) !== undefined;
      if (read.has(account)) return Boolean(read.get(account)?.record.secretAccessKey);
      return (await summaries()).ours.get(account)?.keyId !== undefined;
    },
    async set(account, pair: AccessKeyPair) {
      rememberSecret(pair.secretAccessKey);
      const owner = connectionOfPendingAccount(account);
      if (owner !== undefined) return pending.set(owner, pair);
      await write(account, (record) => ({
        ...(record ?? { format: RECORD_FORMAT }),
        accessKeyId: pair.accessKeyId,
        secretAccessKey: pair.secretAccessKey,
      }));
    },
    async delete(account) {
      const owner = connectionOfPendingAccount(account);
      if (owner !== undefined) return pending.delete(owner);
      return remove(account);
    },
    // Only our entries: a foreign secret under the prefix is reported by the connection store's list.
    async list() {
      return [...(await summaries()).ours].flatMap(([name, summary]) => (summary.keyId ? [name] : []));
    },
    // One GetSecretValue per entry: list uses storedKeyIds instead, which reads none.
    async readAll() {
      const pairs = new Map<string, AccessKeyPair | SecretStoreError>();
      for (const account of await secrets.list()) {
        try {
          const pair = await secrets.get(account);
          if (pair) pairs.set(account, pair);
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          pairs.set(account, new SecretStoreError(error.message, { hint: error.hint, cause: error }));
        }
      }
      return pairs;
    },
    async storedKeyIds() {
      const ids = new Map<string, string>();
      for (const [name, summary] of (await summaries()).ours)
        if (summary.keyId && summary.fresh) ids.set(name, summary.keyId);
      return ids;
    },
  };

  const connections: ConnectionStore = {
    path: `${where}`,
    dir: options.dir,
    async list() {
      const found = await Promise.all(
        [...(await connectionSummaries())].map(async ([name, summary]) =>
          // A summary that lags AWSCURRENT (a write stopped before its description): the value is the truth.
          summary.fresh ? summary.connection : (await load(name))?.record.connection,
        ),
      );
      return found.flatMap((c) => (c ? [c] : [])).sort(byName);
    },
    async get(name) {
      return (await load(name))?.record.connection;
    },
    async put(connection) {
      await write(connection.name, (record) =>
        record?.connection && onlyRetested(record.connection, connection)
          ? undefined
          : { ...(record ?? { format: RECORD_FORMAT }), connection: structuredClone(connection) },
      );
    },
    delete: remove,
  };

  /** The shared journal of one connection: the value's, or the summary's where it is fresh (list reads no value). */
  const readRotation = async (name: string): Promise<RotationJournal | undefined> => {
    let rotation: RotationJournal | undefined;
    if (read.has(name)) rotation = read.get(name)?.record.rotation;
    else {
      const summary = (await summaries()).ours.get(name);
      rotation =
        summary?.fresh && summary.rotation !== 'in-value' ? summary.rotation : (await load(name))?.record.rotation;
    }
    if (rotation) journaled.add(name);
    return rotation;
  };

  const journals: Journals = {
    of: (name) => ({
      path: `${secretName(name)} in ${where}`,
      read: () => readRotation(name),
      async write(journal) {
        journaled.add(name);
        await write(name, (record) => {
          if (!record)
            throw new ConfigError(`no connection named ${JSON.stringify(name)} in ${where}`, {
              hint: 'It was removed while the rotation ran. Run `datablast-aws list`.',
            });
          return { ...record, rotation: structuredClone(journal) };
        });
      },
      async clear() {
        await write(name, (record) => {
          if (!record?.rotation) return undefined;
          const { rotation: _done, ...rest } = record;
          return rest;
        });
        journaled.delete(name);
      },
    }),
  };

  /** The claim `mine` as a held lock: release takes it off the secret, if it is still ours. */
  const heldClaim = (name: string, mine: Claim): HeldLock => ({
    path: locks.path(name),
    async release() {
      if (held.get(name)?.token !== mine.token) return;
      try {
        await write(name, (record) => record, { release: true });
      } catch (error) {
        // Taken over meanwhile: that claim is not ours to remove.
        if (!(error instanceof LockHeldError)) throw error;
      } finally {
        held.delete(name);
      }
    },
  });

  const locks: RotationLocks = {
    path: (name) => `the claim in secret ${secretName(name)} (${where})`,
    async acquire(name, waitMs) {
      const sm = await gateway();
      const result = await poll<HeldLock>(options.clock, { ...CLAIM_POLL, timeoutMs: waitMs }, async () => {
        const current = await load(name, true);
        // Nothing to claim yet (a connection being added): creating the secret is itself a compare-and-swap.
        if (!current) return { done: true, value: { path: locks.path(name), release: async () => undefined } };
        const theirs = current.record.claim;
        if (theirs && claimIsLive(theirs, options.clock.now(), here)) return { done: false };
        const mine = newClaim(token(), here, process.pid, options.clock.now());
        try {
          await swap(sm, name, current, { ...current.record, claim: mine });
        } catch (error) {
          if (!lostRace(error)) throw error;
          // Another host claimed it (or wrote) first: look again.
          read.delete(name);
          return { done: false, resetDelay: true };
        }
        held.set(name, mine);
        if (current.record.rotation) journaled.add(name);
        return { done: true, value: heldClaim(name, mine) };
      });
      return result.done ? result.value : undefined;
    },
    async isHeld(name) {
      let claim: Claim | undefined;
      if (read.has(name)) claim = read.get(name)?.record.claim;
      else {
        const summary = (await summaries()).ours.get(name);
        claim = summary?.fresh && summary.claim !== 'in-value' ? summary.claim : (await load(name))?.record.claim;
      }
      return claim !== undefined && claimIsLive(claim, options.clock.now(), here);
    },
  };

  /** Runs one call; KMS refusing to decrypt or encrypt becomes an error that names the missing permission. */
  async function kms<T>(work: () => Promise<T>, id: string, what: 'read' | 'write'): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!isKmsRefusal(error)) throw error;
      const permissions = what === 'read' ? 'kms:Decrypt' : 'kms:GenerateDataKey and kms:Decrypt';
      throw new AwsError(
        `AWS KMS refused to ${what === 'read' ? 'decrypt' : 'encrypt'} the secret ${id} for this host's AWS identity (${error.awsCode ?? 'AccessDenied'}); nothing was changed`,
        {
          hint: `Allow ${permissions} on the secret's KMS key${options.kmsKeyId ? ` (${options.kmsKeyId})` : ''} to this host's role or user, in the key policy or an IAM policy; docs/secrets-manager.md lists the whole policy.`,
          cause: error,
          awsCode: error.awsCode,
        },
      );
    }
  }

  return { secrets, connections, journals, locks };
}

/** True for KMS's refusal as Secrets Manager reports it ("Access to KMS is not allowed", DecryptionFailure…). */
function isKmsRefusal(error: unknown): error is CliError {
  if (!(error instanceof CliError)) return false;
  if (['DecryptionFailure', 'EncryptionFailure', 'KMSAccessDeniedException'].includes(error.awsCode ?? '')) return true;
  const said = `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}`;
  return /AccessDenied/.test(error.awsCode ?? '') && /\bKMS\b|kms:/.test(said);
}

/**
 * The description of a version: what `list` shows without reading any value. The rotation journal goes in when it
 * fits; otherwise the summary says it is in the value, which list then reads for that one connection.
 */
export function describe(record: StoredRecord, versionId: string): string {
  const summary = {
    'datablast-aws': 1,
    version: versionId,
    keyId: record.secretAccessKey ? (record.accessKeyId ?? null) : null,
    connection: record.connection ? listed(record.connection) : null,
  };
  const shared = (rotation: boolean, claim: boolean) => ({
    ...(record.claim ? { claim: claim ? record.claim : 'in-value' } : {}),
    ...(record.rotation ? { rotation: rotation ? record.rotation : 'in-value' } : {}),
  });
  // The journal, then the claim, give way to a marker that sends list to the value, before a summary is refused.
  let text = JSON.stringify({ ...summary, ...shared(true, true) });
  if (text.length > MAX_DESCRIPTION) text = JSON.stringify({ ...summary, ...shared(false, true) });
  if (text.length > MAX_DESCRIPTION) text = JSON.stringify({ ...summary, ...shared(false, false) });
  // The validated fields are bounded (name 64, description 256, ARN 560 characters…): about 1,700 at worst.
  if (text.length > MAX_DESCRIPTION)
    throw new UsageError(`the connection's summary is ${text.length} characters; Secrets Manager allows 2048`, {
      hint: 'Shorten its description.',
    });
  return text;
}

/**
 * Secrets Manager asks that a secret not be written more than once every 10 minutes sustained (each write is a
 * version, and unlabelled versions go only after a day): a `test` that only moves the test time by less than that
 * is not written. What `list` shows of it ("last tested") does not change by minutes.
 */
const RETEST_WRITE_MS = 10 * 60_000;

/** True when `next` differs from `stored` only by a lastTestedAt less than RETEST_WRITE_MS later. */
export function onlyRetested(stored: Connection, next: Connection): boolean {
  const before = stored.lastTestedAt === undefined ? Number.NaN : Date.parse(stored.lastTestedAt);
  const after = next.lastTestedAt === undefined ? Number.NaN : Date.parse(next.lastTestedAt);
  if (!(after >= before && after - before < RETEST_WRITE_MS)) return false;
  return JSON.stringify({ ...stored, lastTestedAt: null }) === JSON.stringify({ ...next, lastTestedAt: null });
}

/** The connection fields `list` and `show` need; the rest (consumers, services…) live in the value. */
function listed(connection: Connection): Connection {
  const { services: _s, buckets: _b, previousAccessKeyIds: _p, consumers: _c, ...rest } = connection;
  return rest;
}

/** A listed secret's connection name and summary, or why it is not one of ours. */
function summaryOf(secret: SecretListing, prefix: string): { name: string; summary: Summary } | string {
  if (secret.tags[MANAGED_BY.key] !== MANAGED_BY.value) return `no ${MANAGED_BY.key}=${MANAGED_BY.value} tag`;
  const name = decodeName(secret.name.slice(prefix.length));
  if (name === undefined) return 'its name is not an encoded connection name';
  let data: unknown;
  try {
    data = JSON.parse(secret.description ?? '');
  } catch {
    data = undefined;
  }
  if (
    !isRecord(data) ||
    data['datablast-aws'] !== 1 ||
    typeof data.version !== 'string' ||
    !(data.keyId === null || (typeof data.keyId === 'string' && ACCESS_KEY_ID.test(data.keyId)))
  )
    return 'its description is not a datablast-aws summary';
  const keyId = data.keyId ?? undefined;
  const fresh = secret.versionStages[data.version]?.includes('AWSCURRENT') ?? false;
  const shared = sharedStateProblem(data, name);
  if (shared) return `its summary: ${shared}`;
  const claim = data.claim as Claim | 'in-value' | undefined;
  const rotation = data.rotation as RotationJournal | 'in-value' | undefined;
  if (data.connection === null) return { name, summary: { keyId, fresh, connection: undefined, claim, rotation } };
  const problem = connectionProblem(name, data.connection);
  if (problem) return `its summary: ${problem}`;
  return { name, summary: { keyId, fresh, connection: data.connection as Connection, claim, rotation } };
}

/** Why the claim or the rotation journal a value or summary holds must not be trusted, or undefined. */
function sharedStateProblem(data: Record<string, unknown>, name: string): string | undefined {
  if (data.claim !== undefined && data.claim !== 'in-value') {
    const problem = claimProblem(data.claim);
    if (problem) return `its claim: ${problem}`;
  }
  const rotation = data.rotation;
  if (rotation === undefined || rotation === 'in-value') return undefined;
  if (!isRecord(rotation)) return 'its rotation journal is not an object';
  if (rotation.version !== JOURNAL_VERSION)
    return `its rotation journal has version ${JSON.stringify(rotation.version ?? null)}; this datablast-aws understands version ${JOURNAL_VERSION}`;
  const problem = journalProblem(rotation, name);
  return problem ? `its rotation journal: ${problem}` : undefined;
}

/** Parses and validates a stored value; anything else is a ConfigError that never quotes the value. */
function parseRecord(value: string, id: string, name: string): StoredRecord {
  // Whatever it holds may be a secret.
  rememberSecret(value);
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    data = undefined;
  }
  const malformed = (detail: string) =>
    new ConfigError(`the secret ${id} does not hold a datablast-aws connection (${detail}); nothing was changed`, {
      hint: `Look at it with \`aws secretsmanager describe-secret --secret-id ${id}\`: if it is not ours, move it out of the prefix; if it is, remove it with \`datablast-aws remove\` and add the connection again.`,
    });
  if (!isRecord(data) || data.format !== RECORD_FORMAT) throw malformed(`its value is not ${RECORD_FORMAT} JSON`);
  const { accessKeyId, secretAccessKey, connection } = data;
  if (typeof secretAccessKey === 'string') rememberSecret(secretAccessKey);
  const hasPair = accessKeyId !== undefined || secretAccessKey !== undefined;
  if (
    hasPair &&
    !(typeof accessKeyId === 'string' && accessKeyId && typeof secretAccessKey === 'string' && secretAccessKey)
  )
    throw malformed('its key pair is incomplete');
  if (connection !== undefined) {
    const problem = connectionProblem(name, connection);
    if (problem) throw malformed(`its connection: ${problem}`);
  }
  const shared =
    data.rotation === 'in-value' || data.claim === 'in-value'
      ? 'its rotation journal or claim is not an object'
      : sharedStateProblem(data, name);
  if (shared) throw malformed(shared);
  if (!hasPair && connection === undefined) throw malformed('it holds neither a key nor a connection');
  return data as unknown as StoredRecord;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
