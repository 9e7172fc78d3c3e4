import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/**
 * 404. Getters return `undefined` instead of throwing this (`getSubscriber`, `getPurchase`, …);
 * writes throw it, because the thing they act on (a tag, a subscriber) does not exist.
 */
export class KitNotFoundError extends KitApiError {
  override name = 'KitNotFoundError';
  constructor(details: KitApiErrorDetails) {
    super('kit_not_found', 'permanent', 'answered 404 Not Found', details);
  }
}
