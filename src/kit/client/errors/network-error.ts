import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** No answer from Kit: refused, reset, DNS, or our timeout. Retryable (unless the request could not be built). */
export class KitNetworkError extends KitApiError {
  override name = 'KitNetworkError';
  constructor(
    /** The shared HTTP client's code: `timeout`, `ECONNREFUSED`, `ECONNRESET`, … */
    readonly networkCode: string,
    details: KitApiErrorDetails & { readonly attempts: number; readonly detail: string },
  ) {
    // `invalid_request` is undici refusing to send at all (a bad base URL): a config bug, not weather.
    super(
      networkCode === 'timeout' ? 'kit_timeout' : 'kit_network_error',
      networkCode === 'invalid_request' ? 'permanent' : 'retryable',
      `unreachable after ${details.attempts} attempt(s): ${details.detail}`,
      details,
    );
  }
}
