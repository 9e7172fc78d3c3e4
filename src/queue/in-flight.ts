/**
 * What this worker has in flight, and the heartbeat that keeps those jobs' leases: while an
 * attempt runs, its lease is renewed every `heartbeatMs`, so only a worker that really died (not a
 * slow destination) has its jobs reclaimed by others.
 */
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { Store } from '../store/types.js';
import { delay } from './sleep.js';

interface Flight {
  readonly destination: string;
  /** Counts toward the destination's concurrency: false for the second and later jobs of a batch call. */
  readonly isCounted: boolean;
  /** Settles when the attempt is recorded; never rejects. */
  readonly done: Promise<void>;
}

export class InFlight {
  readonly #flights = new Map<number, Flight>();

  get size(): number {
    return this.#flights.size;
  }

  /** `isCounted` false: a further job of a batch call, which counts as one flight toward concurrency. */
  add(jobId: number, destination: string, done: Promise<void>, isCounted = true): void {
    this.#flights.set(jobId, { destination, done, isCounted });
  }

  delete(jobId: number): void {
    this.#flights.delete(jobId);
  }

  has(jobId: number): boolean {
    return this.#flights.has(jobId);
  }

  ids(): number[] {
    return [...this.#flights.keys()];
  }

  count(destination: string): number {
    let n = 0;
    for (const flight of this.#flights.values()) if (flight.destination === destination && flight.isCounted) n += 1;
    return n;
  }

  /** Settles when every attempt in flight now has been recorded. */
  async settled(): Promise<void> {
    await Promise.all([...this.#flights.values()].map((f) => f.done));
  }

  /** Waits for the attempts in flight, up to `graceMs`. Returns whether they all finished. */
  async drain(graceMs: number): Promise<boolean> {
    const grace = delay(graceMs);
    try {
      return await Promise.race([this.settled().then(() => true), grace.promise.then(() => false)]);
    } finally {
      grace.cancel();
    }
  }
}

export interface LeaseKeeperDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly inFlight: InFlight;
}

/** Renews the leases of in-flight jobs on a timer. `stop` waits for a beat under way. */
export class LeaseKeeper {
  readonly #deps: LeaseKeeperDeps;
  #timer: NodeJS.Timeout | undefined;
  #beat: Promise<void> | undefined;

  constructor(deps: LeaseKeeperDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // One beat at a time: a slow store must not pile up renewals.
      if (this.#beat || this.#deps.inFlight.size === 0) return;
      this.#beat = this.#extend().finally(() => {
        this.#beat = undefined;
      });
    }, this.#deps.heartbeatMs);
    // The loop and the attempts keep the process alive; the heartbeat alone should not.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beat;
  }

  /** Never rejects: a failed beat is logged and tried again at the next one. */
  async #extend(): Promise<void> {
    const { store, clock, log, workerId, leaseMs, inFlight } = this.#deps;
    const ids = inFlight.ids();
    try {
      const held = new Set(await store.extendLeases(workerId, ids, clock.now() + leaseMs));
      const lost = ids.filter((id) => !held.has(id) && inFlight.has(id));
      // Not aborted: the call may already be under way, and its audit record is kept either way.
      if (lost.length > 0) log.warn({ jobIds: lost }, 'lost the lease of in-flight jobs (cancelled, or reclaimed after expiry)');
    } catch (err) {
      log.warn({ err, jobs: ids.length }, 'could not renew leases; trying again at the next heartbeat');
    }
  }
}
