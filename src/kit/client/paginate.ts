/**
 * Kit's cursor pagination (reference/kit.md §3) as an async iterator of pages. Each page carries
 * the cursor to resume from once it has been processed, so a long sync saves it in its checkpoint
 * and a restarted run passes it back as `after`: no item is missed or read twice.
 */
import type { QueryValue, Transport } from './transport.js';
import { KitUnexpectedResponseError } from './errors/unexpected-response-error.js';
import type { KitPagination } from './types.js';

/** Kit's maximum (reference/kit.md §3). */
export const MAX_PER_PAGE = 1000;

export interface Page<T> {
  readonly items: readonly T[];
  readonly pagination: KitPagination;
  /**
   * Where to resume after this page: its `end_cursor`, or the cursor it was read from when Kit gave
   * none (an empty last page), so resuming never restarts from the top. Null only before any cursor.
   */
  readonly cursor: string | null;
}

export interface PageOptions {
  /** 1..1000. @default 500 (Kit's default, sent explicitly) */
  readonly perPage?: number;
  /** Resume after this cursor (a saved `Page.cursor`). */
  readonly after?: string | null;
  /** Ask for `total_count` on the first page only (it is slow, reference/kit.md §3). @default false */
  readonly includeTotalCount?: boolean;
}

export async function* paginate<T>(
  transport: Transport,
  path: string,
  itemsKey: string,
  query: Readonly<Record<string, QueryValue>> = {},
  options: PageOptions = {},
): AsyncGenerator<Page<T>, void, undefined> {
  const perPage = options.perPage ?? 500;
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) {
    throw new RangeError(`perPage must be an integer from 1 to ${MAX_PER_PAGE}, got ${perPage}`);
  }
  let after = options.after ?? null;
  let isFirst = true;
  for (;;) {
    const response = await transport.request({
      method: 'GET',
      path,
      query: {
        ...query,
        per_page: perPage,
        after: after ?? undefined,
        include_total_count: isFirst && options.includeTotalCount ? true : undefined,
      },
      isIdempotent: true,
    });
    const page = readPage<T>(response.body, itemsKey, `GET ${path}`);
    const cursor = page.pagination.end_cursor ?? after;
    yield { items: page.items, pagination: page.pagination, cursor };
    if (!page.pagination.has_next_page) return;
    if (page.pagination.end_cursor === null || page.pagination.end_cursor === after) {
      // Following it would read the same page forever.
      throw new KitUnexpectedResponseError('said there is a next page but gave no new end_cursor', { request: `GET ${path}` });
    }
    after = page.pagination.end_cursor;
    isFirst = false;
  }
}

/** Every item of every page, for callers that do not checkpoint. */
export async function* eachItem<T>(pages: AsyncIterable<Page<T>>): AsyncGenerator<T, void, undefined> {
  for await (const page of pages) yield* page.items;
}

/** All items in one array: for lists that are small by nature (tags, forms, custom fields). */
export async function collectItems<T>(pages: AsyncIterable<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for await (const page of pages) items.push(...page.items);
  return items;
}

function readPage<T>(body: unknown, itemsKey: string, described: string): { items: T[]; pagination: KitPagination } {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const items = record[itemsKey];
  const pagination = record.pagination;
  if (!Array.isArray(items)) {
    throw new KitUnexpectedResponseError(`answered a page without a \`${itemsKey}\` array`, { request: described });
  }
  if (typeof pagination !== 'object' || pagination === null) {
    throw new KitUnexpectedResponseError('answered a page without `pagination`', { request: described });
  }
  const p = pagination as Record<string, unknown>;
  return {
    items: items as T[],
    pagination: {
      has_previous_page: p.has_previous_page === true,
      has_next_page: p.has_next_page === true,
      start_cursor: typeof p.start_cursor === 'string' ? p.start_cursor : null,
      end_cursor: typeof p.end_cursor === 'string' ? p.end_cursor : null,
      per_page: typeof p.per_page === 'number' ? p.per_page : items.length,
      ...(typeof p.total_count === 'number' ? { total_count: p.total_count } : {}),
    },
  };
}
