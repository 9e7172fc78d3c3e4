/**
 * How long after we spend from the budget Kit may count the request. We take from the budget
 * before sending; Kit counts the request when it arrives, somewhere before its answer comes back.
 * A budget entry stamped at take time would leave our window while Kit still counts it, and the
 * next request would meet a 429; so the client stamps entries ahead by the longest take-to-answer
 * time it has seen: the slowest recent answered call, or the age of a call still unanswered.
 */
import type { Clock } from '../../lib/clock.js';

/** Answered calls remembered. */
const RECENT = 32;

export class LatencyWindow {
  readonly #clock: Clock;
  readonly #recent: number[] = [];
  readonly #inFlight = new Set<{ readonly takenAt: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * A call has spent from the budget at `takenAt` (the time the budget recorded, so the budget's
   * own latency — a store round trip — counts too); call `done(isAnswered)` once it has an answer
   * or has failed.
   */
  start(takenAt: number): (isAnswered: boolean) => void {
    const entry = { takenAt };
    this.#inFlight.add(entry);
    return (isAnswered) => {
      this.#inFlight.delete(entry);
      // A network error says nothing about when Kit counts requests (it may never have seen it).
      if (!isAnswered) return;
      this.#recent.push(Math.max(0, this.#clock.now() - entry.takenAt));
      if (this.#recent.length > RECENT) this.#recent.shift();
    };
  }

  /** The margin to add to Kit's window now: at least `floorMs`, at most `capMs`. */
  marginMs(floorMs: number, capMs: number): number {
    const now = this.#clock.now();
    let slowest = floorMs;
    for (const ms of this.#recent) slowest = Math.max(slowest, ms);
    for (const entry of this.#inFlight) slowest = Math.max(slowest, now - entry.takenAt);
    return Math.min(slowest, Math.max(floorMs, capMs));
  }
}
