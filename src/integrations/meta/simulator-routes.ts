/**
 * The Meta simulator's Graph routes (reference/destinations.md §2): one catch-all that reads the
 * path as Graph does (`/<version>/<node>/<edge>`, any `vNN.N` or none) and answers
 *
 * - `GET /act_<id>`, `GET|POST /act_<id>/customaudiences` (create, list with cursor paging);
 * - `GET|POST|DELETE /<audience id>` (read fields, rename, delete);
 * - `POST|DELETE /<audience id>/users`, `POST /<audience id>/usersreplace`;
 * - `GET /<audience id>/sessions`.
 *
 * Authentication, usage headers and throttling happen before, in the simulator's guard. A `method`
 * parameter overrides the HTTP method, as Graph allows for clients that can only GET or POST.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pathOf, send } from '../../simulators/index.js';
import { errorAnswer, errors, failure, fieldList, jsonParam, ok, parseGraphPath, readParams, textParam, type GraphOutcome, type GraphPath, type Params } from './simulator-graph.js';
import { parsePayload, parseSession } from './simulator-payload.js';
import { CUSTOMER_FILE_SOURCES, type CustomerFileSource, type MetaAudience, type MetaState } from './simulator-state.js';
import { audienceJson, sessionJson } from './simulator-views.js';

/** [U] Graph's page sizes vary by edge; 25 is its usual default. */
const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 500;
const METHODS = new Set(['GET', 'POST', 'DELETE']);

export interface RouteDeps {
  readonly state: MetaState;
  readonly countFloor: number;
}

type Json = Record<string, unknown>;

interface Call {
  readonly request: FastifyRequest;
  readonly method: string;
  readonly path: GraphPath;
  readonly params: Params;
}

export function registerGraphRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { state } = deps;
  const reply = (r: FastifyReply, outcome: GraphOutcome<unknown>) =>
    outcome.kind === 'ok' ? send(r, { status: 200, body: outcome.value }) : send(r, errorAnswer(outcome.error, state.traceId()));

  app.route({
    method: ['GET', 'POST', 'DELETE'],
    url: '/*',
    handler: (request, r) => {
      const params = readParams(request);
      const path = parseGraphPath(pathOf(request.url));
      if ('unknown' in path) return reply(r, failure(errors.unknownPath(path.unknown)));
      const override = textParam(params, 'method')?.toUpperCase();
      const method = override !== undefined && METHODS.has(override) ? override : request.method;
      return reply(r, dispatch({ request, method, path, params }, deps));
    },
  });

  app.setNotFoundHandler((request, r) => reply(r, failure(errors.unsupported(request.method, pathOf(request.url)))));
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, r) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    // A 500 here is a simulator bug: answered in Graph's words, with the cause alongside.
    if (status >= 500) return send(r, { status, body: { ...(errorAnswer(errors.unknown(status), state.traceId()).body as Json), cause: error.message } });
    return reply(r, failure({ ...errors.invalidParameter(error.message), status }));
  });
}

function dispatch(call: Call, deps: RouteDeps): GraphOutcome<unknown> {
  const { state } = deps;
  const { method, path } = call;
  if (path.node === state.adAccountId) {
    if (path.edge === undefined && method === 'GET') return ok({ id: state.adAccountId, account_id: state.accountId });
    if (path.edge === 'customaudiences' && method === 'POST') return createAudience(call, state);
    if (path.edge === 'customaudiences' && method === 'GET') return page(call, state.liveAudiences(), (a) => a.id, (a) => audienceJson(a, state, deps.countFloor, fieldList(call.params)));
    return path.edge === undefined || path.edge === 'customaudiences' ? failure(errors.unsupported(method, path.node)) : failure(errors.unknownPath(`/${path.edge}`));
  }
  const audience = state.audience(path.node);
  if (!audience) return failure(errors.unsupported(method, path.node));
  switch (`${method} ${path.edge ?? ''}`) {
    case 'GET ':
      return audienceJson(audience, state, deps.countFloor, fieldList(call.params));
    case 'POST ':
      return updateAudience(audience, call.params, state);
    case 'DELETE ':
      audience.isDeleted = true;
      return ok({ success: true });
    case 'POST users':
    case 'DELETE users':
    case 'POST usersreplace':
      return writeUsers(audience, call, state);
    case 'GET sessions':
      return page(call, [...audience.sessions].reverse(), (s) => s.id, (s) => sessionJson(s, fieldList(call.params)));
    default:
      return ['users', 'usersreplace', 'sessions'].includes(path.edge ?? '') ? failure(errors.unsupported(method, path.node)) : failure(errors.unknownPath(`/${path.edge}`));
  }
}

