/**
 * The Kit API client: every v4 endpoint kitrelay uses, each call spending from a shared rate
 * budget, authenticated by API key or OAuth (refreshed as needed), sent through the shared HTTP
 * client so each one leaves an audit-ready, redacted request summary (`onCall`).
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { accountEndpoints, type AccountEndpoints } from './account.js';
import { createAuthenticator, type Authenticator, type KitAuthOptions } from './auth.js';
import { KIT_RATE_LIMITS, type RateBudget, type RateLimitOptions } from './budget.js';
import { paginate, type Page, type PageOptions } from './paginate.js';
import { purchaseEndpoints, type PurchaseEndpoints } from './purchases.js';
import { subscriberEndpoints, type SubscriberEndpoints } from './subscribers.js';
import { tagEndpoints, type TagEndpoints } from './tags.js';
import { createTransport, type KitCall, type QueryValue } from './transport.js';
import { webhookEndpoints, type WebhookEndpoints } from './webhooks.js';

export const DEFAULT_BASE_URL = 'https://api.kit.com';

export interface KitClientOptions {
  /** @default 'https://api.kit.com' */
  readonly baseUrl?: string;
  readonly auth: KitAuthOptions;
  /** Shared by every process using the credential: `storeRateBudget(store)` in production. */
  readonly budget: RateBudget;
  /** @default Kit's limits for the credential kind (reference/kit.md §2) */
  readonly rateLimit?: RateLimitOptions;
  /** @default a client of its own (16 MiB responses: a page of 1000 subscribers with fields is large), closed by `close()` */
  readonly http?: HttpClient;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Every wait (budget, backoff, 429) goes through it. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Resends of an idempotent call after 5xx, a network error or a timeout. @default 3 */
  readonly maxRetries?: number;
  /** First backoff; doubles each retry, ±20% jitter. @default 500 */
  readonly retryBaseDelayMs?: number;
  /** @default 30_000 */
  readonly retryMaxDelayMs?: number;
  /** 429s one call sits out before throwing `KitRateLimitedError`. @default 5 */
  readonly maxRateLimitRetries?: number;
  /** Longest one call waits for the shared budget before throwing `KitRateLimitedError`. @default 120_000 */
  readonly maxBudgetWaitMs?: number;
  /** Per attempt. @default 30_000 */
  readonly timeoutMs?: number;
  /** @default 'kitrelay' */
  readonly userAgent?: string;
  /** Every outbound call, for the audit record (credentials already redacted). */
  readonly onCall?: (call: KitCall) => void;
}

export type KitClient = SubscriberEndpoints &
  TagEndpoints &
  AccountEndpoints &
  PurchaseEndpoints &
  WebhookEndpoints & {
    readonly authKind: Authenticator['kind'];
    /** The rate budget's non-secret key for this credential. */
    readonly credentialId: string;
    /** Any list endpoint, page by page (for one this client has no method for). */
    paginate<T>(path: string, itemsKey: string, query?: Readonly<Record<string, QueryValue>>, options?: PageOptions): AsyncGenerator<Page<T>, void, undefined>;
    /** Closes the HTTP client if this client made it. */
    close(): Promise<void>;
  };

export function createKitClient(options: KitClientOptions): KitClient {
  const isOwnHttp = options.http === undefined;
  const http = options.http ?? createHttpClient({ maxResponseBytes: 16 * 1024 * 1024 });
  const clock = options.clock ?? systemClock;
  const auth = createAuthenticator(options.auth, { http, clock });
  const defaults = auth.kind === 'oauth' ? KIT_RATE_LIMITS.oauth : KIT_RATE_LIMITS.apiKey;
  const windowMs = options.rateLimit?.windowMs ?? defaults.windowMs;
  const transport = createTransport({
    baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
    auth,
    budget: options.budget,
    limit: options.rateLimit?.limit ?? defaults.limit,
    windowMs,
    marginMs: options.rateLimit?.marginMs ?? Math.min(5000, Math.ceil(windowMs / 4)),
    http,
    clock,
    sleep: options.sleep ?? defaultSleep,
    maxRetries: options.maxRetries ?? 3,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 500,
    retryMaxDelayMs: options.retryMaxDelayMs ?? 30_000,
    maxRateLimitRetries: options.maxRateLimitRetries ?? 5,
    maxBudgetWaitMs: options.maxBudgetWaitMs ?? 120_000,
    timeoutMs: options.timeoutMs ?? 30_000,
    userAgent: options.userAgent ?? 'kitrelay',
    ...(options.onCall === undefined ? {} : { onCall: options.onCall }),
  });

  return {
    authKind: auth.kind,
    credentialId: auth.credentialId,
    ...subscriberEndpoints(transport),
    ...tagEndpoints(transport),
    ...accountEndpoints(transport),
    ...purchaseEndpoints(transport),
    ...webhookEndpoints(transport),
    paginate: (path, itemsKey, query = {}, pageOptions = {}) => paginate(transport, path, itemsKey, query, pageOptions),
    close: () => (isOwnHttp ? http.close() : Promise.resolve()),
  };
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
