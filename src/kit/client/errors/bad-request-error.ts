import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 400: Kit refused the request's shape (e.g. a bad filter range, reference/kit.md §6). */
export class KitBadRequestError extends KitApiError {
  override name = 'KitBadRequestError';
  constructor(details: KitApiErrorDetails) {
    super('kit_bad_request', 'permanent', 'answered 400 Bad Request', details);
  }
}
