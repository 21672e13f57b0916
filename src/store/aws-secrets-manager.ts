import { randomUUID } from 'node:crypto';
import type { Clock, ConnectionStore, SecretListing, SecretsManager, SecretStore, Stores } from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { retry } from '../domain/backoff.js';
import { AwsError, CliError, ConfigError, SecretStoreError, UsageError } from '../errors.js';
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
 *   race re-reads and re-applies its change; AWSPENDING stays free for the rotation protocol.
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
}

/** Opens the `aws-secrets-manager` store: both ports over one adapter, sharing what was read (credential-process: one GetSecretValue). */
export function openSecretsManagerStore(options: SecretsManagerStoreOptions): Stores {
  const prefix = validatePrefix(options.prefix);
  const token = options.token ?? randomUUID;
  const where = `AWS Secrets Manager (${options.region}, prefix ${prefix})`;
  const read = new Map<string, Current | undefined>();
  let listing: Promise<Listing> | undefined;

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

  /** One read-modify-write, compare-and-swap on AWSCURRENT; a lost race re-reads and re-applies `change`. */
  const write = async (name: string, change: (record: StoredRecord | undefined) => StoredRecord): Promise<void> => {
    const id = secretName(name);
    const sm = await gateway();
    listing = undefined;
    await retry(
      options.clock,
      { initialDelayMs: 100, maxDelayMs: 2_000, timeoutMs: 30_000, maxAttempts: 6, jitter: true },
      async (attempt) => {
        const current = await load(name, attempt > 1);
        const next = change(current?.record);
        const version = token();
        const value = JSON.stringify(next);
        if (next.secretAccessKey) rememberSecret(next.secretAccessKey);
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
      },
      (error) => {
        // Another host created the secret, or moved AWSCURRENT, between our read and our write.
        const lost =
          error instanceof CliError &&
          (error.awsCode === 'ResourceExistsException' || error.awsCode === 'InvalidParameterException');
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
    return deleted;
  };

  const secrets: SecretStore = {
    kind: 'aws-secrets-manager',
    async get(account) {
      const record = (await load(account))?.record;
      if (!record?.accessKeyId || !record.secretAccessKey) return undefined;
      rememberSecret(record.secretAccessKey);
      return { accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey };
    },
    async has(account) {
      if (read.has(account)) return Boolean(read.get(account)?.record.secretAccessKey);
      return (await summaries()).ours.get(account)?.keyId !== undefined;
    },
    async set(account, pair: AccessKeyPair) {
      rememberSecret(pair.secretAccessKey);
      await write(account, (record) => ({
        ...(record ?? { format: RECORD_FORMAT }),
        accessKeyId: pair.accessKeyId,
        secretAccessKey: pair.secretAccessKey,
      }));
    },
    // The whole secret goes: the pair and the metadata are one entry here (remove deletes both anyway).
    delete: remove,
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
      await write(connection.name, (record) => ({
        ...(record ?? { format: RECORD_FORMAT }),
        connection: structuredClone(connection),
      }));
    },
    delete: remove,
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

  return { secrets, connections };
}

/** True for KMS's refusal as Secrets Manager reports it ("Access to KMS is not allowed", DecryptionFailure…). */
function isKmsRefusal(error: unknown): error is CliError {
  if (!(error instanceof CliError)) return false;
  if (['DecryptionFailure', 'EncryptionFailure', 'KMSAccessDeniedException'].includes(error.awsCode ?? '')) return true;
  const said = `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}`;
  return /AccessDenied/.test(error.awsCode ?? '') && /\bKMS\b|kms:/.test(said);
}

/** The description of a version: what `list` shows without reading any value. */
export function describe(record: StoredRecord, versionId: string): string {
  const summary = {
    'datablast-aws': 1,
    version: versionId,
    keyId: record.secretAccessKey ? (record.accessKeyId ?? null) : null,
    connection: record.connection ? listed(record.connection) : null,
  };
  const text = JSON.stringify(summary);
  // The validated fields are bounded (name 64, description 256, ARN 560 characters…): about 1,700 at worst.
  if (text.length > MAX_DESCRIPTION)
    throw new UsageError(`the connection's summary is ${text.length} characters; Secrets Manager allows 2048`, {
      hint: 'Shorten its description.',
    });
  return text;
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
  if (data.connection === null) return { name, summary: { keyId, fresh, connection: undefined } };
  const problem = connectionProblem(name, data.connection);
  if (problem) return `its summary: ${problem}`;
  return { name, summary: { keyId, fresh, connection: data.connection as Connection } };
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
  if (!hasPair && connection === undefined) throw malformed('it holds neither a key nor a connection');
  return data as unknown as StoredRecord;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
