import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 403: authenticated but not allowed (subscriber limit on bulk, an endpoint another app created). */
export class KitForbiddenError extends KitApiError {
  override name = 'KitForbiddenError';
  constructor(details: KitApiErrorDetails) {
    super('kit_forbidden', 'permanent', 'answered 403 Forbidden', details);
  }
}
