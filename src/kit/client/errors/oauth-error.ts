import { KitApiError, type KitApiErrorDetails } from './api-error.js';

export type KitOAuthFailure =
  /** The token endpoint refused the grant (bad code, revoked refresh token, wrong client). */
  | 'grant_rejected'
  /** Refresh was needed but there is no refresh token. */
  | 'no_refresh_token'
  /** The token endpoint answered 2xx without an access token. */
  | 'bad_token_response'
  /** The login's redirect carried another state: a stale tab or a forged request. */
  | 'state_mismatch'
  /** The user (or Kit) denied the authorisation: `?error=access_denied`. */
  | 'authorization_denied'
  /** No redirect arrived within the login's timeout. */
  | 'timeout'
  /** The token endpoint could not be reached, or failed with 5xx. */
  | 'token_endpoint_unavailable';

/**
 * The OAuth dance failed: login (authorisation code + PKCE) or refresh. The token endpoint's own
 * `error`/`error_description` are kept in `messages` (reference/kit.md §6); tokens never are.
 */
export class KitOAuthError extends KitApiError {
  override name = 'KitOAuthError';
  constructor(
    readonly failure: KitOAuthFailure,
    summary: string,
    details: KitApiErrorDetails = {},
  ) {
    super(`kit_oauth_${failure}`, failure === 'token_endpoint_unavailable' ? 'retryable' : 'permanent', summary, details);
  }
}
