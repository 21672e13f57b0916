import { describe, expect, it } from 'vitest';
import { classify, knownCodes } from '../../../src/aws/errors.js';
import type { AccessKeyInfo, Identity } from '../../../src/domain/iam.js';
import {
  CHECK_IDS,
  CHECK_TITLES,
  checkFormat,
  diagnose,
  formatDuration,
  keyHygiene,
  MAX_CLOCK_SKEW_MS,
  mayBePropagating,
  networkKind,
  regionMayExplain,
  type CheckId,
  type DiagnosisFacts,
  type Failure,
  type Outcome,
  type ProbeOutcome,
} from '../../../src/domain/diagnosis.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const IDENTITY: Identity = {
  account: '123456789012',
  arn: 'arn:aws:iam::123456789012:user/datablast',
  userId: 'AIDAEXAMPLEEXAMPLE',
  clockSkewMs: 800,
};

/** An error as the SDK throws a service exception. */
function service(name: string, message = name, status = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId: 'rid' },
  });
}

/** An error as Node's http client throws a network failure. */
function network(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${code} failure`), { code, hostname: 'sts.eu-west-1.amazonaws.com' }, extra);
}

const NODE_CODE =
  /^(E[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+)$/;

/** The failure `test` would record for `code` on `action`, through the one error table. */
function failure(code: string, action = 'sts:GetCallerIdentity'): Failure {
  if (NODE_CODE.test(code)) return classify(network(code), action);
  if (code === 'ProxyAuthenticationRequired') return classify(service(code, 'proxy says 407', 407), action);
  if (code === 'ProxyError')
    return classify(
      Object.assign(service(code, 'the proxy refused the tunnel', 502), { $proxy: 'http://proxy:3128' }),
      action,
    );
  if (code === 'SourceIpDenied') return classify(service(code, 'denied by source ip', 403), action);
  return classify(service(code, `${code} from AWS`, 403), action);
}

function facts(overrides: Partial<DiagnosisFacts> = {}): DiagnosisFacts {
  return {
    nameArg: 'prod',
    accessKeyId: KEY_ID,
    region: 'eu-west-1',
    format: { ok: true },
    sts: { ok: true, value: IDENTITY },
    services: [],
    probes: [],
    ...overrides,
  };
}

const rejected = (code: string): Outcome<Identity> => ({ ok: false, failure: failure(code) });
const statuses = (d: ReturnType<typeof diagnose>) => Object.fromEntries(d.checks.map((c) => [c.id, c.status]));
const detail = (d: ReturnType<typeof diagnose>, id: CheckId) => d.checks.find((c) => c.id === id)!.detail;

/**
 * Every code the error table knows → the checklist item that fails and the exit code, when STS as the
 * connection fails with it. Adding a code to aws/errors.ts without a row here fails the coverage test.
 */
const STS_TABLE: Record<string, [CheckId, number]> = {
  InvalidClientTokenId: ['credentials', 4],
  UnrecognizedClientException: ['credentials', 4],
  InvalidAccessKeyId: ['credentials', 4],
  AuthFailure: ['credentials', 4],
  InvalidToken: ['credentials', 4],
  SignatureDoesNotMatch: ['credentials', 4],
  InvalidSignatureException: ['credentials', 4],
  IncompleteSignature: ['credentials', 4],
  MissingAuthenticationToken: ['credentials', 4],
  MissingAuthenticationTokenException: ['credentials', 4],
  ExpiredToken: ['key-status', 4],
  ExpiredTokenException: ['key-status', 4],
  TokenRefreshRequired: ['key-status', 4],
  RequestExpired: ['clock', 4],
  RequestTimeTooSkewed: ['clock', 4],
  RequestInTheFuture: ['clock', 4],
  SignatureExpired: ['clock', 4],
  AccessDenied: ['permissions', 5],
  AccessDeniedException: ['permissions', 5],
  UnauthorizedOperation: ['permissions', 5],
  UnauthorizedAccess: ['permissions', 5],
  NotAuthorized: ['permissions', 5],
  SourceIpDenied: ['ip-restriction', 5],
  LimitExceeded: ['permissions', 5],
  LimitExceededException: ['permissions', 5],
  QuotaExceeded: ['permissions', 5],
  ServiceQuotaExceededException: ['permissions', 5],
  Throttling: ['region', 5],
  ThrottlingException: ['region', 5],
  ThrottledException: ['region', 5],
  TooManyRequestsException: ['region', 5],
  TooManyRequests: ['region', 5],
  RequestLimitExceeded: ['region', 5],
  RequestThrottled: ['region', 5],
  RequestThrottledException: ['region', 5],
  SlowDown: ['region', 5],
  PriorRequestNotComplete: ['region', 5],
  ServiceUnavailable: ['region', 5],
  ServiceUnavailableException: ['region', 5],
  InternalFailure: ['region', 5],
  InternalError: ['region', 5],
  InternalServerError: ['region', 5],
  InternalServiceError: ['region', 5],
  ServiceFailure: ['region', 5],
  ServiceFailureException: ['region', 5],
  BadGateway: ['region', 5],
  GatewayTimeout: ['region', 5],
  OptInRequired: ['region', 5],
  RegionDisabledException: ['region', 5],
  RegionDisabled: ['region', 5],
  InvalidRegion: ['region', 5],
  InvalidRegionName: ['region', 2],
  NoSuchEntity: ['key-status', 5],
  NoSuchEntityException: ['key-status', 5],
  EntityAlreadyExists: ['permissions', 5],
  EntityAlreadyExistsException: ['permissions', 5],
  MalformedPolicyDocument: ['permissions', 5],
  MalformedPolicyDocumentException: ['permissions', 5],
  InvalidInput: ['format', 5],
  ValidationError: ['format', 5],
  InvalidParameterValue: ['format', 5],
  InvalidParameterCombination: ['format', 5],
  ENOTFOUND: ['network', 5],
  EAI_AGAIN: ['network', 5],
  EAI_FAIL: ['network', 5],
  EAI_NONAME: ['network', 5],
  EAI_NODATA: ['network', 5],
  ECONNREFUSED: ['network', 5],
  ECONNRESET: ['network', 5],
  EHOSTUNREACH: ['network', 5],
  ENETUNREACH: ['network', 5],
  ENETDOWN: ['network', 5],
  EHOSTDOWN: ['network', 5],
  EPIPE: ['network', 5],
  ECONNABORTED: ['network', 5],
  EADDRNOTAVAIL: ['network', 5],
  TimeoutError: ['network', 5],
  ETIMEDOUT: ['network', 5],
  ESOCKETTIMEDOUT: ['network', 5],
  RequestTimeout: ['network', 5],
  RequestTimeoutException: ['network', 5],
  CERT_HAS_EXPIRED: ['network', 5],
  CERT_NOT_YET_VALID: ['network', 5],
  CERT_UNTRUSTED: ['network', 5],
  CERT_REJECTED: ['network', 5],
  CERT_SIGNATURE_FAILURE: ['network', 5],
  DEPTH_ZERO_SELF_SIGNED_CERT: ['network', 5],
  SELF_SIGNED_CERT_IN_CHAIN: ['network', 5],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: ['network', 5],
  UNABLE_TO_GET_ISSUER_CERT: ['network', 5],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: ['network', 5],
  ERR_TLS_CERT_ALTNAME_INVALID: ['network', 5],
  ERR_SSL_WRONG_VERSION_NUMBER: ['network', 5],
  EPROTO: ['network', 5],
  ProxyAuthenticationRequired: ['network', 5],
  ProxyError: ['network', 5],
  NotAwsResponse: ['network', 5],
  ResponseTooLarge: ['network', 5],
  CredentialsProviderError: ['credentials', 3],
  TokenProviderError: ['credentials', 3],
  NoAdminCredentials: ['credentials', 3],
};

/** The kind of network failure the detail line names. */
const NETWORK_KINDS: Record<string, string> = {
  ENOTFOUND: 'DNS',
  EAI_AGAIN: 'DNS',
  ECONNREFUSED: 'TCP',
  ECONNRESET: 'TCP',
  EHOSTUNREACH: 'TCP',
  TimeoutError: 'timeout',
  ETIMEDOUT: 'timeout',
  CERT_HAS_EXPIRED: 'TLS',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS',
  EPROTO: 'TLS',
  ProxyAuthenticationRequired: 'proxy',
  ProxyError: 'proxy',
  NotAwsResponse: 'not AWS',
  ResponseTooLarge: 'not AWS',
};

describe('the checklist', () => {
  it("lists the guide's eight items, in its order and words", () => {
    const d = diagnose(facts());
    expect(d.checks.map((c) => c.id)).toEqual([...CHECK_IDS]);
    expect(d.checks.map((c) => c.title)).toEqual(CHECK_IDS.map((id) => CHECK_TITLES[id]));
    expect(CHECK_IDS).toEqual([
      'format',
      'network',
      'credentials',
      'key-status',
      'clock',
      'region',
      'permissions',
      'ip-restriction',
    ]);
  });

  it('knows a row for every code of the error table', () => {
    expect(knownCodes().filter((code) => !(code in STS_TABLE))).toEqual([]);
  });
});

describe('an STS failure → the item that fails, its cause and fix, and the exit code', () => {
  it.each(Object.entries(STS_TABLE))('%s → %j', (code, [item, exitCode]) => {
    const f = failure(code);
    const d = diagnose(facts({ sts: { ok: false, failure: f } }));
    const failed = d.checks.filter((c) => c.status === 'fail').map((c) => c.id);
    expect(failed[0]).toBe(item);
    expect(d.ok).toBe(false);
    expect(d.exitCode).toBe(exitCode);
    expect(d.cause).toBe(f.message);
    expect(d.fix).toBeTruthy();
    expect(d.identity).toBeNull();
    // Nothing after a failed STS call is claimed as checked: what AWS did not answer is skipped with a reason.
    for (const check of d.checks) if (check.status === 'skip') expect(check.detail).toMatch(/^not checked — \S/);
    expect(d.checks.find((c) => c.id === 'permissions')!.status).toBe(item === 'permissions' ? 'fail' : 'skip');
    expect(JSON.stringify(d)).not.toContain(SECRET);
  });

  it.each(Object.entries(NETWORK_KINDS))('%s is named %s in the network detail', (code, kind) => {
    const d = diagnose(facts({ sts: { ok: false, failure: failure(code) } }));
    expect(detail(d, 'network').startsWith(`${kind}: `)).toBe(true);
    expect(networkKind(failure(code))).toBe(kind);
    expect(statuses(d)).toMatchObject({
      format: 'pass',
      network: 'fail',
      credentials: 'skip',
      'key-status': 'skip',
      clock: 'skip',
      region: 'skip',
    });
    expect(detail(d, 'credentials')).toBe('not checked — AWS could not be reached');
  });

  it('tells a network failure on the way to a proxy from one on the way to AWS', () => {
    const viaProxy = classify(
      Object.assign(network('ECONNREFUSED'), { $proxy: 'http://127.0.0.1:9' }),
      'sts:GetCallerIdentity',
    );
    const d = diagnose(facts({ sts: { ok: false, failure: viaProxy } }));
    expect(detail(d, 'network')).toMatch(/^proxy: the proxy http:\/\/127\.0\.0\.1:9 failed \(ECONNREFUSED\)/);
    expect(d.fix).toContain('HTTPS_PROXY');
  });

  it.each([
    ['InvalidClientTokenId', /^AWS does not recognise the access key id \(InvalidClientTokenId\)$/],
    ['SignatureDoesNotMatch', /^the secret access key does not match the key id \(SignatureDoesNotMatch\)$/],
    ['IncompleteSignature', /^the request signature is incomplete \(IncompleteSignature\)/],
  ])('words the credentials detail of %s apart from the others', (code, words) => {
    expect(detail(diagnose(facts({ sts: rejected(code) })), 'credentials')).toMatch(words);
  });

  it('calls a signature expired by time a clock problem, not a wrong secret', () => {
    const f = classify(
      service('SignatureDoesNotMatch', 'Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z', 403),
      'sts:GetCallerIdentity',
    );
    const d = diagnose(facts({ sts: { ok: false, failure: f } }));
    expect(statuses(d)).toMatchObject({ credentials: 'skip', clock: 'fail' });
    expect(d.exitCode).toBe(4);
  });
});

describe('a key AWS accepts', () => {
  it('passes the first six items and skips permissions and IP restrictions without a probe, saying how to check them', () => {
    const d = diagnose(facts());
    expect(d).toMatchObject({
      ok: true,
      exitCode: 0,
      cause: null,
      fix: null,
      identity: { account: '123456789012', arn: IDENTITY.arn, userId: IDENTITY.userId },
    });
    expect(d.identity).not.toHaveProperty('clockSkewMs');
    expect(statuses(d)).toEqual({
      format: 'pass',
      network: 'pass',
      credentials: 'pass',
      'key-status': 'pass',
      clock: 'pass',
      region: 'pass',
      permissions: 'skip',
      'ip-restriction': 'skip',
    });
    expect(detail(d, 'format')).toBe(
      'AKIA************MPLE: a well-formed key id and a 40-character secret, no spaces or stray characters',
    );
    expect(detail(d, 'credentials')).toBe(`AWS accepted the key as ${IDENTITY.arn}`);
    expect(detail(d, 'permissions')).toMatch(/^not checked — no service to probe: add --service s3\|rds\|lambda/);
    expect(detail(d, 'ip-restriction')).toMatch(/^not checked — no service was probed/);
  });

  it.each([
    [MAX_CLOCK_SKEW_MS + 1_000, 'fail', /clock is 5 min 1 s behind AWS's/],
    [-10 * 60_000, 'fail', /clock is 10 min ahead of AWS's/],
    [MAX_CLOCK_SKEW_MS, 'pass', /^within 5 min of AWS's time$/],
    [-1_500, 'pass', /^within 2 s of AWS's time$/],
  ])('reports a clock skew of %d ms as %s even though the SDK corrected it', (skew, status, words) => {
    const d = diagnose(facts({ sts: { ok: true, value: { ...IDENTITY, clockSkewMs: skew } } }));
    expect(d.checks.find((c) => c.id === 'clock')).toMatchObject({ status, detail: expect.stringMatching(words) });
    expect(d.exitCode).toBe(status === 'fail' ? 4 : 0);
    if (status === 'fail') expect(d.fix).toContain('NTP');
  });

  it('skips the clock when the answer had no Date header', () => {
    const { clockSkewMs: _, ...noDate } = IDENTITY;
    expect(detail(diagnose(facts({ sts: { ok: true, value: noDate } })), 'clock')).toBe(
      "not checked — AWS's answer carried no Date header to compare with",
    );
  });

  it('says a young key was accepted after retries', () => {
    const d = diagnose(facts({ attempts: 4, waitedMs: 1_750 }));
    expect(detail(d, 'credentials')).toBe(
      `AWS accepted the key as ${IDENTITY.arn} (on attempt 4, after 2 s: a new key takes a few seconds to reach every AWS region)`,
    );
  });

  it('lists the other keys of the user under --admin', () => {
    const keys: AccessKeyInfo[] = [
      { accessKeyId: KEY_ID, status: 'Active', createDate: '2026-11-01T00:00:00Z' },
      { accessKeyId: 'AKIAOTHEROTHEROTHER2', status: 'Inactive', createDate: '2026-10-01T00:00:00Z' },
    ];
    const d = diagnose(facts({ admin: { userName: 'datablast', keys: { ok: true, value: keys } } }));
    expect(detail(d, 'key-status')).toBe(
      'active: IAM lists AKIA************MPLE as active for user datablast; the user also holds AKIA************HER2 (inactive)',
    );
  });
});

describe('the local format check', () => {
  it.each([
    [
      { accessKeyId: KEY_ID, secretAccessKey: `${SECRET} ` },
      /secret access key: the secret access key starts or ends with whitespace/,
    ],
    [
      { accessKeyId: KEY_ID, secretAccessKey: `${SECRET.slice(0, 20)}\n${SECRET.slice(20)}` },
      /contains whitespace at character 21/,
    ],
    [{ accessKeyId: 'AKIAIOSFODNN7EXAMP1E', secretAccessKey: SECRET }, /^access key id: character 19 is the digit 1/],
    [{ accessKeyId: KEY_ID, secretAccessKey: SECRET.slice(0, 39) }, /is 39 characters long/],
    [{ accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET }, /temporary key \(ASIA…\)/],
  ])('fails a malformed stored key before any call, with exit 2 and no secret in the text (%#)', (pair, problem) => {
    const format = checkFormat(pair, 'prod');
    expect(format.ok).toBe(false);
    const d = diagnose(facts({ format, sts: undefined }));
    expect(d.checks[0]).toMatchObject({ id: 'format', status: 'fail', detail: expect.stringMatching(problem) });
    expect(
      d.checks
        .slice(1)
        .every(
          (c) => c.status === 'skip' && c.detail === 'not checked — the stored key is malformed, so AWS was not called',
        ),
    ).toBe(true);
    expect(d).toMatchObject({ ok: false, exitCode: 2 });
    expect(d.fix).toContain('datablast-aws add-connection prod --force');
    expect(JSON.stringify(d)).not.toContain(SECRET.slice(0, 20));
  });

  it('passes a well-formed pair', () => {
    expect(checkFormat({ accessKeyId: KEY_ID, secretAccessKey: SECRET }, 'prod')).toEqual({ ok: true });
  });
});

describe('the region', () => {
  it('fails an opt-in region that is not enabled: rejected in the region, accepted on the global endpoint (exit 5)', () => {
    const d = diagnose(
      facts({ region: 'me-south-1', sts: rejected('InvalidClientTokenId'), globalSts: { ok: true, value: IDENTITY } }),
    );
    expect(statuses(d)).toEqual({
      format: 'pass',
      network: 'pass',
      credentials: 'pass',
      'key-status': 'pass',
      clock: 'pass',
      region: 'fail',
      permissions: 'skip',
      'ip-restriction': 'skip',
    });
    expect(d.cause).toBe(
      'me-south-1 is an opt-in region that is not enabled for this account: the key works on the global STS endpoint but not there (InvalidClientTokenId)',
    );
    expect(d.fix).toContain('Account › AWS Regions');
    expect(d).toMatchObject({ exitCode: 5, identity: { arn: IDENTITY.arn } });
  });

  it('fails a region whose STS endpoint does not resolve while the global one answers', () => {
    const d = diagnose(
      facts({ region: 'eu-west-9', sts: rejected('ENOTFOUND'), globalSts: { ok: true, value: IDENTITY } }),
    );
    expect(statuses(d)).toMatchObject({ network: 'pass', region: 'fail' });
    expect(detail(d, 'region')).toBe('STS in eu-west-9 is unreachable (ENOTFOUND) while the global endpoint answers');
  });

  it('is not the cause when the global endpoint refuses the key too', () => {
    const d = diagnose(facts({ sts: rejected('InvalidClientTokenId'), globalSts: rejected('InvalidClientTokenId') }));
    expect(statuses(d)).toMatchObject({ credentials: 'fail', region: 'skip' });
    expect(detail(d, 'region')).toBe(
      'not checked — the global STS endpoint refuses the key too (InvalidClientTokenId), so the region is not the cause',
    );
    expect(d.exitCode).toBe(4);
  });

  it('never blames us-east-1, which is never an opt-in region', () => {
    expect(detail(diagnose(facts({ region: 'us-east-1', sts: rejected('InvalidClientTokenId') })), 'region')).toBe(
      'us-east-1 is never an opt-in region',
    );
    expect(regionMayExplain(failure('InvalidClientTokenId'), 'us-east-1')).toBe(false);
  });

  it.each([
    ['InvalidClientTokenId', true],
    ['ENOTFOUND', true],
    ['OptInRequired', true],
    ['SignatureDoesNotMatch', false],
    ['ECONNREFUSED', false],
    ['ExpiredToken', false],
  ])('asks the global endpoint after %s in an opt-in-capable region: %s', (code, expected) => {
    expect(regionMayExplain(failure(code), 'ap-east-1')).toBe(expected);
  });
});

describe('key status', () => {
  const admin = (keys: AccessKeyInfo[]): DiagnosisFacts['admin'] => ({
    userName: 'datablast',
    keys: { ok: true, value: keys },
  });

  it('is not fully checkable without admin credentials, and says why', () => {
    const d = diagnose(facts({ sts: rejected('InvalidClientTokenId'), globalSts: rejected('InvalidClientTokenId') }));
    expect(detail(d, 'key-status')).toBe(
      'not checked — not fully checkable without admin credentials: AWS answers an unknown, deleted and inactive key alike; add --admin (with --profile) to ask IAM',
    );
    expect(d.fix).toContain('datablast-aws test prod --admin --profile ADMIN');
  });

  it('tells an inactive key from the admin listing (exit 4)', () => {
    const d = diagnose(
      facts({
        sts: rejected('InvalidClientTokenId'),
        admin: admin([{ accessKeyId: KEY_ID, status: 'Inactive', createDate: undefined }]),
      }),
    );
    expect(statuses(d)).toMatchObject({ credentials: 'skip', 'key-status': 'fail' });
    expect(detail(d, 'key-status')).toBe('AKIA************MPLE of user datablast is inactive in IAM (deactivated)');
    expect(d.cause).toBe('the access key AKIA************MPLE of user datablast has been deactivated');
    expect(d.fix).toContain(
      `aws iam update-access-key --user-name datablast --access-key-id ${KEY_ID} --status Active`,
    );
    expect(d.exitCode).toBe(4);
  });

  it('tells a key rotated elsewhere: IAM holds another key for the user', () => {
    const d = diagnose(
      facts({
        sts: rejected('InvalidClientTokenId'),
        admin: admin([{ accessKeyId: 'AKIANEWNEWNEWNEWNEW2', status: 'Active', createDate: '2026-11-20T10:00:00Z' }]),
      }),
    );
    expect(detail(d, 'key-status')).toBe(
      'rotated elsewhere: IAM now holds AKIA************NEW2 (active, created 2026-11-20) for user datablast, not AKIA************MPLE',
    );
    expect(d).toMatchObject({ exitCode: 4, cause: expect.stringContaining('was rotated elsewhere') });
  });

  it('tells a deleted key: the user holds none', () => {
    const d = diagnose(facts({ sts: rejected('InvalidClientTokenId'), admin: admin([]) }));
    expect(detail(d, 'key-status')).toBe('deleted: user datablast holds no access keys any more');
    // The repair this tool makes itself: `aws iam create-access-key` would print the secret.
    expect(d.fix).not.toContain('aws iam create-access-key');
    expect(d.fix).toContain('`datablast-aws create-user datablast --create-key --connection prod');
  });

  it('tells a deleted user', () => {
    const d = diagnose(
      facts({
        sts: rejected('InvalidClientTokenId'),
        admin: { userName: 'datablast', keys: { ok: false, failure: failure('NoSuchEntity', 'iam:ListAccessKeys') } },
      }),
    );
    expect(detail(d, 'key-status')).toBe('user datablast no longer exists in IAM (deleted, and its keys with it)');
    expect(d.exitCode).toBe(4);
  });

  it('keeps the credentials failure when IAM lists the key as active', () => {
    const d = diagnose(
      facts({
        sts: rejected('InvalidClientTokenId'),
        admin: admin([{ accessKeyId: KEY_ID, status: 'Active', createDate: undefined }]),
      }),
    );
    expect(statuses(d)).toMatchObject({ credentials: 'fail', 'key-status': 'pass' });
  });

  it('says why it was not checked when the admin listing failed', () => {
    const d = diagnose(
      facts({
        sts: rejected('InvalidClientTokenId'),
        admin: { userName: 'datablast', keys: { ok: false, failure: failure('AccessDenied', 'iam:ListAccessKeys') } },
      }),
    );
    expect(detail(d, 'key-status')).toMatch(
      /^not checked — the admin credentials could not list the keys of datablast: AWS denied iam:ListAccessKeys/,
    );
  });

  it('says when --admin had no user to look up', () => {
    const d = diagnose(facts({ sts: rejected('InvalidClientTokenId'), admin: { userName: undefined } }));
    expect(detail(d, 'key-status')).toBe(
      'not checked — the connection does not know its IAM user, so --admin could not list its keys',
    );
  });

  it('calls a key with a wrong secret active: AWS went on to check the signature', () => {
    expect(statuses(diagnose(facts({ sts: rejected('SignatureDoesNotMatch') })))).toMatchObject({
      credentials: 'fail',
      'key-status': 'pass',
    });
  });

  it('fails an expired session token', () => {
    const d = diagnose(facts({ sts: rejected('ExpiredToken') }));
    expect(statuses(d)).toMatchObject({ credentials: 'skip', 'key-status': 'fail' });
    expect(d.exitCode).toBe(4);
  });

  it('says a young key was still rejected after its retries', () => {
    const d = diagnose(facts({ sts: rejected('InvalidClientTokenId'), attempts: 30, waitedMs: 110_000 }));
    expect(detail(d, 'credentials')).toBe(
      'AWS does not recognise the access key id (InvalidClientTokenId) (still rejected after 30 attempts over 1 min 50 s; a key younger than two minutes is retried for up to 30 s)',
    );
  });
});

