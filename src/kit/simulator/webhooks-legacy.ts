/**
 * Legacy webhook subscriptions (`/v4/webhooks`, reference/kit.md §7A): one event per webhook,
 * scoped by a parameter for the events that need one (`tag_id` for `subscriber.tag_add`, …).
 */
import { legacyEventSpec, type LegacyEventSpec, type ScopeParam } from '../events.js';

export interface LegacyWebhook {
  readonly id: number;
  readonly accountId: number;
  readonly spec: LegacyEventSpec;
  readonly targetUrl: string;
  /**
   * The scope parameter as the client named it: `sequence_id`, or `course_id` for the sequence
   * events (v3 docs and Kit's WordPress client send `course_id`; which name v4 echoes is [UNC]).
   */
  readonly scopeKey?: string;
  /** Numbers for the id parameters, the URL for `initiator_value`. */
  readonly scopeValue?: number | string;
  readonly createdAt: number;
}

/** Kit's answer for one legacy webhook (§7A). */
export interface LegacyWebhookJson {
  readonly id: number;
  readonly account_id: number;
  readonly event: Readonly<Record<string, unknown>> & { readonly name: string };
  readonly target_url: string;
}

export type LegacyCreateOutcome = { readonly ok: true; readonly webhook: LegacyWebhook } | { readonly ok: false; readonly errors: string[] };

export const MISSING_EVENT_OR_TARGET = '`event` and `target` parameters must be provided';

export class LegacyWebhooks {
  readonly #byId = new Map<number, LegacyWebhook>();
  #nextId = 1;

  constructor(readonly accountId: number) {}

  list(): LegacyWebhook[] {
    return [...this.#byId.values()];
  }

  get(id: number): LegacyWebhook | undefined {
    return this.#byId.get(id);
  }

  delete(id: number): boolean {
    return this.#byId.delete(id);
  }

  /** Validates a `POST /v4/webhooks` body and registers the webhook. Error texts other than the first are [UNC]. */
  create(body: unknown, now: number): LegacyCreateOutcome {
    const input = asObject(body);
    const event = asObject(input?.['event']);
    const targetUrl = input?.['target_url'];
    const name = event?.['name'];
    if (!event || typeof name !== 'string' || name === '' || typeof targetUrl !== 'string' || targetUrl === '') {
      return { ok: false, errors: [MISSING_EVENT_OR_TARGET] };
    }
    // Kit takes the full name (`subscriber.tag_add`); the prefix-less echo is accepted too, so a
    // client can re-create what `GET /v4/webhooks` listed.
    const spec = legacyEventSpec(name);
    if (!spec) return { ok: false, errors: [`Event name \`${name}\` is not a valid webhook event`] };
    if (!isHttpUrl(targetUrl)) return { ok: false, errors: ['Target url is not a valid URL'] };
    const scope = spec.scopeParam ? readScope(spec, spec.scopeParam, event) : undefined;
    if (scope && 'error' in scope) return { ok: false, errors: [scope.error] };
    const webhook: LegacyWebhook = {
      id: this.#nextId++,
      accountId: this.accountId,
      spec,
      targetUrl,
      ...(scope ? { scopeKey: scope.key, scopeValue: scope.value } : {}),
      createdAt: now,
    };
    this.#byId.set(webhook.id, webhook);
    return { ok: true, webhook };
  }
}

/**
 * The JSON Kit answers with. Quirk: `event.name` drops the `subscriber.`/`purchase.`/
 * `custom_field.` prefix and carries the scope parameter (`{"name":"tag_add","tag_id":7}`); an
 * unscoped event shows `initiator_value: null`, as in Kit's own example (§7A).
 */
export function legacyWebhookJson(w: LegacyWebhook): LegacyWebhookJson {
  const name = w.spec.legacyName.slice(w.spec.legacyName.indexOf('.') + 1);
  const event = w.scopeKey !== undefined ? { name, [w.scopeKey]: w.scopeValue } : { name, initiator_value: null };
  return { id: w.id, account_id: w.accountId, event, target_url: w.targetUrl };
}

/** Whether a webhook's scope admits a change's scope value (compared as text: `7` = `"7"`). */
export function scopeMatches(w: LegacyWebhook, value: string | undefined): boolean {
  if (w.spec.scopeParam === undefined) return true;
  return value !== undefined && String(w.scopeValue) === value;
}

function readScope(spec: LegacyEventSpec, param: ScopeParam, event: Record<string, unknown>): { key: string; value: number | string } | { error: string } {
  let key: string = param;
  let raw = event[param];
  if ((raw === undefined || raw === null) && param === 'sequence_id' && event['course_id'] != null) {
    key = 'course_id';
    raw = event['course_id'];
  }
  if (raw === undefined || raw === null || raw === '') {
    return { error: `\`${param}\` parameter must be provided for the \`${spec.legacyName}\` event` };
  }
  if (param === 'initiator_value') {
    return typeof raw === 'string' ? { key, value: raw } : { error: '`initiator_value` must be a URL' };
  }
  const id = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) return { error: `\`${key}\` must be an integer id` };
  return { key, value: id };
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    // Unparseable: not a URL, which is the answer.
    return false;
  }
}

export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
