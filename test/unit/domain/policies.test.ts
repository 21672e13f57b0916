import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../../../src/errors.js';
import {
  MAX_INLINE_POLICY_CHARS_PER_USER,
  SERVICE_POLICIES,
  bucketPolicy,
  checkInlinePolicyQuota,
  checkManagedPolicyQuota,
  inlinePolicySize,
  parsePolicyDocument,
  parseService,
  parseTag,
  parseTags,
  policyText,
  samePolicy,
  selfRotationPolicy,
  validateBucketName,
  validatePath,
  validatePolicyArn,
  validatePolicyName,
  validatePrefix,
  validateTagValue,
  validateUserName,
  type PolicyStatement,
} from '../../../src/domain/policies.js';
import { assertNotRoot } from '../../../src/domain/admin.js';

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    return (error as UsageError).message;
  }
  throw new Error('expected a UsageError');
}

describe('service presets', () => {
  it('maps each service to its AWS managed read-only policy', () => {
    expect(SERVICE_POLICIES.s3.policyArn).toBe('arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess');
    expect(SERVICE_POLICIES.rds.policyArn).toBe('arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess');
    expect(SERVICE_POLICIES.lambda.policyArn).toBe('arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess');
  });

  it('accepts a service name in any case', () => {
    expect(parseService('S3')).toBe('s3');
    expect(parseService('lambda')).toBe('lambda');
  });

  it('rejects an unknown service, listing the choices', () => {
    expect(usageMessage(() => parseService('ec2'))).toContain('s3|rds|lambda');
  });
});

describe('user names, paths and tags', () => {
  it('accepts every character IAM allows in a user name, up to 64', () => {
    expect(validateUserName('datablast-integration')).toBe('datablast-integration');
    expect(validateUserName('a+b=c,d.e@f_g-h')).toBe('a+b=c,d.e@f_g-h');
    expect(validateUserName('x'.repeat(64))).toHaveLength(64);
  });

  it('rejects empty, too long and names with other characters, naming the character', () => {
    expect(usageMessage(() => validateUserName(''))).toContain('empty');
    expect(usageMessage(() => validateUserName('x'.repeat(65)))).toContain('65 characters');
    expect(usageMessage(() => validateUserName('data blast'))).toContain('a space');
    expect(usageMessage(() => validateUserName('data/blast'))).toContain('"/"');
  });

  it('accepts exactly the names of 1–64 IAM characters (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 80 }), (name) => {
        const ok = /^[A-Za-z0-9+=,.@_-]{1,64}$/.test(name);
        let accepted = true;
        try {
          validateUserName(name);
        } catch {
          accepted = false;
        }
        return accepted === ok;
      }),
    );
  });

  it('accepts "/" and /a/b/ paths and rejects the rest', () => {
    expect(validatePath('/')).toBe('/');
    expect(validatePath('/integrations/datablast/')).toBe('/integrations/datablast/');
    expect(usageMessage(() => validatePath('integrations/'))).toContain('start and end with "/"');
    expect(usageMessage(() => validatePath('/integrations'))).toContain('start and end with "/"');
    expect(usageMessage(() => validatePath('/a b/'))).toContain('without spaces');
    expect(usageMessage(() => validatePath('/a//b/'))).toContain('//');
    expect(usageMessage(() => validatePath(`/${'a'.repeat(511)}/`))).toContain('512');
  });

  it('parses key=value tags and keeps an = inside the value', () => {
    expect(parseTag('team=data')).toEqual(['team', 'data']);
    expect(parseTag('formula=a=b')).toEqual(['formula', 'a=b']);
    expect(parseTag('empty=')).toEqual(['empty', '']);
  });

  it('rejects malformed, reserved and conflicting tags', () => {
    expect(usageMessage(() => parseTag('team'))).toContain('key=value');
    expect(usageMessage(() => parseTag('=x'))).toContain('key=value');
    expect(usageMessage(() => parseTag('aws:owner=x'))).toContain('aws:');
    expect(usageMessage(() => parseTag('managed-by=me'))).toContain('set by datablast-aws');
    expect(usageMessage(() => parseTag('team=a!b'))).toContain('"!"');
    expect(usageMessage(() => parseTags(['team=a', 'team=b']))).toContain('twice');
    expect(parseTags(['team=a', 'team=a', 'env=prod'])).toEqual({ team: 'a', env: 'prod' });
  });

  it('checks a description against the tag value rules the console applies', () => {
    expect(validateTagValue('Datablast prod: nightly sync', 'the description')).toBe('Datablast prod: nightly sync');
    expect(usageMessage(() => validateTagValue('50% of it', 'the description'))).toContain('"%"');
    expect(usageMessage(() => validateTagValue('x'.repeat(257), 'the description'))).toContain('256');
  });
});

