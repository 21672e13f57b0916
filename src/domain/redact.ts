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

/** Replaces every remembered secret in `text` with a fixed mask. */
export function redact(text: string): string {
  let result = text;
  for (const secret of known) {
    if (result.includes(secret)) result = result.split(secret).join('****REDACTED****');
  }
  return result;
}
