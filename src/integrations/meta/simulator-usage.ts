/**
 * Graph's rate limiting as a client sees it (reference/destinations.md §2.6): usage headers on
 * every answer, percentages of a quota that grow with the calls made in a sliding window, and the
 * throttling error once they reach 100%.
 *
 * - `X-App-Usage: {"call_count","total_time","total_cputime"}`
 * - `X-Business-Use-Case-Usage: {"<ad account id>":[{"type":"custom_audience","call_count",
 *   "total_cputime","total_time","estimated_time_to_regain_access","ads_api_access_tier"}]}`,
 *   `estimated_time_to_regain_access` in minutes [U]
 * - `X-Ad-Account-Usage: {"acc_id_util_pct","reset_time_duration","ads_api_access_tier"}` [U keys]
 *
 * One quota drives all three [U]: Graph keeps separate app, business and ad-account counters, but
 * a relay uploading audiences spends the custom-audience one first, and one number is what a test
 * can reason about. The quota defaults to the Custom Audience BUC's standard tier, `5000 + 40 ×
 * audiences` calls an hour (§2.6 [C]). The shared window limiter (simulators/) cannot read a count
 * without spending one, which the headers on a refused call need: hence this meter.
 */
import type { GraphError } from './simulator-graph.js';

/** Which throttling error a spent quota answers: 80003 custom-audience BUC [U], 80004 ads_management, 17 user, 613 custom rate, 4 app. */
export type ThrottleCode = 80003 | 80004 | 17 | 613 | 4;

export interface MetaUsageLimit {
  /** Calls allowed per window. @default 5000 + 40 × live audiences (at most 700,000): the standard tier [C] */
  readonly callsPerWindow?: number;
  /** @default 3_600_000 (the quota is hourly) */
  readonly windowMs?: number;
  /** @default 80003 */
  readonly throttleCode?: ThrottleCode;
}

export interface UsageReading {
  readonly calls: number;
  readonly quota: number;
  /** 0–100. */
  readonly percent: number;
  /** Until the oldest counted call leaves the window: 0 with none. */
  readonly resetMs: number;
}

export class UsageMeter {
  /** Times of counted calls, oldest first. */
  #calls: number[] = [];
  readonly #windowMs: number;
  readonly #quota: () => number;
  readonly #now: () => number;

  constructor(options: { readonly windowMs: number; readonly quota: () => number; readonly now: () => number }) {
    this.#windowMs = options.windowMs;
    this.#quota = options.quota;
    this.#now = options.now;
  }

  /** Counts the call unless the quota is spent; a refused call is not counted, so waiting recovers. */
  take(): { readonly isAllowed: boolean; readonly reading: UsageReading } {
    this.#expire();
    const quota = this.#quota();
    const isAllowed = this.#calls.length < quota;
    // Without a quota nothing is ever refused or shown: keeping the times would only grow memory.
    if (isAllowed && quota !== Infinity) this.#calls.push(this.#now());
    return { isAllowed, reading: this.read() };
  }

  read(): UsageReading {
    this.#expire();
    const quota = this.#quota();
    const calls = this.#calls.length;
    const oldest = this.#calls[0];
    return {
      calls,
      quota,
      percent: quota === Infinity ? 0 : Math.min(100, (calls / quota) * 100),
      resetMs: oldest === undefined ? 0 : Math.max(0, oldest + this.#windowMs - this.#now()),
    };
  }

  /** Forgets every call (a test starting afresh). */
  reset(): void {
    this.#calls = [];
  }

  #expire(): void {
    const cutoff = this.#now() - this.#windowMs;
    let expired = 0;
    while (expired < this.#calls.length && (this.#calls[expired] as number) <= cutoff) expired++;
    if (expired > 0) this.#calls.splice(0, expired);
  }
}

const TIER = 'standard_access';

/** The three headers for a reading; `isThrottled` says the quota is spent (time to regain shown). */
export function usageHeaders(reading: UsageReading, accountId: string, isThrottled: boolean): Record<string, string> {
  const whole = Math.floor(reading.percent);
  const regainMinutes = isThrottled ? Math.max(1, Math.ceil(reading.resetMs / 60_000)) : 0;
  return {
    'x-app-usage': JSON.stringify({ call_count: whole, total_time: whole, total_cputime: whole }),
    'x-business-use-case-usage': JSON.stringify({
      [accountId]: [{ type: 'custom_audience', call_count: whole, total_cputime: whole, total_time: whole, estimated_time_to_regain_access: regainMinutes, ads_api_access_tier: TIER }],
    }),
    'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: Math.round(reading.percent * 100) / 100, reset_time_duration: Math.ceil(reading.resetMs / 1000), ads_api_access_tier: TIER }),
  };
}

/**
 * The throttling errors (§2.6 [C] for codes and subcodes, [U] for exact wording); HTTP 400, as the
 * real 80000 answer was. `is_transient`: waiting is the cure.
 */
export function throttleError(code: ThrottleCode): GraphError {
  switch (code) {
    case 80003:
    case 80004: {
      const anchor = code === 80003 ? 'custom-audience' : 'ads-management';
      return { code, subcode: 2446079, isTransient: true, message: `(#${code}) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#${anchor}.` };
    }
    case 17:
      return { code, subcode: 2446079, isTransient: true, message: '(#17) User request limit reached' };
    case 613:
      return { code, subcode: 1487742, isTransient: true, message: '(#613) Calls to this api have exceeded the rate limit.' };
    case 4:
      return { code, isTransient: true, message: '(#4) Application request limit reached' };
  }
}

/** The standard tier's hourly Custom Audience quota for an ad account with `audiences` live audiences (§2.6 [C]). */
export function standardQuota(audiences: number): number {
  return Math.min(700_000, 5000 + 40 * audiences);
}
