/**
 * Every secret this process has seen, so that anything written to a stream or a log can be
 * scrubbed of it. A last line of defence: code should never format a secret in the first place.
 */
const known = new Set<string>();

/** Remembers a secret so that `redact` removes it from any text. */
export function rememberSecret(secret: string | undefined): void {
  // Shorter strings would scrub ordinary words; real secrets are 40 characters.
  if (secret && secret.length >= 16) known.add(secret);
}

/** A secret access key's shape: exactly 40 of A–Z a–z 0–9 / + =, standing alone. */
const SECRET_SHAPED = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/g;

/**
 * Replaces every remembered secret in `text` with a fixed mask, then anything shaped like a secret
 * access key: a secret this process never saw (one a proxy or service quoted back in an error, which
 * --debug prints with its stack) must not reach stderr either.
 */
export function redact(text: string): string {
  let result = text;
  for (const secret of known) {
    if (result.includes(secret)) result = result.split(secret).join('****REDACTED****');
  }
  return result.replace(SECRET_SHAPED, '****');
}
