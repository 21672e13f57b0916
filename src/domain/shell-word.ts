/**
 * A value as one POSIX shell word: bare when it is made of safe characters only, else single-quoted.
 * Lives apart from add-connection.ts so that commands which only print hints (list, env,
 * credential-process) do not load add-connection's whole module graph at startup.
 */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
