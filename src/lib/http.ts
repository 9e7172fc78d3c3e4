/**
 * The shared outbound HTTP client every connector sends through. Built on undici's `request` with
 * one keep-alive `Agent` owned by the client, so connections to a destination are reused across
 * attempts and released by `close()`.
 *
 * Every call returns a value: an HTTP response of any status, or a network error (refused, reset,
 * timed out, aborted). Deciding what that means — success, retry, retry later, give up — is
 * `classifyResponse`'s job (lib/http-classify.ts), so connectors share one policy.
 *
 * Each result carries a `RequestSummary` for the audit record: URL and headers redacted, the body
 * reduced to its size, digest and a short preview.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { redactHeaders, redactUrl } from './redact.js';

export { classifyResponse, parseRetryAfter, type ResponseClass } from './http-classify.js';

/** What the audit record keeps of a request: nothing secret, the body as size, digest and preview. */
export interface RequestSummary {
  readonly method: string;
  /** URL with credentials and secret query values removed. */
  readonly url: string;
  /** Headers with secret values replaced by `[redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  readonly bodySha256: string;
  /** The start of the body, for the operator; personal data, scrubbed by retention. */
  readonly bodyPreview?: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /** The whole attempt — connect, headers and body — is aborted after this long. */
  readonly timeoutMs: number;
  /** Aborts the call early (shutdown); the result is then a network error with code `aborted`. */
  readonly signal?: AbortSignal;
  /** Headers secret by origin (values resolved from `env('…')`): redacted in the summary. */
  readonly secretHeaderNames?: readonly string[];
  /**
   * The URL itself is a secret (it came from `env('…')`): the summary keeps only its origin.
   * @default false
   */
  readonly isSecretUrl?: boolean;
}

export type HttpResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** Lower-cased names; repeated headers joined with `, `. */
      readonly headers: Readonly<Record<string, string>>;
      /** The body read fully, or its first `maxResponseBytes` when `isTruncated`. */
      readonly body: Buffer;
      readonly isTruncated: boolean;
      readonly durationMs: number;
      readonly request: RequestSummary;
    }
  | {
      readonly kind: 'network_error';
      /**
       * `timeout` (our deadline), `aborted` (the caller's signal), `invalid_request` (a URL or header
       * undici refuses: a config bug), else the system or undici code (`ECONNREFUSED`,
       * `ECONNRESET`, `UND_ERR_SOCKET`, `ENOTFOUND`, …).
       */
      readonly code: string;
      readonly message: string;
      readonly durationMs: number;
      readonly request: RequestSummary;
    };

export interface HttpClientOptions {
  /** Connections kept per origin; further requests queue inside the agent. @default 64 */
  readonly connections?: number;
  /** Response bytes kept; the rest is discarded and `isTruncated` set. @default 1_048_576 (1 MiB) */
  readonly maxResponseBytes?: number;
  /** Characters of the request body kept as the summary's preview. @default 512 */
  readonly previewChars?: number;
  /** How long an idle connection is kept for reuse. @default 4_000 */
  readonly keepAliveTimeoutMs?: number;
}

export interface HttpClient {
  send(req: HttpRequest): Promise<HttpResult>;
  /** Waits for in-flight requests, then closes every connection. */
  close(): Promise<void>;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const maxResponseBytes = options.maxResponseBytes ?? 1_048_576;
  const previewChars = options.previewChars ?? 512;
  const agent = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
  });

  async function send(req: HttpRequest): Promise<HttpResult> {
    const summary = summarizeRequest(req, previewChars);
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);

    // One deadline for the whole exchange (undici's own headers/body timeouts restart on every
    // chunk, so a slow drip would never trip them). Our own timer tells a timeout apart from the
    // caller's abort, which matters for the error code.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`timed out after ${req.timeoutMs} ms`)), req.timeoutMs);
    // The caller's abort reaches the same controller through a listener removed when the exchange
    // ends: AbortSignal.any would tie a dependent signal to a long-lived caller signal (a CLI's
    // Ctrl-C) for every request, garbage the collector only frees late (BENCHMARKS: airtable).
    const callerSignal = req.signal;
    const onCallerAbort = (): void => deadline.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = deadline.signal;

    try {
      const response = await request(req.url, {
        dispatcher: agent,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        signal,
      });
      const { body, isTruncated } = await readCapped(response.body, maxResponseBytes);
      return {
        kind: 'response',
        status: response.statusCode,
        headers: flattenHeaders(response.headers),
        body,
        isTruncated,
        durationMs: elapsed(),
        request: summary,
      };
    } catch (err: unknown) {
      const code = req.signal?.aborted ? 'aborted' : deadline.signal.aborted ? 'timeout' : errorCode(err);
      const message = code === 'timeout' ? `timed out after ${req.timeoutMs} ms` : errorMessage(err);
      return { kind: 'network_error', code, message, durationMs: elapsed(), request: summary };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  return { send, close: () => agent.close() };
}

/** What the audit record keeps of a request: nothing secret, the body only as size, digest and preview. */
export function summarizeRequest(req: HttpRequest, previewChars = 512): RequestSummary {
  const body = req.body === undefined ? Buffer.alloc(0) : typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : req.body;
  const summary: RequestSummary = {
    method: req.method,
    url: redactUrl(req.url, { hidePath: req.isSecretUrl ?? false }),
    headers: redactHeaders(req.headers, req.secretHeaderNames),
    bodyBytes: body.length,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
  if (body.length === 0) return summary;
  // Decoding the whole body to cut a preview would cost a copy per attempt; 4 bytes per char
  // is UTF-8's worst case, so this slice always holds `previewChars` characters.
  const preview = body.subarray(0, previewChars * 4).toString('utf8').slice(0, previewChars);
  return { ...summary, bodyPreview: preview };
}

/** Reads a body stream up to `cap` bytes; past the cap, the stream is destroyed (and its socket dropped). */
async function readCapped(stream: AsyncIterable<Buffer> & { destroy(): unknown }, cap: number): Promise<{ body: Buffer; isTruncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size + chunk.length > cap) {
      chunks.push(chunk.subarray(0, cap - size));
      size = cap;
      // Draining an oversized body would cost time and bandwidth for bytes nobody keeps; losing
      // the keep-alive connection is the cheaper price.
      stream.destroy();
      return { body: Buffer.concat(chunks, size), isTruncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks, size), isTruncated: false };
}

function flattenHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** undici codes for a request it refuses to send: retrying the same bytes cannot help. */
const INVALID_REQUEST_CODES: ReadonlySet<string> = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_URL']);

/** The most specific code on an error or its cause: `ECONNRESET` beats `UND_ERR_SOCKET`. */
function errorCode(err: unknown): string {
  const own = codeOf(err);
  if (own !== undefined && INVALID_REQUEST_CODES.has(own)) return 'invalid_request';
  const cause = err instanceof Error ? codeOf(err.cause) : undefined;
  if (cause !== undefined && /^E[A-Z]+$/.test(cause)) return cause;
  return own ?? cause ?? 'network_error';
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && err.cause.message !== err.message ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}
