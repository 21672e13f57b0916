import type { Clock } from '../../src/ports.js';

/** A clock that only moves when told to; `sleep` advances it instantly. */
export class FixedClock implements Clock {
  private current: number;
  readonly sleeps: number[] = [];

  constructor(start: string | Date = '2026-11-28T12:00:00.000Z') {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
