/**
 * Kit's per-credential rate limit (reference/kit.md §2): a sliding 60-second window, 120 requests
 * for an API key and 600 for an OAuth access token. Over the limit Kit answers 429 with the plain
 * text `Retry later` and no Retry-After header (the guard in hooks.ts writes that answer).
 *
 * Only answered requests count: a client that keeps hammering while limited recovers once its
 * oldest counted requests slide out of the window, which is what Kit's advice ("wait up to 60 s")
 * implies.
 */
import { WindowLimiter } from '../../simulators/index.js';
import type { Credential } from './auth.js';

export interface RateLimitOptions {
  /** Requests per window for an API key. @default 120 */
  readonly apiKey?: number;
  /** Requests per window for an OAuth access token. @default 600 */
  readonly oauth?: number;
  /** @default 60_000 */
  readonly windowMs?: number;
}

export const RATE_LIMITED_BODY = 'Retry later';

export class RateLimiter {
  readonly #limits: { readonly api_key: number; readonly oauth: number };
  readonly #window: WindowLimiter;

  constructor(options: RateLimitOptions, now: () => number) {
    this.#limits = { api_key: options.apiKey ?? 120, oauth: options.oauth ?? 600 };
    this.#window = new WindowLimiter({ limit: this.#limits.oauth, windowMs: options.windowMs ?? 60_000, mode: 'sliding' }, now);
  }

  /** Counts the request and returns true, or returns false when the credential is over its limit. */
  take(credential: Credential): boolean {
    return this.#window.take(`${credential.kind}:${credential.id}`, this.#limits[credential.kind]).isAllowed;
  }

  /** Forgets every count (a test starting afresh). */
  reset(): void {
    this.#window.reset();
  }
}
