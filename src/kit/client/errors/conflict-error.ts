import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 409: e.g. rotating a webhook secret still inside its rotation window (pass `force: true`). */
export class KitConflictError extends KitApiError {
  override name = 'KitConflictError';
  constructor(details: KitApiErrorDetails) {
    super('kit_conflict', 'permanent', 'answered 409 Conflict', details);
  }
}
