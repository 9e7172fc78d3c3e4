/**
 * What ingest did with one inbound request, as a value. One switch (`toHttp`) maps every outcome
 * to the HTTP answer Kit gets, so the status codes live in one place.
 */
export type RejectReason =
  | 'unknown_route'
  | 'bad_token'
  | 'missing_signature'
  | 'malformed_signature'
  | 'bad_signature'
  | 'stale_timestamp'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'method_not_allowed'
  | 'bad_request'
  /** The gate's budget for unauthenticated bodies is spent (ingest/gate.ts): retry shortly. */
  | 'overloaded'
  /** The client took longer than the server's timeouts to send its request. */
  | 'request_timeout';

export type IngestOutcome =
  /** Stored: every event accepted or recognised as a duplicate; any bad events quarantined. */
  | {
      readonly kind: 'accepted';
      readonly deliveryId: number;
      readonly accepted: number;
      readonly duplicates: number;
      readonly quarantined: number;
      readonly eventIds: readonly number[];
      readonly jobs: number;
    }
  /** Authenticated, but nothing usable in it: kept in quarantine, answered 400. */
  | { readonly kind: 'quarantined'; readonly deliveryId: number; readonly quarantineIds: readonly number[]; readonly reason: string; readonly detail: string }
  /** Refused before anything was stored. */
  | { readonly kind: 'rejected'; readonly reason: RejectReason; readonly message: string }
  /** Could not be stored now: Kit should retry. */
  | { readonly kind: 'unavailable'; readonly retryAfterSeconds: number; readonly message: string };

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const REJECT_STATUS: Record<RejectReason, number> = {
  unknown_route: 404,
  bad_token: 401,
  missing_signature: 401,
  malformed_signature: 401,
  bad_signature: 401,
  stale_timestamp: 401,
  unsupported_media_type: 415,
  payload_too_large: 413,
  method_not_allowed: 405,
  bad_request: 400,
  overloaded: 503,
  request_timeout: 408,
};

export function toHttp(outcome: IngestOutcome): HttpAnswer {
  switch (outcome.kind) {
    case 'accepted':
      return {
        status: 200,
        headers: {},
        body: {
          status: outcome.duplicates > 0 && outcome.accepted === 0 && outcome.quarantined === 0 ? 'duplicate' : outcome.quarantined > 0 ? 'partial' : 'accepted',
          delivery_id: outcome.deliveryId,
          accepted: outcome.accepted,
          duplicates: outcome.duplicates,
          quarantined: outcome.quarantined,
          jobs: outcome.jobs,
        },
      };
    case 'quarantined':
      return {
        status: 400,
        headers: {},
        body: { error: { code: outcome.reason, message: `${outcome.detail} (kept in quarantine as #${outcome.quarantineIds.join(', #')})` }, quarantine_ids: outcome.quarantineIds },
      };
    case 'rejected':
      return {
        status: REJECT_STATUS[outcome.reason],
        headers: outcome.reason === 'overloaded' ? { 'retry-after': '1' } : {},
        body: { error: { code: outcome.reason, message: outcome.message } },
      };
    case 'unavailable':
      return {
        status: 503,
        headers: { 'retry-after': String(outcome.retryAfterSeconds) },
        body: { error: { code: 'unavailable', message: outcome.message } },
      };
  }
}
