/**
 * Misbehaviour on demand: the shared fault rules (simulators/faults.ts: an error status for the
 * next k matching requests, a late answer, no answer, a reset connection, apply-then-hang…), plus
 * what only Kit has: webhooks to drop. Faults apply before authentication, so a faulted request is
 * answered the same whatever its credentials and does not count against the rate limit.
 *
 * The webhook emitter (webhooks.ts) consults `shouldDropWebhook(url)` before each outbound
 * delivery, so tests can make Kit "lose" webhooks.
 */
import { STATUS_CODES } from 'node:http';
import { FaultRules, type FaultSpec, type SimAnswer } from '../../simulators/index.js';
export type { FaultAction, FaultRequestView, FaultSpec } from '../../simulators/index.js';
import { RATE_LIMITED_BODY } from './rate-limit.js';


export type WebhookDropSpec =
  | number
  | ((url: string) => boolean)
  | { readonly times?: number; readonly match?: (url: string) => boolean };

interface PendingDrop {
  readonly match?: (url: string) => boolean;
  remaining: number;
}

export class SimFaults extends FaultRules {
  #drops: PendingDrop[] = [];

  /** Queues a fault (the same as `add`). */
  fault(spec: FaultSpec): void {
    this.add(spec);
  }

  /**
   * Drops outbound webhooks: a number drops the next n; a predicate drops every matching URL until
   * cleared; `{times, match}` drops the next `times` matching ones.
   */
  dropWebhooks(spec: WebhookDropSpec): void {
    if (typeof spec === 'number') this.#drops.push({ remaining: spec });
    else if (typeof spec === 'function') this.#drops.push({ match: spec, remaining: Infinity });
    else this.#drops.push({ ...(spec.match ? { match: spec.match } : {}), remaining: spec.times ?? Infinity });
  }

  /** Whether the emitter should drop this delivery; counts it against the drop rule that matched. */
  shouldDropWebhook(url: string): boolean {
    const drop = this.#drops.find((d) => d.remaining > 0 && (d.match?.(url) ?? true));
    if (!drop) return false;
    drop.remaining -= 1;
    this.#drops = this.#drops.filter((d) => d.remaining > 0);
    return true;
  }

  /** Removes every queued fault and every webhook drop rule. */
  override clear(): void {
    super.clear();
    this.#drops = [];
  }
}

/** Kit's answer to a status fault given no body: the plain text `Retry later` for 429, `{"errors":["<reason phrase>"]}` otherwise. */
export function kitFaultAnswer(status: number): SimAnswer {
  if (status === 429) return { status, body: RATE_LIMITED_BODY };
  return { status, body: { errors: [STATUS_CODES[status] ?? 'Error'] } };
}
