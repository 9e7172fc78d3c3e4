/**
 * Time, passed in everywhere so tests are deterministic. All times in kitrelay are epoch
 * milliseconds (numbers), converted to ISO strings only at the edges (CLI, logs, payloads).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: the one fake tests may use besides the simulators. */
export class TestClock implements Clock {
  #now: number;

  constructor(start: number | string = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.#now = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): number {
    this.#now += ms;
    return this.#now;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
