/**
 * The one place the webhook emitter puts bytes on the wire: drop faults are applied here, every
 * POST goes through the shared outbound client (lib/http.ts: one deadline per attempt, redirects
 * not followed, answers capped), and each lands in a bounded log of what was sent.
 */
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { PostResult } from './webhooks-retry.js';

/** What a drop fault's predicate sees of a POST about to be sent. */
export interface WebhookPostView {
  readonly kind: 'legacy' | 'signed';
  readonly url: string;
  /** The legacy webhook's id. */
  readonly webhookId?: number;
  readonly endpointId?: number;
  readonly deliveryId?: number;
  /** 1-based. */
  readonly attempt: number;
}

export type SentOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'network_error'; readonly code: string }
  /** A drop fault ate it: nothing went on the wire. */
  | { readonly kind: 'dropped' };

/** One webhook POST the simulator made (or, for `dropped`, failed to make on purpose). */
export interface SentWebhook extends WebhookPostView {
  /** Epoch ms, when the POST started. */
  readonly at: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly outcome: SentOutcome;
}

export interface DropFault {
  /** How many matching POSTs to drop; `Infinity` for all. @default 1 */
  readonly times?: number;
  /** @default every POST */
  readonly match?: (post: WebhookPostView) => boolean;
}

export interface PosterSettings {
  readonly now: () => number;
  readonly timeoutMs: number;
  readonly maxSent: number;
  /** Answer bytes kept (the history keeps only the start of a body). */
  readonly maxResponseBytes: number;
  /** An outside fault source (the simulator core's), asked before the poster's own drop faults. */
  readonly shouldDrop?: (post: WebhookPostView) => boolean;
}

export class WebhookPoster {
  readonly #http: HttpClient;
  readonly #abort = new AbortController();
  readonly #sent: SentWebhook[] = [];
  readonly #drops: { readonly fault: DropFault; remaining: number }[] = [];

  constructor(private readonly settings: PosterSettings) {
    this.#http = createHttpClient({ maxResponseBytes: settings.maxResponseBytes, previewChars: 0 });
  }

  /** The last `maxSent` POSTs, oldest first. */
  get sent(): readonly SentWebhook[] {
    return this.#sent;
  }

  drop(fault: DropFault): void {
    this.#drops.push({ fault, remaining: fault.times ?? 1 });
  }

  clearDrops(): void {
    this.#drops.length = 0;
  }

  async post(view: WebhookPostView, headers: Record<string, string>, body: string): Promise<PostResult> {
    const at = this.settings.now();
    const result: PostResult = this.#takeDrop(view)
      ? { kind: 'dropped' }
      : await this.#http.send({ method: 'POST', url: view.url, headers, body, timeoutMs: this.settings.timeoutMs, signal: this.#abort.signal });
    const outcome: SentOutcome =
      result.kind === 'dropped' ? { kind: 'dropped' } : result.kind === 'response' ? { kind: 'response', status: result.status } : { kind: 'network_error', code: result.code };
    this.#sent.push({ ...view, at, headers, body, outcome });
    if (this.#sent.length > this.settings.maxSent) this.#sent.splice(0, this.#sent.length - this.settings.maxSent);
    return result;
  }

  /** Aborts POSTs in flight (they resolve as `aborted` network errors). */
  abort(): void {
    this.#abort.abort();
  }

  /** Closes the connections; call after the aborted POSTs have settled. */
  close(): Promise<void> {
    return this.#http.close();
  }

  #takeDrop(view: WebhookPostView): boolean {
    if (this.settings.shouldDrop?.(view)) return true;
    const pending = this.#drops.find((d) => d.remaining > 0 && (d.fault.match?.(view) ?? true));
    if (!pending) return false;
    pending.remaining -= 1;
    if (pending.remaining <= 0) this.#drops.splice(this.#drops.indexOf(pending), 1);
    return true;
  }
}
