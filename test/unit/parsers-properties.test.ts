import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CliError, ConfigError, SecretStoreError, UsageError } from '../../src/errors.js';
import { parseCredentialsCsv } from '../../src/domain/credentials-csv.js';
import {
  parsePolicyDocument,
  parseService,
  parseTag,
  parseTags,
  validateBucketName,
  validatePath,
  validatePolicyArn,
  validatePolicyName,
  validatePrefix,
  validateTagValue,
} from '../../src/domain/policies.js';
import {
  accountIdFromAccessKeyId,
  isRootArn,
  maskAccessKeyId,
  userNameFromArn,
  validateRegion,
} from '../../src/domain/access-key.js';
import { ageInDays, validateConnectionName, validateDescription } from '../../src/domain/connection.js';
import { userFromArn, JOURNAL_VERSION, type RotationJournal } from '../../src/domain/rotation.js';
import { checkFormat } from '../../src/domain/diagnosis.js';
import { parseRotateOptions } from '../../src/commands/rotate.js';
import { parseTestOptions } from '../../src/commands/test.js';
import { openConnectionStore, validateConnectionFile } from '../../src/store/connections.js';
import { journalStore } from '../../src/store/journal.js';
import { decodeAccessKeyPair, secretStoreKind, typedSecretStore } from '../../src/store/secret-store.js';
import { openEncryptedFileStore } from '../../src/store/encrypted-file.js';
import { readLockOwner, safeFileName } from '../../src/store/lock.js';
import { classify, translateAwsError } from '../../src/aws/errors.js';
import {
  defaultProfileName,
  parseAwsIni,
  profileSections,
  upsertProfileBlock,
  validateProfileName,
} from '../../src/domain/aws-config.js';
import { resolveGlobals } from '../../src/main.js';
import { bufferedIO } from '../../src/ui/io.js';

/**
 * Property-based tests (issue 7): no input makes a parser or validator throw anything but our own
 * error types, and what they accept has the shape they promise. Complements the properties already in
 * test/unit/domain (key ids and secrets, IAM user names, the bucket policy, pending accounts).
 */

const RUNS = { numRuns: 300 };
const FILE_RUNS = { numRuns: 120 };
let tried = 0;

/** Calls `fn`; anything thrown must be an instance of `allowed` (one of our CliError subclasses). */
function onlyThrows<T>(allowed: new (...args: never[]) => CliError, fn: () => T): T | undefined {
  tried += 1;
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof allowed))
      throw new Error(`threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, { cause: error });
    expect(error.message.length).toBeGreaterThan(0);
    return undefined;
  }
}

async function onlyRejects<T>(
  allowed: new (...args: never[]) => CliError,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  tried += 1;
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof allowed))
      throw new Error(`rejected with ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, {
        cause: error,
      });
    return undefined;
  }
}

