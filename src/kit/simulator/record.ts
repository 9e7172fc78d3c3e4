/**
 * The bounded record of every request the simulator received, faulted ones included, with
 * credentials redacted: header values by name (lib/redact.ts), query and top-level body values of
 * secret-looking parameters (`code`, `code_verifier`, `client_secret`, `refresh_token`, …).
 */
import { REDACTED, isSecretParamName, redactHeaders, type HeaderValues } from '../../lib/redact.js';

export interface RecordedRequest {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: Readonly<Record<string, unknown>>;
  /** Lower-cased names; credentials replaced by `[redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed body (JSON or form), secrets redacted; undefined when there was none. */
  readonly body: unknown;
  /** The status answered, or what happened instead of an answer. */
  readonly status: number | 'hang' | 'reset';
  /** Epoch ms, from the simulator's clock. */
  readonly at: number;
}

export class RequestLog {
  /** Oldest first; the last `max` requests. Exposed as is (the array is live). */
  readonly requests: RecordedRequest[] = [];
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  add(entry: Omit<RecordedRequest, 'headers' | 'query' | 'body'> & { headers: HeaderValues; query: unknown; body: unknown }): void {
    this.requests.push({ ...entry, headers: redactHeaders(entry.headers), query: redactParams(entry.query) as Record<string, unknown>, body: redactParams(entry.body) });
    if (this.requests.length > this.#max) this.requests.splice(0, this.requests.length - this.#max);
  }

  clear(): void {
    this.requests.length = 0;
  }
}

function redactParams(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) out[name] = isSecretParamName(name) ? REDACTED : v;
  return out;
}
