import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redact } from '../../../src/domain/redact.js';
import { ExitCode, SecretStoreError } from '../../../src/errors.js';
import {
  DEFAULT_SCRYPT,
  deriveKey,
  MIN_PASSPHRASE_LENGTH,
  openEncryptedFileStore,
  readPassphrase,
  SECRETS_FILE_NAME,
  type ScryptParams,
} from '../../../src/store/encrypted-file.js';
import { openSecretStore, typedSecretStore } from '../../../src/store/secret-store.js';
import { runTsWorker } from '../../support/ts-worker.js';
import { rejection as rejectionOf } from '../../support/rejection.js';

const worker = fileURLToPath(new URL('./workers/secrets-worker.mjs', import.meta.url));
const CHEAP: ScryptParams = { N: 1024, r: 8, p: 1 };
const PASSPHRASE = 'correct horse battery staple';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const pair = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET };
let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaws-enc-'));
  file = join(dir, SECRETS_FILE_NAME);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function store(env: Record<string, string> = { DATABLAST_AWS_PASSPHRASE: PASSPHRASE }) {
  return typedSecretStore(await openEncryptedFileStore({ dir, env, scrypt: CHEAP }));
}
const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function rejection(promise: Promise<unknown>): Promise<SecretStoreError> {
  const error = await rejectionOf(promise, SecretStoreError);
  expect(error.exitCode).toBe(ExitCode.secretStore);
  return error;
}

describe('the passphrase of a new secrets file (issue 13 §4)', () => {
  it('is refused below the minimum, saying the minimum and why; nothing is written', async () => {
    for (const short of [
      'a',
      'hunter2',
      'x'.repeat(MIN_PASSPHRASE_LENGTH - 1),
      'ü'.repeat(MIN_PASSPHRASE_LENGTH - 1),
    ]) {
      const error = await rejection((await store({ DATABLAST_AWS_PASSPHRASE: short })).set('prod', pair));
      expect(error.message).toContain(`a new secrets file needs at least ${MIN_PASSPHRASE_LENGTH}`);
      expect(error.message).toContain(`${[...short].length} character`);
      if (short.length > 1) expect(`${error.message} ${error.hint}`).not.toContain(short);
      expect(error.hint).toMatch(/guess a short passphrase offline/);
      expect(readdirSync(dir)).toEqual([]);
    }
    await (await store({ DATABLAST_AWS_PASSPHRASE: 'ü'.repeat(MIN_PASSPHRASE_LENGTH) })).set('prod', pair);
  });
});

