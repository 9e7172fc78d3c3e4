/**
 * Faults on demand: rules, each matching requests by method, path pattern, body text or a
 * predicate, applied in the order added to their next `times` matching requests. Set from code
 * (`sim.faults.add({...})`) or over HTTP (`POST /_sim/faults` with the same fields as JSON, no
 * predicate; `times: "Infinity"` for every request).
 *
 * The `apply_then_*` kinds and `malformed` without a body let the request change the simulator's
 * state first and spoil only the answer: that is how a test shows a timeout after the remote
 * created something does not make a duplicate.
 */
import { z } from 'zod';

export type FaultAction =
  /** Answer this status (after `delayMs`); without a body, the simulator's own error body for it. */
  | {
      readonly kind: 'status';
      readonly status: number;
      /** A string or Buffer is sent as is (text/plain unless `headers` say otherwise); anything else as JSON. */
      readonly body?: unknown;
      readonly headers?: Readonly<Record<string, string>>;
      /** Seconds, or a raw header value (an HTTP date). */
      readonly retryAfter?: number | string;
      /** @default 0 */
      readonly delayMs?: number;
    }
  /** Give the normal answer, `ms` late. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Never answer: the connection stays open until the client gives up or the simulator closes. */
  | { readonly kind: 'hang' }
  /** Reset the connection (TCP RST) without answering: the client sees ECONNRESET. */
  | { readonly kind: 'reset' }
  /**
   * The simulator's own 429 answer. `retryAfter`: seconds to send in Retry-After, `false` for no
   * header; left out, whatever the API usually sends.
   */
  | { readonly kind: 'rate_limited'; readonly retryAfter?: number | false }
  /**
   * A body that does not parse. With `body`, that text is answered (status `status`, default 200)
   * and the request is not applied; without, the request is applied and its real answer is cut
   * in half.
   */
  | { readonly kind: 'malformed'; readonly status?: number; readonly body?: string }
  /** The request is applied to the simulator's state, then never answered. */
  | { readonly kind: 'apply_then_hang' }
  /** The request is applied to the simulator's state, then the connection is reset. */
  | { readonly kind: 'apply_then_reset' };

export type FaultKind = FaultAction['kind'];

/** What a fault's matchers see of a request. */
export interface FaultRequestView {
  readonly method: string;
  /** Without the query. */
  readonly path: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly query: Readonly<Record<string, unknown>>;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed body (JSON or form); undefined when there was none. */
  readonly body: unknown;
  /** The body as text (UTF-8). */
  readonly rawBody: string;
  /** The body as received. */
  readonly bytes: Buffer;
}

export interface FaultMatchers<V = FaultRequestView> {
  /** How many matching requests the fault applies to; `Infinity` for all. @default 1 */
  readonly times?: number;
  /** Only this method (any case). @default any */
  readonly method?: string;
  /**
   * Only this path (without the query): exact, or a pattern where `*` stands for one path segment
   * and `**` for anything (`/api/v2/greets/*`); or a RegExp. @default any
   */
  readonly path?: string | RegExp;
  /** Only requests whose raw body contains this text. @default any */
  readonly bodyIncludes?: string;
  /** Only requests this returns true for. @default every request */
  readonly match?: (request: V) => boolean;
}

export type FaultSpec<V = FaultRequestView> = FaultAction & FaultMatchers<V>;

/** A queued fault as `GET /_sim/faults` shows it. */
export interface FaultSummary {
  readonly kind: FaultKind;
  readonly method?: string;
  readonly path?: string;
  readonly bodyIncludes?: string;
  readonly hasPredicate: boolean;
  /** Matching requests it still applies to; `null` for every one. */
  readonly remaining: number | null;
}

interface Pending<V> {
  readonly spec: FaultSpec<V>;
  readonly isPathMatch: (path: string) => boolean;
  remaining: number;
}

export class FaultRules<V extends FaultRequestView = FaultRequestView> {
  #faults: Array<Pending<V>> = [];

