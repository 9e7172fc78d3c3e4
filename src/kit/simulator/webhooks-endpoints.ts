/**
 * Webhooks 2.0 endpoints (`/v4/webhook_endpoints`, reference/kit.md §7B): one URL subscribed to
 * many event types, each with a signing secret that rotates with a 24-hour overlap.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { SIGNED_EVENT_TYPES } from '../events.js';
import { asObject, isHttpUrl } from './webhooks-legacy.js';
import { isoSeconds } from './model.js';

export type EndpointStatus = 'active' | 'disabled';

export interface WebhookEndpoint {
  readonly id: number;
  readonly name: string | null;
  readonly url: string;
  readonly description: string | null;
  /** Canonical (2.0) type names, as subscribed. */
  readonly events: readonly string[];
  readonly status: EndpointStatus;
  readonly createdAt: number;
  readonly secret: string;
  /** The secret before the last rotation; still signs until `previousSecretExpiresAt`. */
  readonly previousSecret: string | null;
  readonly previousSecretExpiresAt: number | null;
}

type MutableEndpoint = { -readonly [K in keyof WebhookEndpoint]: WebhookEndpoint[K] };

export type EndpointOutcome =
  | { readonly ok: true; readonly endpoint: WebhookEndpoint }
  | { readonly ok: false; readonly status: 404 | 409 | 422; readonly errors: string[] };

/**
 * The types the simulator emits (every `KitChange` type Kit's 2.0 list names). Kit answers 422 for
 * types it lists as planned; which ones are live is [UNC §7B] (W-types marks the first 8
 * subscriber types "Available"), so this is an option.
 */
export const EMITTED_EVENT_TYPES: readonly string[] = [
  'subscriber.created', 'subscriber.activated', 'subscriber.unsubscribed', 'subscriber.bounced',
  'subscriber.complained', 'subscriber.subscribed_to_form', 'subscriber.added_to_sequence',
  'subscriber.sequence_completed', 'subscriber.tag_added', 'subscriber.tag_removed',
  'subscriber.product_purchased', 'subscriber.link_clicked', 'subscriber.custom_field_value_updated',
  'custom_field.created', 'custom_field.deleted',
];

export const ROTATION_WINDOW_CONFLICT = 'The previous signing secret is still within its rotation window.';

export interface EndpointRegistryOptions {
  readonly availableEventTypes: readonly string[];
  /** Kit rejects private and loopback URLs; the simulator delivers to loopback, so this is off by default. */
  readonly isPrivateUrlRejected: boolean;
  readonly rotationWindowMs: number;
  readonly generateSecret: () => string;
}