/** Any text, unicode and control characters included, now and then very long. */
const anyText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  {
    weight: 2,
    arbitrary: fc.string({
      unit: fc.constantFrom(
        'a',
        'Z',
        '0',
        '9',
        '-',
        '_',
        ' ',
        '\n',
        '\t',
        '\u0000',
        '"',
        ',',
        '/',
        '=',
        '.',
        '*',
        '\u202e',
        'é',
      ),
      maxLength: 80,
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 2000, maxLength: 11_000 }) },
);

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('the credentials CSV parser', () => {
  it('throws only UsageError for any bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        (bytes) => void onlyThrows(UsageError, () => parseCredentialsCsv(bytes, 'keys.csv')),
      ),
      RUNS,
    );
  });

  it('throws only UsageError for any text, and never quotes the secret it was given', () => {
    const cell = fc.oneof(
      anyText,
      fc.constantFrom(ID, SECRET, 'Access key ID', 'Secret access key', 'User name', '"', '""', ''),
    );
    const csv = fc
      .array(fc.array(cell, { maxLength: 6 }), { maxLength: 5 })
      .chain((rows) =>
        fc
          .tuple(fc.constant(rows), fc.constantFrom('\n', '\r\n', '\r'), fc.boolean())
          .map(([r, eol, bom]) => `${bom ? '\uFEFF' : ''}${r.map((row) => row.join(',')).join(eol)}`),
      );
    fc.assert(
      fc.property(csv, (text) => {
        tried += 1;
        try {
          parseCredentialsCsv(Buffer.from(text, 'utf8'), 'keys.csv');
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError);
          expect((error as Error).message).not.toContain(SECRET);
          expect((error as UsageError).hint ?? '').not.toContain(SECRET);
        }
      }),
      RUNS,
    );
  });

  it('reads the key back exactly from either layout, with a BOM, CRLF and quoting', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (fiveColumns, bom, crlf, quoted) => {
        const q = (v: string) => (quoted ? `"${v.replace(/"/g, '""')}"` : v);
        const eol = crlf ? '\r\n' : '\n';
        const rows = fiveColumns
          ? [
              ['User name', 'Password', 'Access key ID', 'Secret access key', 'Console login link'],
              ['alice', quoted ? 'p,"w\nx' : 'pw', ID, SECRET, 'https://x'],
            ]
          : [
              ['Access key ID', 'Secret access key'],
              [ID, SECRET],
            ];
        const text = `${bom ? '\uFEFF' : ''}${rows.map((r) => r.map(q).join(',')).join(eol)}${eol}`;
        const parsed = parseCredentialsCsv(Buffer.from(text, 'utf8'), 'keys.csv');
        expect(parsed.accessKeyId).toBe(ID);
        expect(parsed.secretAccessKey).toBe(SECRET);
        expect(parsed.userName).toBe(fiveColumns ? 'alice' : undefined);
      }),
      { numRuns: 50 },
    );
  });
});

