/**
 * The rate budget: how many requests one Kit credential may still send in Kit's window
 * (reference/kit.md §2: 120 per 60 s per API key, 600 per 60 s per OAuth token). Every request the
 * client sends spends from it first, so kitrelay slows itself down instead of collecting 429s.
 *
 * The port is shared: in production it is the store (`storeRateBudget`), so the service, a CLI
 * backfill and other instances on the same store all spend from one budget per credential.
 * `memoryRateBudget` serves a single process and the tests.
 */
import { createHash } from 'node:crypto';
import type { KitStore, RateBudgetDecision, RateBudgetInput } from '../../store/kit-types.js';

export type { RateBudgetDecision, RateBudgetInput } from '../../store/kit-types.js';

/**
 * The budget port. The client stamps each request ahead of the clock by the latency it expects
 * (`now` = clock + m, `windowMs` = Kit's window + m, so the window still starts at clock − Kit's
 * window): `now` is not monotonic across callers, and entries may lie ahead of another caller's `now`.
 */
export interface RateBudget {
  /** Spends one request, or says how long to wait before asking again. */
  take(input: RateBudgetInput): Promise<RateBudgetDecision>;
  /** After Kit answered 429: nobody spends from `credential` until `until` (epoch ms). */
  block(credential: string, until: number): Promise<void>;
}

/** Kit's documented limits (reference/kit.md §2). */
export const KIT_RATE_LIMITS = {
  apiKey: { limit: 120, windowMs: 60_000 },
  oauth: { limit: 600, windowMs: 60_000 },
} as const;

export interface RateLimitOptions {
  /** Requests per window. @default 120 for an API key, 600 for an OAuth token */
  readonly limit?: number;
  /** Kit's window. @default 60_000 */
  readonly windowMs?: number;
  /**
   * How far ahead of the send each request is stamped in the budget, at least. Kit counts a
   * request when it arrives, which can be well after we spend from the budget (a store round trip,
   * a slow network, a large page); stamping it at the latest time Kit may count it keeps a budget
   * at Kit's exact limit from tripping Kit's counter, for every process sharing it. The client
   * raises it to the slowest recent send-to-answer time it has seen (latency.ts), up to a window.
   * @default 25% of the window, at most 5_000
   */
  readonly marginMs?: number;
}

/** The non-secret id a budget is kept under: `key:` + the first 16 hex of sha256(API key). */
export function apiKeyCredentialId(apiKey: string): string {
  return `key:${sha256Hex(apiKey).slice(0, 16)}`;
}

/**
 * An OAuth token family's id: its access tokens change on every refresh, the app and the account
 * they act for do not. Without an account id, every account authorised through the same app
 * shares one budget (slower, never over the limit).
 */
export function oauthCredentialId(clientId: string, accountId?: string | number): string {
  return `oauth:${sha256Hex(`${clientId}\n${accountId ?? ''}`).slice(0, 16)}`;
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** The budget kept in the store (`kit_rate_budget`), shared by every process on it. */
export function storeRateBudget(store: Pick<KitStore, 'takeRateBudget' | 'blockRateBudget'>): RateBudget {
  return {
    take: (input) => store.takeRateBudget(input),
    block: (credential, until) => store.blockRateBudget(credential, until),
  };
}

/**
 * A sliding-window budget in this process's memory, with the same semantics as the store's:
 * at most `limit` takes in any `windowMs`, none while blocked.
 *
 * Entries are dropped only once they are two windows old, and each take counts what lies in its
 * own window (windows differ between callers, see `RateBudget`).
 */
export function memoryRateBudget(): RateBudget {
  const sent = new Map<string, number[]>();
  const blockedUntil = new Map<string, number>();

  return {
    take(input) {
      const { credential, limit, windowMs, now } = input;
      const until = blockedUntil.get(credential) ?? 0;
      if (until > now) return Promise.resolve({ ok: false, retryAfterMs: until - now });
      const times = (sent.get(credential) ?? []).filter((at) => at > now - 2 * windowMs);
      sent.set(credential, times);
      const inWindow = times.filter((at) => at > now - windowMs);
      if (inWindow.length < limit) {
        times.push(now);
        return Promise.resolve({ ok: true, remaining: limit - inWindow.length - 1 });
      }
      // One more fits once enough of the oldest have left the window (stamps are not in take order).
      inWindow.sort((x, y) => x - y);
      const leaving = inWindow[inWindow.length - limit] ?? now;
      return Promise.resolve({ ok: false, retryAfterMs: Math.max(1, leaving + windowMs - now) });
    },
    block(credential, until) {
      blockedUntil.set(credential, Math.max(until, blockedUntil.get(credential) ?? 0));
      return Promise.resolve();
    },
  };
}
