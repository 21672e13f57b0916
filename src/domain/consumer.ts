import { UsageError } from '../errors.js';

/**
 * Consumers: where a connection's key must go besides this machine's secret store (CLI.md, "Consumers and
 * the rotation lifecycle"). Pure: parsing `--deliver-to SPEC`, the record a connection keeps per consumer,
 * and the questions the rotation lifecycle asks of those records.
 */

/** The kinds of consumer: Datablast's form by hand, the user's own command, an AWS Secrets Manager secret. */
export type ConsumerKind = 'datablast' | 'exec' | 'aws-secrets-manager';

/** A parsed `--deliver-to SPEC`. */
export type ConsumerSpec =
  { kind: 'datablast' } | { kind: 'exec'; command: string } | { kind: 'aws-secrets-manager'; secretId: string };

/** Where a consumer stands with a key: handed over (proven), handed over awaiting a person's word, or failed. */
export type ConsumerState =
  | { status: 'delivered'; accessKeyId: string; at: string }
  | { status: 'pending'; accessKeyId: string; since: string }
  | { status: 'failed'; accessKeyId: string; at: string; message: string };

/** What a connection remembers about one consumer (metadata: never a secret). */
export interface ConsumerRecord {
  kind: ConsumerKind;
  /** The canonical spec, as `--deliver-to` takes it; the record's identity. */
  spec: string;
  /** aws-secrets-manager: the region the secret lives in, fixed when the consumer is added. */
  region?: string;
  /** aws-secrets-manager: the KMS key a newly created secret is encrypted with (AWS's own key when absent). */
  kmsKeyId?: string;
  /** The last delivery's outcome; absent until the first one. */
  state?: ConsumerState;
}

/** The longest `exec:` command we keep: a longer one belongs in a script file. */
export const MAX_EXEC_COMMAND_LENGTH = 4096;

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
/** Secrets Manager's secret name alphabet and length (CreateSecret, Name). */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME (NAME usually ends with -XXXXXX). */
const SECRET_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$/;

const SPEC_HINT =
  'Use `datablast`, `exec:COMMAND` (e.g. exec:./push-key.sh) or `aws-secrets-manager:SECRET_ID` (a secret name or ARN).';

/** Parses and checks a `--deliver-to` value; a UsageError (exit 2) names what is wrong. */
export function parseConsumerSpec(text: string, source = '--deliver-to'): ConsumerSpec {
  if (text === 'datablast') return { kind: 'datablast' };
  if (text.startsWith('exec:')) return { kind: 'exec', command: validateExecCommand(text.slice(5), source) };
  if (text.startsWith('aws-secrets-manager:'))
    return {
      kind: 'aws-secrets-manager',
      secretId: validateSecretId(text.slice('aws-secrets-manager:'.length), source),
    };
  const shown = JSON.stringify([...text].slice(0, 40).join(''));
  throw new UsageError(`${source}: ${shown} is not a consumer`, { hint: SPEC_HINT });
}

/** The canonical text of a spec: what `--deliver-to` takes and what the record keeps. */
export function formatConsumerSpec(spec: ConsumerSpec): string {
  switch (spec.kind) {
    case 'datablast':
      return 'datablast';
    case 'exec':
      return `exec:${spec.command}`;
    case 'aws-secrets-manager':
      return `aws-secrets-manager:${spec.secretId}`;
  }
}

/** The spec a record was made from (records are validated on read, so this does not fail on a valid one). */
export function specOf(record: ConsumerRecord): ConsumerSpec {
  return parseConsumerSpec(record.spec, 'consumer');
}

function validateExecCommand(command: string, source: string): string {
  if (command.trim() === '')
    throw new UsageError(`${source}: the exec: command is empty`, {
      hint: 'Name the command to run, e.g. --deliver-to "exec:./push-key.sh"; it gets the key in its environment.',
    });
  if (command.length > MAX_EXEC_COMMAND_LENGTH)
    throw new UsageError(
      `${source}: the exec: command is ${command.length} characters long; the limit is ${MAX_EXEC_COMMAND_LENGTH}`,
      { hint: 'Put the commands in a script and name the script.' },
    );
  // A newline or escape would garble every line that shows the spec, and hides what really runs.
  if (CONTROL.test(command))
    throw new UsageError(`${source}: the exec: command contains a control character (a newline, tab or similar)`, {
      hint: 'Put a multi-line command in a script and name the script.',
    });
  return command;
}

function validateSecretId(id: string, source: string): string {
  if (id === '')
    throw new UsageError(`${source}: the aws-secrets-manager: secret id is empty`, {
      hint: 'Name the secret, e.g. --deliver-to aws-secrets-manager:datablast/prod, or give its ARN.',
    });
  if (id.startsWith('arn:')) {
    if (!SECRET_ARN.test(id))
      throw new UsageError(`${source}: ${JSON.stringify(id.slice(0, 120))} is not a Secrets Manager secret ARN`, {
        hint: 'A secret ARN reads arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME; or give the secret name alone.',
      });
    return id;
  }
  if (!SECRET_NAME.test(id))
    throw new UsageError(`${source}: ${JSON.stringify(id.slice(0, 120))} is not a valid secret name`, {
      hint: 'A secret name is 1 to 512 of the characters A–Z a–z 0–9 / _ + = . @ - (Secrets Manager rules).',
    });
  return id;
}

