import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 422: Kit rejected a value ("Email address is invalid", "Name can't be blank"); `messages` says which. */
export class KitValidationError extends KitApiError {
  override name = 'KitValidationError';
  constructor(details: KitApiErrorDetails) {
    super('kit_validation_failed', 'permanent', 'answered 422 Unprocessable Entity', details);
  }
}
