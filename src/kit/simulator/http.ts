/**
 * Small helpers the route files share: Kit's error body, reading ids, strings, booleans and dates
 * from params, query and body, and the context routes receive.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { firstString } from './pagination.js';
import type { SimState } from './state.js';

export const NOT_FOUND = 'Not Found';

/** What every route file gets. */
export interface RouteContext {
  readonly state: SimState;
  /** Runs work after the answer (bulk jobs over 100 items); `close()` waits for it. */
  readonly background: (task: () => Promise<void>) => void;
}

/** Kit's error body: `{"errors":[…]}` (reference/kit.md §6). */
export function sendErrors(reply: FastifyReply, status: number, ...messages: string[]): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ errors: messages });
}

export function sendNoContent(reply: FastifyReply): FastifyReply {
  return reply.code(204).send();
}

/** The body as an object (JSON or form); `{}` when absent or not an object. */
export function bodyOf(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body) && !Buffer.isBuffer(body) ? (body as Record<string, unknown>) : {};
}

export function queryOf(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

/** A string, a number as a string, or undefined. */
export function text(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return firstString(value);
}

/** A positive integer id from a path param or body value. */
export function idOf(value: unknown): number | undefined {
  const raw = text(value);
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  const id = Number(raw);
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

export function param(request: FastifyRequest, name: string): number | undefined {
  return idOf((request.params as Record<string, unknown>)[name]);
}

export function isTrue(value: unknown): boolean {
  return text(value) === 'true';
}

/** `yyyy-mm-dd` (UTC midnight) or an ISO date-time; Kit documents the first and its examples use the second. */
export function parseTime(value: unknown): number | undefined | 'invalid' {
  const raw = text(value)?.trim();
  if (raw === undefined || raw === '') return undefined;
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(raw) ? `${raw}T00:00:00Z` : raw);
  return Number.isNaN(ms) ? 'invalid' : ms;
}

/** `<prefix>_after` / `<prefix>_before` as an inclusive-from, exclusive-to window, or the bad parameter. */
export function timeWindow(query: Record<string, unknown>, prefix: string): { from?: number; to?: number } | { invalid: string } {
  const from = parseTime(query[`${prefix}_after`]);
  if (from === 'invalid') return { invalid: `${prefix}_after` };
  const to = parseTime(query[`${prefix}_before`]);
  if (to === 'invalid') return { invalid: `${prefix}_before` };
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

/** Kit's wording for an unparseable date filter is [UNC]. */
export const invalidDate = (name: string): string => `${name} is not a valid date`;
