/**
 * The base of every error the Kit client throws about a call to Kit. Subclasses (one per file)
 * fix the `code` and the retry class; callers branch on `retryClass` (what to do) or `instanceof`
 * (what happened), never on message text.
 */
import { KitrelayError } from '../../../lib/errors.js';

/**
 * What a caller should do about the failure:
 * - `retryable`: transient (5xx, network, timeout); the same request may succeed later.
 * - `retry_after`: Kit said "not now" (429); wait `retryAfterMs`, then try again.
 * - `permanent`: the same request will fail the same way (400/401/403/404/409/413/422, config).
 */
export type KitRetryClass = 'retryable' | 'retry_after' | 'permanent';

export interface KitApiErrorDetails {
  /** Kit's HTTP status; undefined when no response came back (network, timeout, config). */
  readonly status?: number;
  /** Kit's `errors` array, flattened to strings (reference/kit.md §6). */
  readonly messages?: readonly string[];
  /** `GET /v4/subscribers/1`: method and path, never the query or credentials. */
  readonly request?: string;
  readonly cause?: unknown;
}

export class KitApiError extends KitrelayError {
  override name = 'KitApiError';
  readonly status: number | undefined;
  readonly messages: readonly string[];
  readonly request: string | undefined;

  constructor(
    code: string,
    readonly retryClass: KitRetryClass,
    summary: string,
    details: KitApiErrorDetails = {},
  ) {
    const messages = details.messages ?? [];
    const what = details.request === undefined ? '' : `${details.request}: `;
    const said = messages.length === 0 ? '' : ` — ${messages.join('; ')}`;
    // Kit's failures reach an HTTP edge (CLI, dashboard) as a bad gateway: the fault is upstream.
    super(code, `Kit ${what}${summary}${said}`, 502, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.messages = messages;
    this.request = details.request;
  }

  get isRetryable(): boolean {
    return this.retryClass !== 'permanent';
  }
}
