/**
 * Redaction for audit records and logs: secrets never reach either. Both functions err on the side
 * of hiding too much — a redacted `x-api-key-id` costs an operator a little context, a leaked token
 * costs a rotation.
 */

export const REDACTED = '[redacted]';

/** Header names that always carry credentials. */
const SECRET_HEADER_NAMES: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-kit-api-key',
  'x-kit-signature',
]);

/** Any header whose name contains one of these is treated as secret. */
const SECRET_HEADER_PARTS: readonly string[] = ['token', 'secret', 'signature', 'key', 'auth', 'password'];

/**
 * Headers that match a secret-looking part but are correlation ids, not credentials: the
 * idempotency key is derived from the job id and is what an operator searches for in the
 * destination's logs, so it stays readable.
 */
const NON_SECRET_HEADER_NAMES: ReadonlySet<string> = new Set(['idempotency-key', 'x-idempotency-key']);

/** Header values as node:http and undici hand them over. */
export type HeaderValues = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** Whether a header name (any case) carries a secret by its name alone. */
export function isSecretHeaderName(name: string): boolean {
  const lower = name.toLowerCase();
  if (NON_SECRET_HEADER_NAMES.has(lower)) return false;
  return SECRET_HEADER_NAMES.has(lower) || SECRET_HEADER_PARTS.some((part) => lower.includes(part));
}

/**
 * Returns the headers with lower-cased names and secret values replaced by `[redacted]`.
 * `extraSecretNames` are headers secret by origin rather than by name — typically configured
 * headers whose values came from `env('…')` references. Multi-valued headers are joined with `, `;
 * undefined values are dropped.
 */
export function redactHeaders(headers: HeaderValues, extraSecretNames: Iterable<string> = []): Record<string, string> {
  const extra = new Set<string>();
  for (const name of extraSecretNames) extra.add(name.toLowerCase());
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const isSecret = extra.has(lower) || isSecretHeaderName(lower);
    out[lower] = isSecret ? REDACTED : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** Query parameter words that mark the value as secret (`?token=`, `?api_key=`, `?sig=`, `?code=`). */
const SECRET_PARAM_WORDS: ReadonlySet<string> = new Set([
  'token',
  'key',
  'apikey',
  'secret',
  'signature',
  'sig',
  'auth',
  'password',
  'passwd',
  'pwd',
  'code',
  'credential',
  'credentials',
]);

/** Longer words that mark a parameter secret wherever they appear in its name (`accesstoken`, `oauth`). */
const SECRET_PARAM_PARTS: readonly string[] = ['token', 'secret', 'signature', 'password', 'auth', 'apikey'];

/**
 * Whether a query parameter name looks secret. Short words (`key`, `sig`, `code`) must be a whole
 * word of the name (`api_key`, `apiKey`, `x-sig`) so that `keyword`, `design` or `zipcode` pass.
 */
export function isSecretParamName(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_PARAM_PARTS.some((part) => lower.includes(part))) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((word) => SECRET_PARAM_WORDS.has(word));
}

export interface RedactUrlOptions {
  /**
   * Hide the path and query entirely, keeping only the origin: for URLs that are secrets as a whole
   * (a URL configured through `env('…')`, like a Slack incoming-webhook URL whose path is the key).
   * @default false
   */
  readonly hidePath?: boolean;
}

/**
 * Returns the URL without userinfo (`user:pass@`) or fragment, and with the values of
 * secret-looking query parameters replaced by `[redacted]`. A string that does not parse as a URL is replaced whole:
 * nothing is known about where its secrets are.
 */
export function redactUrl(url: string | URL, options: RedactUrlOptions = {}): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: we cannot tell which part is secret, so none of it is kept.
    return '[unparseable url]';
  }
  // Built from parts so userinfo is dropped whatever the scheme (`origin` is "null" for non-special
  // schemes). The fragment is dropped too: it is never sent, and OAuth puts tokens there.
  const origin = parsed.host === '' ? parsed.protocol : `${parsed.protocol}//${parsed.host}`;
  if (options.hidePath) return `${origin}/${REDACTED}`;
  if (parsed.search === '') return `${origin}${parsed.pathname}`;
  // Rebuilt by hand rather than through URLSearchParams, which would re-encode every other value
  // (and the brackets of `[redacted]`): the operator sees the query as it was sent.
  const pairs = parsed.search
    .slice(1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      if (!isSecretParamName(safeDecode(rawName))) return pair;
      return `${rawName}=${REDACTED}`;
    });
  return `${origin}${parsed.pathname}?${pairs.join('&')}`;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}
