/**
 * The Graph API's ways, as the Meta simulator speaks them (reference/destinations.md §2.1, §2.6):
 * the error envelope, the errors themselves, versioned paths, and parameters read from wherever a
 * client put them.
 *
 * Every error is `{"error":{"message","type","code","error_subcode"?,"error_user_title"?,
 * "error_user_msg"?,"is_transient"?,"fbtrace_id"}}`, answered HTTP 400 unless said otherwise:
 * Graph answers 400 for parameter, permission, throttling and token errors alike (§2.6 [C]: a real
 * 80000 throttle came back 400; clients of Graph report 400 for code 190 too).
 */
import type { FastifyRequest } from 'fastify';
import type { SimAnswer } from '../../simulators/index.js';

/** An error in Graph's words, before it gets its trace id. */
export interface GraphError {
  /** @default 400 */
  readonly status?: number;
  readonly message: string;
  /** @default 'OAuthException' */
  readonly type?: string;
  readonly code: number;
  readonly subcode?: number;
  readonly userTitle?: string;
  readonly userMsg?: string;
  readonly isTransient?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An answer from the simulator's state: a value, or a Graph error. */
export type GraphOutcome<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'error'; readonly error: GraphError };

export const ok = <T>(value: T): GraphOutcome<T> => ({ kind: 'ok', value });
export const failure = <T = never>(error: GraphError): GraphOutcome<T> => ({ kind: 'error', error });

export function errorAnswer(error: GraphError, traceId: string): SimAnswer {
  const body = {
    error: {
      message: error.message,
      type: error.type ?? 'OAuthException',
      code: error.code,
      ...(error.subcode === undefined ? {} : { error_subcode: error.subcode }),
      ...(error.isTransient === undefined ? {} : { is_transient: error.isTransient }),
      ...(error.userTitle === undefined ? {} : { error_user_title: error.userTitle }),
      ...(error.userMsg === undefined ? {} : { error_user_msg: error.userMsg }),
      fbtrace_id: traceId,
    },
  };
  return { status: error.status ?? 400, headers: { ...error.headers, 'x-fb-trace-id': traceId }, body };
}

/** Graph says which token problem it was in `WWW-Authenticate` as well as in the body [C]. */
const wwwAuthenticate = (text: string) => ({ 'www-authenticate': `OAuth "Facebook Platform" "invalid_token" "${text}"` });

