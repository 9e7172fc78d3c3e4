/** Request helpers the Kajabi simulator's routes share: the full URL, list and single answers. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { send } from '../../simulators/index.js';
import { documentAnswer, errorAnswer, listDocument, readPaging, sparseFields, applyFields, type Resource } from './simulator-jsonapi.js';

export function urlOf(request: FastifyRequest): URL {
  return new URL(request.url, `http://${request.headers.host ?? '127.0.0.1'}`);
}

export function filterOf(request: FastifyRequest, name: string): string | undefined {
  const value = urlOf(request).searchParams.get(`filter[${name}]`);
  return value === null || value === '' ? undefined : value;
}

/** A paged list document, with sparse fieldsets applied. */
export function sendList(request: FastifyRequest, reply: FastifyReply, all: readonly Resource[]): FastifyReply {
  const url = urlOf(request);
  const paging = readPaging(url.searchParams);
  if ('error' in paging) return send(reply, paging.error);
  return send(reply, documentAnswer(200, listDocument(all, paging, url, sparseFields(url.searchParams))));
}

export function sendOne(request: FastifyRequest, reply: FastifyReply, resource: Resource | undefined, status = 200): FastifyReply {
  if (!resource) return sendNotFound(reply);
  return send(reply, documentAnswer(status, { data: applyFields(resource, sparseFields(urlOf(request).searchParams)) }));
}

export function sendNotFound(reply: FastifyReply): FastifyReply {
  return send(reply, errorAnswer(404, 'Not Found', 'The requested resource could not be found'));
}

/** `data` of a JSON:API request body, if it is an object. */
export function dataOf(body: unknown): Record<string, unknown> | undefined {
  const data = body !== null && typeof body === 'object' ? (body as { data?: unknown }).data : undefined;
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
}

export function recordOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The `{type,id}` identifiers of `data` as an array (`relationships/offers` bodies). */
export function identifiersOf(body: unknown, type: string): string[] | undefined {
  const data = body !== null && typeof body === 'object' ? (body as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) return undefined;
  const ids: string[] = [];
  for (const item of data) {
    const r = recordOf(item);
    if (r.type !== type || (typeof r.id !== 'string' && typeof r.id !== 'number')) return undefined;
    ids.push(String(r.id));
  }
  return ids;
}

/** The id in `relationships.<name>.data.id`. */
export function relationshipId(data: Record<string, unknown>, name: string): string | undefined {
  const id = recordOf(recordOf(recordOf(data.relationships)[name]).data).id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
}

export function sinceFilter(value: string | undefined): number | undefined | 'bad' {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? 'bad' : ms;
}
