import { UsageError } from '../errors.js';

/** Checks a KMS key id, alias or ARN as far as its shape goes (AWS checks the rest). */
export function validateKmsKeyId(text: string, source = '--kms-key-id'): string {
  if (text.trim() === '' || text.length > 2048 || /[\s\u0000-\u001f\u007f-\u009f]/u.test(text))
    throw new UsageError(`${source}: ${JSON.stringify(text.slice(0, 60))} is not a KMS key id, alias or ARN`, {
      hint: 'e.g. alias/datablast, a key id (1234abcd-…) or a key ARN.',
    });
  return text;
}
