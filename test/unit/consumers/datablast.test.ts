import { describe, expect, it } from 'vitest';
import { datablastConsumer, SAVED_QUESTION } from '../../../src/consumers/datablast.js';
import { clipboardTool, osc52 } from '../../../src/consumers/clipboard.js';
import type { Terminal } from '../../../src/ports.js';
import type { Connection } from '../../../src/domain/connection.js';
import { CancelledError } from '../../../src/errors.js';
import { CANCEL, ScriptedPrompter } from '../../fakes/scripted-prompter.js';

const PAIR = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const CONNECTION: Connection = {
  name: 'AWS Production',
  accessKeyId: PAIR.accessKeyId,
  region: 'eu-west-1',
  description: 'nightly sync',
  createdAt: '2026-01-01T00:00:00Z',
};

/** A terminal that plays back keys and records what was written, with the screen at each keypress. */
class ScriptedTerminal implements Terminal {
  written = '';
  /** What had been written when each key was read. */
  readonly snapshots: string[] = [];
  constructor(private readonly keys: string[]) {}
  write(text: string): void {
    this.written += text;
  }
  async readKey(): Promise<string> {
    this.snapshots.push(this.written);
    const key = this.keys.shift();
    if (key === undefined) throw new Error('no more keys');
    if (key === '\u0003') throw new CancelledError();
    return key;
  }
}

function setup(
  keys: string[],
  answer: boolean | typeof CANCEL,
  copy: (s: string) => Promise<string | undefined> = async () => undefined,
) {
  const terminal = new ScriptedTerminal(keys);
  const prompter = new ScriptedPrompter().answer(SAVED_QUESTION, answer);
  const copied: string[] = [];
  const consumer = datablastConsumer({
    interactive: true,
    terminal: () => terminal,
    prompter: async () => prompter,
    copy: async (secret) => {
      copied.push(secret);
      return copy(secret);
    },
  });
  return { terminal, prompter, copied, consumer };
}

describe('the datablast consumer', () => {
  it("shows the form's fields in the form's order, the secret masked", async () => {
    const { terminal, consumer } = setup(['\r'], true);
    await consumer.deliver(CONNECTION, PAIR);
    const fields = ['Name', 'Access Key ID', 'Secret Access Key', 'Region', 'Description'];
    const at = fields.map((f) => terminal.written.indexOf(`  ${f}`));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(terminal.written).toContain('AWS Production');
    expect(terminal.written).toContain(PAIR.accessKeyId);
    expect(terminal.written).toContain('nightly sync');
    expect(terminal.written).not.toContain(PAIR.secretAccessKey);
  });

  it('shows the secret only after s, and hides it again on the next key', async () => {
    const { terminal, consumer } = setup(['s', 'x', '\r'], true);
    expect(await consumer.deliver(CONNECTION, PAIR)).toMatchObject({ status: 'delivered' });
    expect(terminal.snapshots[0]).not.toContain(PAIR.secretAccessKey);
    expect(terminal.snapshots[1]).toContain(PAIR.secretAccessKey);
    // The row was redrawn in place (cursor up, clear line), masked.
    const afterHide = terminal.written.slice(terminal.snapshots[1]!.length);
    expect(afterHide).toMatch(/\u001b\[3A\r\u001b\[2K {2}Secret Access Key +•+/);
    expect(afterHide).not.toContain(PAIR.secretAccessKey);
  });

  it('copies the secret on c and says with what', async () => {
    const { terminal, copied, consumer } = setup(['c', '\r'], true, async () => 'wl-copy');
    await consumer.deliver(CONNECTION, PAIR);
    expect(copied).toEqual([PAIR.secretAccessKey]);
    expect(terminal.written).toContain('copied with wl-copy');
    expect(terminal.written).not.toContain(PAIR.secretAccessKey);
  });

  it('is pending when the person says the key is not saved yet', async () => {
    const { consumer, prompter } = setup(['\r'], false);
    const outcome = await consumer.deliver(CONNECTION, PAIR);
    expect(outcome.status).toBe('pending');
    expect(outcome.status === 'pending' && outcome.detail).toContain(
      "datablast-aws deliver 'AWS Production' --confirm-delivered",
    );
    prompter.assertDone();
  });

  it('is pending without a terminal, asks nothing and shows nothing', async () => {
    const terminal = new ScriptedTerminal([]);
    const prompter = new ScriptedPrompter();
    const outcome = await datablastConsumer({
      interactive: false,
      terminal: () => terminal,
      prompter: async () => prompter,
      copy: async () => undefined,
    }).deliver(CONNECTION, PAIR);
    expect(outcome).toMatchObject({ status: 'pending' });
    expect(outcome.status === 'pending' && outcome.detail).toContain('--confirm-delivered');
    expect(terminal.written).toBe('');
    expect(prompter.asked).toEqual([]);
  });

  it('lets Ctrl-C cancel, at a key or at the question', async () => {
    await expect(setup(['\u0003'], true).consumer.deliver(CONNECTION, PAIR)).rejects.toBeInstanceOf(CancelledError);
    await expect(setup(['\r'], CANCEL).consumer.deliver(CONNECTION, PAIR)).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('the clipboard', () => {
  const all = () => true;
  it('picks the tool of the platform and session', () => {
    expect(clipboardTool({}, 'darwin', all)?.command).toBe('pbcopy');
    expect(clipboardTool({}, 'win32', all)?.command).toBe('clip.exe');
    expect(clipboardTool({ WSL_DISTRO_NAME: 'Ubuntu' }, 'linux', all)?.command).toBe('clip.exe');
    expect(clipboardTool({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux', all)?.command).toBe('wl-copy');
    expect(clipboardTool({ DISPLAY: ':0' }, 'linux', all)).toEqual({
      command: 'xclip',
      args: ['-selection', 'clipboard'],
    });
    expect(clipboardTool({ DISPLAY: ':0' }, 'linux', (c) => c === 'xsel')?.command).toBe('xsel');
    expect(clipboardTool({}, 'linux', all)).toBeUndefined();
    expect(clipboardTool({ DISPLAY: ':0' }, 'linux', () => false)).toBeUndefined();
  });

  it('builds the OSC 52 sequence with the text in base64', () => {
    expect(osc52('abc')).toBe('\u001b]52;c;YWJj\u0007');
  });
});
