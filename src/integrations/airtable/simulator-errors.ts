/**
 * The Airtable simulator's errors, in Airtable's words (reference/destinations.md §3.4): the
 * envelope `{"error":{"type","message"}}`, the bare `{"error":"NOT_FOUND"}` of an unknown route, and
 * the 429 body of the rate limit. Types and messages carry their confidence: [V] documented, [C]
 * seen in real answers quoted by community code, [U] a guess kept in this one place.
 */
import type { SimAnswer } from '../../simulators/index.js';

export interface AirtableError {
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

/** What a step answers: a value, or the error the request ends with. */
export type Result<T> = { readonly ok: T } | { readonly error: AirtableError };

export const ok = <T>(value: T): Result<T> => ({ ok: value });
export const fail = <T = never>(error: AirtableError): Result<T> => ({ error });

const e = (status: number, type: string, message: string): AirtableError => ({ status, type, message });

/** [U] the generic 422 for a body of the wrong shape; Airtable's own wording is not documented. */
const PARAMETER_VALIDATION = 'Invalid request: parameter validation failed. Check your request data.';

export const errors = {
  /** [V] type, [C] message: the same for a missing and a wrong token. */
  authenticationRequired: () => e(401, 'AUTHENTICATION_REQUIRED', 'Authentication required'),
  /** [C] A valid token without access to the base, an unknown base or table, or a missing scope. */
  invalidPermissions: () =>
    e(403, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', 'Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.'),
  /** [C] a record id that names no record (GET /table/rec…, seen in a recorded 404). */
  recordNotFound: () => e(404, 'MODEL_ID_NOT_FOUND', 'Record not found'),
  /** [C] a record id in a batch update that names no record. */
  rowDoesNotExist: (id: string) => e(422, 'ROW_DOES_NOT_EXIST', `Record ID ${id} does not exist in this table`),
  /** [C] */
  unknownField: (name: string) => e(422, 'UNKNOWN_FIELD_NAME', `Unknown field name: "${name}"`),
  /** [C] */
  invalidValue: (field: string) => e(422, 'INVALID_VALUE_FOR_COLUMN', `Field "${field}" cannot accept the provided value`),
  /** [C] what a typecast that failed says. */
  cannotParse: (value: unknown, field: string) => e(422, 'INVALID_VALUE_FOR_COLUMN', `Cannot parse value ${JSON.stringify(String(value))} for field ${field}`),
  /** [C] */
  computedField: (field: string) => e(422, 'INVALID_VALUE_FOR_COLUMN', `Field "${field}" cannot accept a value because the field is computed`),
  /** [C] the option is quoted twice, as Airtable does. */
  unknownChoice: (choice: string) => e(422, 'INVALID_MULTIPLE_CHOICE_OPTIONS', `Insufficient permissions to create new select option ""${choice}""`),
  /** [C] type and message for creates; "updated"/"deleted" by analogy [U]. */
  tooManyRecords: (verb: 'created' | 'updated' | 'deleted', count: number) => e(422, 'INVALID_RECORDS', `A maximum of 10 records can be ${verb} per request but you have provided ${count}.`),
  /** [U] type; [C] the message starts with "Cannot update more than one record" (n8n matches on it). */
  severalUpsertMatches: (fields: readonly string[]) =>
    e(422, 'INVALID_VALUE_FOR_COLUMN', `Cannot update more than one record: several records match the fields to merge on (${fields.join(', ')})`),
  /** [C] "Could not find field "fields" in the request body". Type [U]. */
  missingFields: () => e(422, 'INVALID_REQUEST_MISSING_FIELDS', 'Could not find field "fields" in the request body'),
  invalidRequest: (detail?: string) => e(422, 'INVALID_REQUEST_UNKNOWN', detail === undefined ? PARAMETER_VALIDATION : `${PARAMETER_VALIDATION} ${detail}`),
  /** [C] type; message [U]. Restart the listing without an offset. */
  iteratorNotAvailable: () => e(422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE', 'The iterator is no longer available. Restart the listing from the beginning, without an offset.'),
  /** [C] */
  invalidOffset: (offset: string) => e(422, 'INVALID_OFFSET_VALUE', `The value of offset ${offset} is invalid`),
  /** [U] type and message. */
  invalidFormula: (detail: string) => e(422, 'INVALID_FILTER_BY_FORMULA', `The formula for filtering records is invalid: ${detail}`),
  /** [U] */
  viewNotFound: (view: string) => e(422, 'VIEW_NAME_NOT_FOUND', `Could not find view ${JSON.stringify(view)}`),
  /** [U] */
  invalidFilters: (detail: string) => e(422, 'INVALID_FILTERS', detail),
  /** [U] the documented limit is 10 webhooks per base; the type is a guess. */
  tooManyWebhooks: () => e(422, 'TOO_MANY_WEBHOOKS_IN_BASE', 'A base can have at most 10 webhooks'),
  /** [U] "The webhook life can be extended while it is still active" [V]; what refusing says is not. */
  webhookExpired: () => e(422, 'CANNOT_REFRESH_DISABLED_WEBHOOK', 'This webhook has expired and is disabled: create a new one'),
  /** [U] */
  webhookNotFound: () => e(404, 'NOT_FOUND', 'Could not find webhook'),
  /** [U] the SDK maps 413 itself and ignores the body. */
  tooLarge: () => e(413, 'REQUEST_TOO_LARGE', 'Request body is too large'),
  /** [U] */
  badJson: () => e(400, 'INVALID_REQUEST_UNKNOWN', 'The request body is not valid JSON'),
  /** [U] bodies of 5xx answers (status faults, a simulator bug). */
  server: (status: number) => e(status, status === 503 ? 'SERVICE_UNAVAILABLE' : 'SERVER_ERROR', status === 503 ? 'The service is temporarily unavailable. Please retry shortly.' : 'Try again. If the problem persists, contact support.'),
} as const;

export function errorAnswer(error: AirtableError): SimAnswer {
  return { status: error.status, body: { error: { type: error.type, message: error.message } } };
}

/** [C] An unknown route: a bare string, not the envelope (§3.4). */
export const NOT_FOUND_ANSWER: SimAnswer = { status: 404, body: { error: 'NOT_FOUND' } };

/** [C] seen in a real 429 (PipedreamHQ/pipedream#10130); Retry-After is not documented (§3.5). */
export function rateLimitedAnswer(retryAfterSeconds: number | false): SimAnswer {
  return {
    status: 429,
    headers: retryAfterSeconds === false ? {} : { 'retry-after': String(retryAfterSeconds) },
    body: { errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' }] },
  };
}

/** What a status fault given no body answers: Airtable's body for that status. */
export function statusAnswer(status: number): SimAnswer {
  switch (status) {
    case 401:
      return errorAnswer(errors.authenticationRequired());
    case 403:
      return errorAnswer(errors.invalidPermissions());
    case 404:
      return NOT_FOUND_ANSWER;
    case 413:
      return errorAnswer(errors.tooLarge());
    case 422:
      return errorAnswer(errors.invalidRequest());
    case 429:
      return rateLimitedAnswer(false);
    default:
      return errorAnswer(status >= 500 ? errors.server(status) : { status, type: 'INVALID_REQUEST_UNKNOWN', message: PARAMETER_VALIDATION });
  }
}
