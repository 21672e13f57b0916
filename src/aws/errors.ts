import {
  AwsError,
  CliError,
  ConfigError,
  CredentialsRejectedError,
  ExitCode,
  UsageError,
  type CliErrorOptions,
} from '../errors.js';
import { failureOfCliError, type CheckId } from '../domain/diagnosis.js';
import { redact } from '../domain/redact.js';
import { MAX_ANSWER_BYTES } from './guard.js';

/**
 * The ONE table that turns AWS SDK and network errors into our errors. Each row gives the exit code,
 * the troubleshooting checklist item it belongs to (domain/diagnosis.ts), a message in our words
 * naming the action, and a hint with the next step. `test` builds its checklist from `classify`.
 */

/** The shape of an error thrown by the AWS SDK v3 (service exception or Node network failure). */
interface SdkErrorLike {
  name?: string;
  code?: string;
  /** AWS's error code as sent on the wire (the SDK adds it for query-protocol errors). */
  Code?: string;
  message?: string;
  hostname?: string;
  address?: string;
  port?: number;
  errors?: unknown[];
  cause?: unknown;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  /** Set by our proxy agent on a failure of the proxy itself. */
  $proxy?: string;
  /** Set by the answer guard (aws/guard.ts): the content type of an answer that is not AWS's. */
  $contentType?: string;
}

/** Whose credentials signed the failing call: the admin chain or a connection's own key. */
export type Signer = 'admin' | 'key';

/** What the caller knows about the failing call, for better words. */
export interface CallFacts {
  /** Whose credentials signed it (default 'key'). */
  signer?: Signer;
  /** The region the call was made in. */
  region?: string;
  /** The admin profile in use, if any. */
  profile?: string;
}

/** The outcome of one failure, in our terms: what `test` prints and what the CLI exits with. */
export interface Classification {
  /** The AWS error code or Node network code we matched (e.g. SignatureDoesNotMatch, ECONNREFUSED). */
  code: string;
  exitCode: 2 | 3 | 4 | 5;
  /** The checklist item this failure belongs to. */
  diagnosis: CheckId;
  /** Lower-case, in our words, naming the action; never a credential. */
  message: string;
  /** The next step for the user. */
  hint: string;
  requestId?: string;
  httpStatusCode?: number;
}

/** Everything a row may use to word its message. */
interface Facts extends CallFacts {
  code: string;
  action: string;
  /** AWS's own message, scrubbed of key ids and secrets. */
  awsMessage: string;
  status: number | undefined;
  /** The host or host:port a network error names. */
  target: string | undefined;
  proxy: string | undefined;
  region: string | undefined;
  /** The content type of the answer, when the answer guard refused it. */
  contentType: string | undefined;
}

interface Row {
  exitCode: 2 | 3 | 4 | 5;
  diagnosis: CheckId | ((f: Facts) => CheckId);
  message: (f: Facts) => string;
  hint: (f: Facts) => string;
}

const subject = (f: Facts): string => (f.signer === 'admin' ? 'the admin credentials' : 'the access key');
const testHint = 'Run `datablast-aws test NAME` for a diagnosis.';
const adminHint =
  'Give admin credentials: `--profile NAME` (a profile of ~/.aws/config), `AWS_PROFILE=NAME`, `aws configure` to store a key, or `aws sso login --profile NAME` for SSO.';
const isKeyAction = (f: Facts): boolean => /AccessKey/.test(f.action);

const unknownKeyId: Row = {
  exitCode: 4,
  diagnosis: 'credentials',
  message: (f) => `AWS does not recognise the access key id of ${subject(f)} (${f.code}) on ${f.action}`,
  hint: (f) =>
    f.signer === 'admin'
      ? 'Check the admin credentials (--profile, AWS_PROFILE or AWS_ACCESS_KEY_ID): the key id is mistyped, deleted or inactive. `aws sts get-caller-identity` shows what they are.'
      : `Check the access key id for typos. If it is right, the key was deleted, deactivated or rotated elsewhere, or the region is an opt-in region not enabled for the account. ${testHint}`,
};

const wrongSecret: Row = {
  exitCode: 4,
  diagnosis: 'credentials',
  message: (f) => `the secret access key of ${subject(f)} does not match its access key id (${f.code}) on ${f.action}`,
  hint: () =>
    'Enter the secret access key exactly as AWS showed it (40 characters, no spaces or quotes); if it is lost, create a new key.',
};

