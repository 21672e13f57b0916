import { AwsError, CliError, CredentialsRejectedError } from '../errors.js';

/** The shape of an error thrown by the AWS SDK v3 (service exception or network failure). */
interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** Error names meaning AWS did not accept the credentials themselves (exit 4). */
const REJECTED = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'IncompleteSignature', 'ExpiredToken', 'ExpiredTokenException', 'InvalidAccessKeyId', 'RequestExpired', 'UnrecognizedClientException', 'AuthFailure']);

/**
 * Translates any error from an SDK call into our own error, in one table at the edge.
 * `action` names the call in the user's terms (e.g. "iam:CreateAccessKey").
 */
export function translateAwsError(error: unknown, action: string): CliError {
  if (error instanceof CliError) return error;
  const e = (error ?? {}) as SdkErrorLike;
  const code = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'UnknownError');
  const requestId = e.$metadata?.requestId;
  if (REJECTED.has(code)) {
    return new CredentialsRejectedError(`AWS rejected the credentials (${code}) on ${action}`, { awsCode: code, requestId, cause: error, hint: 'Run `datablast-aws test NAME` for a diagnosis.' });
  }
  return new AwsError(`AWS refused ${action} (${code}): ${e.message ?? 'no message'}`, { awsCode: code, requestId, cause: error });
}