  /** Queues a fault. Faults apply in the order added, each to its next `times` matching requests. */
  add(spec: FaultSpec<V>): void {
    const times = spec.times ?? 1;
    if (!(times > 0)) throw new RangeError(`fault times must be positive, not ${times}`);
    this.#faults.push({ spec, isPathMatch: pathMatcher(spec.path), remaining: times });
  }

  /** The fault for this request, if any; counts the request against it. */
  take(view: V): FaultAction | undefined {
    const pending = this.#faults.find((f) => f.remaining > 0 && matches(f, view));
    if (!pending) return undefined;
    pending.remaining -= 1;
    if (pending.remaining <= 0) this.#faults = this.#faults.filter((f) => f !== pending);
    return pending.spec;
  }

  /** Faults still queued. */
  get pending(): number {
    return this.#faults.length;
  }

  list(): FaultSummary[] {
    return this.#faults.map(({ spec, remaining }) => ({
      kind: spec.kind,
      ...(spec.method === undefined ? {} : { method: spec.method.toUpperCase() }),
      ...(spec.path === undefined ? {} : { path: String(spec.path) }),
      ...(spec.bodyIncludes === undefined ? {} : { bodyIncludes: spec.bodyIncludes }),
      hasPredicate: spec.match !== undefined,
      remaining: Number.isFinite(remaining) ? remaining : null,
    }));
  }

  clear(): void {
    this.#faults = [];
  }
}

function matches<V extends FaultRequestView>(pending: Pending<V>, view: V): boolean {
  const { spec } = pending;
  if (spec.method !== undefined && spec.method.toUpperCase() !== view.method.toUpperCase()) return false;
  if (!pending.isPathMatch(view.path)) return false;
  if (spec.bodyIncludes !== undefined && !view.rawBody.includes(spec.bodyIncludes)) return false;
  return spec.match?.(view) ?? true;
}

/** `*` is one path segment, `**` anything; other characters stand for themselves. */
export function pathMatcher(pattern: string | RegExp | undefined): (path: string) => boolean {
  if (pattern === undefined) return () => true;
  if (pattern instanceof RegExp) return (path) => pattern.test(path);
  if (!pattern.includes('*')) return (path) => path === pattern;
  const source = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const regex = new RegExp(`^${source}$`);
  return (path) => regex.test(path);
}

// ---- the JSON form, for POST /_sim/faults ----

const matchersJson = {
  times: z.union([z.int().positive(), z.literal('Infinity')]).optional(),
  method: z.string().min(1).optional(),
  path: z.string().startsWith('/').optional(),
  bodyIncludes: z.string().optional(),
};
const seconds = z.number().nonnegative();

const faultJson = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('status'),
    status: z.int().min(100).max(599),
    body: z.unknown().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    retryAfter: z.union([seconds, z.string()]).optional(),
    delayMs: z.int().nonnegative().optional(),
    ...matchersJson,
  }),
  z.strictObject({ kind: z.literal('delay'), ms: z.int().nonnegative(), ...matchersJson }),
  z.strictObject({ kind: z.literal('hang'), ...matchersJson }),
  z.strictObject({ kind: z.literal('reset'), ...matchersJson }),
  z.strictObject({ kind: z.literal('rate_limited'), retryAfter: z.union([seconds, z.literal(false)]).optional(), ...matchersJson }),
  z.strictObject({ kind: z.literal('malformed'), status: z.int().min(100).max(599).optional(), body: z.string().optional(), ...matchersJson }),
  z.strictObject({ kind: z.literal('apply_then_hang'), ...matchersJson }),
  z.strictObject({ kind: z.literal('apply_then_reset'), ...matchersJson }),
]);

/** One fault or an array of them, as JSON; an error names the bad field. */
export function parseFaultSpecs(body: unknown): { readonly specs: FaultSpec[] } | { readonly error: string } {
  const parsed = (Array.isArray(body) ? z.array(faultJson) : faultJson.transform((f) => [f])).safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { error: issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid fault' };
  }
  return { specs: parsed.data.map((f) => ({ ...f, times: f.times === 'Infinity' ? Infinity : f.times })) };
}
