/**
 * The circuit breaker of one destination, as a small state machine over an injected time:
 *
 *   closed ──(failureThreshold consecutive retryable failures)──▶ open until now + cooldown
 *   open ──(time passes openUntil)──▶ half-open: one probe attempt may run
 *   half-open ──probe succeeds──▶ closed (cooldown back to its base)
 *   half-open ──probe fails──▶ open again, cooldown doubled (capped at maxCooldownMs)
 *
 * Only retryable failures (5xx, 429, timeouts, resets) count: a permanent failure (a 4xx) means
 * the destination is up and answering, so it counts like a success here — the request was wrong,
 * and holding every other job would not fix it.
 *
 * While open, the worker claims nothing for the destination: its jobs are held and spend no
 * attempts. The state itself is `openUntil` (null = closed), which the worker persists through
 * `store.setBreaker` so the CLI, the dashboard and other instances see it; `sync` adopts what the
 * store says (another instance opened it, an operator closed it).
 */
import type { BreakerPolicy, DestinationConfig } from '../config/schema.js';
import type { Log } from '../lib/log.js';
import type { DestinationState, Store } from '../store/types.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

/**
 * What an attempt's result means to the breaker. `unknown` (we aborted it) says nothing.
 * `blocked`: the destination refuses every job alike (HTTP 401: a revoked key): open at once.
 */
export type BreakerSignal = 'success' | 'retryable' | 'permanent' | 'unknown' | 'blocked';

export class Breaker {
  readonly #policy: BreakerPolicy;
  #openUntil: number | null = null;
  #cooldownMs: number;
  #failures = 0;
  #isProbeInFlight = false;
  #version = 0;
  #persistedOpenUntil: number | null = null;

  constructor(policy: BreakerPolicy) {
    this.#policy = policy;
    this.#cooldownMs = policy.cooldownMs;
  }

  /** null when closed; else when the open period ends (past it, the breaker is half-open). */
  get openUntil(): number | null {
    return this.#openUntil;
  }

  /** Bumped at every local transition; `sync` uses it to ignore reads that started before one. */
  get version(): number {
    return this.#version;
  }

  /** Whether the local state differs from what was last written to the store. */
  get isDirty(): boolean {
    return this.#openUntil !== this.#persistedOpenUntil;
  }

  state(now: number): BreakerState {
    if (this.#openUntil === null) return 'closed';
    return now < this.#openUntil ? 'open' : 'half_open';
  }

  /** How many attempts may start now: unlimited when closed, one probe when half-open, none when open. */
  allowance(now: number): number {
    switch (this.state(now)) {
      case 'closed':
        return Number.POSITIVE_INFINITY;
      case 'half_open':
        return this.#isProbeInFlight ? 0 : 1;
      case 'open':
        return 0;
    }
  }

  /** Call when an attempt starts. Returns whether it is the half-open probe. */
  beginAttempt(now: number): boolean {
    const isProbe = this.state(now) === 'half_open' && !this.#isProbeInFlight;
    if (isProbe) this.#isProbeInFlight = true;
    return isProbe;
  }

  /**
   * Call when an attempt ends. Results of attempts that started before the breaker opened and end
   * while it is open are ignored: they say nothing the opening did not already account for.
   */
  record(signal: BreakerSignal, isProbe: boolean, now: number): void {
    if (isProbe) {
      this.#isProbeInFlight = false;
      if (signal === 'unknown') return;
      if (signal === 'retryable' || signal === 'blocked') this.#open(now, Math.min(this.#policy.maxCooldownMs, this.#cooldownMs * 2));
      else this.#close();
      return;
    }
    if (this.state(now) !== 'closed' || signal === 'unknown') return;
    if (signal === 'blocked') {
      this.#open(now, this.#cooldownMs);
      return;
    }
    if (signal !== 'retryable') {
      this.#failures = 0;
      return;
    }
    this.#failures += 1;
    if (this.#failures >= this.#policy.failureThreshold) this.#open(now, this.#cooldownMs);
  }

  /** Records that the store now holds `openUntil` (after a successful `setBreaker`). */
  markPersisted(openUntil: number | null): void {
    this.#persistedOpenUntil = openUntil;
  }

  /**
   * Adopts the store's view, read when `version` was `versionAtRead`. Skipped when this instance
   * changed state since (its write may have landed after the read) or has a change not yet written.
   */
  sync(storeOpenUntil: number | null, versionAtRead: number): void {
    if (versionAtRead !== this.#version || this.isDirty) return;
    this.#persistedOpenUntil = storeOpenUntil;
    if (storeOpenUntil === this.#openUntil) return;
    this.#openUntil = storeOpenUntil;
    this.#failures = 0;
    if (storeOpenUntil === null) this.#cooldownMs = this.#policy.cooldownMs;
  }

  #open(now: number, cooldownMs: number): void {
    this.#cooldownMs = cooldownMs;
    this.#openUntil = now + cooldownMs;
    this.#failures = 0;
    this.#version += 1;
  }

  #close(): void {
    this.#openUntil = null;
    this.#cooldownMs = this.#policy.cooldownMs;
    this.#failures = 0;
    this.#version += 1;
  }
}

/** One breaker per configured destination, kept in step with the store. */
export class Breakers {
  readonly #breakers = new Map<string, Breaker>();
  readonly #store: Store;
  readonly #log: Log;

  constructor(destinations: Readonly<Record<string, DestinationConfig>>, store: Store, log: Log) {
    for (const [name, destination] of Object.entries(destinations)) this.#breakers.set(name, new Breaker(destination.breaker));
    this.#store = store;
    this.#log = log;
  }

  get(destination: string): Breaker | undefined {
    return this.#breakers.get(destination);
  }

  /** Reads the destination states and lets each breaker adopt the store's view of it. */
  async readStates(): Promise<Map<string, DestinationState>> {
    const versions = new Map([...this.#breakers].map(([name, b]) => [name, b.version]));
    const states = new Map((await this.#store.getDestinationStates()).map((s) => [s.destination, s]));
    for (const [name, breaker] of this.#breakers) {
      breaker.sync(states.get(name)?.breakerOpenUntil ?? null, versions.get(name) ?? -1);
    }
    return states;
  }

  /** Writes local changes to the store; one that fails stays dirty and is written next time. */
  async persist(now: number): Promise<void> {
    for (const [name, breaker] of this.#breakers) {
      if (!breaker.isDirty) continue;
      const openUntil = breaker.openUntil;
      await this.#store.setBreaker(name, openUntil, now);
      breaker.markPersisted(openUntil);
      if (openUntil === null) this.#log.info({ destination: name }, 'circuit breaker closed');
      else this.#log.warn({ destination: name, openUntil: new Date(openUntil).toISOString() }, 'circuit breaker opened: holding the destination’s jobs');
    }
  }
}