describe('bucket names and prefixes', () => {
  it.each(['my-exports', 'a.b.c', '123', 'x'.repeat(63)])('accepts %s', (name) => {
    expect(validateBucketName(name)).toBe(name);
  });

  it.each([
    ['ab', '3 to 63'],
    ['x'.repeat(64), '3 to 63'],
    ['My-Bucket', 'lower-case'],
    ['my_bucket', 'lower-case'],
    ['-bucket', 'start and end'],
    ['bucket.', 'start and end'],
    ['a..b', 'two dots'],
    ['192.168.1.1', 'IP address'],
    ['xn--bucket', 'xn--'],
    ['bucket-s3alias', '-s3alias'],
    ['s3://my-bucket', 'bare name'],
    ['arn:aws:s3:::my-bucket', 'bare name'],
  ])('rejects %s (%s)', (name, why) => {
    expect(usageMessage(() => validateBucketName(name))).toContain(why);
  });

  it('accepts a literal prefix and rejects wildcards, a leading slash and empty', () => {
    expect(validatePrefix('exports/daily/')).toBe('exports/daily/');
    expect(usageMessage(() => validatePrefix('exports/*'))).toContain('wildcard');
    expect(usageMessage(() => validatePrefix('/exports/'))).toContain('starts with "/"');
    expect(usageMessage(() => validatePrefix(''))).toContain('empty');
  });
});

describe('the generated bucket policy', () => {
  const statements = (buckets: string[], prefix?: string) =>
    bucketPolicy(buckets, prefix).Statement as PolicyStatement[];

  it('grants only ListBucket and GetBucketLocation on the buckets and GetObject on their objects', () => {
    const doc = bucketPolicy(['b-two', 'a-one', 'b-two']);
    expect(doc.Version).toBe('2012-10-17');
    const [list, locate, read] = doc.Statement as PolicyStatement[];
    expect(list).toEqual({
      Sid: 'ListBuckets',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: ['arn:aws:s3:::a-one', 'arn:aws:s3:::b-two'],
    });
    expect(locate).toEqual({
      Sid: 'LocateBuckets',
      Effect: 'Allow',
      Action: 's3:GetBucketLocation',
      Resource: ['arn:aws:s3:::a-one', 'arn:aws:s3:::b-two'],
    });
    expect(read).toEqual({
      Sid: 'ReadObjects',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: ['arn:aws:s3:::a-one/*', 'arn:aws:s3:::b-two/*'],
    });
    const actions = (doc.Statement as PolicyStatement[]).flatMap((s) => s.Action);
    expect(actions.sort()).toEqual(['s3:GetBucketLocation', 's3:GetObject', 's3:ListBucket']);
  });

  it('narrows listing with an s3:prefix condition and reading with the object ARN when a prefix is given', () => {
    const [list, locate, read] = statements(['exports'], 'daily/');
    expect(list!.Condition).toEqual({ StringLike: { 's3:prefix': 'daily/*' } });
    // GetBucketLocation has no s3:prefix key: a condition there would deny it.
    expect(locate!.Condition).toBeUndefined();
    expect(read!.Resource).toEqual(['arn:aws:s3:::exports/daily/*']);
  });

  it('never grants a wildcard action or a resource outside the buckets (property)', () => {
    const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/);
    fc.assert(
      fc.property(
        fc.array(bucket, { minLength: 1, maxLength: 5 }),
        fc.option(fc.stringMatching(/^[a-z0-9/_-]{1,10}$/), { nil: undefined }),
        (buckets, prefix) => {
          for (const s of statements(buckets, prefix)) {
            for (const action of [s.Action].flat()) expect(action).not.toContain('*');
            for (const resource of [s.Resource].flat())
              expect(
                buckets.some((b) => resource === `arn:aws:s3:::${b}` || resource!.startsWith(`arn:aws:s3:::${b}/`)),
              ).toBe(true);
          }
        },
      ),
    );
  });
});

describe('the self-rotation policy', () => {
  it("allows only the five key actions on the caller's own user", () => {
    expect(selfRotationPolicy()).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'RotateOwnAccessKeys',
          Effect: 'Allow',
          Action: [
            'iam:CreateAccessKey',
            'iam:DeleteAccessKey',
            'iam:UpdateAccessKey',
            'iam:ListAccessKeys',
            'iam:GetAccessKeyLastUsed',
          ],
          Resource: 'arn:aws:iam::*:user/${aws:username}',
        },
      ],
    });
  });

  it('names the path of a user under a path, whose ARN includes it', () => {
    expect((selfRotationPolicy('/integrations/').Statement as PolicyStatement[])[0]!.Resource).toBe(
      'arn:aws:iam::*:user/integrations/${aws:username}',
    );
  });
});

