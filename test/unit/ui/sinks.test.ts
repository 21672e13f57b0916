import { describe, expect, it } from 'vitest';
import { bufferedIO } from '../../../src/ui/io.js';
import { present, progress, warn } from '../../../src/ui/output.js';
import { note, step } from '../../../src/ui/progress.js';

// The ui/ adapters take only what they use, not the whole Context: streams, the --json and colour
// settings, and a clock for the timestamps of piped progress lines.

describe('ui adapters over only what they use', () => {
  const clock = { now: () => new Date('2026-05-01T10:00:00.000Z') };

  it('present: --json or the rendering, from the streams and two settings', () => {
    const io = bufferedIO();
    present({ io, globals: { json: true, color: false } }, { a: 1 }, () => io.out('human\n'));
    present({ io, globals: { json: false, color: false } }, { a: 1 }, (_r, out) => out.out('human\n'));
    expect(io.stdout).toBe('{\n  "a": 1\n}\nhuman\n');
  });

  it('progress, note, step and warn: stderr lines, timestamped when piped', async () => {
    const io = bufferedIO();
    const sink = { io, globals: { color: false }, clock };
    progress(sink, 'one');
    note(sink, 'two');
    expect(
      await step(
        sink,
        'three',
        async () => 3,
        () => 'done it',
      ),
    ).toBe(3);
    warn(sink, 'four');
    expect(io.stderr).toBe(
      '2026-05-01T10:00:00.000Z one\n2026-05-01T10:00:00.000Z two\n2026-05-01T10:00:00.000Z three: done it\nwarning: four\n',
    );
    expect(io.stdout).toBe('');
  });
});
