import type { Clock, GlobalOptions, IO } from '../ports.js';

// These take only what they use (a Context has all of it, so commands pass their ctx).

/** What printing a result needs: the streams, --json and colour. */
export interface ResultSink {
  readonly io: IO;
  readonly globals: Pick<GlobalOptions, 'json' | 'color'>;
}

/** What a line on stderr needs: stderr, whether it is a terminal, colour, and the clock for a log's timestamps. */
export interface LineSink {
  readonly io: Pick<IO, 'err' | 'stderrIsTTY'>;
  readonly globals: Pick<GlobalOptions, 'color'>;
  readonly clock: Pick<Clock, 'now'>;
}

/** Renders a command's result as human text. */
export type Renderer<T> = (result: T, io: IO, style: Style) => void;

/** Colour decided once: functions that are identity when colour is off. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** The style for this run: colour only when asked for and not disabled. */
export function styleFor(color: boolean): Style {
  if (!color) return PLAIN;
  return {
    bold: paint(1, 22),
    dim: paint(2, 22),
    green: paint(32, 39),
    red: paint(31, 39),
    yellow: paint(33, 39),
    cyan: paint(36, 39),
  };
}

const same = (text: string) => text;
const PLAIN: Style = { bold: same, dim: same, green: same, red: same, yellow: same, cyan: same };

/**
 * One SGR style, written out instead of loading chalk: six basic styles are a dozen lines, and chalk
 * (with its terminal detection) cost about 10 ms of every run's startup. Like chalk at level 1, it
 * re-opens the style after an inner close of the same kind and closes it around line breaks.
 */
function paint(open: number, close: number): (text: string) => string {
  const on = `\u001b[${open}m`;
  const off = `\u001b[${close}m`;
  return (text) => {
    if (text === '') return text;
    const inner = text.includes(off) ? text.replaceAll(off, off + on) : text;
    return on + inner.replace(/\r?\n/g, (newline) => `${off}${newline}${on}`) + off;
  };
}

/** Prints a command's result: one JSON document under --json, else the human rendering. */
export function present<T>(ctx: ResultSink, result: T, render: Renderer<T>): void {
  if (ctx.globals.json) {
    ctx.io.out(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    render(result, ctx.io, styleFor(ctx.globals.color));
  }
}

/** A progress line on stderr; plain and timestamped when stderr is not a terminal (cron logs). */
export function progress(ctx: LineSink, message: string): void {
  if (ctx.io.stderrIsTTY) {
    ctx.io.err(`${styleFor(ctx.globals.color).dim('›')} ${message}\n`);
  } else {
    ctx.io.err(`${ctx.clock.now().toISOString()} ${message}\n`);
  }
}

/** A warning on stderr. */
export function warn(ctx: Pick<LineSink, 'io' | 'globals'>, message: string): void {
  ctx.io.err(`${styleFor(ctx.globals.color).yellow('warning:')} ${message}\n`);
}

/** Formats rows as aligned columns on a terminal, tab-separated when piped. */
export function table(rows: string[][], io: IO): string {
  if (!io.stdoutIsTTY) return rows.map((row) => row.join('\t')).join('\n') + (rows.length ? '\n' : '');
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell))))
          .join('  '),
      )
      .join('\n') + (rows.length ? '\n' : '')
  );
}

function visibleLength(text: string): number {
  return [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
}
