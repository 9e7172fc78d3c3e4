/**
 * Kit's answer → the error class for it. Kit's error body is `{"errors":[…]}` whose items are
 * strings, or arrays of strings on the sequence endpoints (reference/kit.md §5 Sequences, §6); the
 * OAuth token endpoint may use `error`/`error_description` instead; a 429 is plain text.
 */
import { KitApiError, type KitApiErrorDetails } from './api-error.js';
import { KitBadRequestError } from './bad-request-error.js';
import { KitConflictError } from './conflict-error.js';
import { KitForbiddenError } from './forbidden-error.js';
import { KitNotFoundError } from './not-found-error.js';
import { KitPayloadTooLargeError } from './payload-too-large-error.js';
import { KitRateLimitedError } from './rate-limited-error.js';
import { KitServerError } from './server-error.js';
import { KitUnauthorizedError } from './unauthorized-error.js';
import { KitUnexpectedResponseError } from './unexpected-response-error.js';
import { KitValidationError } from './validation-error.js';

/** Longest message kept from a body that is not Kit's JSON (an HTML error page, `Retry later`). */
const TEXT_MESSAGE_CHARS = 200;

/** Every message in an error body, flattened; a non-JSON body becomes one trimmed message. */
export function parseKitErrorMessages(body: Buffer | string): string[] {
  const text = (typeof body === 'string' ? body : body.toString('utf8')).trim();
  if (text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [text.slice(0, TEXT_MESSAGE_CHARS)];
  }
  if (typeof parsed !== 'object' || parsed === null) return [String(parsed)];
  const record = parsed as Record<string, unknown>;
  const messages: string[] = [];
  collect(record.errors, messages);
  if (typeof record.error === 'string') messages.push(record.error);
  if (typeof record.error_description === 'string') messages.push(record.error_description);
  if (typeof record.message === 'string' && messages.length === 0) messages.push(record.message);
  return messages;
}

function collect(value: unknown, into: string[]): void {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) collect(item, into);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) collect(item, into);
}

/**
 * The error for a non-2xx answer. `attempts` is how many times the request was sent (for 5xx,
 * after the client's retries). 429 is mapped here only when the caller has stopped retrying.
 */
export function errorFromStatus(status: number, details: KitApiErrorDetails & { readonly attempts: number }): KitApiError {
  const withStatus = { ...details, status };
  switch (status) {
    case 400:
      return new KitBadRequestError(withStatus);
    case 401:
      return new KitUnauthorizedError(withStatus);
    case 403:
      return new KitForbiddenError(withStatus);
    case 404:
      return new KitNotFoundError(withStatus);
    case 409:
      return new KitConflictError(withStatus);
    case 413:
      return new KitPayloadTooLargeError(withStatus);
    case 422:
      return new KitValidationError(withStatus);
    case 429:
      return new KitRateLimitedError(0, `answered 429 Too Many Requests after ${details.attempts} attempt(s)`, withStatus);
    default:
      if (status >= 500) return new KitServerError(withStatus);
      return new KitUnexpectedResponseError(`answered an unexpected ${status}`, withStatus);
  }
}