describe('policy documents and IAM names', () => {
  it('parsePolicyDocument throws only UsageError for any text or JSON value, naming the file', () => {
    const statement = fc.record(
      {
        Effect: fc.oneof(fc.constantFrom('Allow', 'Deny'), fc.jsonValue()),
        Action: fc.jsonValue(),
        Resource: fc.jsonValue(),
        NotAction: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const nearPolicy = fc.record(
      {
        Version: fc.oneof(fc.constantFrom('2012-10-17', '2008-10-17'), fc.jsonValue()),
        Statement: fc.oneof(statement, fc.array(fc.oneof(statement, fc.jsonValue()), { maxLength: 3 }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const text = fc.oneof(
      anyText,
      fc.jsonValue().map((v) => JSON.stringify(v)),
      nearPolicy.map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(text, (t) => {
        tried += 1;
        try {
          const doc = parsePolicyDocument(t, 'policy.json');
          expect(['2012-10-17', '2008-10-17']).toContain(doc.Version);
          const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
          for (const s of statements) expect(['Allow', 'Deny']).toContain(s.Effect);
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError);
          expect((error as Error).message).toContain('policy.json');
        }
      }),
      RUNS,
    );
  });

  it('every IAM-name and tag validator throws only UsageError, and returns its input unchanged when it accepts', () => {
    const checks: Array<[string, (v: string) => unknown]> = [
      ['validatePath', validatePath],
      ['validateBucketName', validateBucketName],
      ['validatePrefix', validatePrefix],
      ['validatePolicyArn', validatePolicyArn],
      ['validatePolicyName', validatePolicyName],
      ['validateTagValue', (v) => validateTagValue(v, 'the value')],
      ['parseService', parseService],
    ];
    fc.assert(
      fc.property(anyText, (value) => {
        for (const [, check] of checks) {
          const out = onlyThrows(UsageError, () => check(value));
          if (out !== undefined && typeof out === 'string' && check !== parseService) expect(out).toBe(value);
        }
      }),
      RUNS,
    );
  });

  it('parseTag and parseTags throw only UsageError, and an accepted tag splits at the first "="', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            anyText,
            fc.tuple(anyText, anyText).map(([k, v]) => `${k}=${v}`),
          ),
          { maxLength: 45 },
        ),
        (texts) => {
          for (const text of texts) {
            const tag = onlyThrows(UsageError, () => parseTag(text));
            if (tag) expect(`${tag[0]}=${tag[1]}`).toBe(text);
          }
          onlyThrows(UsageError, () => parseTags(texts));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('regions, connection names, descriptions', () => {
  const region = fc
    .tuple(
      fc.constantFrom('us', 'eu', 'ap', 'sa', 'ca', 'me', 'af', 'il', 'mx', 'cn', 'us-gov', 'us-iso', 'us-isob'),
      fc.constantFrom('central', 'north', 'south', 'east', 'west', 'northeast', 'northwest', 'southeast', 'southwest'),
      fc.integer({ min: 1, max: 99 }),
    )
    .map(([area, direction, n]) => `${area}-${direction}-${n}`);

  it('validateRegion accepts every well-formed region and throws only UsageError (naming the source) for anything else', () => {
    fc.assert(
      fc.property(region, (r) => void expect(validateRegion(r)).toBe(r)),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          region.map((r) => `${r} `),
          region.map((r) => r.toUpperCase()),
          region.map((r) => `${r}a`),
        ),
        (value) => {
          tried += 1;
          try {
            expect(validateRegion(value, 'AWS_REGION')).toBe(value);
          } catch (error) {
            expect(error).toBeInstanceOf(UsageError);
            expect((error as Error).message.startsWith('AWS_REGION: ')).toBe(true);
            // A long value is described, never echoed.
            if (value.length > 40) expect((error as Error).message).not.toContain(value);
          }
        },
      ),
      RUNS,
    );
  });

  it('validateConnectionName throws only UsageError; what it accepts is 1–64 printable characters without surrounding spaces', () => {
    fc.assert(
      fc.property(anyText, (name) => {
        const out = onlyThrows(UsageError, () => validateConnectionName(name));
        if (out !== undefined) {
          expect(out).toBe(name);
          expect([...name].length).toBeGreaterThanOrEqual(1);
          expect([...name].length).toBeLessThanOrEqual(64);
          expect(name.trim()).toBe(name);
          expect(/[\u0000-\u001f\u007f-\u009f]/.test(name)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('validateDescription throws only UsageError naming its source; what it accepts has no control or bidi-override character', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        tried += 1;
        try {
          expect(validateDescription(text)).toBe(text);
          expect([...text].length).toBeLessThanOrEqual(256);
          expect(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text)).toBe(false);
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError);
          expect((error as Error).message.startsWith('--description: ')).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe('command-line flags', () => {
  it('--older-than and --concurrency: only UsageError, and an accepted value is a whole number in range', () => {
    const number = fc.oneof(
      anyText,
      fc.integer({ min: -1_000, max: 10_000_000 }).map(String),
      fc.double().map(String),
      fc.constantFrom('', ' 90 ', '0', '000090', '1e3', '0x10', '９０', '-0', '+5'),
    );
    fc.assert(
      fc.property(
        fc.option(anyText, { nil: undefined }),
        fc.boolean(),
        fc.option(number, { nil: undefined }),
        fc.option(number, { nil: undefined }),
        (name, all, olderThan, concurrency) => {
          const opts = onlyThrows(UsageError, () => parseRotateOptions(name, { all, olderThan, concurrency }));
          if (opts) {
            expect(opts.all === (name === undefined)).toBe(true);
            if (opts.olderThan !== undefined)
              expect(Number.isSafeInteger(opts.olderThan) && opts.olderThan >= 0).toBe(true);
            expect(Number.isSafeInteger(opts.concurrency) && opts.concurrency >= 1 && opts.concurrency <= 64).toBe(
              true,
            );
          }
        },
      ),
      RUNS,
    );
  });

  it('test NAME --service: only UsageError, and accepted services are among s3, rds, lambda', () => {
    fc.assert(
      fc.property(
        fc.option(anyText, { nil: undefined }),
        fc.boolean(),
        fc.option(fc.array(fc.oneof(anyText, fc.constantFrom('s3', 'RDS', ' lambda ')), { maxLength: 4 }), {
          nil: undefined,
        }),
        (name, all, service) => {
          const opts = onlyThrows(UsageError, () => parseTestOptions(name, { all, service }));
          for (const s of opts?.services ?? []) expect(['s3', 'rds', 'lambda']).toContain(s);
        },
      ),
      RUNS,
    );
  });

  it('the global options and their environment: only UsageError (a bad --endpoint-url or AWS_ENDPOINT_URL)', () => {
    const io = bufferedIO({});
    fc.assert(
      fc.property(
        fc.option(anyText, { nil: undefined }),
        fc.option(anyText, { nil: undefined }),
        fc.option(anyText, { nil: undefined }),
        fc.option(anyText, { nil: undefined }),
        (endpointUrl, envUrl, ci, noColor) => {
          const globals = onlyThrows(UsageError, () =>
            resolveGlobals({ endpointUrl }, { AWS_ENDPOINT_URL: envUrl, CI: ci, NO_COLOR: noColor }, io),
          );
          if (globals?.endpointUrl !== undefined) expect(globals.endpointUrl).toMatch(/^https?:\/\//i);
        },
      ),
      RUNS,
    );
  });

  it('DATABLAST_AWS_SECRET_STORE: only UsageError, and never echoes more than 40 characters of the value', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.constantFrom('file', 'keychain', '', 'FILE')), (value) => {
        tried += 1;
        try {
          expect(['file', 'keychain']).toContain(secretStoreKind({ DATABLAST_AWS_SECRET_STORE: value }));
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError);
          expect((error as Error).message.length).toBeLessThan(200);
        }
      }),
      RUNS,
    );
  });
});

describe('what the stores decode', () => {
  const connection = fc.record(
    {
      name: fc.oneof(fc.constant('prod'), anyText, fc.jsonValue()),
      accessKeyId: fc.oneof(fc.constant(ID), fc.jsonValue()),
      region: fc.oneof(fc.constant('us-east-1'), fc.jsonValue()),
      createdAt: fc.oneof(fc.constant('2026-01-01T00:00:00.000Z'), fc.jsonValue()),
      description: fc.oneof(anyText, fc.jsonValue()),
      services: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
      previousAccessKeyIds: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  const nearFile = fc.record(
    {
      version: fc.oneof(fc.constant(1), fc.integer({ min: -2, max: 3 }), fc.jsonValue()),
      connections: fc.oneof(
        fc.dictionary(fc.oneof(fc.constant('prod'), fc.string(), fc.constant('__proto__')), connection, { maxKeys: 3 }),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  );

  it('validateConnectionFile: any JSON value is a connection file or a ConfigError naming the path', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), nearFile), (data) => {
        tried += 1;
        try {
          const file = validateConnectionFile(data, '/cfg/config.json');
          for (const [name, c] of Object.entries(file.connections)) {
            expect(c.name).toBe(name);
            expect(typeof c.accessKeyId).toBe('string');
          }
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as Error).message).toContain('/cfg/config.json');
          expect((error as CliError).hint).toBeTruthy();
        }
      }),
      RUNS,
    );
  });

  it('the connection store reads any bytes in config.json as connections or a ConfigError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-prop-config-'));
    const store = await openConnectionStore({ DATABLAST_AWS_CONFIG_DIR: dir });
    const content = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.oneof(fc.jsonValue(), nearFile).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    );
    await fc.assert(
      fc.asyncProperty(content, async (bytes) => {
        writeFileSync(join(dir, 'config.json'), bytes);
        await onlyRejects(ConfigError, () => store.list());
        await onlyRejects(ConfigError, () => store.get('prod'));
      }),
      FILE_RUNS,
    );
  });

  it('the rotation journal reads any bytes, and any mangled journal, as a journal or a ConfigError naming its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-prop-journal-'));
    const journals = journalStore(dir, 'prod');
    const valid: RotationJournal = {
      version: JOURNAL_VERSION,
      connection: 'prod',
      phase: 'created',
      startedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
      userName: 'datablast',
      oldAccessKeyId: ID,
      keysBefore: [ID],
      newAccessKeyId: 'AKIAI44QHXDHBEXAMPLE',
      keepOld: false,
    };
    const mangled = fc
      .tuple(fc.constantFrom(...Object.keys(valid), 'extra'), fc.oneof(fc.jsonValue(), fc.constant(undefined)))
      .map(([key, value]) => JSON.stringify({ ...valid, [key]: value }));
    const content = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
      mangled.map((t) => Buffer.from(t)),
    );
    await fc.assert(
      fc.asyncProperty(content, async (bytes) => {
        writeFileSync(journals.path, bytes);
        tried += 1;
        try {
          const journal = await journals.read();
          expect(journal?.connection).toBe('prod');
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as Error).message).toContain(journals.path);
          expect((error as CliError).hint).toContain(journals.path);
        }
      }),
      FILE_RUNS,
    );
  });

  it('a secret-store entry decodes to a key pair or a SecretStoreError that never quotes the entry', () => {
    const entry = fc.oneof(
      anyText,
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc
        .record({ accessKeyId: fc.jsonValue(), secretAccessKey: fc.jsonValue() }, { requiredKeys: [] })
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(entry, (value) => {
        tried += 1;
        try {
          const pair = decodeAccessKeyPair(value, 'prod', 'the keychain');
          expect(typeof pair.accessKeyId === 'string' && typeof pair.secretAccessKey === 'string').toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(SecretStoreError);
          if (value.length >= 4) expect((error as Error).message).not.toContain(value);
        }
      }),
      RUNS,
    );
  });

  it('the encrypted file store reads any secrets file, and any mangled one, as secrets or a SecretStoreError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-prop-secrets-'));
    const env = { DATABLAST_AWS_PASSPHRASE: 'property passphrase' };
    const cheap = { N: 1024, r: 8, p: 1 };
    const writer = typedSecretStore(await openEncryptedFileStore({ dir, env, scrypt: cheap }));
    await writer.set('prod', { accessKeyId: ID, secretAccessKey: SECRET });
    const path = join(dir, 'secrets.enc');
    const { readFileSync } = await import('node:fs');
    const good = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    // Small numbers only for the scrypt parameters: a mangled file may well carry a valid, costly set.
    const small = fc.oneof(fc.integer({ min: -4, max: 4096 }), fc.double(), fc.jsonValue());
    const mangled = fc.oneof(
      fc.tuple(fc.constantFrom(...Object.keys(good)), fc.jsonValue()).map(([k, v]) => ({ ...good, [k]: v })),
      fc
        .tuple(fc.constantFrom('N', 'r', 'p', 'salt', 'name'), small)
        .map(([k, v]) => ({ ...good, kdf: { ...(good.kdf as object), [k]: v } })),
      fc
        .tuple(fc.constantFrom('iv', 'tag', 'ciphertext'), fc.base64String({ maxLength: 64 }))
        .map(([k, v]) => ({ ...good, [k]: v })),
    );
    const content = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      mangled.map((v) => Buffer.from(JSON.stringify(v))),
    );
    await fc.assert(
      fc.asyncProperty(content, async (bytes) => {
        writeFileSync(path, bytes);
        // A fresh store each time: the key cache must not hide a bad derivation.
        const store = typedSecretStore(await openEncryptedFileStore({ dir, env, scrypt: cheap }));
        await onlyRejects(SecretStoreError, () => store.list());
        await onlyRejects(SecretStoreError, () => store.get('prod'));
      }),
      FILE_RUNS,
    );
  });

  it('a lock file of any content names its owner or nobody, and never throws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaws-prop-lock-'));
    const path = join(dir, 'x.lock');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
        ),
        async (bytes) => {
          writeFileSync(path, bytes);
          tried += 1;
          const owner = await readLockOwner(path);
          if (owner) expect(typeof owner.pid === 'number' && typeof owner.token === 'string').toBe(true);
        },
      ),
      FILE_RUNS,
    );
  });
});

