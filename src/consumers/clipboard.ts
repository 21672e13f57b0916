import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A clipboard program and the arguments that make it read the text from its stdin. */
export interface ClipboardTool {
  command: string;
  args: string[];
}

/** How long a clipboard program may take before we give up on it. */
const CLIPBOARD_TIMEOUT_MS = 3_000;

/**
 * The clipboard program for this session, if one is installed: pbcopy on macOS, clip.exe on Windows and WSL,
 * wl-copy under Wayland, xclip or xsel under X11. Undefined without one (the terminal's OSC 52 is then the way).
 */
export function clipboardTool(
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform = process.platform,
  installed: (command: string) => boolean = (command) => onPath(command, env.PATH),
): ClipboardTool | undefined {
  const candidates: ClipboardTool[] = [];
  if (platform === 'darwin') candidates.push({ command: 'pbcopy', args: [] });
  if (platform === 'win32' || env.WSL_DISTRO_NAME) candidates.push({ command: 'clip.exe', args: [] });
  if (env.WAYLAND_DISPLAY) candidates.push({ command: 'wl-copy', args: [] });
  if (env.DISPLAY) {
    candidates.push({ command: 'xclip', args: ['-selection', 'clipboard'] });
    candidates.push({ command: 'xsel', args: ['--clipboard', '--input'] });
  }
  return candidates.find((tool) => installed(tool.command));
}

function onPath(command: string, path: string | undefined): boolean {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/** Copies `text` with the tool, the text on its stdin (never its argv); true when the tool exited 0 in time. */
export function copyWith(tool: ClipboardTool, text: string, env: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(tool.command, tool.args, { env, stdio: ['pipe', 'ignore', 'ignore'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(false);
    }, CLIPBOARD_TIMEOUT_MS);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(text);
  });
}

/** The OSC 52 sequence that asks the terminal to put `text` on the system clipboard. */
export function osc52(text: string): string {
  return `\u001b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\u0007`;
}
