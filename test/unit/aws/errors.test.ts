import { describe, expect, it } from 'vitest';
import { classify, knownCodes, scrub, translateAwsError } from '../../../src/aws/errors.js';
import { AwsError, CliError, ConfigError, CredentialsRejectedError, UsageError } from '../../../src/errors.js';
import { CHECK_IDS, CHECK_TITLES, type CheckId } from '../../../src/domain/diagnosis.js';
import { rememberSecret } from '../../../src/domain/redact.js';

const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** An error shaped as the SDK throws a service exception. */
function service(name: string, message = name, status = 400): Error {
  const e = new Error(message) as Error & { $fault: string; $metadata: object };
  e.name = name;
  e.$fault = status >= 500 ? 'server' : 'client';
  e.$metadata = { httpStatusCode: status, requestId: 'req-123', attempts: 1 };
  return e;
}

/** An error shaped as Node's http client throws a network failure, after the SDK's retries. */
function network(code: string, extra: Record<string, unknown> = {}, name = 'Error'): Error {
  const e = Object.assign(new Error(`${code} failure`), { code, $metadata: { attempts: 3 } }, extra);
  e.name = name;
  return e;
}

interface Row {
  error: unknown;
  action?: string;
  exitCode: number;
  diagnosis: CheckId;
  fragment: RegExp;
}