const clock: Row = {
  exitCode: 4,
  diagnosis: 'clock',
  message: (f) =>
    `AWS rejected the request time of ${f.action} (${f.code}): this machine's clock is probably off by more than 5 minutes`,
  hint: () => 'Set the system clock right (turn on NTP, e.g. `timedatectl set-ntp true`) and try again.',
};

const expired: Row = {
  exitCode: 4,
  diagnosis: 'key-status',
  message: (f) => `the session token of ${subject(f)} has expired (${f.code}) on ${f.action}`,
  hint: (f) =>
    f.signer === 'admin'
      ? `Refresh the admin session (\`aws sso login${f.profile ? ` --profile ${f.profile}` : ''}\`, or assume the role again) and retry.`
      : 'Temporary (ASIA…) keys expire: store a long-lived access key of an IAM user instead.',
};

const denied: Row = {
  exitCode: 5,
  diagnosis: 'permissions',
  message: (f) => `AWS denied ${deniedAction(f)}${deniedReason(f)}`,
  hint: (f) =>
    f.signer === 'admin'
      ? `Use admin credentials that are allowed ${deniedAction(f)} (e.g. \`--profile\` of an administrator), or ask your AWS administrator.`
      : `Grant ${deniedAction(f)} to the IAM user (\`datablast-aws attach-policy USER ...\`; for rotation \`--self-rotation\`), or ask your AWS administrator.`,
};

const ipRestricted: Row = {
  exitCode: 5,
  diagnosis: 'ip-restriction',
  message: (f) =>
    `AWS denied ${deniedAction(f)}: an explicit deny with a source-IP condition blocks this machine${policyOf(f)}`,
  hint: () =>
    "Run from an allowed network, or ask the administrator to add this machine's public IP address to the policy's aws:SourceIp list.",
};

