/** Reading Kit's success envelopes (`{"subscriber":{…}}`) without trusting them blindly. */
import { KitUnexpectedResponseError } from './errors/unexpected-response-error.js';
import type { KitResponse } from './transport.js';

/** `body[key]`, which must be an object (or an array when `isArray`). */
export function pick<T>(response: KitResponse, key: string, described: string, isArray = false): T {
  const body = response.body;
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
  const isOk = isArray ? Array.isArray(value) : typeof value === 'object' && value !== null;
  if (!isOk) {
    throw new KitUnexpectedResponseError(`answered ${response.status} without \`${key}\``, { request: described, status: response.status });
  }
  return value as T;
}

/** A path segment from an id: numbers pass, anything else is percent-encoded. */
export function seg(id: number | string): string {
  return encodeURIComponent(String(id));
}

/** A date filter as Kit reads it: ISO-8601 (reference/kit.md §5 accepts both dates and datetimes). */
export function isoDate(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.toISOString();
}
