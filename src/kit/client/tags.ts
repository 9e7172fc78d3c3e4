/**
 * Tags and tagging (reference/kit.md §5 Tags). Creating a tag and tagging are idempotent in Kit
 * (200 when the tag or the tagging already exists), so they are resent after a lost answer;
 * untagging is a DELETE, resent too (a resend after a success answers 404, thrown as not found).
 */
import { paginate, collectItems, type Page, type PageOptions } from './paginate.js';
import { isoDate, pick, seg } from './response.js';
import type { Transport } from './transport.js';
import type { KitSubscriber, KitTag } from './types.js';
import type { SubscriberStatusFilter } from './subscribers.js';

export interface ListTagSubscribersOptions extends PageOptions {
  /** @default 'active' */
  readonly status?: SubscriberStatusFilter;
  readonly createdAfter?: Date | string;
  readonly createdBefore?: Date | string;
  readonly taggedAfter?: Date | string;
  readonly taggedBefore?: Date | string;
}

export interface TagEndpoints {
  listTags(): Promise<KitTag[]>;
  /** 201 created, 200 a tag of that name (any case) already existed. */
  createTag(name: string): Promise<{ readonly tag: KitTag; readonly isNew: boolean }>;
  listTagSubscribers(tagId: number, options?: ListTagSubscribersOptions): AsyncGenerator<Page<KitSubscriber>, void, undefined>;
  /** 201 tagged, 200 already tagged. */
  tagSubscriber(tagId: number, subscriberId: number): Promise<{ readonly subscriber: KitSubscriber; readonly isNew: boolean }>;
  /** The subscriber must exist (404 otherwise). */
  tagSubscriberByEmail(tagId: number, email: string): Promise<{ readonly subscriber: KitSubscriber; readonly isNew: boolean }>;
  untagSubscriber(tagId: number, subscriberId: number): Promise<void>;
  untagSubscriberByEmail(tagId: number, email: string): Promise<void>;
}

export function tagEndpoints(t: Transport): TagEndpoints {
  async function tag(path: string, body: Record<string, unknown>): Promise<{ subscriber: KitSubscriber; isNew: boolean }> {
    const response = await t.request({ method: 'POST', path, body, isIdempotent: true });
    return { subscriber: pick<KitSubscriber>(response, 'subscriber', `POST ${path}`), isNew: response.status === 201 };
  }

  return {
    listTags: () => collectItems(paginate<KitTag>(t, '/v4/tags', 'tags', {}, { perPage: 1000 })),

    async createTag(name) {
      const response = await t.request({ method: 'POST', path: '/v4/tags', body: { name }, isIdempotent: true });
      return { tag: pick<KitTag>(response, 'tag', 'POST /v4/tags'), isNew: response.status === 201 };
    },

    listTagSubscribers: (tagId, options = {}) =>
      paginate<KitSubscriber>(
        t,
        `/v4/tags/${seg(tagId)}/subscribers`,
        'subscribers',
        {
          status: options.status ?? 'active',
          created_after: isoDate(options.createdAfter),
          created_before: isoDate(options.createdBefore),
          tagged_after: isoDate(options.taggedAfter),
          tagged_before: isoDate(options.taggedBefore),
        },
        options,
      ),

    tagSubscriber: (tagId, subscriberId) => tag(`/v4/tags/${seg(tagId)}/subscribers/${seg(subscriberId)}`, {}),

    tagSubscriberByEmail: (tagId, email) => tag(`/v4/tags/${seg(tagId)}/subscribers`, { email_address: email }),

    async untagSubscriber(tagId, subscriberId) {
      await t.request({ method: 'DELETE', path: `/v4/tags/${seg(tagId)}/subscribers/${seg(subscriberId)}`, isIdempotent: true });
    },

    async untagSubscriberByEmail(tagId, email) {
      // Where Kit reads the email is [UNC] (reference/kit.md §5 Tags: form body in S1, query in S2
      // prose, JSON body in Kit's PHP client): it goes in the query and the JSON body both.
      await t.request({
        method: 'DELETE',
        path: `/v4/tags/${seg(tagId)}/subscribers`,
        query: { email_address: email },
        body: { email_address: email },
        isIdempotent: true,
      });
    },
  };
}
