import type {
  Aws,
  AwsSession,
  Clock,
  ConnectionStore,
  Consumer,
  ConsumerOptions,
  Iam,
  Journal,
  SecretStore,
} from '../ports.js';
import type { ConsumerRecord } from '../domain/consumer.js';
import type { LastUse } from '../domain/lifecycle.js';
import type { AccessKeyInfo } from '../domain/iam.js';
import { quotedName, type AccessKeyPair, type Connection } from '../domain/connection.js';
import { rememberSecret } from '../domain/redact.js';
import { retry } from '../domain/backoff.js';
import { RETIRE_POLICY, type OtherKeyDecision, type ResumeAction, type RotationJournal } from '../domain/rotation.js';
import { AwsError, CliError, ConfigError, CredentialsRejectedError } from '../errors.js';
import { RotationStop } from './decisions.js';

/*
 * One rotation's state, and the port calls every phase shares (phases.ts holds the phases themselves).
 */

/** What the engine's caller asks for one connection. */
export interface RotationRequest {
  olderThan?: number;
  keepOld: boolean;
  admin: boolean;
  dryRun: boolean;
  /** `--now`: retire the old key at once (the default only for a connection without consumers or exported profile). */
  now?: boolean;
  /** `--reactivate-old`: turn the inactive old key of a lifecycle back on, and stop the lifecycle there. */
  reactivateOld?: boolean;
  /** `--idle` in ms (default DEFAULT_IDLE_MS). */
  idleMs?: number;
  /** `--grace` in ms (default DEFAULT_GRACE_MS). */
  graceMs?: number;
  /** `--require-new-key-use`: the new key must show use since delivery before the old one is deactivated. */
  requireNewKeyUse?: boolean;
  /** The connection was named (not --all): a lifecycle the operator stopped with --reactivate-old goes on again. */
  named?: boolean;
  /** How long an exec: consumer may run (ms). */
  execTimeoutMs?: number;
  /** How long to wait for another run's lock (default: engine.ts's rule by --older-than). */
  lockWaitMs?: number;
}

/** Where a lifecycle stands after this run (RotateResult.lifecycle). */
export interface LifecycleReport {
  /** The journal phase, or `retired` when the old key is gone (or kept inactive with --keep-old). */
  phase: 'switched' | 'delivered' | 'deactivated' | 'reactivated' | 'retired';
  /** When the lifecycle entered that phase. */
  since: string;
  /** The old key's last use, as AWS's last-used data showed it during this run (null: not asked). */
  oldKeyLastUsed: LastUse | null;
  /** The earliest time the next step may happen, when it waits for time. */
  waitUntil: string | null;
  /** Why the lifecycle waits or is held, in words. */
  reason: string | null;
}

/** The ports and facts one rotation works with; phases read and fill in what they learn. */
export interface RotationRun {
  readonly name: string;
  readonly request: RotationRequest;
  readonly clock: Clock;
  readonly connections: ConnectionStore;
  readonly secrets: SecretStore;
  readonly aws: Aws;
  readonly journal: Journal;
  /** The region the connection's calls are signed for (domain/region.ts's rule). */
  readonly region: string;
  readonly say: (message: string) => void;
  readonly warn: (message: string) => void;
  /** The consumer a record describes (ports.ts Context.consumer), for the deliver phase. */
  readonly consumer: (record: ConsumerRecord, options?: ConsumerOptions) => Promise<Consumer>;
  /** check, or the journal: retire by the lifecycle (the connection has consumers or an exported profile). */
  lifecycle?: boolean;
  /** A lifecycle phase's result status (engine.ts RotateStatus), and where the lifecycle stands. */
  lifecycleStatus?:
    | 'delivery-pending'
    | 'delivery-failed'
    | 'delivered'
    | 'waiting-idle'
    | 'held'
    | 'deactivated'
    | 'retired'
    | 'reactivated';
  report?: LifecycleReport;
  /** deliver: this run finished the hand-off. */
  deliveredThisRun?: boolean;
  /** The journal as last read or written. */
  entry?: RotationJournal;
  /** The resume decision, when a journal was found. */
  resume?: Exclude<ResumeAction, { kind: 'refuse' }>;
  /** The key the connection holds now. */
  current?: AccessKeyPair;
  /** The pending entry's key. */
  pending?: AccessKeyPair;
  /** The new key, once created (or found stored). */
  fresh?: AccessKeyPair;
  userName?: string;
  accountId?: string;
  /** The user's keys as last listed. */
  keys?: AccessKeyInfo[];
  /** check: the user's other key, and whether the pending entry is a leftover. */
  other?: OtherKeyDecision;
  stalePending?: boolean;
  /** check: the age that made the run skip. */
  skippedAge?: number;
  /** retire: what IAM confirmed about the old key. */
  oldKey?: 'deleted' | 'inactive';
  adminSession?: Promise<AwsSession>;
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);