const limit: Row = {
  exitCode: 5,
  diagnosis: (f) => (isKeyAction(f) ? 'key-status' : 'permissions'),
  message: (f) =>
    f.action === 'iam:CreateAccessKey'
      ? `the user already has two access keys, the most AWS allows (${f.code} on ${f.action})`
      : `an AWS limit was reached on ${f.action} (${f.code})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: (f) =>
    f.action === 'iam:CreateAccessKey'
      ? 'Delete an unused key of the user (`aws iam list-access-keys --user-name USER` lists them), then retry.'
      : 'Remove something unused (e.g. a policy attached to the user) or ask AWS for a higher quota.',
};

const throttled: Row = {
  exitCode: 5,
  diagnosis: 'region',
  message: (f) => `AWS throttled ${f.action} even after retrying (${f.code})`,
  hint: () => 'Wait a minute and retry; run fewer commands at once.',
};

const serviceFailure: Row = {
  exitCode: 5,
  diagnosis: 'region',
  message: (f) => `AWS failed on ${f.action} (${f.code}${f.status ? `, HTTP ${f.status}` : ''})`,
  hint: () => "This is on AWS's side: retry in a few minutes, and check https://health.aws.amazon.com.",
};

const regionDisabled: Row = {
  exitCode: 5,
  diagnosis: 'region',
  message: (f) =>
    `the region ${f.region ?? ''}${f.region ? ' ' : ''}is not enabled for this account or service (${f.code} on ${f.action})`,
  hint: () => 'Enable the region in the AWS console (Account, AWS Regions), or choose an enabled one with --region.',
};

const invalidRegion: Row = {
  exitCode: 2,
  diagnosis: 'region',
  message: (f) => `${f.region ? `"${f.region}"` : 'the region'} is not a valid AWS region name (${f.action})`,
  hint: () => 'Give a region such as us-east-1 or eu-west-1 with --region.',
};

const noSuchEntity: Row = {
  exitCode: 5,
  diagnosis: (f) => (/polic/i.test(f.awsMessage) || /Polic/.test(f.action) ? 'permissions' : 'key-status'),
  message: (f) => `AWS found no such entity on ${f.action}${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: (f) =>
    isKeyAction(f)
      ? `The key was deleted or rotated elsewhere. ${testHint}`
      : 'Check the name: it does not exist in this account, or was deleted.',
};

const alreadyExists: Row = {
  exitCode: 5,
  diagnosis: 'permissions',
  message: (f) => `it already exists (${f.code} on ${f.action})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: () => 'Use the existing one, or choose another name.',
};

const malformedPolicy: Row = {
  exitCode: 5,
  diagnosis: 'permissions',
  message: (f) =>
    `AWS refused the policy document on ${f.action} (${f.code})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: () => 'Fix the policy JSON (Version "2012-10-17", Statement with Effect, Action, Resource) and retry.',
};

const invalidInput: Row = {
  exitCode: 5,
  diagnosis: 'format',
  message: (f) => `AWS refused the input of ${f.action} (${f.code})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: () => 'Check the names and values given; re-run with --debug for the request id.',
};

const dns: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) => `could not resolve ${f.target ?? 'the AWS endpoint'} (DNS, ${f.code}) for ${f.action}`,
  hint: () =>
    'Check the internet connection and DNS (`nslookup` the host); a mistyped --endpoint-url or --region gives this too. Behind a proxy, set HTTPS_PROXY.',
};

const tcp: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) => `could not connect to ${f.target ?? 'the AWS endpoint'} (${f.code}) for ${f.action}`,
  hint: () =>
    'Check that the network and firewall allow HTTPS (port 443) to AWS, and --endpoint-url if you gave one. Behind a proxy, set HTTPS_PROXY.',
};

const timeout: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) => `no answer from ${f.target ?? 'AWS'} in time for ${f.action} (${f.code})`,
  hint: () => 'Check the network: a firewall may be dropping traffic to AWS. Behind a proxy, set HTTPS_PROXY.',
};

const tls: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) => `the TLS connection to ${f.target ?? 'AWS'} failed (${f.code}) for ${f.action}`,
  hint: () =>
    'A proxy or firewall may be intercepting HTTPS: add its CA certificate with NODE_EXTRA_CA_CERTS=/path/ca.pem. A wrong system clock also makes certificates look invalid.',
};

const proxy: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) =>
    f.code === 'ProxyAuthenticationRequired'
      ? `the proxy ${f.proxy ?? ''}${f.proxy ? ' ' : ''}asks for authentication (HTTP 407) for ${f.action}`
      : `the proxy ${f.proxy ?? ''}${f.proxy ? ' ' : ''}failed (${f.code}) for ${f.action}`,
  hint: (f) =>
    f.code === 'ProxyAuthenticationRequired'
      ? 'Put the proxy credentials in HTTPS_PROXY (http://USER:PASSWORD@HOST:PORT), or ask your network administrator.'
      : 'Check HTTPS_PROXY (host and port) and that the proxy is running, or set NO_PROXY for the AWS endpoint if no proxy is needed.',
};

/** What answered, as far as we may say: status and content type, never the body. */
const answerOf = (f: Facts): string =>
  [f.status ? `HTTP ${f.status}` : '', f.contentType !== undefined ? f.contentType || 'no content type' : '']
    .filter(Boolean)
    .join(', ');

const notAws: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) => `something other than AWS answered ${f.action}${answerOf(f) ? ` (${answerOf(f)})` : ''}`,
  hint: () =>
    'A captive portal, a proxy (HTTPS_PROXY, or one on the network) or a wrong --endpoint-url answered instead of AWS: check the network, the proxy and --endpoint-url.',
};

const tooLarge: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) =>
    `the answer to ${f.action} was larger than any AWS answer to it (${answerOf(f) ? `${answerOf(f)}, ` : ''}over ${MAX_ANSWER_BYTES / 1024 / 1024} MiB): something other than AWS answered`,
  hint: () =>
    'A proxy or a wrong --endpoint-url may be streaming something else: check the network, the proxy and --endpoint-url.',
};

const noAdminCredentials: Row = {
  exitCode: 3,
  diagnosis: 'credentials',
  message: (f) => {
    if (/sso/i.test(f.awsMessage) && /expired|invalid|refresh/i.test(f.awsMessage))
      return `the SSO session${f.profile ? ` of profile ${f.profile}` : ''} has expired (${f.action})`;
    if (f.profile)
      return `no admin credentials from the AWS profile "${f.profile}": it was not found or has no usable credentials (${f.action})`;
    return `no admin credentials found for ${f.action}`;
  },
  hint: (f) =>
    /sso/i.test(f.awsMessage)
      ? `Run \`aws sso login${f.profile ? ` --profile ${f.profile}` : ''}\`, then retry.`
      : adminHint,
};

const generic: Row = {
  exitCode: 5,
  diagnosis: 'permissions',
  message: (f) =>
    `AWS refused ${f.action} (${f.code}${f.status ? `, HTTP ${f.status}` : ''})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: () => 'Re-run with --debug for the AWS request id.',
};

const unreached: Row = {
  exitCode: 5,
  diagnosis: 'network',
  message: (f) =>
    `the call ${f.action} failed before AWS answered (${f.code})${f.awsMessage ? `: ${f.awsMessage}` : ''}`,
  hint: () => 'Check the network and --endpoint-url; re-run with --debug for details.',
};

/** Node's TLS failure codes: an intercepting proxy, a missing CA, a wrong clock. */
const TLS_CODES = [
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
];

/** The table: every known AWS error name or Node error code → its row. */
const TABLE: ReadonlyMap<string, Row> = new Map<string, Row>([
  ...rows(
    ['InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidAccessKeyId', 'AuthFailure', 'InvalidToken'],
    unknownKeyId,
  ),
  ...rows(
    [
      'SignatureDoesNotMatch',
      'InvalidSignatureException',
      'IncompleteSignature',
      'MissingAuthenticationToken',
      'MissingAuthenticationTokenException',
    ],
    wrongSecret,
  ),
  ...rows(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired'], expired),
  ...rows(['RequestExpired', 'RequestTimeTooSkewed', 'RequestInTheFuture', 'SignatureExpired'], clock),
  ...rows(
    ['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess', 'NotAuthorized'],
    denied,
  ),
  ...rows(['SourceIpDenied'], ipRestricted),
  ...rows(['LimitExceeded', 'LimitExceededException', 'QuotaExceeded', 'ServiceQuotaExceededException'], limit),
  ...rows(
    [
      'Throttling',
      'ThrottlingException',
      'ThrottledException',
      'TooManyRequestsException',
      'TooManyRequests',
      'RequestLimitExceeded',
      'RequestThrottled',
      'RequestThrottledException',
      'SlowDown',
      'PriorRequestNotComplete',
    ],
    throttled,
  ),
  ...rows(
    [
      'ServiceUnavailable',
      'ServiceUnavailableException',
      'InternalFailure',
      'InternalError',
      'InternalServerError',
      'InternalServiceError',
      'ServiceFailure',
      'ServiceFailureException',
      'BadGateway',
      'GatewayTimeout',
    ],
    serviceFailure,
  ),
  ...rows(['OptInRequired', 'RegionDisabledException', 'RegionDisabled', 'InvalidRegion'], regionDisabled),
  ...rows(['InvalidRegionName'], invalidRegion),
  ...rows(['NoSuchEntity', 'NoSuchEntityException'], noSuchEntity),
  ...rows(['EntityAlreadyExists', 'EntityAlreadyExistsException'], alreadyExists),
  ...rows(['MalformedPolicyDocument', 'MalformedPolicyDocumentException'], malformedPolicy),
  ...rows(['InvalidInput', 'ValidationError', 'InvalidParameterValue', 'InvalidParameterCombination'], invalidInput),
  ...rows(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA'], dns),
  ...rows(
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'ENETDOWN',
      'EHOSTDOWN',
      'EPIPE',
      'ECONNABORTED',
      'EADDRNOTAVAIL',
    ],
    tcp,
  ),
  ...rows(['TimeoutError', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'RequestTimeout', 'RequestTimeoutException'], timeout),
  ...rows(TLS_CODES, tls),
  ...rows(['ProxyAuthenticationRequired', 'ProxyError'], proxy),
  ...rows(['NotAwsResponse'], notAws),
  ...rows(['ResponseTooLarge'], tooLarge),
  ...rows(['CredentialsProviderError', 'TokenProviderError', 'NoAdminCredentials'], noAdminCredentials),
]);

function rows(codes: string[], row: Row): Array<[string, Row]> {
  return codes.map((code) => [code, row]);
}

/**
 * Whether a failure is AWS saying "slow down" (IAM answers HTTP 400 `Throttling`, "Rate exceeded"): a
 * call refused that way did nothing, so any call, CreateAccessKey included, may be sent again.
 */
export function isThrottling(error: unknown): boolean {
  const code = error instanceof CliError ? error.awsCode : classify(error).code;
  return code !== undefined && TABLE.get(code) === throttled;
}

/** Every error code the table knows, for tests and docs. */
export function knownCodes(): string[] {
  return [...TABLE.keys()];
}

/** Node's network error codes, which win over the error's name (the SDK renames ECONNRESET to TimeoutError). */
const NODE_CODE =
  /^(E[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+)$/;

/**
 * Classifies any failure of an AWS call: the exit code, the checklist item, our message and the next step.
 * Pure: no I/O. A CliError we already translated keeps its classification.
 */
export function classify(error: unknown, action = 'the AWS call', facts: CallFacts = {}): Classification {
  if (error instanceof CliError) return failureOfCliError(error);
  const e = sdkFields(error);
  const f = factsOf(e, action, facts);
  const row = rowFor(f, e);
  const diagnosis = typeof row.diagnosis === 'function' ? row.diagnosis(f) : row.diagnosis;
  const result: Classification = {
    code: f.code,
    exitCode: row.exitCode,
    diagnosis,
    message: scrub(row.message(f)),
    hint: row.hint(f),
  };
  const requestId = e.$metadata?.requestId;
  if (requestId) result.requestId = requestId;
  if (f.status) result.httpStatusCode = f.status;
  return result;
}

/**
 * Translates any error from an SDK call into our own error, through the one table above.
 * `action` names the call in IAM terms (e.g. "iam:CreateAccessKey").
 */
export function translateAwsError(error: unknown, action: string, facts: CallFacts = {}): CliError {
  if (error instanceof CliError) return error;
  const c = classify(error, action, facts);
  const options: CliErrorOptions = { hint: c.hint, awsCode: c.code, diagnosis: c.diagnosis, cause: error };
  if (c.requestId) options.requestId = c.requestId;
  switch (c.exitCode) {
    case ExitCode.usage:
      return new UsageError(c.message, options);
    case ExitCode.config:
      return new ConfigError(c.message, options);
    case ExitCode.credentialsRejected:
      return new CredentialsRejectedError(c.message, options);
    default:
      return new AwsError(c.message, options);
  }
}

/**
 * The fields we read from a thrown value, each kept only when it has the type we expect: anything can be
 * thrown, and formatting a field of another type (an object without a prototype) would itself throw.
 */
function sdkFields(error: unknown): SdkErrorLike {
  if (typeof error !== 'object' || error === null) return {};
  const e = error as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const meta =
    typeof e.$metadata === 'object' && e.$metadata !== null ? (e.$metadata as Record<string, unknown>) : undefined;
  const fields: SdkErrorLike = {
    name: text(e.name),
    code: text(e.code),
    Code: text(e.Code),
    message: text(e.message),
    hostname: text(e.hostname),
    address: text(e.address),
    port: typeof e.port === 'number' ? e.port : undefined,
    errors: Array.isArray(e.errors) ? e.errors : undefined,
    cause: e.cause,
    $fault: e.$fault === 'client' || e.$fault === 'server' ? e.$fault : undefined,
    $proxy: text(e.$proxy),
    $contentType: text(e.$contentType),
  };
  if (meta)
    fields.$metadata = {
      httpStatusCode: typeof meta.httpStatusCode === 'number' ? meta.httpStatusCode : undefined,
      requestId: text(meta.requestId),
    };
  return fields;
}

function factsOf(e: SdkErrorLike, action: string, facts: CallFacts): Facts {
  const node = nodeError(e);
  const status = e.$metadata?.httpStatusCode;
  // The SDK names modelled errors after their shape (NoSuchEntityException); `Code` keeps AWS's wire code (NoSuchEntity).
  const wire = typeof e.Code === 'string' && e.Code ? e.Code : undefined;
  let code = node?.code ?? wire ?? (e.name && e.name !== 'Error' ? e.name : (e.code ?? 'UnknownError'));
  const awsMessage = scrub(String(e.message ?? '')).slice(0, 300);
  const proxyUrl = e.$proxy ?? node?.$proxy;
  if (status === 407 || code === 'ProxyAuthenticationRequired') code = 'ProxyAuthenticationRequired';
  else if (proxyUrl && !TABLE.has(code)) code = 'ProxyError';
  // An answer without an AWS error code, short of a server failure (an HTML 403 or a 307 redirect), is not AWS's.
  if (
    /^Deserialization error/i.test(awsMessage) ||
    (['UnknownError', 'Unknown', 'Error'].includes(code) && status !== undefined && status < 500 && status !== 407)
  )
    code = 'NotAwsResponse';
  if (/Invalid region in client config/i.test(awsMessage)) code = 'InvalidRegionName';
  const target = node?.hostname ?? (node?.address ? `${node.address}${node.port ? `:${node.port}` : ''}` : undefined);
  return {
    ...facts,
    code,
    action,
    awsMessage,
    status,
    target,
    proxy: proxyUrl ? maskUrl(proxyUrl) : undefined,
    region: facts.region,
    contentType: e.$contentType,
  };
}

function rowFor(f: Facts, e: SdkErrorLike): Row {
  // A signature rejected as expired is the clock, not the secret (AWS says "Signature expired").
  if (
    (f.code === 'SignatureDoesNotMatch' || f.code === 'InvalidSignatureException' || f.code === 'AuthFailure') &&
    /signature (has )?expired|request has expired|earlier than|later than|time ?stamp|too skewed/i.test(f.awsMessage)
  )
    return clock;
  if (
    TABLE.get(f.code) === denied &&
    /explicit deny/i.test(f.awsMessage) &&
    /(aws:)?(Vpc)?Source(Ip|Vpce?)\b/i.test(f.awsMessage)
  )
    return ipRestricted;
  // A network failure on the way to the proxy is the proxy's, not AWS's.
  if (f.proxy && (f.code === 'ProxyError' || TABLE.get(f.code)?.diagnosis === 'network')) return proxy;
  const row = TABLE.get(f.code);
  if (row) return row;
  if (f.status !== undefined && f.status >= 500) return serviceFailure;
  if (e.$fault === 'server') return serviceFailure;
  if (f.status === undefined) return unreached;
  return generic;
}

/** The Node network error inside an SDK error: itself, its cause, or the first of an AggregateError. */
function nodeError(e: SdkErrorLike): SdkErrorLike | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length > 0) {
    const raw = queue.shift();
    if (!raw || typeof raw !== 'object' || seen.has(raw)) continue;
    seen.add(raw);
    const x = sdkFields(raw);
    if (typeof x.code === 'string' && NODE_CODE.test(x.code)) return x;
    if (x.cause) queue.push(x.cause);
    if (Array.isArray(x.errors)) queue.push(...x.errors);
  }
  return undefined;
}

/** The action AWS names in an AccessDenied message ("not authorized to perform: s3:ListAllMyBuckets"), else ours. */
function deniedAction(f: Facts): string {
  return /perform:\s*([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(f.awsMessage)?.[1] ?? f.action;
}

/** Why AWS denied it, from its message: the policy type and ARN when it names them. */
function deniedReason(f: Facts): string {
  const on = /on resource:\s*(\S+?)(?:\s+because|\s+with|$)/.exec(f.awsMessage)?.[1];
  const explicit = /with an explicit deny in (?:an? )?([a-z -]+? policy)(?::\s*(\S+))?/i.exec(f.awsMessage);
  const none = /because no ([a-z -]+? policy|permissions boundary) allows/i.exec(f.awsMessage);
  const where = on ? ` on ${on}` : '';
  if (explicit)
    return `${where}: an explicit deny in ${/^[aeiou]/i.test(explicit[1]!) ? 'an' : 'a'} ${explicit[1]}${explicit[2] ? ` (${explicit[2].replace(/[.,]$/, '')})` : ''}`;
  if (none) return `${where}: no ${none[1]} allows it`;
  return where ? `${where}` : '';
}

function policyOf(f: Facts): string {
  const arn = /explicit deny in [^:]*policy:\s*(\S+)/i.exec(f.awsMessage)?.[1];
  return arn ? ` (${arn.replace(/[.,]$/, '')})` : '';
}

/** Removes anything that looks like a credential from text we did not write ourselves. */
export function scrub(text: string): string {
  return redact(text)
    .replace(/\b((?:AKIA|ASIA)[A-Z0-9]{4})[A-Z0-9]{12}\b/g, '$1************')
    .replace(/(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/g, '****')
    .replace(/(X-Amz-Security-Token|sessionToken|SessionToken)=?[^\s&]*/g, '$1=****');
}

function maskUrl(url: string): string {
  try {
    // Proxy URLs may carry a password: keep only the scheme, host and port.
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(proxy)';
  }
}
