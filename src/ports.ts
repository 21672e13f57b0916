/**
 * The ports: the interfaces the Context hands out, named after what commands need. Adapters (aws/, store/, ui/)
 * implement them and import this file, never the composition root (context.ts).
 */
import type { AccessKeyPair, Connection, Credentials } from './domain/connection.js';
import type { AccessKeyInfo, Identity, IamUser } from './domain/iam.js';
import type { SecretStoreError } from './errors.js';
import type { RotationJournal } from './domain/rotation.js';
import type { ConsumerRecord } from './domain/consumer.js';

/** The global options of CLI.md, resolved once by main. */
export interface GlobalOptions {
  json: boolean;
  /** False under --no-input, when stdin is not a TTY, or when CI=true. */
  input: boolean;
  color: boolean;
  profile: string | undefined;
  region: string | undefined;
  endpointUrl: string | undefined;
  debug: boolean;
}

/** Streams that know the terminal: stdout for results, stderr for everything else. */
export interface IO {
  out(text: string): void;
  err(text: string): void;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** Reads standard input to its end (for --secret-stdin); undefined, having stopped reading, when it holds more than `maxBytes`. */
  readStdin(maxBytes: number): Promise<string | undefined>;
}

/** Time, injectable so that tests control ages, backoff and timeouts. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** Questions asked on stderr; the scripted test prompter answers them in order. */
export interface Prompter {
  input(message: string, options?: { default?: string; validate?: (value: string) => string | true }): Promise<string>;
  password(message: string, options?: { validate?: (value: string) => string | true }): Promise<string>;
  confirm(message: string, options?: { default?: boolean }): Promise<boolean>;
  select<T extends string>(
    message: string,
    choices: Array<{ value: T; name?: string; description?: string }>,
    options?: { default?: T },
  ): Promise<T>;
  checkbox<T extends string>(
    message: string,
    choices: Array<{ value: T; name?: string; checked?: boolean }>,
    /** Checked at submission: a message keeps the prompt open (nothing is shown as answered). */
    options?: { validate?: (values: T[]) => string | true },
  ): Promise<T[]>;
}

/** Where secrets live: service `datablast-aws`, account = connection name (CLI.md, "Files"). */
export interface SecretStore {
  readonly kind: 'keychain' | 'file' | 'memory' | 'aws-secrets-manager';
  get(account: string): Promise<AccessKeyPair | undefined>;
  /** Whether the account holds an entry, found without reading its secret where the store allows (show). */
  has(account: string): Promise<boolean>;
  set(account: string, pair: AccessKeyPair): Promise<void>;
  /** True when something was deleted. */
  delete(account: string): Promise<boolean>;
  /** Every account that holds a secret. */
  list(): Promise<string[]>;
  /**
   * Every account's key pair, read in one pass where the store allows (one D-Bus GetSecrets for the
   * keychain, one decryption for the file): an entry that is not a key pair maps to its error.
   */
  readAll(): Promise<Map<string, AccessKeyPair | SecretStoreError>>;
  /**
   * The key id each account's pair holds, known without reading any secret (aws-secrets-manager: from ListSecrets);
   * accounts it cannot vouch for are left out. Absent where the store cannot tell: then readAll is the way.
   */
  storedKeyIds?(): Promise<Map<string, string>>;
}

/** The connection metadata file: never a secret. */
export interface ConnectionStore {
  /** The file's path, for messages. */
  readonly path: string;
  /** The directory holding metadata, journals and locks. */
  readonly dir: string;
  list(): Promise<Connection[]>;
  get(name: string): Promise<Connection | undefined>;
  /** Inserts or replaces. */
  put(connection: Connection): Promise<void>;
  /** True when something was deleted. */
  delete(name: string): Promise<boolean>;
}

/** One connection's rotation journal: written before each step, so that the next run finishes or undoes it. */
export interface Journal {
  /** Where it lives, for messages. */
  readonly path: string;
  /** The journal, or undefined when no rotation is under way; untrusted, unreadable or malformed → ConfigError (exit 3). */
  read(): Promise<RotationJournal | undefined>;
  /** Replaces it durably (it is worth nothing unless on disk before the step it announces). */
  write(journal: RotationJournal): Promise<void>;
  /** Removes it: the rotation is finished or undone. */
  clear(): Promise<void>;
}

/** The journals of every connection. */
export interface Journals {
  /** The journal of one connection. */
  of(connectionName: string): Journal;
}

