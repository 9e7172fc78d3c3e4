import { KitApiError, type KitApiErrorDetails } from './api-error.js';

/**
 * 401: the API key or access token is missing, invalid or expired. The client already refreshed
 * once on "The access token expired" before throwing this (reference/kit.md §1).
 */
export class KitUnauthorizedError extends KitApiError {
  override name = 'KitUnauthorizedError';
  constructor(details: KitApiErrorDetails) {
    super('kit_unauthorized', 'permanent', 'answered 401 Unauthorized (check the API key or run `kitrelay kit login`)', details);
  }

  /** Kit's words for an expired OAuth access token: refreshing it is the fix. */
  get isExpiredToken(): boolean {
    return isExpiredTokenMessage(this.messages);
  }
}

export function isExpiredTokenMessage(messages: readonly string[]): boolean {
  return messages.some((message) => /access token (has )?expired/i.test(message));
}
