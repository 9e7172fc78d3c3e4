/**
 * HTTP helpers the simulators share: answers given as data, the body parser that keeps the raw
 * bytes, and the path of a URL.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';

/** An answer a simulator gives in its own words: a status fault's default body, its 429. */
export interface SimAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or Buffer is sent as is (text/plain unless headers say otherwise); undefined sends nothing; anything else JSON. */
  readonly body?: unknown;
}

/** The path of a request URL, without the query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Sends an answer given as data. */
export function send(reply: FastifyReply, answer: SimAnswer): FastifyReply {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers ?? {})) headers[name.toLowerCase()] = value;
  void reply.code(answer.status);
  const { body } = answer;
  if (body === undefined) return reply.headers(headers).send();
  if (typeof body === 'string' || Buffer.isBuffer(body)) return reply.headers({ 'content-type': 'text/plain; charset=utf-8', ...headers }).send(body);
  return reply.headers({ 'content-type': 'application/json; charset=utf-8', ...headers }).send(JSON.stringify(body));
}

export function defaultStatusAnswer(status: number): SimAnswer {
  return { status, body: { error: STATUS_CODES[status] ?? 'Error' } };
}

export function defaultRateLimited(retryAfter: number | false | undefined): SimAnswer {
  return { status: 429, headers: typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined, body: { error: 'Too Many Requests' } };
}

/** Half of a serialised answer: JSON that stops mid-value. */
export function truncate(payload: unknown): unknown {
  if (typeof payload === 'string') return payload.slice(0, Math.floor(payload.length / 2));
  if (Buffer.isBuffer(payload)) return payload.subarray(0, Math.floor(payload.length / 2));
  return payload;
}

/**
 * One parser for every content type, keeping the bytes: JSON (an empty body is no body), form
 * bodies, anything else as text.
 */
export function registerBodyParser(app: FastifyInstance, rawBodies: WeakMap<FastifyRequest, Buffer>, isInvalidJsonRejected: boolean): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, bytes: Buffer, done) => {
    rawBodies.set(request, bytes);
    const text = bytes.toString('utf8');
    const type = String(request.headers['content-type'] ?? '').toLowerCase();
    if (/^application\/([\w.-]+\+)?json\b/.test(type)) {
      if (text.trim() === '') return done(null, undefined);
      try {
        return done(null, JSON.parse(text));
      } catch {
        if (!isInvalidJsonRejected) return done(null, undefined);
        return done(Object.assign(new Error('The request body is not valid JSON'), { statusCode: 400 }), undefined);
      }
    }
    if (type.startsWith('application/x-www-form-urlencoded')) return done(null, parseForm(text));
    done(null, text === '' ? undefined : text);
  });
}

/** `a=1&a=2` becomes `{ a: ['1', '2'] }`. */
function parseForm(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = out[key];
    out[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}
