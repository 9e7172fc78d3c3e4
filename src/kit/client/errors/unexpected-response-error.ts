import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/**
 * Kit answered something this client does not understand: a status it has no class for (3xx, 405,
 * 410, …) or a success body without the expected shape. Permanent: retrying the same bytes
 * will not teach us the format.
 */
export class KitUnexpectedResponseError extends KitApiError {
  override name = 'KitUnexpectedResponseError';
  constructor(summary: string, details: KitApiErrorDetails = {}) {
    super('kit_unexpected_response', 'permanent', summary, details);
  }
}