describe('permissions and IP restrictions, from the probes', () => {
  const allowed = (service: ProbeOutcome['service'], action: string, count?: number): ProbeOutcome => ({
    service,
    action,
    outcome: { ok: true, value: count === undefined ? undefined : { count, more: false } },
  });
  const refused = (service: ProbeOutcome['service'], action: string, f: Failure): ProbeOutcome => ({
    service,
    action,
    outcome: { ok: false, failure: f },
  });

  it('passes when every probe is allowed, with what it saw', () => {
    const d = diagnose(
      facts({
        services: ['s3', 'rds'],
        probes: [
          allowed('s3', 's3:ListAllMyBuckets', 3),
          allowed('s3', 's3:ListBucket on reports'),
          allowed('rds', 'rds:DescribeDBInstances', 1),
        ],
      }),
    );
    expect(detail(d, 'permissions')).toBe(
      'allowed: s3:ListAllMyBuckets (3 buckets), s3:ListBucket on reports, rds:DescribeDBInstances (1 DB instance)',
    );
    expect(detail(d, 'ip-restriction')).toBe('AWS allowed the probes from this machine');
    expect(d.ok).toBe(true);
  });

  it('fails on a denial, naming the action (exit 5), and cannot rule out an IP restriction', () => {
    const denied = classify(service('AccessDenied', 'Access Denied', 403), 's3:ListAllMyBuckets');
    const d = diagnose(
      facts({
        services: ['s3', 'lambda'],
        probes: [refused('s3', 's3:ListAllMyBuckets', denied), allowed('lambda', 'lambda:ListFunctions', 0)],
      }),
    );
    expect(detail(d, 'permissions')).toBe('denied: s3:ListAllMyBuckets; allowed: lambda:ListFunctions (0 functions)');
    expect(d.cause).toBe('AWS denied s3:ListAllMyBuckets');
    expect(d.fix).toBe(
      'Grant s3:ListAllMyBuckets to user datablast: `datablast-aws attach-policy datablast --service s3` with admin credentials (--profile), or ask your AWS administrator.',
    );
    expect(d.exitCode).toBe(5);
    expect(detail(d, 'ip-restriction')).toBe(
      'not checked — no explicit deny was returned; an Allow limited to some IP addresses (aws:SourceIp) would look the same',
    );
  });

  it('fails IP restrictions on an explicit deny that names aws:SourceIp', () => {
    const ip = classify(
      service(
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/datablast is not authorized to perform: rds:DescribeDBInstances with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/office-only (aws:SourceIp)',
        403,
      ),
      'rds:DescribeDBInstances',
    );
    const d = diagnose(facts({ services: ['rds'], probes: [refused('rds', 'rds:DescribeDBInstances', ip)] }));
    expect(statuses(d)).toMatchObject({ permissions: 'skip', 'ip-restriction': 'fail' });
    expect(d.cause).toMatch(
      /^AWS denied rds:DescribeDBInstances: an explicit deny with a source-IP condition blocks this machine/,
    );
    expect(d.fix).toContain('aws:SourceIp');
    expect(d.exitCode).toBe(5);
  });

  it('points at the policy when an explicit deny does not name its condition', () => {
    const explicit = classify(
      service(
        'AccessDenied',
        'User: x is not authorized to perform: lambda:ListFunctions with an explicit deny in an identity-based policy',
        403,
      ),
      'lambda:ListFunctions',
    );
    const d = diagnose(facts({ services: ['lambda'], probes: [refused('lambda', 'lambda:ListFunctions', explicit)] }));
    expect(detail(d, 'ip-restriction')).toMatch(
      /^not checked — AWS returned an explicit deny without naming its condition/,
    );
  });

  it('blames the region when a service does not resolve there', () => {
    const d = diagnose(
      facts({
        services: ['lambda'],
        probes: [refused('lambda', 'lambda:ListFunctions', failure('ENOTFOUND', 'lambda:ListFunctions'))],
      }),
    );
    expect(statuses(d)).toMatchObject({ network: 'pass', region: 'fail', permissions: 'skip' });
    expect(d.cause).toMatch(/^AWS lambda is not reachable in eu-west-1/);
  });

  it('fails the network when a service endpoint refuses the connection although STS answered', () => {
    const d = diagnose(
      facts({
        services: ['s3'],
        probes: [refused('s3', 's3:ListAllMyBuckets', failure('ECONNREFUSED', 's3:ListAllMyBuckets'))],
      }),
    );
    expect(detail(d, 'network')).toMatch(/^STS answered, but s3 did not: TCP: could not connect/);
  });

  it('reports a missing configured bucket with its code', () => {
    const missing = classify(
      service('NoSuchBucket', 'The bucket reports does not exist', 404),
      's3:ListBucket on reports',
    );
    const d = diagnose(
      facts({
        services: ['s3'],
        probes: [allowed('s3', 's3:ListAllMyBuckets', 2), refused('s3', 's3:ListBucket on reports', missing)],
      }),
    );
    expect(detail(d, 'permissions')).toBe(
      'denied: s3:ListBucket on reports (NoSuchBucket); allowed: s3:ListAllMyBuckets (2 buckets)',
    );
  });

  it('says how to grant a denied bucket', () => {
    const denied = classify(
      service('AccessDenied', 'Access Denied to bucket reports', 403),
      's3:ListBucket on reports',
    );
    const d = diagnose(facts({ services: ['s3'], probes: [refused('s3', 's3:ListBucket on reports', denied)] }));
    expect(d.cause).toBe('AWS denied s3:ListBucket on reports');
    expect(d.fix).toContain('`datablast-aws attach-policy datablast --bucket reports`');
  });
});

