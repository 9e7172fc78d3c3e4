/** Subscribers (reference/kit.md §5 Subscribers). */
import { paginate, type Page, type PageOptions } from './paginate.js';
import { isoDate, pick, seg } from './response.js';
import type { Transport } from './transport.js';
import type { KitSubscriber, KitTag, SubscriberState } from './types.js';

export type SubscriberStatusFilter = SubscriberState | 'all';

export interface ListSubscribersOptions extends PageOptions {
  /** @default 'active' (Kit's default, sent explicitly) */
  readonly status?: SubscriberStatusFilter;
  /** Exact match. */
  readonly emailAddress?: string;
  readonly createdAfter?: Date | string;
  readonly createdBefore?: Date | string;
  readonly updatedAfter?: Date | string;
  readonly updatedBefore?: Date | string;
  /** `id` (Kit's default), `created_at`, `updated_at`, … */
  readonly sortField?: string;
  readonly sortOrder?: 'asc' | 'desc';
  /** Extras per subscriber (S2): `tags`, `attribution`, `location`, `canceled_at`. */
  readonly include?: readonly string[];
  /** Omit `fields`. */
  readonly slim?: boolean;
}

export interface CreateSubscriberInput {
  readonly email: string;
  readonly firstName?: string;
  /** Only on creation: Kit ignores state changes of an existing subscriber. @default Kit's 'active' */
  readonly state?: SubscriberState;
  /** Keyed by custom-field key. */
  readonly fields?: Readonly<Record<string, string | null>>;
}

export interface UpdateSubscriberInput {
  readonly email?: string;
  readonly firstName?: string | null;
  readonly fields?: Readonly<Record<string, string | null>>;
}

export interface SubscriberUpsert {
  readonly subscriber: KitSubscriber;
  /** 201: created; false on 200 (already there: only `first_name` was updated) and 202. */
  readonly isNew: boolean;
  /** 202: more than 10 fields, written by Kit in the background. */
  readonly isAsync: boolean;
  /** Kit's warnings, e.g. for unknown field keys. */
  readonly warnings: readonly string[];
}

export interface SubscriberEndpoints {
  listSubscribers(options?: ListSubscribersOptions): AsyncGenerator<Page<KitSubscriber>, void, undefined>;
  /** Undefined when Kit has no such subscriber (404). Strongly consistent. */
  getSubscriber(id: number): Promise<KitSubscriber | undefined>;
  /**
   * Looks the email up in the list endpoint (every status). List endpoints lag writes by up to
   * minutes (reference/kit.md §9.4): a subscriber created a moment ago may not be found yet.
   */
  findSubscriberByEmail(email: string): Promise<KitSubscriber | undefined>;
  createSubscriber(input: CreateSubscriberInput): Promise<SubscriberUpsert>;
  updateSubscriber(id: number, input: UpdateSubscriberInput): Promise<KitSubscriber>;
  /** State → `cancelled`; tags and history stay. */
  unsubscribe(id: number): Promise<void>;
  listSubscriberTags(id: number): Promise<KitTag[]>;
}

export function subscriberEndpoints(t: Transport): SubscriberEndpoints {
  return {
    listSubscribers: (options = {}) =>
      paginate<KitSubscriber>(
        t,
        '/v4/subscribers',
        'subscribers',
        {
          status: options.status ?? 'active',
          email_address: options.emailAddress,
          created_after: isoDate(options.createdAfter),
          created_before: isoDate(options.createdBefore),
          updated_after: isoDate(options.updatedAfter),
          updated_before: isoDate(options.updatedBefore),
          sort_field: options.sortField,
          sort_order: options.sortOrder,
          include: options.include,
          slim: options.slim,
        },
        options,
      ),

    async getSubscriber(id) {
      const path = `/v4/subscribers/${seg(id)}`;
      const response = await t.request({ method: 'GET', path, isIdempotent: true, acceptStatuses: [404] });
      return response.status === 404 ? undefined : pick<KitSubscriber>(response, 'subscriber', `GET ${path}`);
    },

    async findSubscriberByEmail(email) {
      const wanted = email.trim().toLowerCase();
      const pages = paginate<KitSubscriber>(t, '/v4/subscribers', 'subscribers', { status: 'all', email_address: wanted }, { perPage: 10 });
      for await (const page of pages) {
        const found = page.items.find((s) => s.email_address.toLowerCase() === wanted);
        if (found) return found;
      }
      return undefined;
    },

    async createSubscriber(input) {
      // Idempotent: Kit upserts by email (201 new, 200 existing), so a resend after a lost answer
      // cannot make a duplicate.
      const response = await t.request({
        method: 'POST',
        path: '/v4/subscribers',
        body: { email_address: input.email, first_name: input.firstName, state: input.state, fields: input.fields },
        isIdempotent: true,
      });
      const body = response.body as { warnings?: unknown };
      return {
        subscriber: pick<KitSubscriber>(response, 'subscriber', 'POST /v4/subscribers'),
        isNew: response.status === 201,
        isAsync: response.status === 202,
        warnings: Array.isArray(body.warnings) ? body.warnings.filter((w): w is string => typeof w === 'string') : [],
      };
    },

    async updateSubscriber(id, input) {
      const path = `/v4/subscribers/${seg(id)}`;
      const response = await t.request({
        method: 'PUT',
        path,
        body: { email_address: input.email, first_name: input.firstName, fields: input.fields },
        isIdempotent: true,
      });
      return pick<KitSubscriber>(response, 'subscriber', `PUT ${path}`);
    },

    async unsubscribe(id) {
      // Idempotent: unsubscribing a cancelled subscriber leaves it cancelled.
      await t.request({ method: 'POST', path: `/v4/subscribers/${seg(id)}/unsubscribe`, body: {}, isIdempotent: true });
    },

    async listSubscriberTags(id) {
      const tags: KitTag[] = [];
      for await (const page of paginate<KitTag>(t, `/v4/subscribers/${seg(id)}/tags`, 'tags', {}, { perPage: 1000 })) tags.push(...page.items);
      return tags;
    },
  };
}
