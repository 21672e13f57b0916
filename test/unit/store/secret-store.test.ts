import { describe, expect, it } from 'vitest';
import { redact } from '../../../src/domain/redact.js';
import { ExitCode, SecretStoreError, UsageError } from '../../../src/errors.js';
import {
  decodeAccessKeyPair,
  openSecretStore,
  secretStoreKind,
  typedSecretStore,
  withTimeout,
  type RawSecretStore,
} from '../../../src/store/secret-store.js';

/** A raw store over a Map, to see exactly what the typed layer stores. */
function rawStore(): RawSecretStore & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return {
    kind: 'keychain',
    location: 'the keychain',
    entries,
    get: async (account) => entries.get(account),
    has: async (account) => entries.has(account),
    set: async (account, value) => void entries.set(account, value),
    delete: async (account) => entries.delete(account),
    list: async () => [...entries.keys()],
    readAll: async () => new Map(entries),
  };
}

describe('secretStoreKind', () => {
  it.each([
    [undefined, 'keychain'],
    ['', 'keychain'],
    ['keychain', 'keychain'],
    ['file', 'file'],
    ['aws-secrets-manager', 'aws-secrets-manager'],
  ])('reads DATABLAST_AWS_SECRET_STORE=%s as %s', (value, kind) => {
    expect(secretStoreKind({ DATABLAST_AWS_SECRET_STORE: value })).toBe(kind);
  });

  it.each(['File', 'plaintext', 'keytar', ' file'])(
    'refuses %j with a usage error naming the variable and the allowed values',
    (value) => {
      let error: unknown;
      try {
        secretStoreKind({ DATABLAST_AWS_SECRET_STORE: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(ExitCode.usage);
      expect((error as UsageError).message).toMatch(/DATABLAST_AWS_SECRET_STORE .* "keychain" or "file"/);
    },
  );

  it('echoes control characters as "?", so a value of 40 of them keeps the message short', () => {
    expect(() => secretStoreKind({ DATABLAST_AWS_SECRET_STORE: '\u0000'.repeat(1000) })).toThrow(
      `DATABLAST_AWS_SECRET_STORE is "${'?'.repeat(40)}"; it must be`,
    );
  });

  it('makes openSecretStore fail before touching any store', async () => {
    await expect(openSecretStore({ DATABLAST_AWS_SECRET_STORE: 'plaintext' }, '/nonexistent')).rejects.toBeInstanceOf(
      UsageError,
    );
  });
});

describe('the typed secret store', () => {
  const pair = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

  it('stores exactly {"accessKeyId","secretAccessKey"} as JSON and reads it back', async () => {
    const raw = rawStore();
    const secrets = typedSecretStore(raw);
    await secrets.set('AWS Production', { ...pair, sessionToken: 'not stored' } as typeof pair);
    expect(raw.entries.get('AWS Production')).toBe(JSON.stringify(pair));
    expect(await secrets.get('AWS Production')).toEqual(pair);
    expect(await secrets.get('other')).toBeUndefined();
    expect(await secrets.list()).toEqual(['AWS Production']);
    expect(await secrets.delete('AWS Production')).toBe(true);
    expect(secrets.kind).toBe('keychain');
  });

  it('remembers a secret it reads so that output is scrubbed of it', async () => {
    const raw = rawStore();
    const secret = 'cmVhZC1vbmx5LXNlY3JldC1mb3ItcmVkYWN0aW9u';
    raw.entries.set('a', JSON.stringify({ accessKeyId: pair.accessKeyId, secretAccessKey: secret }));
    await typedSecretStore(raw).get('a');
    expect(redact(`x ${secret} y`)).toBe('x ****REDACTED**** y');
  });

  it.each([
    'not json at all, maybe a secret 12345',
    '{"accessKeyId":"AKIA"}',
    '{"accessKeyId":"","secretAccessKey":"x"}',
    'null',
    '42',
  ])('reports an entry %j that is not a key pair as exit 6 without quoting it', (value) => {
    let error: unknown;
    try {
      decodeAccessKeyPair(value, 'prod', 'the keychain');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SecretStoreError);
    expect((error as SecretStoreError).exitCode).toBe(ExitCode.secretStore);
    expect((error as SecretStoreError).message).toBe(
      'the secret stored for "prod" in the keychain is not a datablast-aws access key',
    );
    expect((error as SecretStoreError).hint).toMatch(/add-connection prod --force/);
  });
});

describe('withTimeout', () => {
  it('returns the result of work that finishes in time', async () => {
    expect(
      await withTimeout(
        async () => 'done',
        1_000,
        () => new Error('late'),
      ),
    ).toBe('done');
  });

  it('fails with the timeout error and aborts the signal when the work hangs', async () => {
    let signal: AbortSignal | undefined;
    const started = Date.now();
    const hanging = withTimeout(
      (s) => {
        signal = s;
        return new Promise<never>(() => undefined);
      },
      100,
      () => new SecretStoreError('the keychain did not answer'),
    );
    await expect(hanging).rejects.toThrow('the keychain did not answer');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(signal?.aborted).toBe(true);
  });

  it('passes on the error of work that fails', async () => {
    await expect(
      withTimeout(
        async () => Promise.reject(new Error('boom')),
        1_000,
        () => new Error('late'),
      ),
    ).rejects.toThrow('boom');
  });
});
