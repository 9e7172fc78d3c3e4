import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/**
 * The endpoint accepts only OAuth access tokens (`/v4/bulk/*`, `/v4/purchases*`, reference/kit.md
 * §1) and the client holds an API key. Thrown before any request is sent.
 */
export class KitOAuthRequiredError extends KitApiError {
  override name = 'KitOAuthRequiredError';
  constructor(details: KitApiErrorDetails) {
    super(
      'kit_oauth_required',
      'permanent',
      'is OAuth-only and this client has only an API key: configure Kit OAuth and run `kitrelay kit login`',
      details,
    );
  }
}