export const errors = {
  /** No token anywhere: code 104, not 190 [C] (many clients quote this exact answer). */
  missingToken: (): GraphError => ({ message: 'An access token is required to request this resource.', code: 104 }),
  invalidToken: (): GraphError => {
    const message = 'Invalid OAuth access token - Cannot parse access token';
    return { message, code: 190, headers: wwwAuthenticate(message) };
  },
  /** Subcode 463: the token expired [C]; the wording of the dates is Graph's own, in UTC here. */
  expiredToken: (expiredAt: number, now: number): GraphError => {
    const message = `Error validating access token: Session has expired on ${graphDate(expiredAt)}. The current time is ${graphDate(now)}.`;
    return { message, code: 190, subcode: 463, headers: wwwAuthenticate(message) };
  },
  /** An id that names nothing (or nothing this token may see), or a method the node does not take. */
  unsupported: (method: string, id: string): GraphError => ({
    message: `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    type: 'GraphMethodException',
    code: 100,
    subcode: 33,
  }),
  unknownPath: (rest: string): GraphError => ({ message: `Unknown path components: ${rest}`, code: 2500 }),
  invalidParameter: (detail: string): GraphError => ({ message: `(#100) ${detail}`, code: 100 }),
  nonexistingField: (field: string, nodeType: string): GraphError => ({ message: `(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`, code: 100 }),
  /** [C] the wording community clients quote for a row whose length differs from the schema's. */
  schemaMismatch: (): GraphError => ({ message: '(#100) Data is missing or does not match schema', code: 100 }),
  /** [V] verbatim from the users and usersreplace references (operation_status 471). */
  flagged: (): GraphError => ({
    message: 'Invalid parameter',
    code: 100,
    subcode: 1713230,
    userTitle: 'Audience Upload Blocked',
    userMsg: 'Before updating user memberships, you must resolve integrity restrictions on this Data File Custom Audience. Go to Audience Manager to appeal the restrictions or create a new audience with updated data',
  }),
  /**
   * [U] §2.3 says add/remove is blocked while a replace runs, not how. 2650 ("Failed to update the
   * custom audience") is the endpoint's documented failure code; `is_transient`, because waiting
   * for the replace to finish (or expire) is the cure.
   */
  replaceInProgress: (sessionId: string): GraphError => ({
    message: `(#2650) Failed to update the custom audience: replace session ${sessionId} is in progress on this audience`,
    code: 2650,
    isTransient: true,
    userTitle: 'Audience Is Being Replaced',
    userMsg: 'Users cannot be added or removed while a replace is in progress. Try again when it has finished.',
  }),
  /** [U] no documented error exists for this; 2650 with a title that says what happened. */
  tooSmall: (minimum: number): GraphError => ({
    message: '(#2650) Failed to update the custom audience',
    code: 2650,
    userTitle: 'Audience Too Small',
    userMsg: `Removing these people would leave fewer than ${minimum} people in this audience.`,
  }),
  /** [C] Graph's generic failures, for status faults given no body. */
  unknown: (status: number): GraphError => ({ status, message: 'An unknown error occurred', code: 1, subcode: 99 }),
  unexpected: (status: number): GraphError => ({ status, message: 'An unexpected error has occurred. Please retry your request later.', code: 2, isTransient: true }),
};

/** `Tuesday, 10-Mar-26 15:00:00 UTC`: the shape of the dates in Graph's token messages. */
function graphDate(ms: number): string {
  const d = new Date(ms);
  const day = d.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
  const month = d.toLocaleDateString('en-US', { month: 'short', timeZone: 'UTC' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${day}, ${pad(d.getUTCDate())}-${month}-${pad(d.getUTCFullYear() % 100)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

// ---- paths ----

const VERSION = /^v\d+\.\d+$/;

export interface GraphPath {
  /** `v25.0`; undefined for an unversioned path (Graph then uses the app's default version). */
  readonly version: string | undefined;
  readonly node: string;
  readonly edge: string | undefined;
}

/** Any `vNN.N` prefix is accepted: the SDK pins its own (v24.0), the docs say v25.0 (§8). */
export function parseGraphPath(path: string): GraphPath | { readonly unknown: string } {
  const segments = path.split('/').filter((s) => s !== '');
  const version = segments[0] !== undefined && VERSION.test(segments[0]) ? segments.shift() : undefined;
  let decoded: string[];
  try {
    decoded = segments.map((s) => decodeURIComponent(s));
  } catch {
    return { unknown: path };
  }
  const [node, edge, ...rest] = decoded;
  if (node === undefined) return { unknown: '/' };
  if (rest.length > 0) return { unknown: `/${rest.join('/')}` };
  return { version, node, edge };
}

// ---- parameters ----

export type Params = Readonly<Record<string, unknown>>;

/**
 * The query string, then the body over it: a form (each value a string, `payload` a JSON string),
 * or a JSON object (`payload` an object or a JSON string). The SDK's deleteUsers sends everything
 * in the query and an empty JSON body (§8).
 */
export function readParams(request: FastifyRequest): Params {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) out[key] = Array.isArray(value) ? (value[0] as unknown) : value;
  const body = request.body;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const isForm = String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) out[key] = isForm && Array.isArray(value) ? (value[0] as unknown) : value;
  }
  return out;
}

/** A parameter that is JSON: given as an object, or as a string of JSON. */
export function jsonParam(params: Params, name: string): GraphOutcome<unknown> {
  const value = params[name];
  if (typeof value !== 'string') return ok(value);
  try {
    return ok(JSON.parse(value) as unknown);
  } catch {
    return failure(errors.invalidParameter(`Param ${name} must be a JSON object`));
  }
}

export function textParam(params: Params, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `fields=id,name,operation_status{code}`: the names, sub-selections dropped. */
export function fieldList(params: Params): string[] | undefined {
  const raw = textParam(params, 'fields');
  if (raw === undefined) return undefined;
  return raw
    .replace(/\{[^}]*\}/g, '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
}
