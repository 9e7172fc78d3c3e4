import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 5xx: Kit failed. Retryable; thrown once the client's own retries are spent (or for a non-idempotent call). */
export class KitServerError extends KitApiError {
  override name = 'KitServerError';
  constructor(details: KitApiErrorDetails & { readonly attempts: number }) {
    super('kit_server_error', 'retryable', `answered ${details.status ?? '5xx'} after ${details.attempts} attempt(s)`, details);
  }
}
