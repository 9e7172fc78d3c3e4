/**
 * JSON:API as the Kajabi simulator writes it (reference/destinations.md §5.3): resource objects,
 * list documents paged with `page[number]`/`page[size]` (default 20, max 100) and their
 * `links{self,first,prev,next,last}` + `meta{total_pages,total_count,current_page}`, sparse
 * fieldsets `fields[type]=a,b`, and the `errors` array (status as a string).
 */
import type { SimAnswer } from '../../simulators/index.js';

export interface Resource {
  readonly type: string;
  readonly id: string;
  readonly attributes: Record<string, unknown>;
  readonly relationships?: Record<string, { data: { type: string; id: string } | Array<{ type: string; id: string }> | null }>;
  readonly links?: Record<string, string>;
}

export const JSON_API = 'application/vnd.api+json';
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface JsonApiError {
  readonly status: string;
  readonly title: string;
  readonly detail: string;
  readonly source: { readonly pointer: string } | null;
}

export function jsonApiError(status: number, title: string, detail: string, pointer?: string): JsonApiError {
  return { status: String(status), title, detail, source: pointer === undefined ? null : { pointer } };
}

export function errorAnswer(status: number, title: string, detail: string, pointer?: string, headers?: Record<string, string>): SimAnswer {
  return { status, headers: { 'content-type': JSON_API, ...headers }, body: { errors: [jsonApiError(status, title, detail, pointer)] } };
}

export function documentAnswer(status: number, body: unknown): SimAnswer {
  return { status, headers: { 'content-type': JSON_API }, body };
}

/** `fields[contacts]=name,email` → { contacts: ['name','email'] }. */
export function sparseFields(query: URLSearchParams): Map<string, ReadonlySet<string>> {
  const out = new Map<string, ReadonlySet<string>>();
  for (const [key, value] of query) {
    const type = /^fields\[([\w-]+)\]$/.exec(key)?.[1];
    if (type) out.set(type, new Set(value.split(',').map((f) => f.trim()).filter((f) => f !== '')));
  }
  return out;
}

/** Keeps only the asked attributes and relationships of a resource whose type was named. */
export function applyFields(resource: Resource, fields: Map<string, ReadonlySet<string>>): Resource {
  const wanted = fields.get(resource.type);
  if (!wanted) return resource;
  const pick = <V>(record: Record<string, V> | undefined) => (record ? Object.fromEntries(Object.entries(record).filter(([k]) => wanted.has(k))) : undefined);
  const relationships = pick(resource.relationships);
  return { type: resource.type, id: resource.id, attributes: pick(resource.attributes) ?? {}, ...(relationships && Object.keys(relationships).length > 0 ? { relationships } : {}), ...(resource.links ? { links: resource.links } : {}) };
}

export type Paging = { readonly number: number; readonly size: number } | { readonly error: SimAnswer };

export function readPaging(query: URLSearchParams): Paging {
  const parse = (name: string, fallback: number): number | undefined => {
    const raw = query.get(`page[${name}]`);
    if (raw === null || raw === '') return fallback;
    const n = Number(raw);
    return /^\d+$/.test(raw.trim()) && n >= 1 ? n : undefined;
  };
  const number = parse('number', 1);
  const size = parse('size', DEFAULT_PAGE_SIZE);
  if (number === undefined) return { error: errorAnswer(400, 'Bad Request', 'page[number] must be a positive integer', undefined) };
  if (size === undefined) return { error: errorAnswer(400, 'Bad Request', 'page[size] must be a positive integer', undefined) };
  // A size above the maximum is clamped, not refused [U: assumed global from contact_notes].
  return { number, size: Math.min(size, MAX_PAGE_SIZE) };
}

/** One page of `all` with links that keep every other query parameter. */
export function listDocument(all: readonly Resource[], paging: { number: number; size: number }, url: URL, fields: Map<string, ReadonlySet<string>>) {
  const totalPages = Math.max(1, Math.ceil(all.length / paging.size));
  const start = (paging.number - 1) * paging.size;
  const link = (n: number) => {
    const u = new URL(url);
    u.searchParams.set('page[number]', String(n));
    u.searchParams.set('page[size]', String(paging.size));
    return u.toString();
  };
  return {
    data: all.slice(start, start + paging.size).map((r) => applyFields(r, fields)),
    links: { self: link(paging.number), first: link(1), prev: paging.number > 1 ? link(Math.min(paging.number - 1, totalPages)) : null, next: paging.number < totalPages ? link(paging.number + 1) : null, last: link(totalPages) },
    meta: { total_pages: totalPages, total_count: all.length, current_page: paging.number },
  };
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export const ref = (type: string, id: string) => ({ type, id });