describe('the AWS config file (export-profile)', () => {
  const iniLine = fc.oneof(
    anyText,
    fc.constantFrom(
      '[default]',
      '[profile datablast-prod]',
      '[profile "datablast-prod"]',
      '[sso-session x]',
      '[',
      ']',
      'a = b',
      '  nested = 1',
      '# c',
      '\r',
    ),
  );
  const iniText = fc
    .array(iniLine, { maxLength: 8 })
    .chain((lines) => fc.constantFrom('\n', '\r\n', '\r').map((eol) => lines.join(eol)));

  it('reads any text, and writes our block into it exactly once or refuses with a UsageError', () => {
    fc.assert(
      fc.property(iniText, (text) => {
        tried += 1;
        parseAwsIni(text);
        parseAwsIni(text, 'credentials');
        const entries = [
          ['credential_process', '/usr/bin/datablast-aws credential-process prod'],
          ['region', 'us-east-1'],
        ] as const;
        const written = onlyThrows(UsageError, () => upsertProfileBlock(text, 'datablast-prod', entries));
        if (written !== undefined) {
          const sections = profileSections(parseAwsIni(written), 'datablast-prod');
          expect(sections).toHaveLength(1);
          expect(sections[0]!.entries.get('credential_process')).toBe(entries[0][1]);
          // Writing again changes nothing (after at most one pass: a lone CR in the file can flip the line ending chosen).
          const again = upsertProfileBlock(written, 'datablast-prod', entries);
          expect(profileSections(parseAwsIni(again), 'datablast-prod')).toHaveLength(1);
          expect(upsertProfileBlock(again, 'datablast-prod', entries)).toBe(again);
        }
      }),
      RUNS,
    );
  });

  it('profile names: only UsageError for a bad --profile-name, and the default name for any connection name is valid', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        onlyThrows(UsageError, () => validateProfileName(text));
        expect(validateProfileName(defaultProfileName(text))).toBe(defaultProfileName(text));
      }),
      RUNS,
    );
  });
});

