/**
 * The Kit simulator's request record entries: the shared record (simulators/record.ts) with
 * credentials redacted — header values by name (lib/redact.ts), query and top-level body values of
 * secret-looking parameters (`code`, `code_verifier`, `client_secret`, `refresh_token`, …) — since
 * tests print it and the sandbox serves it on `/_sim/requests`.
 */
import { REDACTED, isSecretParamName, redactHeaders } from '../../lib/redact.js';
import type { AnswerStatus, SimRequest } from '../../simulators/index.js';

export interface RecordedRequest {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: Readonly<Record<string, unknown>>;
  /** Lower-cased names; credentials replaced by `[redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed body (JSON or form), secrets redacted; undefined when there was none. */
  readonly body: unknown;
  /** The status answered, or what happened instead of an answer; null until answered. */
  readonly status: AnswerStatus | null;
  /** Epoch ms, from the simulator's clock, when the request arrived. */
  readonly at: number;
}

export function toRecordedRequest(request: SimRequest): RecordedRequest {
  return {
    method: request.method,
    path: request.path,
    query: redactParams(request.query) as Record<string, unknown>,
    headers: redactHeaders(request.headers),
    body: redactParams(request.body),
    status: request.status,
    at: request.receivedAt,
  };
}

function redactParams(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) out[name] = isSecretParamName(name) ? REDACTED : v;
  return out;
}
