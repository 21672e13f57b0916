// A child process for encrypted-file.test.ts (run with --import test/support/ts-register.mjs):
// stores COUNT secrets named PREFIX-i in the encrypted file in DIR (cheap scrypt parameters).
import { openEncryptedFileStore } from '../../../../src/store/encrypted-file.ts';

const [dir, prefix, count] = process.argv.slice(2);
const store = await openEncryptedFileStore({
  dir,
  env: { DATABLAST_AWS_PASSPHRASE: 'correct horse battery staple' },
  scrypt: { N: 1024, r: 8, p: 1 },
});
for (let i = 0; i < Number(count); i++)
  await store.set(
    `${prefix}-${i}`,
    JSON.stringify({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: `${prefix}-${i}` }),
  );