/** The region named in a secret ARN, if the id is one. */
export function secretArnRegion(secretId: string): string | undefined {
  return SECRET_ARN.exec(secretId)?.[2];
}

/** A new record for a spec (no delivery yet). */
export function consumerRecord(
  spec: ConsumerSpec,
  extra: Pick<ConsumerRecord, 'region' | 'kmsKeyId'> = {},
): ConsumerRecord {
  return { kind: spec.kind, spec: formatConsumerSpec(spec), ...extra };
}

/** The consumers with `added` joined at the end; a spec already present is kept as it was (its state too). */
export function addConsumers(consumers: readonly ConsumerRecord[], added: readonly ConsumerRecord[]): ConsumerRecord[] {
  const result = [...consumers];
  for (const record of added) if (!result.some((c) => c.spec === record.spec)) result.push(record);
  return result;
}

/** The consumers with the one whose spec is `spec` given `state`. */
export function withState(consumers: readonly ConsumerRecord[], spec: string, state: ConsumerState): ConsumerRecord[] {
  return consumers.map((c) => (c.spec === spec ? { ...c, state } : c));
}

/** True when the consumer holds key `accessKeyId`, proven or confirmed. */
export function holdsKey(record: ConsumerRecord, accessKeyId: string): boolean {
  return record.state?.status === 'delivered' && record.state.accessKeyId === accessKeyId;
}

/** The consumers that still need key `accessKeyId`: never delivered, failed, pending, or holding another key. */
export function consumersNeeding(consumers: readonly ConsumerRecord[], accessKeyId: string): ConsumerRecord[] {
  return consumers.filter((c) => !holdsKey(c, accessKeyId));
}

/** True when every consumer holds key `accessKeyId` (vacuously true without consumers). */
export function allHold(consumers: readonly ConsumerRecord[], accessKeyId: string): boolean {
  return consumersNeeding(consumers, accessKeyId).length === 0;
}

/** The consumers awaiting a person's confirmation that they hold key `accessKeyId`. */
export function pendingFor(consumers: readonly ConsumerRecord[], accessKeyId: string): ConsumerRecord[] {
  return consumers.filter((c) => c.state?.status === 'pending' && c.state.accessKeyId === accessKeyId);
}

/**
 * When the last consumer finished taking key `accessKeyId` (the latest delivery time), or undefined while
 * any still needs it: the start of the rotation lifecycle's idle window.
 */
export function deliveryFinishedAt(consumers: readonly ConsumerRecord[], accessKeyId: string): string | undefined {
  if (!allHold(consumers, accessKeyId)) return undefined;
  let latest: string | undefined;
  for (const c of consumers) {
    const at = c.state?.status === 'delivered' ? c.state.at : undefined;
    if (at !== undefined && (latest === undefined || Date.parse(at) > Date.parse(latest))) latest = at;
  }
  return latest;
}

const KINDS: readonly ConsumerKind[] = ['datablast', 'exec', 'aws-secrets-manager'];

/**
 * What is wrong with a connection's stored `consumers` field, or undefined when it is absent or valid.
 * The connection store calls it on every read, beside its other field checks.
 */
export function consumerRecordsProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return '"consumers" is not a list';
  for (const [i, item] of value.entries()) {
    const problem = recordProblem(item);
    if (problem) return `"consumers"[${i}]: ${problem}`;
  }
  const specs = value.map((item) => (item as ConsumerRecord).spec);
  if (new Set(specs).size !== specs.length) return '"consumers" lists a consumer twice';
  return undefined;
}

function recordProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'not an object';
  const r = item as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !KINDS.includes(r.kind as ConsumerKind)) return '"kind" is not a consumer kind';
  if (typeof r.spec !== 'string') return '"spec" is missing or not text';
  let spec: ConsumerSpec;
  try {
    spec = parseConsumerSpec(r.spec, 'spec');
  } catch (error) {
    return (error as Error).message;
  }
  if (spec.kind !== r.kind) return '"kind" does not match "spec"';
  for (const field of ['region', 'kmsKeyId'] as const)
    if (r[field] !== undefined && typeof r[field] !== 'string') return `"${field}" is not text`;
  return r.state === undefined ? undefined : stateProblem(r.state);
}

function stateProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '"state" is not an object';
  const s = value as Record<string, unknown>;
  const text = (field: string) => typeof s[field] === 'string' && s[field] !== '';
  if (!text('accessKeyId')) return '"state.accessKeyId" is missing or not text';
  switch (s.status) {
    case 'delivered':
      return text('at') ? undefined : '"state.at" is missing or not text';
    case 'pending':
      return text('since') ? undefined : '"state.since" is missing or not text';
    case 'failed':
      if (!text('at')) return '"state.at" is missing or not text';
      return typeof s.message === 'string' ? undefined : '"state.message" is missing or not text';
    default:
      return '"state.status" is not delivered, pending or failed';
  }
}
