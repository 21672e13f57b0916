import { progress, styleFor, type LineSink } from './output.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Runs one AWS step with progress on stderr: a spinner then a ✔/✖ line on a terminal, one plain
 * timestamped line per finished (or failed) step when piped, so a log reads one line per step.
 * `outcome` turns the step's result into a few words ("created", "already exists").
 * Hand-written: a spinner is twenty lines, not worth a dependency loaded on every run.
 */
export async function step<T>(
  ctx: LineSink,
  label: string,
  work: () => Promise<T>,
  outcome?: (result: T) => string | undefined,
): Promise<T> {
  if (!ctx.io.stderrIsTTY) {
    try {
      const result = await work();
      progress(ctx, `${label}: ${outcome?.(result) ?? 'done'}`);
      return result;
    } catch (error) {
      progress(ctx, `${label}: failed`);
      throw error;
    }
  }
  const style = styleFor(ctx.globals.color);
  let frame = 0;
  const draw = () => ctx.io.err(`\r\u001b[2K${style.cyan(FRAMES[frame++ % FRAMES.length]!)} ${label}`);
  draw();
  const timer = setInterval(draw, 80);
  timer.unref();
  try {
    const result = await work();
    const said = outcome?.(result);
    ctx.io.err(`\r\u001b[2K${style.green('✔')} ${label}${said ? style.dim(` — ${said}`) : ''}\n`);
    return result;
  } catch (error) {
    ctx.io.err(`\r\u001b[2K${style.red('✖')} ${label}\n`);
    throw error;
  } finally {
    clearInterval(timer);
  }
}

/** A line of information on stderr that is not a step (who am I, what already exists). */
export function note(ctx: LineSink, message: string): void {
  if (ctx.io.stderrIsTTY) ctx.io.err(`${styleFor(ctx.globals.color).dim('•')} ${message}\n`);
  else progress(ctx, message);
}
