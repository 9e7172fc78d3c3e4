import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/** 413: Kit's bulk queue holds more than 300 MB for this app and account (reference/kit.md §5 Bulk). */
export class KitPayloadTooLargeError extends KitApiError {
  override name = 'KitPayloadTooLargeError';
  constructor(details: KitApiErrorDetails) {
    super('kit_payload_too_large', 'permanent', 'answered 413 Payload Too Large', details);
  }
}