describe('helpers', () => {
  it.each([
    [350, '350 ms'],
    [1_499, '1 s'],
    [59_000, '59 s'],
    [600_000, '10 min'],
    [603_000, '10 min 3 s'],
    [7_500_000, '2 h 5 min'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('retries only rejections a young key may outgrow', () => {
    expect(mayBePropagating(failure('InvalidClientTokenId'))).toBe(true);
    expect(mayBePropagating(failure('SignatureDoesNotMatch'))).toBe(true);
    expect(mayBePropagating(failure('RequestTimeTooSkewed'))).toBe(false);
    expect(mayBePropagating(failure('ECONNREFUSED'))).toBe(false);
    expect(mayBePropagating(failure('AccessDenied'))).toBe(false);
  });
});

describe('key hygiene', () => {
  const now = new Date('2026-11-28T12:00:00Z');

  it('gives the age, and warns past 90 days with the command that rotates', () => {
    expect(
      keyHygiene({ createdAt: '2026-11-16T09:00:00Z', addedAt: '2026-11-20T00:00:00Z', now, nameArg: 'prod' }),
    ).toEqual([{ text: 'key age: 12 days (created 2026-11-16)', warning: false }]);
    expect(
      keyHygiene({
        createdAt: '2026-08-01T00:00:00Z',
        addedAt: '2026-08-01T00:00:00Z',
        now,
        nameArg: "'AWS Production'",
      }),
    ).toEqual([
      {
        text: "key age: 119 days (created 2026-08-01), past the 90-day rotation period: rotate it with `datablast-aws rotate 'AWS Production'`",
        warning: true,
      },
    ]);
  });

  it("counts from when the connection was added when the key's date is unknown", () => {
    expect(keyHygiene({ createdAt: undefined, addedAt: '2026-11-27T12:00:00Z', now, nameArg: 'prod' })[0]!.text).toBe(
      "key age: at least 1 day (counted from when the connection was added; the key's creation date is unknown)",
    );
  });

  it.each([
    [
      { ok: true, date: '2026-11-27T08:00:00Z', service: 'sts', region: 'eu-west-1' },
      'last used: 2026-11-27 (sts in eu-west-1)',
    ],
    [
      { ok: true, date: undefined, service: undefined, region: undefined },
      'last used: never, as far as IAM knows: AWS shows no use of this key in the 12 days since it was created',
      true,
    ],
    [
      { ok: true, date: '2026-08-01T08:00:00Z', service: 's3', region: 'eu-west-1' },
      'last used: 2026-08-01 (s3 in eu-west-1): this key was last used 119 days ago (more than 90): if nothing needs it, remove it',
      true,
    ],
    [
      { ok: false, reason: 'not permitted (iam:GetAccessKeyLastUsed: AccessDenied)' },
      'last use unknown: not permitted (iam:GetAccessKeyLastUsed: AccessDenied)',
    ],
  ] as const)('says when the key was last used: %j', (lastUsed, text, warning: boolean = false) => {
    expect(
      keyHygiene({
        createdAt: '2026-11-16T09:00:00Z',
        addedAt: '2026-11-16T09:00:00Z',
        now,
        nameArg: 'prod',
        lastUsed,
      })[1],
    ).toEqual({ text, warning });
  });
});