describe('custom policy documents', () => {
  const valid =
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}';

  it('accepts a policy document, with a single statement object or a BOM', () => {
    expect(parsePolicyDocument(valid, 'p.json').Version).toBe('2012-10-17');
    expect(
      parsePolicyDocument(
        `\uFEFF{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}}`,
        'p.json',
      ).Version,
    ).toBe('2012-10-17');
  });

  it.each([
    ['{"Version":', 'not valid JSON'],
    ['[]', 'not a JSON object'],
    ['{"Statement":[]}', '"Version" is missing'],
    ['{"Version":"2020-01-01","Statement":[]}', 'IAM knows "2012-10-17"'],
    ['{"Version":"2012-10-17"}', '"Statement" is missing'],
    ['{"Version":"2012-10-17","Statement":[]}', '"Statement" is empty'],
    [
      '{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"a","Resource":"*"}]}',
      'statement 1 has "Effect"',
    ],
    ['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}', 'statement 1 has no "Action"'],
    ['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a"}]}', 'statement 1 has no "Resource"'],
  ])('rejects %s before any call', (text, why) => {
    const message = usageMessage(() => parsePolicyDocument(text, 'policy.json'));
    expect(message).toContain('policy.json');
    expect(message).toContain(why);
  });

  it('validates policy names and keeps ours reserved', () => {
    expect(validatePolicyName('datablast-extra')).toBe('datablast-extra');
    expect(usageMessage(() => validatePolicyName('has space'))).toContain('not valid');
    expect(usageMessage(() => validatePolicyName('datablast-self-rotation'))).toContain('reserved');
  });

  it('validates managed policy ARNs', () => {
    expect(validatePolicyArn('arn:aws:iam::aws:policy/ReadOnlyAccess')).toBeTruthy();
    expect(validatePolicyArn('arn:aws:iam::123456789012:policy/team/Custom')).toBeTruthy();
    expect(validatePolicyArn('arn:aws-us-gov:iam::aws:policy/job-function/ViewOnlyAccess')).toBeTruthy();
    expect(usageMessage(() => validatePolicyArn('AmazonS3ReadOnlyAccess'))).toContain('not an IAM managed policy ARN');
    expect(usageMessage(() => validatePolicyArn('arn:aws:iam::aws:role/Admin'))).toContain(
      'not an IAM managed policy ARN',
    );
    expect(usageMessage(() => validatePolicyArn('arn:aws:iam::12345:policy/X'))).toContain(
      'not an IAM managed policy ARN',
    );
  });

  it('compares documents by meaning, not by formatting or key order', () => {
    expect(samePolicy(valid, JSON.stringify(JSON.parse(valid), null, 2))).toBe(true);
    expect(samePolicy('{"Version":"2012-10-17","Statement":[]}', '{"Statement":[],"Version":"2012-10-17"}')).toBe(true);
    expect(samePolicy(valid, valid.replace('GetObject', 'PutObject'))).toBe(false);
  });
});

describe('quotas', () => {
  const arns = (n: number) => Array.from({ length: n }, (_, i) => `arn:aws:iam::aws:policy/P${i}`);

  it('allows up to ten managed policies per user, counting ones already attached once', () => {
    expect(() => checkManagedPolicyQuota('u', arns(8), arns(10))).not.toThrow();
    const message = usageMessage(() =>
      checkManagedPolicyQuota('u', arns(9), ['arn:aws:iam::aws:policy/X', 'arn:aws:iam::aws:policy/Y']),
    );
    expect(message).toContain('11 managed policies');
    expect(message).toContain('Nothing was changed');
  });

  it('counts inline policy size without whitespace, as AWS does', () => {
    expect(inlinePolicySize('{ "a" :\n\t"b" }')).toBe(9);
    expect(inlinePolicySize(policyText(selfRotationPolicy()))).toBe(JSON.stringify(selfRotationPolicy()).length);
  });

  it('sums every inline policy of the user, a replaced one counted once in its new size', () => {
    const big = (n: number) => `{"x":"${'a'.repeat(n - 8)}"}`;
    expect(inlinePolicySize(big(1000))).toBe(1000);
    expect(checkInlinePolicyQuota('u', { one: big(1000) }, { two: big(1048) })).toBe(MAX_INLINE_POLICY_CHARS_PER_USER);
    expect(checkInlinePolicyQuota('u', { one: big(2000) }, { one: big(1500) })).toBe(1500);
    const message = usageMessage(() => checkInlinePolicyQuota('u', { one: big(1000) }, { two: big(1049) }));
    expect(message).toContain('2049 characters');
    expect(message).toContain('one 1000, two 1049');
  });

  it('lets ten buckets with a prefix plus self-rotation fit in one user', () => {
    const buckets = Array.from({ length: 10 }, (_, i) => `datablast-bucket-${i}`);
    expect(() =>
      checkInlinePolicyQuota(
        'u',
        {},
        { a: policyText(bucketPolicy(buckets, 'exports/')), b: policyText(selfRotationPolicy()) },
      ),
    ).not.toThrow();
  });
});

describe('the admin identity', () => {
  it('refuses the account root user, naming the account', () => {
    expect(
      usageMessage(() =>
        assertNotRoot({ account: '123456789012', arn: 'arn:aws:iam::123456789012:root', userId: '123456789012' }),
      ),
    ).toContain('root user of account 123456789012');
  });

  it('accepts IAM users and assumed roles', () => {
    expect(() =>
      assertNotRoot({ account: '123456789012', arn: 'arn:aws:iam::123456789012:user/admin', userId: 'AIDA' }),
    ).not.toThrow();
    expect(() =>
      assertNotRoot({
        account: '123456789012',
        arn: 'arn:aws:sts::123456789012:assumed-role/Admin/me',
        userId: 'AROA:me',
      }),
    ).not.toThrow();
  });
});