/** Which key would sign an IAM call without --admin: the connection's current key, or the new one. */
export type Signer = 'own' | 'new';

/** The run's clock time, as stored in the journal and the metadata. */
export const now = (r: RotationRun) => r.clock.now().toISOString();

/** A secret-store entry, remembered for redaction. */
export async function storedPair(r: RotationRun, account: string): Promise<AccessKeyPair | undefined> {
  const pair = await r.secrets.get(account);
  rememberSecret(pair?.secretAccessKey);
  return pair;
}

/** The connection's metadata; gone during the run → a refusal (exit 3). */
export async function connection(r: RotationRun): Promise<Connection> {
  const found = await r.connections.get(r.name);
  if (!found)
    throw new RotationStop(
      new ConfigError(`no connection named ${quotedName(r.name)}`, {
        hint: 'It was removed while the rotation ran. Run `datablast-aws list`.',
      }),
    );
  return found;
}

/** The IAM gateway for calls that would be signed by `pair` without --admin. */
export async function iamAs(r: RotationRun, pair: AccessKeyPair): Promise<Iam> {
  if (r.request.admin) {
    r.adminSession ??= r.aws.admin();
    return (await r.adminSession).iam;
  }
  return (await r.aws.as(pair, r.region)).iam;
}

/**
 * One IAM call: names the missing permission on AccessDenied; signed by a key created moments ago, it
 * is retried while IAM does not accept that key yet (eventual consistency), under RETIRE_POLICY.
 */
export async function iamCall<T>(r: RotationRun, action: string, signer: Signer, call: () => Promise<T>): Promise<T> {
  const waitsForNewKey = signer === 'new' && !r.request.admin;
  try {
    return await retry(
      r.clock,
      RETIRE_POLICY,
      () => call(),
      (error) => waitsForNewKey && error instanceof CredentialsRejectedError,
    );
  } catch (error) {
    const code = error instanceof CliError ? error.awsCode : undefined;
    if (code !== undefined && ACCESS_DENIED.has(code)) throw permissionError(r, action, error as CliError);
    throw error;
  }
}

function permissionError(r: RotationRun, action: string, cause: CliError): AwsError {
  const user = r.userName ?? r.entry?.userName ?? 'USER';
  const details = { cause, awsCode: cause.awsCode, requestId: cause.requestId };
  if (r.request.admin) {
    return new AwsError(`the admin credentials may not call ${action} on user ${user}`, {
      ...details,
      hint: `Use --profile with credentials allowed to call ${action}, or drop --admin if the user may rotate its own key.`,
    });
  }
  return new AwsError(`the key of connection "${r.name}" may not call ${action} on its own user ${user}`, {
    ...details,
    hint: `Let the user rotate its own key with \`datablast-aws attach-policy ${user} --self-rotation\` (run with admin credentials), or rotate with --admin to sign IAM calls with the --profile credentials.`,
  });
}

/** Deletes a key; one that is already gone is fine (a re-run may repeat a step). */
export async function deleteKey(r: RotationRun, iam: Iam, signer: Signer, userName: string, id: string): Promise<void> {
  try {
    await iamCall(r, 'iam:DeleteAccessKey', signer, () => iam.deleteAccessKey(userName, id));
  } catch (error) {
    if (error instanceof CliError && error.awsCode === 'NoSuchEntity') return;
    throw error;
  }
}

/** Writes the journal before the step it announces; a write that fails is exit 3, and nothing is rotated. */
export async function writeJournal(r: RotationRun, entry: RotationJournal): Promise<void> {
  try {
    await r.journal.write(entry);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new ConfigError(`cannot write the rotation journal ${r.journal.path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'The config directory must be writable (and the disk not full); nothing is rotated without a journal.',
    });
  }
  r.entry = entry;
}

/** Key ids held by connections' metadata → connection name; this connection holds `currentId`. */
export async function holders(r: RotationRun, currentId: string): Promise<Map<string, string>> {
  const held = new Map<string, string>();
  for (const c of await r.connections.list()) if (c.name !== r.name) held.set(c.accessKeyId, c.name);
  held.set(currentId, r.name);
  return held;
}
