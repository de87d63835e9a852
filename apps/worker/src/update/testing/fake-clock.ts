import type { Clock } from '../../host/clock';

/** 2026-11-27T10:00:00.000Z: where every fake printer's day starts. */
export const T0 = Date.parse('2026-11-27T10:00:00.000Z');

/** Manual time for the update's logic: `sleep` advances it at once, so no test waits for real. */
export class FakeClock implements Clock {
  /** Milliseconds the code under test slept, in total. */
  slept = 0;

  constructor(private ms = T0) {}

  now(): number {
    return this.ms;
  }

  date(): Date {
    return new Date(this.ms);
  }

  async sleep(ms: number): Promise<void> {
    this.ms += ms;
    this.slept += ms;
  }

  /** Time passing outside the code under test (a flash tool running, a print going on). */
  advance(ms: number): void {
    this.ms += ms;
  }

  /** Moves to `ms` if that is later than now (a wait for something that ends then). */
  advanceTo(ms: number): void {
    this.ms = Math.max(this.ms, ms);
  }
}