/** A held lock; release it in a `finally`. */
export interface HeldLock {
  /** The lock file, for messages. */
  readonly path: string;
  /** Gives it up if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

/** Per-connection rotation locks that a killed process does not leave held forever. */
export interface RotationLocks {
  /** Where the lock of a connection lives, for messages. */
  path(connectionName: string): string;
  /** Takes the lock, waiting up to `waitMs` for a live holder; undefined when it is still held then. */
  acquire(connectionName: string, waitMs: number): Promise<HeldLock | undefined>;
  /** Whether a live process holds the lock now (list and show: a change under way explains a disagreement). */
  isHeld(connectionName: string): Promise<boolean>;
}

/** STS, domain-shaped. */
export interface Sts {
  getCallerIdentity(): Promise<Identity>;
}

/** IAM, domain-shaped; only the calls the product makes. */
export interface Iam {
  getUser(userName?: string): Promise<IamUser | undefined>;
  createUser(userName: string, options: { path?: string; tags: Record<string, string> }): Promise<IamUser>;
  tagUser(userName: string, tags: Record<string, string>): Promise<void>;
  listAccessKeys(userName: string): Promise<AccessKeyInfo[]>;
  createAccessKey(userName: string): Promise<AccessKeyPair & { createDate: string | undefined }>;
  updateAccessKey(userName: string, accessKeyId: string, status: 'Active' | 'Inactive'): Promise<void>;
  deleteAccessKey(userName: string, accessKeyId: string): Promise<void>;
  getAccessKeyLastUsed(
    accessKeyId: string,
  ): Promise<{ lastUsedDate: string | undefined; serviceName: string | undefined; region: string | undefined }>;
  listAttachedUserPolicies(userName: string): Promise<Array<{ policyArn: string; policyName: string }>>;
  attachUserPolicy(userName: string, policyArn: string): Promise<void>;
  detachUserPolicy(userName: string, policyArn: string): Promise<void>;
  listUserPolicies(userName: string): Promise<string[]>;
  getUserPolicy(userName: string, policyName: string): Promise<string | undefined>;
  putUserPolicy(userName: string, policyName: string, document: string): Promise<void>;
  deleteUserPolicy(userName: string, policyName: string): Promise<void>;
}

/** What a listing probe saw on its first page: how many items, and whether there are more. */
export interface ProbeCount {
  count: number;
  more: boolean;
}

/** Read-only calls that show whether a key may use a service (`test --service`); a denial names the IAM action. */
export interface Probes {
  /** s3:ListAllMyBuckets (ListBuckets). */
  listBuckets(): Promise<ProbeCount>;
  /** s3:ListBucket on one bucket (HeadBucket). */
  headBucket(bucket: string): Promise<void>;
  /** s3:GetBucketLocation on one bucket: the region it lives in. */
  bucketRegion(bucket: string): Promise<string>;
  /** s3:ListBucket on one bucket under a key prefix (ListObjectsV2, first page). */
  listObjects(bucket: string, prefix?: string): Promise<ProbeCount>;
  /** rds:DescribeDBInstances, first page. */
  describeDbInstances(): Promise<ProbeCount>;
  /** lambda:ListFunctions, first page. */
  listFunctions(): Promise<ProbeCount>;
}

/** A pair of gateways signed by one set of credentials. */
export interface AwsSession {
  sts: Sts;
  iam: Iam;
  /**
   * STS at the global endpoint (https://sts.amazonaws.com, or the endpoint override), signed for us-east-1:
   * `test` asks it only after the regional endpoint rejected the key, to recognise an opt-in region.
   */
  globalSts?: Sts;
  /** Service access probes for `test --service`. */
  probes?: Probes;
  /** Secrets Manager in `region` (the aws-secrets-manager consumer; admin-signed sessions only). */
  secretsManager?: (region: string) => SecretsManager;
}

/** A secret as DescribeSecret tells it (never its value). */
export interface SecretDescription {
  arn: string;
  name: string;
  tags: Record<string, string>;
  /** Set when the secret is scheduled for deletion. */
  deletedDate?: string;
}

/** A secret as ListSecrets tells it: name, tags, description and which version holds which staging label, never a value. */
export interface SecretListing {
  arn: string;
  name: string;
  tags: Record<string, string>;
  description: string | undefined;
  /** Version id → its staging labels (AWSCURRENT, AWSPREVIOUS, AWSPENDING, ours). */
  versionStages: Record<string, string[]>;
}

/** AWS Secrets Manager, domain-shaped: only the calls the product makes. */
export interface SecretsManager {
  /** Every secret whose name starts with `namePrefix`: ListSecrets, all pages; no value is read. */
  listByPrefix(namePrefix: string): Promise<SecretListing[]>;
  /** The secret, or undefined when it does not exist. */
  describe(secretId: string): Promise<SecretDescription | undefined>;
  /** Creates the secret holding `value` as its first (AWSCURRENT) version. */
  create(
    name: string,
    value: string,
    options: { tags: Record<string, string>; kmsKeyId?: string; clientRequestToken: string; description?: string },
  ): Promise<{ arn: string; versionId: string }>;
  /** Puts `value` as a new version labelled `stages` (default: AWSCURRENT); its version id is `clientRequestToken`. */
  put(secretId: string, value: string, clientRequestToken: string, stages?: string[]): Promise<{ versionId: string }>;
  /**
   * Moves staging label `stage` to `moveToVersionId`; with `removeFromVersionId`, a compare-and-swap: AWS refuses
   * (InvalidParameterException) when the label is no longer on that version.
   */
  moveStage(secretId: string, stage: string, moveToVersionId: string, removeFromVersionId: string): Promise<void>;
  /** Takes staging label `stage` off `fromVersionId` (UpdateSecretVersionStage without a target); refused when it is not there. */
  removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void>;
  /** Sets the secret's description (UpdateSecret without a value: no new version). */
  setDescription(secretId: string, description: string): Promise<void>;
  /** Deletes the secret at once, without a recovery window; false when it did not exist. */
  deleteNow(secretId: string): Promise<boolean>;
  /**
   * The value of one version, named by its id or by a staging label (default AWSCURRENT); undefined when the secret
   * or that version does not exist.
   */
  getValue(
    secretId: string,
    version?: { versionId: string } | { stage: string },
  ): Promise<{ value: string; versionId: string } | undefined>;
}

/**
 * AWS access. Admin calls and connection calls are different gateways,
 * so no command uses admin credentials by accident.
 */
export interface Aws {
  /** Signed by the standard credential chain (--profile, AWS_PROFILE, environment, files, SSO). */
  admin(): Promise<AwsSession>;
  /** Signed by a connection's own key. */
  as(credentials: Credentials, region?: string): Promise<AwsSession>;
}

/** What one hand-off to a consumer achieved; `detail` and `output` are for people and never carry a secret. */
export type DeliveryOutcome =
  | { status: 'delivered'; detail: string; output?: string }
  | { status: 'pending'; detail: string }
  | { status: 'failed'; message: string; hint?: string; output?: string };

/** One place a connection's key must go besides this machine's secret store (domain/consumer.ts). */
export interface Consumer {
  /** Hands `pair` over; never throws for the consumer's own failure (that is a `failed` outcome). */
  deliver(connection: Connection, pair: AccessKeyPair): Promise<DeliveryOutcome>;
}

/** A person's terminal, for the hand-offs that need one (the `datablast` form). */
export interface Terminal {
  /** Writes straight to the terminal, unscrubbed: the one way a secret may reach a person's screen. */
  write(text: string): void;
  /** Waits for one keypress and returns it; Ctrl-C cancels (CancelledError). */
  readKey(): Promise<string>;
}

/** The secret stores of DATABLAST_AWS_SECRET_STORE. */
export type StoreKind = 'keychain' | 'file' | 'aws-secrets-manager';

/** A secret store with the metadata store that goes with it. */
export interface Stores {
  secrets: SecretStore;
  connections: ConnectionStore;
  /** A store shared by many hosts keeps the rotation journals and locks itself (aws-secrets-manager). */
  journals?: Journals;
  locks?: RotationLocks;
}

/** Everything a command may touch. Each port is built on first use. */
export interface Context {
  readonly io: IO;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly globals: GlobalOptions;
  readonly clock: Clock;
  prompter(): Promise<Prompter>;
  secrets(): Promise<SecretStore>;
  connections(): Promise<ConnectionStore>;
  aws(): Promise<Aws>;
  /** Rotation journals, beside the metadata. */
  journals(): Promise<Journals>;
  /** Rotation locks, beside the metadata. */
  locks(): Promise<RotationLocks>;
  /** A fresh pair of stores of `kind`, whatever DATABLAST_AWS_SECRET_STORE says (move-store). */
  stores(kind: StoreKind): Promise<Stores>;
  /** The consumer a connection's record describes (consumers/). */
  consumer(record: ConsumerRecord, options?: ConsumerOptions): Promise<Consumer>;
  /** Set by a command whose result is printed but whose outcome is a failure (e.g. `test`). */
  exitCode: number;
}

/** Ports a caller (a test, or main) may supply instead of the real ones. */
export interface ContextParts {
  io: IO;
  env: Record<string, string | undefined>;
  clock: Clock;
  prompter: () => Promise<Prompter>;
  secrets: () => Promise<SecretStore>;
  connections: () => Promise<ConnectionStore>;
  aws: () => Promise<Aws>;
  journals: () => Promise<Journals>;
  locks: () => Promise<RotationLocks>;
  stores: (kind: StoreKind) => Promise<Stores>;
  consumer: (record: ConsumerRecord, options?: ConsumerOptions) => Promise<Consumer>;
}

/** Settings of a hand-off that are not part of the consumer's record. */
export interface ConsumerOptions {
  /** How long an `exec:` command may run before it is stopped (milliseconds). */
  execTimeoutMs?: number;
}
