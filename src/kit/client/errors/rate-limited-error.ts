import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/**
 * The client gave up waiting for rate budget: Kit kept answering 429 after every wait, or the
 * shared budget would make the call wait longer than `maxBudgetWaitMs`. `retryAfterMs` is how long
 * the budget (or Kit's window) says to wait before trying again.
 */
export class KitRateLimitedError extends KitApiError {
  override name = 'KitRateLimitedError';
  constructor(
    readonly retryAfterMs: number,
    summary: string,
    details: KitApiErrorDetails = {},
  ) {
    super('kit_rate_limited', 'retry_after', summary, details);
  }
}