describe('functions that must never throw', () => {
  it('key ids, ARNs, ages and file names: any text in, a value out', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        tried += 1;
        const masked = maskAccessKeyId(text);
        expect(masked.length).toBe(text.length);
        if (text.length > 8) expect(masked.slice(4, -4)).toMatch(/^\*+$/);
        expect(accountIdFromAccessKeyId(text) ?? '000000000000').toMatch(/^\d{12}$/);
        expect(typeof isRootArn(text)).toBe('boolean');
        userNameFromArn(text);
        userFromArn(text);
        expect(ageInDays(text, new Date()) ?? 0).toBeGreaterThanOrEqual(0);
        const safe = safeFileName(text);
        expect(safe).toMatch(/^[a-z0-9-]{1,49}$/);
        expect(checkFormat({ accessKeyId: text, secretAccessKey: text }, 'prod').ok).toBe(false);
      }),
      RUNS,
    );
  });

  it('the AWS error table turns any thrown value into one of our errors, with a message and an exit code', () => {
    const sdkLike = fc.record(
      {
        name: fc.oneof(
          fc.constantFrom('InvalidClientTokenId', 'AccessDenied', 'TimeoutError', 'Error', 'ThrottlingException'),
          anyText,
          fc.jsonValue(),
        ),
        Code: fc.oneof(anyText, fc.jsonValue()),
        code: fc.oneof(fc.constantFrom('ECONNREFUSED', 'ENOTFOUND', 'CERT_HAS_EXPIRED'), anyText, fc.jsonValue()),
        message: fc.oneof(anyText, fc.jsonValue()),
        $fault: fc.oneof(fc.constantFrom('client', 'server'), fc.jsonValue()),
        $metadata: fc.oneof(
          fc.record(
            {
              httpStatusCode: fc.oneof(fc.integer(), fc.jsonValue()),
              requestId: fc.oneof(fc.string(), fc.jsonValue()),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue(),
        ),
        $response: fc.jsonValue(),
        cause: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    // The Error's own message is set by Object.assign, whatever it is: String() of a JSON object with a
    // "toString" key (fast-check makes those) throws in the generator itself, before the code under test.
    const thrown = fc.oneof(
      fc.anything(),
      sdkLike,
      sdkLike.map((fields) => Object.assign(new Error(), fields)),
    );
    fc.assert(
      fc.property(thrown, anyText, (error, action) => {
        tried += 1;
        const translated = translateAwsError(error, action);
        expect(translated).toBeInstanceOf(CliError);
        expect(translated.message.length).toBeGreaterThan(0);
        expect([2, 3, 4, 5, 6]).toContain(classify(error, action).exitCode);
      }),
      RUNS,
    );
  });

  it('prints how many inputs were tried', () => {
    expect(tried).toBeGreaterThan(3_000);
    console.log(
      `parser properties: ${tried} generated inputs tried over 29 parsers and validators, 0 threw a foreign error`,
    );
  });
});
