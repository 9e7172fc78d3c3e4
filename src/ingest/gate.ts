/**
 * The gate in front of the body: what can be decided from the request line and headers alone is
 * decided before a byte of the body is read, so an unauthenticated client cannot make the relay
 * buffer (or wait for) a body it will refuse.
 *
 * - Legacy routes: the route and its URL token are checked here; a wrong one is refused at once.
 * - Signed endpoints: the endpoint name is checked here; the signature covers the body, so the body
 *   must be read before it can be verified. Those unauthenticated bodies share a byte budget
 *   (`server.unauthenticatedBodyBudgetBytes`): a request that would go past it is answered 503
 *   with Retry-After, before its body is read, and memory stays bounded however many clients upload.
 * - Anything else is a 404 before its body is read.
 *
 * A refusal closes the connection (`Connection: close`): Node would otherwise go on reading the
 * rest of the upload to keep the connection alive.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { secretsMatch } from '../lib/compare.js';
import { LEGACY_MESSAGES } from './handlers.js';
import type { RejectReason } from './outcome.js';
import { LEGACY_PATH_PREFIX, SIGNED_PATH_PREFIX, type RouteTable } from './routes.js';
import { SOURCE_ROUTE_PATTERN, SOURCE_ROUTE_WITH_REST_PATTERN } from './sources.js';

export type Refusal = { readonly reason: RejectReason; readonly message: string };

export interface Gate {
  /** Undefined when the request may go on to its body; else why not. Reserves budget for signed bodies. */
  check(request: FastifyRequest, reply: FastifyReply): Refusal | undefined;
  /** Bytes reserved by signed bodies being read now (for tests and metrics). */
  readonly reservedBytes: () => number;
}

export const LEGACY_ROUTE_PATTERN = `${LEGACY_PATH_PREFIX}/:route/:token`;
export const SIGNED_ROUTE_PATTERN = `${SIGNED_PATH_PREFIX}/:name`;

export function createGate(config: Config, routes: RouteTable): Gate {
  const { bodyLimitBytes, unauthenticatedBodyBudgetBytes } = config.server;
  let reserved = 0;

  /** The bytes a body will hold at most: its declared length, or the body limit when it declares none. */
  const bytesOf = (request: FastifyRequest): number => {
    const declared = Number(request.headers['content-length']);
    return Number.isFinite(declared) && declared >= 0 ? Math.min(declared, bodyLimitBytes) : bodyLimitBytes;
  };

  const checkSigned = (request: FastifyRequest, reply: FastifyReply): Refusal | undefined => {
    const { name } = request.params as { name: string };
    if (!config.kit.signed.endpoints.some((endpoint) => endpoint.name === name)) {
      return { reason: 'unknown_route', message: `No signed endpoint "${name}".` };
    }
    return reserveBody(request, reply);
  };

  /** An integration's source: known route, then (authenticated only once read) a share of the budget. */
  const checkSource = (request: FastifyRequest, reply: FastifyReply): Refusal | undefined => {
    const { destination, source } = request.params as { destination: string; source: string };
    if (!routes.sources.has(`${destination}/${source}`)) return { reason: 'unknown_route', message: `No inbound source "${source}" on destination "${destination}".` };
    return reserveBody(request, reply);
  };

  /** Reserves the body's bytes from the budget of unauthenticated bodies until the response is sent. */
  const reserveBody = (request: FastifyRequest, reply: FastifyReply): Refusal | undefined => {
    const bytes = bytesOf(request);
    if (reserved + bytes > unauthenticatedBodyBudgetBytes) {
      return { reason: 'overloaded', message: 'Too many unauthenticated bodies are being read; retry shortly.' };
    }
    reserved += bytes;
    let isReleased = false;
    // 'close' fires once the response is sent or the connection drops, whichever comes first.
    reply.raw.once('close', () => {
      if (isReleased) return;
      isReleased = true;
      reserved -= bytes;
    });
    return undefined;
  };

  return {
    reservedBytes: () => reserved,
    check(request, reply) {
      switch (request.routeOptions.url) {
        case LEGACY_ROUTE_PATTERN: {
          const params = request.params as { route: string; token: string };
          const route = routes.legacy.get(params.route);
          if (!route) return { reason: 'unknown_route', message: LEGACY_MESSAGES.unknownRoute(params.route) };
          if (!secretsMatch(route.token, params.token)) return { reason: 'bad_token', message: LEGACY_MESSAGES.badToken };
          return undefined;
        }
        case SIGNED_ROUTE_PATTERN:
          return checkSigned(request, reply);
        case SOURCE_ROUTE_PATTERN:
        case SOURCE_ROUTE_WITH_REST_PATTERN:
          return checkSource(request, reply);
        case undefined:
          return { reason: 'unknown_route', message: unknownPathMessage(request) };
        default:
          return undefined; // /healthz, /metrics: no body
      }
    },
  };
}

/** The path without a trailing token-like segment: a mistyped route URL must not echo its token. */
export function unknownPathMessage(request: FastifyRequest): string {
  return `No route ${request.method} ${request.url.replace(/\/[A-Za-z0-9_-]{20,}$/, '/…')}`;
}
