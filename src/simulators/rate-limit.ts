/**
 * Per-credential request limits, as remote APIs apply them: `limit` requests per `windowMs`, each
 * key (a token, an API key, an IP) counted on its own. Each simulator writes its own 429 answer
 * from the decision; `rateLimitHeaders` gives the X-RateLimit-* / Retry-After headers that
 * Laravel's throttle (and many APIs copying it) sends.
 *
 * - `sliding`: a request counts for exactly `windowMs` after it was made (Kit: a slot frees 60 s
 *   after each request).
 * - `fixed`: the first request opens a window of `windowMs`; the count resets when it ends
 *   (Laravel's throttle middleware).
 *
 * Only allowed requests count: a client hammering while limited recovers when the window moves on.
 */

export interface WindowLimit {
  /** Requests allowed per window (per key). */
  readonly limit: number;
  /** @default 60_000 */
  readonly windowMs?: number;
  /** @default 'sliding' */
  readonly mode?: 'sliding' | 'fixed';
}

export interface RateDecision {
  readonly isAllowed: boolean;
  readonly limit: number;
  /** Requests left in the window after this one. */
  readonly remaining: number;
  /** Epoch ms when the window next frees a slot (sliding) or ends (fixed). */
  readonly resetAt: number;
  /** How long until a request would be allowed: 0 when this one was. */
  readonly retryAfterMs: number;
}

export class WindowLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #mode: 'sliding' | 'fixed';
  readonly #now: () => number;
  /** sliding: key → times of its counted requests, oldest first (at most `limit` of them). */
  readonly #hits = new Map<string, number[]>();
  /** fixed: key → its window's start and count. */
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: WindowLimit, now: () => number = Date.now) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#mode = options.mode ?? 'sliding';
    this.#now = now;
  }

  get limit(): number {
    return this.#limit;
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /** Counts the request when allowed. `limit` overrides the default for this key (Kit: API keys vs tokens). */
  take(key: string, limit: number = this.#limit): RateDecision {
    return this.#mode === 'fixed' ? this.#takeFixed(key, limit) : this.#takeSliding(key, limit);
  }

  #takeSliding(key: string, limit: number): RateDecision {
    const now = this.#now();
    let hits = this.#hits.get(key);
    if (!hits) this.#hits.set(key, (hits = []));
    let expired = 0;
    while (expired < hits.length && (hits[expired] as number) <= now - this.#windowMs) expired++;
    if (expired > 0) hits.splice(0, expired);
    const isAllowed = hits.length < limit;
    if (isAllowed) hits.push(now);
    const resetAt = (hits[0] ?? now) + this.#windowMs;
    return { isAllowed, limit, remaining: Math.max(0, limit - hits.length), resetAt, retryAfterMs: isAllowed ? 0 : Math.max(0, resetAt - now) };
  }

  #takeFixed(key: string, limit: number): RateDecision {
    const now = this.#now();
    let window = this.#windows.get(key);
    if (!window || now >= window.start + this.#windowMs) this.#windows.set(key, (window = { start: now, count: 0 }));
    const isAllowed = window.count < limit;
    if (isAllowed) window.count += 1;
    const resetAt = window.start + this.#windowMs;
    return { isAllowed, limit, remaining: Math.max(0, limit - window.count), resetAt, retryAfterMs: isAllowed ? 0 : Math.max(0, resetAt - now) };
  }

  /** Forgets every count (a test starting afresh). */
  reset(): void {
    this.#hits.clear();
    this.#windows.clear();
  }
}

/**
 * Laravel's throttle headers: `X-RateLimit-Limit` and `X-RateLimit-Remaining` on every answer;
 * on a refusal also `Retry-After` (whole seconds, rounded up; left out when `isRetryAfterSent` is
 * false) and `X-RateLimit-Reset` (epoch seconds).
 */
export function rateLimitHeaders(decision: RateDecision, options: { readonly isRetryAfterSent?: boolean } = {}): Record<string, string> {
  const headers: Record<string, string> = { 'x-ratelimit-limit': String(decision.limit), 'x-ratelimit-remaining': String(decision.remaining) };
  if (decision.isAllowed) return headers;
  if (options.isRetryAfterSent ?? true) headers['retry-after'] = String(Math.ceil(decision.retryAfterMs / 1000));
  headers['x-ratelimit-reset'] = String(Math.ceil(decision.resetAt / 1000));
  return headers;
}