const rows: Record<string, Row> = {
  InvalidClientTokenId: {
    error: service('InvalidClientTokenId', 'The security token included in the request is invalid.', 403),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /does not recognise the access key id/,
  },
  UnrecognizedClientException: {
    error: service('UnrecognizedClientException', 'x', 400),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /does not recognise/,
  },
  InvalidAccessKeyId: {
    error: service('InvalidAccessKeyId', 'x', 403),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /does not recognise/,
  },
  AuthFailure: {
    error: service('AuthFailure', 'AWS was not able to validate the provided access credentials', 401),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /does not recognise/,
  },
  SignatureDoesNotMatch: {
    error: service(
      'SignatureDoesNotMatch',
      `The request signature we calculated does not match the signature you provided. Credential=${KEY_ID}/20260101/us-east-1/sts/aws4_request`,
      403,
    ),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /secret access key .* does not match/,
  },
  IncompleteSignature: {
    error: service('IncompleteSignature', 'Authorization header requires Credential', 403),
    exitCode: 4,
    diagnosis: 'credentials',
    fragment: /secret access key/,
  },
  ExpiredToken: {
    error: service('ExpiredToken', 'The security token included in the request is expired', 403),
    exitCode: 4,
    diagnosis: 'key-status',
    fragment: /session token .* has expired/,
  },
  ExpiredTokenException: {
    error: service('ExpiredTokenException', 'expired', 400),
    exitCode: 4,
    diagnosis: 'key-status',
    fragment: /has expired/,
  },
  RequestExpired: {
    error: service('RequestExpired', 'Request has expired.', 400),
    exitCode: 4,
    diagnosis: 'clock',
    fragment: /clock/,
  },
  RequestTimeTooSkewed: {
    error: service(
      'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      403,
    ),
    exitCode: 4,
    diagnosis: 'clock',
    fragment: /clock/,
  },
  'SignatureDoesNotMatch (signature expired)': {
    error: service(
      'SignatureDoesNotMatch',
      'Signature expired: 20200101T000000Z is now earlier than 20260101T000000Z (20260101T000500Z - 5 min.)',
      403,
    ),
    exitCode: 4,
    diagnosis: 'clock',
    fragment: /clock/,
  },
  AccessDenied: {
    error: service(
      'AccessDenied',
      'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/alice because no identity-based policy allows the iam:CreateUser action',
      403,
    ),
    action: 'iam:CreateUser',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /AWS denied iam:CreateUser on arn:aws:iam::123456789012:user\/alice: no identity-based policy allows it/,
  },
  'AccessDenied (explicit deny names the policy)': {
    error: service(
      'AccessDenied',
      'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:ListAccessKeys on resource: user bob with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/NoKeys',
      403,
    ),
    action: 'iam:ListAccessKeys',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /explicit deny in an identity-based policy \(arn:aws:iam::123456789012:policy\/NoKeys\)/,
  },
  AccessDeniedException: {
    error: service(
      'AccessDeniedException',
      'User: arn:aws:iam::1:user/x is not authorized to perform: lambda:ListFunctions',
      403,
    ),
    action: 'lambda:ListFunctions',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /denied lambda:ListFunctions/,
  },
  'AccessDenied (aws:SourceIp)': {
    error: service(
      'AccessDenied',
      'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: sts:GetCallerIdentity with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/OfficeOnly (condition aws:SourceIp)',
      403,
    ),
    action: 'sts:GetCallerIdentity',
    exitCode: 5,
    diagnosis: 'ip-restriction',
    fragment: /source-IP condition blocks this machine \(arn:aws:iam::123456789012:policy\/OfficeOnly\)/,
  },
  'LimitExceeded (two keys)': {
    error: service('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409),
    action: 'iam:CreateAccessKey',
    exitCode: 5,
    diagnosis: 'key-status',
    fragment: /already has two access keys/,
  },
  'LimitExceeded (policies)': {
    error: service('LimitExceeded', 'Cannot exceed quota for PoliciesPerUser: 10', 409),
    action: 'iam:AttachUserPolicy',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /limit was reached on iam:AttachUserPolicy/,
  },
  Throttling: {
    error: service('Throttling', 'Rate exceeded', 400),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /throttled/,
  },
  ThrottlingException: {
    error: service('ThrottlingException', 'Rate exceeded', 400),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /throttled/,
  },
  TooManyRequestsException: {
    error: service('TooManyRequestsException', 'slow down', 429),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /throttled/,
  },
  ServiceUnavailable: {
    error: service('ServiceUnavailable', 'unavailable', 503),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /AWS failed on .* HTTP 503/,
  },
  InternalFailure: {
    error: service('InternalFailure', 'oops', 500),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /AWS failed on/,
  },
  'unknown 5xx': {
    error: service('SomethingNew', 'oops', 502),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /AWS failed on/,
  },
  'NoSuchEntity (key)': {
    error: service('NoSuchEntity', 'The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found.', 404),
    action: 'iam:DeleteAccessKey',
    exitCode: 5,
    diagnosis: 'key-status',
    fragment: /no such entity on iam:DeleteAccessKey/,
  },
  'NoSuchEntity (policy)': {
    error: service('NoSuchEntity', 'Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable.', 404),
    action: 'iam:AttachUserPolicy',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /no such entity/,
  },
  EntityAlreadyExists: {
    error: service('EntityAlreadyExists', 'User with name bob already exists.', 409),
    action: 'iam:CreateUser',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /already exists/,
  },
  MalformedPolicyDocument: {
    error: service('MalformedPolicyDocument', 'Syntax errors in policy.', 400),
    action: 'iam:PutUserPolicy',
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /refused the policy document on iam:PutUserPolicy/,
  },
  OptInRequired: {
    error: service('OptInRequired', 'You are not subscribed to this service.', 403),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /region .*not enabled/,
  },
  RegionDisabledException: {
    error: service('RegionDisabledException', 'STS is not activated in this region', 403),
    exitCode: 5,
    diagnosis: 'region',
    fragment: /not enabled/,
  },
  'invalid region name': {
    error: new Error('Invalid region in client config'),
    exitCode: 2,
    diagnosis: 'region',
    fragment: /not a valid AWS region name/,
  },
  ENOTFOUND: {
    error: network('ENOTFOUND', { hostname: 'sts.us-east-1.amazonaws.com' }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /could not resolve sts\.us-east-1\.amazonaws\.com \(DNS/,
  },
  EAI_AGAIN: {
    error: network('EAI_AGAIN', { hostname: 'iam.amazonaws.com' }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /DNS/,
  },
  ECONNREFUSED: {
    error: network('ECONNREFUSED', { address: '127.0.0.1', port: 1 }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /could not connect to 127\.0\.0\.1:1 \(ECONNREFUSED\)/,
  },
  'ECONNRESET (the SDK names it TimeoutError)': {
    error: network('ECONNRESET', {}, 'TimeoutError'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /could not connect .*ECONNRESET/,
  },
  EHOSTUNREACH: { error: network('EHOSTUNREACH'), exitCode: 5, diagnosis: 'network', fragment: /could not connect/ },
  ENETUNREACH: { error: network('ENETUNREACH'), exitCode: 5, diagnosis: 'network', fragment: /could not connect/ },
  'AggregateError of ECONNREFUSED': {
    error: Object.assign(
      new AggregateError(
        [
          network('ECONNREFUSED', { address: '::1', port: 9 }),
          network('ECONNREFUSED', { address: '127.0.0.1', port: 9 }),
        ],
        '',
      ),
      { $metadata: {} },
    ),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /ECONNREFUSED/,
  },
  TimeoutError: {
    error: Object.assign(network('TimeoutError', {}, 'TimeoutError'), { code: undefined }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /no answer from AWS in time/,
  },
  ETIMEDOUT: {
    error: network('ETIMEDOUT', {}, 'TimeoutError'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /no answer/,
  },
  RequestTimeout: {
    error: service('RequestTimeout', 'timeout', 400),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /no answer/,
  },
  CERT_HAS_EXPIRED: {
    error: network('CERT_HAS_EXPIRED'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /TLS connection .* failed \(CERT_HAS_EXPIRED\)/,
  },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
    error: network('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /TLS/,
  },
  SELF_SIGNED_CERT_IN_CHAIN: {
    error: network('SELF_SIGNED_CERT_IN_CHAIN'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /TLS/,
  },
  EPROTO: { error: network('EPROTO'), exitCode: 5, diagnosis: 'network', fragment: /TLS/ },
  'proxy 407': {
    error: Object.assign(network('ProxyAuthenticationRequired', { $proxy: 'http://user:hunter2@proxy.example:3128' }), {
      code: undefined,
      name: 'ProxyAuthenticationRequired',
    }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /proxy http:\/\/proxy\.example:3128 asks for authentication \(HTTP 407\)/,
  },
  'proxy refused': {
    error: network('ECONNREFUSED', { address: '127.0.0.1', port: 3128, $proxy: 'http://127.0.0.1:3128' }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /proxy http:\/\/127\.0\.0\.1:3128 failed \(ECONNREFUSED\)/,
  },
  'an HTML page instead of AWS': {
    error: Object.assign(
      new Error(
        'Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.',
      ),
      { $metadata: { httpStatusCode: 200 } },
    ),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /something other than AWS answered/,
  },
  'an HTML 403 with no AWS error code': {
    error: Object.assign(new Error('UnknownError'), { name: 'UnknownError', $metadata: { httpStatusCode: 403 } }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /^something other than AWS answered sts:GetCallerIdentity \(HTTP 403\)$/,
  },
  'a 307 redirect': {
    error: Object.assign(new Error('Unknown'), { name: 'Unknown', $metadata: { httpStatusCode: 307 } }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /^something other than AWS answered/,
  },
  'an answer the guard refused': {
    error: Object.assign(new Error('x'), {
      name: 'NotAwsResponse',
      $metadata: { httpStatusCode: 200 },
      $contentType: 'text/html; charset=utf-8',
    }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /^something other than AWS answered sts:GetCallerIdentity \(HTTP 200, text\/html; charset=utf-8\)$/,
  },
  ResponseTooLarge: {
    error: Object.assign(new Error('x'), {
      name: 'ResponseTooLarge',
      $metadata: { httpStatusCode: 200 },
      $contentType: 'text/xml',
    }),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /larger than any AWS answer .*over 4 MiB.*something other than AWS answered/,
  },
  CredentialsProviderError: {
    error: Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
      tryNextLink: false,
    }),
    exitCode: 3,
    diagnosis: 'credentials',
    fragment: /no admin credentials found/,
  },
  'unknown 4xx': {
    error: service('SomethingOdd', 'odd', 400),
    exitCode: 5,
    diagnosis: 'permissions',
    fragment: /AWS refused .*SomethingOdd/,
  },
  'no HTTP answer at all': {
    error: new Error('socket hang up'),
    exitCode: 5,
    diagnosis: 'network',
    fragment: /failed before AWS answered/,
  },
};

describe('classify', () => {
  for (const [name, row] of Object.entries(rows)) {
    it(`maps ${name} to exit ${row.exitCode} and the ${row.diagnosis} item`, () => {
      const action = row.action ?? 'sts:GetCallerIdentity';
      const c = classify(row.error, action);
      expect(c.exitCode).toBe(row.exitCode);
      expect(c.diagnosis).toBe(row.diagnosis);
      expect(c.message).toMatch(row.fragment);
      expect(c.message).toContain(action);
      expect(c.message).toMatch(/^(AWS |[a-z])/);
      expect(c.hint.length).toBeGreaterThan(10);
      for (const text of [c.message, c.hint]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(KEY_ID);
        expect(text).not.toContain('hunter2');
      }
    });
  }

  it('covers every code of the table with at least one row above or a sibling of the same row', () => {
    const tested = new Set(Object.values(rows).map((r) => classify(r.error, 'sts:GetCallerIdentity').code));
    const untested = knownCodes().filter((code) => !tested.has(code));
    // Every untested code must land on a row whose siblings are tested: classify it and compare exit codes with a tested sibling.
    for (const code of untested) {
      const c = classify(Object.assign(service(code, code, 400), NODE_LIKE.test(code) ? { code } : {}), 'iam:GetUser');
      expect(c.code).toBe(code);
      expect([2, 3, 4, 5]).toContain(c.exitCode);
      expect(CHECK_IDS).toContain(c.diagnosis);
      expect(c.hint).not.toBe('');
    }
  });

  it('words a rejected admin credential as the admin, with the ways to provide one', () => {
    const c = classify(service('InvalidClientTokenId', 'invalid', 403), 'iam:CreateUser', { signer: 'admin' });
    expect(c.message).toContain('the admin credentials');
    expect(c.hint).toMatch(/--profile/);
  });

  it('tells how to provide admin credentials when there are none', () => {
    const c = classify(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      'iam:CreateUser',
      { signer: 'admin' },
    );
    for (const way of ['--profile', 'AWS_PROFILE', 'aws configure', 'aws sso login']) expect(c.hint).toContain(way);
  });

  it('names the missing profile and an expired SSO session', () => {
    const profile = classify(
      Object.assign(
        new Error('Could not resolve credentials using profile: [ops] in configuration/credentials file(s).'),
        { name: 'CredentialsProviderError' },
      ),
      'iam:GetUser',
      { profile: 'ops' },
    );
    expect(profile.message).toContain('profile "ops": it was not found');
    const sso = classify(
      Object.assign(new Error('The SSO session associated with this profile has expired or is otherwise invalid.'), {
        name: 'CredentialsProviderError',
      }),
      'iam:GetUser',
      { profile: 'ops' },
    );
    expect(sso.message).toContain('SSO session of profile ops has expired');
    expect(sso.hint).toContain('aws sso login --profile ops');
  });

  it("uses AWS's wire code over the SDK's exception class name", () => {
    const e = Object.assign(service('NoSuchEntityException', 'The user with name x cannot be found.', 404), {
      Code: 'NoSuchEntity',
    });
    expect(classify(e, 'iam:GetUser')).toMatchObject({ code: 'NoSuchEntity', exitCode: 5, diagnosis: 'key-status' });
    const limit = Object.assign(
      service('LimitExceededException', 'Cannot exceed quota for AccessKeysPerUser: 2', 409),
      { Code: 'LimitExceeded' },
    );
    expect(classify(limit, 'iam:CreateAccessKey').message).toContain('already has two access keys');
  });

  it('keeps the request id and the HTTP status', () => {
    const c = classify(service('AccessDenied', 'denied', 403), 'iam:GetUser');
    expect(c.requestId).toBe('req-123');
    expect(c.httpStatusCode).toBe(403);
  });

  it('returns a translated error unchanged', () => {
    const translated = translateAwsError(service('SignatureDoesNotMatch', 'x', 403), 'sts:GetCallerIdentity');
    expect(classify(translated)).toMatchObject({
      code: 'SignatureDoesNotMatch',
      exitCode: 4,
      diagnosis: 'credentials',
    });
    expect(translateAwsError(translated, 'other')).toBe(translated);
  });

  it('never repeats a remembered secret or a key id from an AWS message', () => {
    rememberSecret(SECRET);
    const c = classify(
      service('AccessDenied', `denied for ${KEY_ID} with ${SECRET} and ASIAIOSFODNN7EXAMPLE`, 403),
      'iam:GetUser',
    );
    expect(c.message).not.toContain(SECRET);
    expect(c.message).not.toContain(KEY_ID);
    expect(c.message).not.toContain('ASIAIOSFODNN7EXAMPLE');
    expect(scrub(`x ${KEY_ID} y`)).toBe('x AKIAIOSF************ y');
  });
});

const NODE_LIKE = /^(E[A-Z_]+|CERT_|DEPTH_|SELF_|UNABLE_|ERR_)/;

describe('translateAwsError', () => {
  it.each([
    [service('InvalidClientTokenId', 'x', 403), CredentialsRejectedError, 4],
    [service('AccessDenied', 'x', 403), AwsError, 5],
    [network('ECONNREFUSED'), AwsError, 5],
    [Object.assign(new Error('none'), { name: 'CredentialsProviderError' }), ConfigError, 3],
    [new Error('Invalid region in client config'), UsageError, 2],
  ] as const)('builds the error class of the exit code (%#)', (error, type, exitCode) => {
    const translated = translateAwsError(error, 'sts:GetCallerIdentity');
    expect(translated).toBeInstanceOf(type);
    expect(translated).toBeInstanceOf(CliError);
    expect(translated.exitCode).toBe(exitCode);
    expect(translated.diagnosis).toBeDefined();
    expect(translated.hint).toBeTruthy();
    expect(translated.cause).toBe(error);
  });

  it('carries the AWS code and request id for --debug', () => {
    const translated = translateAwsError(service('Throttling', 'Rate exceeded', 400), 'iam:ListAccessKeys');
    expect(translated.awsCode).toBe('Throttling');
    expect(translated.requestId).toBe('req-123');
    expect(translated.message).toContain('iam:ListAccessKeys');
  });
});

describe('the checklist', () => {
  it('has a title for every item, in the guide order', () => {
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
    for (const id of CHECK_IDS) expect(CHECK_TITLES[id].length).toBeGreaterThan(10);
    expect(CHECK_TITLES.clock).toBe('The system clock is correct');
  });
});
