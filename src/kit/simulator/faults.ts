/**
 * Misbehaviour on demand, as in the webhook receiver simulator (connectors/webhook/simulator.ts):
 * an error status for the next k matching requests, a late answer, no answer, a reset connection.
 * Faults apply before authentication, so a faulted request is answered the same whatever its
 * credentials and does not count against the rate limit.
 *
 * The webhook emitter (webhooks.ts) consults `shouldDropWebhook(url)` before each outbound
 * delivery, so tests can make Kit "lose" webhooks.
 */
import { STATUS_CODES } from 'node:http';

/** The part of a request a fault's predicate sees. */
export interface FaultRequestView {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
}

export type FaultAction =
  /**
   * Answer with this status (after `delayMs`). The default body is Kit's for the status: the plain
   * text `Retry later` for 429, `{"errors":["<reason phrase>"]}` otherwise.
   */
  | { readonly kind: 'status'; readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>>; readonly delayMs?: number }
  /** Give the normal answer, `ms` late. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Never answer; the connection stays open until the client gives up or the simulator closes. */
  | { readonly kind: 'hang' }
  /** Reset the connection (TCP RST) without answering: the client sees ECONNRESET. */
  | { readonly kind: 'reset' };

export type FaultSpec = FaultAction & {
  /** How many matching requests the fault applies to; `Infinity` for all. @default 1 */
  readonly times?: number;
  /** Only this method (any case). @default any */
  readonly method?: string;
  /** Only this path (exact, without the query) or paths matching this pattern. @default any */
  readonly path?: string | RegExp;
  /** Only requests this returns true for. @default every request */
  readonly match?: (req: FaultRequestView) => boolean;
};

export type WebhookDropSpec =
  | number
  | ((url: string) => boolean)
  | { readonly times?: number; readonly match?: (url: string) => boolean };

interface Pending<T> {
  readonly spec: T;
  remaining: number;
}

export class SimFaults {
  #faults: Array<Pending<FaultSpec>> = [];
  #drops: Array<Pending<{ readonly match?: (url: string) => boolean }>> = [];

  /** Queues a fault. Faults apply in the order added, each to its next `times` matching requests. */
  fault(spec: FaultSpec): void {
    this.#faults.push({ spec, remaining: spec.times ?? 1 });
  }

  /**
   * Drops outbound webhooks: a number drops the next n; a predicate drops every matching URL until
   * cleared; `{times, match}` drops the next `times` matching ones.
   */
  dropWebhooks(spec: WebhookDropSpec): void {
    if (typeof spec === 'number') this.#drops.push({ spec: {}, remaining: spec });
    else if (typeof spec === 'function') this.#drops.push({ spec: { match: spec }, remaining: Infinity });
    else this.#drops.push({ spec, remaining: spec.times ?? Infinity });
  }

  /** Whether the emitter should drop this delivery; counts it against the drop rule that matched. */
  shouldDropWebhook(url: string): boolean {
    const drop = this.#drops.find((d) => d.remaining > 0 && (d.spec.match?.(url) ?? true));
    if (!drop) return false;
    drop.remaining -= 1;
    this.#drops = this.#drops.filter((d) => d.remaining > 0);
    return true;
  }

  /** The fault for this request, if any; counts the request against it. */
  take(view: FaultRequestView): FaultAction | undefined {
    const pending = this.#faults.find((f) => f.remaining > 0 && matches(f.spec, view));
    if (!pending) return undefined;
    pending.remaining -= 1;
    this.#faults = this.#faults.filter((f) => f.remaining > 0);
    return pending.spec;
  }

  /** Faults still queued (drop rules not included). */
  get pending(): number {
    return this.#faults.length;
  }

  /** Removes every queued fault and every webhook drop rule. */
  clear(): void {
    this.#faults = [];
    this.#drops = [];
  }
}

function matches(spec: FaultSpec, view: FaultRequestView): boolean {
  if (spec.method !== undefined && spec.method.toUpperCase() !== view.method.toUpperCase()) return false;
  if (typeof spec.path === 'string' && spec.path !== view.path) return false;
  if (spec.path instanceof RegExp && !spec.path.test(view.path)) return false;
  return spec.match?.(view) ?? true;
}

/** The body and content type a status fault answers with. */
export function faultBody(fault: Extract<FaultAction, { kind: 'status' }>): { readonly contentType: string; readonly payload: string | Buffer } {
  if (typeof fault.body === 'string' || Buffer.isBuffer(fault.body)) return { contentType: 'text/plain; charset=utf-8', payload: fault.body };
  if (fault.body !== undefined) return { contentType: 'application/json; charset=utf-8', payload: JSON.stringify(fault.body) };
  if (fault.status === 429) return { contentType: 'text/plain; charset=utf-8', payload: 'Retry later' };
  return { contentType: 'application/json; charset=utf-8', payload: JSON.stringify({ errors: [STATUS_CODES[fault.status] ?? 'Error'] }) };
}
