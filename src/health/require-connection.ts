import type { ConnectionStore, SecretStore } from '../ports.js';
import { quotedName, type AccessKeyPair, type Connection } from '../domain/connection.js';
import { ConfigError } from '../errors.js';
import { rememberSecret } from '../domain/redact.js';
import { shellWord } from '../domain/shell-word.js';

// Every command that works on one named connection finds it here.

/** The named connection, or a ConfigError (exit 3) that suggests a near name and `list`. */
export async function requireConnection(store: ConnectionStore, name: string): Promise<Connection> {
  const connection = await store.get(name);
  if (connection) return connection;
  const near = (await store.list()).find(
    (c) => c.name.toLowerCase() === name.toLowerCase() || c.name.trim() === name.trim(),
  );
  throw new ConfigError(`no connection named ${quotedName(name)}`, {
    hint: near
      ? `Did you mean ${JSON.stringify(near.name)}? Names are case-sensitive.`
      : '`datablast-aws list` shows the connections; `datablast-aws add-connection NAME` adds one.',
  });
}

/**
 * The connection's stored key pair, remembered so that no output can carry its secret; a ConfigError
 * (exit 3) with the repair step when the secret store has none for it.
 */
export async function requireKeyPair(secrets: SecretStore, connection: Connection): Promise<AccessKeyPair> {
  const pair = await secrets.get(connection.name);
  if (!pair) {
    throw new ConfigError(`no secret is stored for connection ${JSON.stringify(connection.name)} in the secret store`, {
      hint: `Store the key again: \`datablast-aws add-connection ${shellWord(connection.name)} --force --access-key-id ${connection.accessKeyId} --secret-stdin\`.`,
    });
  }
  rememberSecret(pair.secretAccessKey);
  return pair;
}
