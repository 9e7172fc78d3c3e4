/**
 * Airtable's limits, spent before every call (reference/destinations.md §3.5): 5 requests a second
 * per base, 50 a second per token across bases, 30 seconds of silence for a base after a 429, and
 * the plan's monthly allowance. All of it lives in the store (`spendAirtableCall`), so the service's
 * jobs, a CLI backfill and other instances on the same store share one count: a backfill running
 * beside the service slows both down instead of collecting 429s, and a 429 stops the base for
 * everyone.
 *
 * The worker's own token buckets (the destination's `rateLimit` and `subKeyRateLimit`) pace the
 * jobs of one process before they are claimed; this is the count every process answers to.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AirtableCallDecision, AirtableRateLimitInput, AirtableStore } from '../../store/types.js';
import type { RateLimit } from '../destination.js';
import { AIRTABLE_BASE_RATE_LIMIT, AIRTABLE_TOKEN_RATE_LIMIT, type AirtableDestinationConfig } from './schema.js';

export type Take =
  | { readonly ok: true }
  /** The next turn is further away than the caller may wait. */
  | { readonly ok: false; readonly reason: 'rate'; readonly retryAfterMs: number; readonly message: string }
  /** The month's allowance is spent. */
  | { readonly ok: false; readonly reason: 'budget'; readonly message: string }
  /** The caller's signal ended the wait. */
  | { readonly ok: false; readonly reason: 'aborted'; readonly message: string };

/** What the client spends from before each call. */
export interface CallBudget {
  /** Waits for the base's turn (at most `maxWaitMs`), then counts the call. */
  take(baseId: string, options: { readonly maxWaitMs: number; readonly signal?: AbortSignal }): Promise<Take>;
  /** Airtable answered 429: nothing goes to the base until `until`, from any process. */
  penalise(baseId: string, until: number): Promise<void>;
}

export interface CallBudgetOptions {
  readonly store: Pick<AirtableStore, 'spendAirtableCall' | 'blockAirtableCalls'>;
  readonly destinationName: string;
  readonly destination: Pick<AirtableDestinationConfig, 'rateLimit' | 'subKeyRateLimit' | 'monthlyCallBudget' | 'budgetWarnShare'>;
  /** The token itself: the per-token limit is kept under a hash of it, shared by destinations with the same token. */
  readonly token: string;
  readonly now: () => number;
  /** Called once a month, the first time the count reaches `budgetWarnShare` of the budget. */
  readonly onWarning?: (warning: { readonly calls: number; readonly budget: number; readonly month: string; readonly message: string }) => void;
}

/** `2026-01`: the calendar month (UTC) a call is counted in. */
export function monthOf(now: number): string {
  return new Date(now).toISOString().slice(0, 7);
}

/**
 * Added to every window: a call is counted here before it is sent (a store round trip, then the
 * network), and Airtable counts it when it arrives, so two calls a window apart here may arrive
 * closer than that. 100 ms covers the spread of both on an ordinary connection; going over costs
 * 30 seconds of silence, this costs under a tenth of the rate.
 */
export const WINDOW_MARGIN_MS = 100;

/** A per-second limit as a sliding window: `perSecond` calls a second, or one call per 1/perSecond s. */
export function windowOf(key: string, limit: RateLimit): AirtableRateLimitInput {
  return limit.perSecond >= 1
    ? { key, limit: Math.floor(limit.perSecond), windowMs: 1000 + WINDOW_MARGIN_MS }
    : { key, limit: 1, windowMs: Math.ceil(1000 / limit.perSecond) + WINDOW_MARGIN_MS };
}

export function baseKey(baseId: string): string {
  return `base:${baseId}`;
}

export function tokenKey(token: string): string {
  return `token:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16)}`;
}

/** The call budget kept in the store. */
export function storeCallBudget(options: CallBudgetOptions): CallBudget {
  const { store, destination, destinationName } = options;
  const budget = destination.monthlyCallBudget;
  const warnAt = budget === undefined ? undefined : Math.max(1, Math.ceil(budget * destination.budgetWarnShare));
  const token = windowOf(tokenKey(options.token), destination.rateLimit ?? AIRTABLE_TOKEN_RATE_LIMIT);
  const spend = (baseId: string): Promise<AirtableCallDecision> => {
    const now = options.now();
    const limits = [token, windowOf(baseKey(baseId), destination.subKeyRateLimit ?? AIRTABLE_BASE_RATE_LIMIT)];
    return store.spendAirtableCall({ destination: destinationName, month: monthOf(now), limits, now, ...(budget === undefined ? {} : { monthlyBudget: budget }), ...(warnAt === undefined ? {} : { warnAt }) });
  };
  return {
    async take(baseId, { maxWaitMs, signal }) {
      const started = options.now();
      for (;;) {
        if (signal?.aborted) return { ok: false, reason: 'aborted', message: 'stopped while waiting for the base\'s turn: nothing was sent' };
        const decision = await spend(baseId);
        if (decision.ok) {
          if (decision.isWarning && budget !== undefined) {
            const month = monthOf(options.now());
            options.onWarning?.({ calls: decision.calls, budget, month, message: `Airtable calls of ${destinationName} in ${month}: ${decision.calls} of the monthly budget of ${budget} (${Math.round((decision.calls / budget) * 100)}%)` });
          }
          return { ok: true };
        }
        if (decision.reason === 'budget') {
          return { ok: false, reason: 'budget', message: `Airtable's monthly call budget of ${destinationName} is spent (${decision.calls} of ${budget ?? decision.calls} calls in ${monthOf(options.now())}): nothing was sent — raise monthlyCallBudget in destinations.${destinationName} if the plan allows more, or wait for the next month (UTC)` };
        }
        const waited = options.now() - started;
        const why = decision.key.startsWith('base:') ? `base ${baseId}` : 'the token';
        if (waited + decision.retryAfterMs > maxWaitMs) {
          return { ok: false, reason: 'rate', retryAfterMs: decision.retryAfterMs, message: `waiting ${Math.ceil(decision.retryAfterMs / 1000)} s for ${why}'s turn (Airtable's rate limit, shared by every process): nothing was sent` };
        }
        const isWaited = await delay(decision.retryAfterMs, true, signal ? { signal } : {}).catch(() => false);
        if (!isWaited) return { ok: false, reason: 'aborted', message: `stopped while waiting for ${why}'s turn: nothing was sent` };
      }
    },
    penalise: (baseId, until) => store.blockAirtableCalls(baseKey(baseId), until),
  };
}