describe('the encrypted file store', () => {
  it('round-trips key pairs by account, unicode and spaces included', async () => {
    const secrets = await store();
    await secrets.set('AWS Production', pair);
    await secrets.set('Производство "q"', { ...pair, accessKeyId: 'AKIAI44QH8DHBEXAMPLE' });
    const reopened = await store();
    expect(await reopened.get('AWS Production')).toEqual(pair);
    expect(await reopened.get('Производство "q"')).toEqual({ ...pair, accessKeyId: 'AKIAI44QH8DHBEXAMPLE' });
    expect(await reopened.get('missing')).toBeUndefined();
    expect(await reopened.list()).toEqual(['AWS Production', 'Производство "q"']);
    await reopened.set('AWS Production', { ...pair, secretAccessKey: 'x'.repeat(40) });
    expect((await reopened.get('AWS Production'))?.secretAccessKey).toBe('x'.repeat(40));
    expect(await reopened.delete('AWS Production')).toBe(true);
    expect(await reopened.delete('AWS Production')).toBe(false);
    expect(await reopened.list()).toEqual(['Производство "q"']);
  });

  it('keeps an account named __proto__ as an ordinary entry', async () => {
    const secrets = await store();
    await secrets.set('__proto__', pair);
    await secrets.set('other', pair);
    expect(await secrets.list()).toEqual(['__proto__', 'other']);
    expect(await secrets.get('__proto__')).toEqual(pair);
  });

  it('writes only ciphertext, mode 0600, in a 0700 directory it creates', async () => {
    rmSync(dir, { recursive: true });
    const secrets = await store();
    await secrets.set('AWS Production', pair);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    for (const plain of [SECRET, 'AKIAIOSFODNN7EXAMPLE', 'AWS Production', PASSPHRASE])
      expect(text).not.toContain(plain);
    const envelope = JSON.parse(text);
    expect(envelope).toMatchObject({
      format: 'datablast-aws-secrets',
      version: 1,
      cipher: 'aes-256-gcm',
      kdf: { name: 'scrypt', N: CHEAP.N, r: 8, p: 1 },
    });
    expect(Buffer.from(envelope.kdf.salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12);
  });

  it('uses a fresh IV on every write', async () => {
    const secrets = await store();
    await secrets.set('a', pair);
    const first = JSON.parse(readFileSync(file, 'utf8'));
    await secrets.set('a', pair);
    const second = JSON.parse(readFileSync(file, 'utf8'));
    expect(second.iv).not.toBe(first.iv);
    expect(second.kdf.salt).toBe(first.kdf.salt);
  });

  it('leaves no temp or lock file after writes', async () => {
    const secrets = await store();
    for (let i = 0; i < 5; i++) await secrets.set(`c${i}`, pair);
    await secrets.delete('c0');
    expect(readdirSync(dir)).toEqual([SECRETS_FILE_NAME]);
  });

  it('reads a missing file as empty without needing a passphrase', async () => {
    const secrets = await store({});
    expect(await secrets.get('x')).toBeUndefined();
    expect(await secrets.list()).toEqual([]);
    expect(existsSync(file)).toBe(false);
  });

  it('remembers the secrets it reads and writes, so output is scrubbed of them', async () => {
    const secrets = await store();
    const secret = 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo';
    await secrets.set('a', { ...pair, secretAccessKey: secret });
    expect(redact(`leak ${secret}`)).not.toContain(secret);
  });
});

describe('a wrong passphrase or a damaged file', () => {
  it('is exit 6 for reads and writes, and the file is left byte for byte untouched', async () => {
    await (await store()).set('a', pair);
    const before = hash(file);
    const wrong = await store({ DATABLAST_AWS_PASSPHRASE: 'not the passphrase' });
    const error = await rejection(wrong.get('a'));
    expect(error.message).toMatch(/cannot decrypt .*secrets\.enc: the passphrase is wrong or the file was altered/);
    expect(error.hint).toMatch(/untouched/);
    await rejection(wrong.set('b', pair));
    await rejection(wrong.delete('a'));
    await rejection(wrong.list());
    expect(hash(file)).toBe(before);
    expect(readdirSync(dir)).toEqual([SECRETS_FILE_NAME]);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tamperings reach into an envelope of any shape
  const tamperings: Array<[string, (envelope: Record<string, any>) => void]> = [
    [
      'a flipped ciphertext byte',
      (e) => {
        const bytes = Buffer.from(e.ciphertext, 'base64');
        bytes[0]! ^= 1;
        e.ciphertext = bytes.toString('base64');
      },
    ],
    ['a different tag', (e) => (e.tag = Buffer.alloc(16).toString('base64'))],
    ['a different IV', (e) => (e.iv = Buffer.alloc(12).toString('base64'))],
    ['a different salt', (e) => (e.kdf.salt = Buffer.alloc(16).toString('base64'))],
    ['a lowered scrypt cost', (e) => (e.kdf.N = 512)],
  ];

  it.each(tamperings)('with %s is exit 6 and left untouched', async (_label, tamper) => {
    await (await store()).set('a', pair);
    const envelope = JSON.parse(readFileSync(file, 'utf8'));
    tamper(envelope);
    writeFileSync(file, JSON.stringify(envelope));
    const before = hash(file);
    const secrets = await store();
    const error = await rejection(secrets.get('a'));
    expect(error.message).toMatch(/cannot decrypt/);
    await rejection(secrets.set('b', pair));
    expect(hash(file)).toBe(before);
  });

  const damages: Array<[string, (text: string) => string]> = [
    ['truncated', (text) => text.slice(0, text.length / 2)],
    ['empty', () => ''],
    ['not ours', () => JSON.stringify({ hello: 'world' })],
    [
      'given absurd scrypt parameters',
      (text) => JSON.stringify({ ...JSON.parse(text), kdf: { ...JSON.parse(text).kdf, N: 2 ** 30 } }),
    ],
  ];

  it.each(damages)(
    'that is %s is exit 6 naming the file and the repair, and left untouched',
    async (_label, damage) => {
      await (await store()).set('a', pair);
      writeFileSync(file, damage(readFileSync(file, 'utf8')));
      const before = hash(file);
      const error = await rejection((await store()).get('a'));
      expect(error.message).toContain(file);
      expect(error.hint).toMatch(/mv|backup/);
      expect(hash(file)).toBe(before);
    },
  );

  it('never quotes a stored value that is not a key pair', async () => {
    const raw = await openEncryptedFileStore({ dir, env: { DATABLAST_AWS_PASSPHRASE: PASSPHRASE }, scrypt: CHEAP });
    await raw.set('odd', 'this-is-not-json-but-may-be-secret-1234567890');
    const error = await rejection(typedSecretStore(raw).get('odd'));
    expect(error.message).not.toContain('this-is-not-json');
    expect(error.message).toMatch(/not a datablast-aws access key/);
  });
});

describe('the passphrase', () => {
  it('is required: without one a write is exit 6 naming both variables', async () => {
    const error = await rejection((await store({})).set('a', pair));
    expect(error.message).toMatch(/DATABLAST_AWS_PASSPHRASE_FILE/);
    expect(error.message).toMatch(/DATABLAST_AWS_PASSPHRASE\b/);
    expect(existsSync(file)).toBe(false);
  });

  it('comes from a 0600 file, one trailing newline dropped, equal to the same passphrase in the environment', async () => {
    const passphraseFile = join(dir, 'pass');
    writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    await (await store({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile })).set('a', pair);
    expect(await (await store()).get('a')).toEqual(pair);
    expect(await readPassphrase({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile })).toBe(PASSPHRASE);
    writeFileSync(passphraseFile, `${PASSPHRASE}\n\n`, { mode: 0o600 });
    expect(await readPassphrase({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile })).toBe(`${PASSPHRASE}\n`);
  });

  it.each([0o644, 0o640, 0o604, 0o660])('is refused from a file with mode %o, naming chmod 600', async (mode) => {
    const passphraseFile = join(dir, 'pass');
    writeFileSync(passphraseFile, PASSPHRASE);
    chmodSync(passphraseFile, mode);
    const error = await rejection(readPassphrase({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile }));
    expect(error.message).toContain(passphraseFile);
    expect(error.hint).toContain(`chmod 600 ${passphraseFile}`);
    await rejection((await store({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile })).set('a', pair));
    expect(existsSync(file)).toBe(false);
  });

  it('is refused when empty, from the environment or from a file', async () => {
    const passphraseFile = join(dir, 'pass');
    writeFileSync(passphraseFile, '\n', { mode: 0o600 });
    expect((await rejection(readPassphrase({ DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile }))).message).toMatch(
      /empty/,
    );
    expect((await rejection(readPassphrase({ DATABLAST_AWS_PASSPHRASE: '' }))).message).toMatch(/empty/);
  });

  it('is exit 6 naming the file when the passphrase file is missing', async () => {
    const error = await rejection(readPassphrase({ DATABLAST_AWS_PASSPHRASE_FILE: join(dir, 'nope') }));
    expect(error.message).toContain(join(dir, 'nope'));
  });

  it('is refused when both variables are set', async () => {
    const error = await rejection(
      readPassphrase({ DATABLAST_AWS_PASSPHRASE: 'a', DATABLAST_AWS_PASSPHRASE_FILE: '/x' }),
    );
    expect(error.hint).toMatch(/only one/);
  });
});

describe('the default key derivation', () => {
  it("derives a 256-bit key with scrypt N=2^15, r=8, p=1 (its cost is the bench's file-store rows)", async () => {
    await deriveKey(PASSPHRASE, Buffer.alloc(16), DEFAULT_SCRYPT);
    const started = performance.now();
    const key = await deriveKey(PASSPHRASE, Buffer.alloc(16, 1), DEFAULT_SCRYPT);
    const elapsed = performance.now() - started;
    console.log(`scrypt N=2^15 r=8 p=1: ${elapsed.toFixed(0)} ms`);
    expect(key).toHaveLength(32);
  });

  it('is what openSecretStore uses for DATABLAST_AWS_SECRET_STORE=file', async () => {
    const secrets = await openSecretStore(
      { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE: PASSPHRASE },
      dir,
    );
    expect(secrets.kind).toBe('file');
    await secrets.set('a', pair);
    expect(JSON.parse(readFileSync(file, 'utf8')).kdf).toMatchObject(DEFAULT_SCRYPT);
    expect(await secrets.get('a')).toEqual(pair);
  });
});

describe('concurrent writers', () => {
  it('lose no secret when several processes store at once', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, p) => runTsWorker(worker, [dir, `p${p}`, '4'])));
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
    const accounts = await (await store()).list();
    expect(accounts).toEqual(
      Array.from({ length: 5 }, (_, p) => Array.from({ length: 4 }, (_, i) => `p${p}-${i}`))
        .flat()
        .sort(),
    );
    expect(readdirSync(dir)).toEqual([SECRETS_FILE_NAME]);
  }, 90_000);
});
