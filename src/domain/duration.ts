import { UsageError } from '../errors.js';

/** `--idle` and `--grace` values: a whole number followed by s, m, h or d (CLI.md, "Consumers and the rotation lifecycle"). */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The longest duration we accept: ten years is beyond any sensible window, and keeps the arithmetic exact. */
export const MAX_DURATION_MS = 3_650 * UNIT_MS.d;

/** Parses DURATION (e.g. `24h`, `7d`, `90s`) into milliseconds; a UsageError (exit 2) names the flag and the rule. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d{1,7})([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= 0 && ms <= MAX_DURATION_MS))
    throw new UsageError(
      `${flag} needs a duration: a whole number with s, m, h or d (at most 3650d); got ${JSON.stringify(text.slice(0, 40))}`,
      { hint: `e.g. ${flag} 24h or ${flag} 7d` },
    );
  return ms;
}

/** A duration in the largest unit that divides it (for messages): 86400000 → "1d", 5400000 → "90m". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const)
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}
