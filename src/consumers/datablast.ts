import type { Consumer, DeliveryOutcome, Prompter, Terminal } from '../ports.js';
import type { AccessKeyPair, Connection } from '../domain/connection.js';
import { shellWord } from '../domain/shell-word.js';

/** What the Datablast hand-off needs: whether a person is there, their terminal, a prompter, a clipboard. */
export interface DatablastDeps {
  /** A person at a terminal who may be asked (stdin and stderr are a TTY, and prompts are allowed). */
  interactive: boolean;
  terminal: () => Terminal;
  prompter: () => Promise<Prompter>;
  /** Copies the secret; resolves what it was copied with (for the message), or undefined when it could not. */
  copy: (secret: string) => Promise<string | undefined>;
}

/** The question whose "yes" makes the Datablast hand-off delivered. */
export const SAVED_QUESTION = "Is the key saved in Datablast's connection form?";

/** How to confirm a hand-off later, for messages. */
export function confirmLater(name: string): string {
  return `datablast-aws deliver ${shellWord(name)} --confirm-delivered`;
}

/**
 * The `datablast` consumer: the onboarding guide's own path, by hand. On a terminal it shows the fields of
 * Datablast's connection form in the form's order, the secret only while a key is held down (s) or copied to
 * the clipboard (c), never written anywhere else; then it asks whether the key is saved. Without a person at
 * a terminal the hand-off is pending until `deliver NAME --confirm-delivered`: never skipped in silence.
 */
export function datablastConsumer(deps: DatablastDeps): Consumer {
  return {
    async deliver(connection, pair): Promise<DeliveryOutcome> {
      if (!deps.interactive)
        return {
          status: 'pending',
          detail: `no terminal to show the form on: enter the key in Datablast's connection form (\`datablast-aws env\` prints it), then run \`${confirmLater(connection.name)}\``,
        };
      await showForm(deps, connection, pair);
      const saved = await (await deps.prompter()).confirm(SAVED_QUESTION, { default: false });
      return saved
        ? { status: 'delivered', detail: 'you confirmed that Datablast holds the key' }
        : {
            status: 'pending',
            detail: `not saved yet: once it is, run \`${confirmLater(connection.name)}\``,
          };
    },
  };
}

const LABEL = 18;
const MASK = '•'.repeat(12);
const row = (label: string, value: string) => `  ${label.padEnd(LABEL)} ${value}`;

/** Shows the form; handles the keys until Enter. The secret line is redrawn in place, so no scrollback keeps it. */
async function showForm(deps: DatablastDeps, connection: Connection, pair: AccessKeyPair): Promise<void> {
  const terminal = deps.terminal();
  const secretRow = (shown: boolean, note: string) =>
    `\r\u001b[2K${row('Secret Access Key', shown ? pair.secretAccessKey : MASK)}${note ? `   ${note}` : ''}`;
  // The rows below the secret's: Region, Description, the key help line.
  const below = 3;
  const onSecretRow = (text: string) => terminal.write(`\u001b[${below}A${text}\u001b[${below}B\r`);
  terminal.write(
    [
      '',
      "Datablast → Connections → New connection → Amazon Web Services. Fill in the form's fields:",
      '',
      row('Name', connection.name),
      row('Access Key ID', pair.accessKeyId),
      secretRow(false, '').slice('\r\u001b[2K'.length),
      row('Region', connection.region),
      row('Description', connection.description ?? ''),
      '',
    ].join('\n'),
  );
  const help = '  s: show the secret   c: copy it to the clipboard   Enter: done';
  terminal.write(help);
  for (;;) {
    const key = await terminal.readKey();
    if (key === '\r' || key === '\n') break;
    if (key === 's' || key === 'S') {
      onSecretRow(secretRow(true, '(press any key to hide it)'));
      await terminal.readKey().finally(() => onSecretRow(secretRow(false, '')));
    } else if (key === 'c' || key === 'C') {
      const how = await deps.copy(pair.secretAccessKey);
      onSecretRow(
        secretRow(false, how ? `(copied with ${how}: paste it into the form)` : '(no clipboard here: press s)'),
      );
    }
  }
  terminal.write('\n\n');
}