export function randomSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export class WebhookEndpoints {
  readonly #byId = new Map<number, MutableEndpoint>();
  #nextId = 1;

  constructor(private readonly options: EndpointRegistryOptions) {}

  list(): WebhookEndpoint[] {
    return [...this.#byId.values()];
  }

  get(id: number): WebhookEndpoint | undefined {
    return this.#byId.get(id);
  }

  delete(id: number): boolean {
    return this.#byId.delete(id);
  }

  /** The secrets that sign a delivery now: the current one, then the previous one inside its window. */
  signingSecrets(endpoint: WebhookEndpoint, now: number): string[] {
    const previous = endpoint.previousSecret !== null && (endpoint.previousSecretExpiresAt ?? 0) > now ? [endpoint.previousSecret] : [];
    return [endpoint.secret, ...previous];
  }

  create(body: unknown, now: number): EndpointOutcome {
    const input = asObject(body) ?? {};
    const fields = this.#readFields(input, true);
    if ('errors' in fields) return { ok: false, status: 422, errors: fields.errors };
    const endpoint: MutableEndpoint = {
      id: this.#nextId++,
      name: fields.name ?? null,
      url: fields.url ?? '',
      description: fields.description ?? null,
      events: fields.events ?? [],
      status: fields.status ?? 'active',
      createdAt: now,
      secret: this.options.generateSecret(),
      previousSecret: null,
      previousSecretExpiresAt: null,
    };
    this.#byId.set(endpoint.id, endpoint);
    return { ok: true, endpoint };
  }

  /** PATCH: each given field replaces the stored one (`events` replaces the whole list). */
  update(id: number, body: unknown): EndpointOutcome {
    const endpoint = this.#byId.get(id);
    if (!endpoint) return { ok: false, status: 404, errors: ['Not Found'] };
    const fields = this.#readFields(asObject(body) ?? {}, false);
    if ('errors' in fields) return { ok: false, status: 422, errors: fields.errors };
    Object.assign(endpoint, fields);
    return { ok: true, endpoint };
  }

  rotateSecret(id: number, isForced: boolean, now: number): EndpointOutcome {
    const endpoint = this.#byId.get(id);
    if (!endpoint) return { ok: false, status: 404, errors: ['Not Found'] };
    const isInWindow = endpoint.previousSecret !== null && (endpoint.previousSecretExpiresAt ?? 0) > now;
    if (isInWindow && !isForced) return { ok: false, status: 409, errors: [ROTATION_WINDOW_CONFLICT] };
    endpoint.previousSecret = endpoint.secret;
    endpoint.previousSecretExpiresAt = now + this.options.rotationWindowMs;
    endpoint.secret = this.options.generateSecret();
    return { ok: true, endpoint };
  }

  revokePreviousSecret(id: number): EndpointOutcome {
    const endpoint = this.#byId.get(id);
    if (!endpoint) return { ok: false, status: 404, errors: ['Not Found'] };
    endpoint.previousSecret = null;
    endpoint.previousSecretExpiresAt = null;
    return { ok: true, endpoint };
  }

  /** Checks the writable fields present in `input`; `isCreate` makes `url` and `events` required. */
  #readFields(input: Record<string, unknown>, isCreate: boolean): Partial<MutableEndpoint> | { errors: string[] } {
    const errors: string[] = [];
    const out: Partial<MutableEndpoint> = {};
    const { url, events, name, description, status } = input;
    if (url !== undefined || isCreate) {
      const problem = this.#urlProblem(url);
      if (problem) errors.push(problem);
      else out.url = url as string;
    }
    if (events !== undefined || isCreate) {
      const checked = this.#checkEvents(events);
      if ('error' in checked) errors.push(checked.error);
      else out.events = checked.events;
    }
    for (const [key, value] of [['name', name], ['description', description]] as const) {
      if (value === undefined) continue;
      if (value === null || typeof value === 'string') out[key] = value;
      else errors.push(`${key === 'name' ? 'Name' : 'Description'} must be a string`);
    }
    if (status !== undefined) {
      if (status === 'active' || status === 'disabled') out.status = status;
      else errors.push('Status must be one of: active, disabled');
    }
    return errors.length > 0 ? { errors } : out;
  }

  #urlProblem(url: unknown): string | undefined {
    if (typeof url !== 'string' || url === '') return "Url can't be blank";
    if (!isHttpUrl(url)) return 'Url must be a valid HTTP(S) URL';
    if (this.options.isPrivateUrlRejected && isPrivateHost(new URL(url).hostname)) return 'Url must be a public HTTP(S) URL';
    return undefined;
  }

  #checkEvents(events: unknown): { events: string[] } | { error: string } {
    if (!Array.isArray(events) || events.length === 0) return { error: "Events can't be blank" };
    const out: string[] = [];
    for (const type of events) {
      if (typeof type !== 'string') return { error: 'Events must be a list of event type names' };
      if (!this.options.availableEventTypes.includes(type)) {
        const isPlanned = SIGNED_EVENT_TYPES.includes(type);
        return { error: isPlanned ? `Event type \`${type}\` is not available yet` : `Unknown event type \`${type}\`` };
      }
      if (!out.includes(type)) out.push(type);
    }
    return { events: out };
  }
}

/** Kit's answer for one endpoint; `secret` only on create and rotate (§7B). */
export function endpointJson(e: WebhookEndpoint, now: number, options: { readonly withSecret?: boolean } = {}): Record<string, unknown> {
  const expiresAt = e.previousSecret !== null && e.previousSecretExpiresAt !== null && e.previousSecretExpiresAt > now ? e.previousSecretExpiresAt : null;
  return {
    id: e.id,
    name: e.name,
    url: e.url,
    events: [...e.events],
    status: e.status,
    source: 'creator',
    description: e.description,
    created_by_app: null,
    created_at: isoSeconds(e.createdAt),
    previous_secret_expires_at: expiresAt === null ? null : isoSeconds(expiresAt),
    ...(options.withSecret ? { secret: e.secret } : {}),
  };
}

/** Loopback, private, link-local and unspecified addresses, and `localhost`. No DNS lookups. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (isIP(host) === 6) {
    return host === '::' || host === '::1' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host) || host.startsWith('::ffff:');
  }
  return false;
}