/** §2.1: name, `subtype: CUSTOM`, `customer_file_source` (required for customer files [U]), description. */
function createAudience(call: Call, state: MetaState): GraphOutcome<Json> {
  const { params } = call;
  const name = textParam(params, 'name');
  if (name === undefined) return failure(errors.invalidParameter('The parameter name is required'));
  const subtype = textParam(params, 'subtype') ?? 'CUSTOM';
  if (subtype !== 'CUSTOM') return failure(errors.invalidParameter(`Param subtype must be CUSTOM: only customer-file audiences are simulated, not ${subtype}`));
  const source = textParam(params, 'customer_file_source');
  if (source === undefined) return failure(errors.invalidParameter('The parameter customer_file_source is required'));
  if (!CUSTOMER_FILE_SOURCES.includes(source as CustomerFileSource)) return failure(errors.invalidParameter(`Param customer_file_source must be one of {${CUSTOMER_FILE_SOURCES.join(', ')}}`));
  const audience = state.createAudience({ name, description: textParam(params, 'description'), customerFileSource: source as CustomerFileSource });
  return ok({ id: audience.id });
}

function updateAudience(audience: MetaAudience, params: Params, state: MetaState): GraphOutcome<Json> {
  const name = textParam(params, 'name');
  const description = params.description;
  if (name !== undefined) audience.name = name;
  if (typeof description === 'string') audience.description = description;
  audience.updatedAt = state.now();
  return ok({ success: true });
}

function writeUsers(audience: MetaAudience, call: Call, state: MetaState): GraphOutcome<unknown> {
  const isReplace = call.path.edge === 'usersreplace';
  const payloadParam = jsonParam(call.params, 'payload');
  if (payloadParam.kind === 'error') return payloadParam;
  const sessionParam = jsonParam(call.params, 'session');
  if (sessionParam.kind === 'error') return sessionParam;
  const payload = parsePayload(payloadParam.value);
  if (payload.kind === 'error') return payload;
  const session = parseSession(sessionParam.value, isReplace);
  if (session.kind === 'error') return session;
  if (isReplace) return state.replaceBatch(audience, payload.value, session.value as NonNullable<typeof session.value>);
  return call.method === 'DELETE' ? state.removeUsers(audience, payload.value, session.value) : state.addUsers(audience, payload.value, session.value);
}

/**
 * Cursor paging as Graph does it: `data`, `paging.cursors.{before,after}` (opaque: the base64 of
 * an id here), and `paging.next` — the whole URL of the next page, token included, which the SDK
 * follows as is — only when more remain.
 */
function page<T>(call: Call, items: readonly T[], idOf: (item: T) => string, toJson: (item: T) => GraphOutcome<Json>): GraphOutcome<Json> {
  const { params, request } = call;
  const limitText = textParam(params, 'limit');
  const limit = limitText !== undefined && /^\d+$/.test(limitText) ? Math.min(MAX_LIMIT, Math.max(1, Number(limitText))) : DEFAULT_LIMIT;
  const after = textParam(params, 'after');
  let start = 0;
  if (after !== undefined) {
    const index = items.findIndex((item) => idOf(item) === Buffer.from(after, 'base64url').toString('utf8'));
    if (index === -1) return failure(errors.invalidParameter('The after cursor is invalid'));
    start = index + 1;
  }
  const slice = items.slice(start, start + limit);
  const data: Json[] = [];
  for (const item of slice) {
    const json = toJson(item);
    if (json.kind === 'error') return json;
    data.push(json.value);
  }
  const first = slice[0];
  const last = slice.at(-1);
  if (first === undefined || last === undefined) return ok({ data });
  const cursor = (item: T) => Buffer.from(idOf(item), 'utf8').toString('base64url');
  const paging: Json = { cursors: { before: cursor(first), after: cursor(last) } };
  if (start + limit < items.length) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (typeof value === 'string' && key !== 'after') query.set(key, value);
    query.set('limit', String(limit));
    query.set('after', cursor(last));
    paging.next = `${request.protocol}://${request.host}${pathOf(request.url)}?${query.toString()}`;
  }
  return ok({ data, paging });
}
