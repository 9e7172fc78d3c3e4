/** The Kit client's errors: one class per file under `KitApiError`. */
export { KitApiError, type KitApiErrorDetails, type KitRetryClass } from './api-error.js';
export { KitBadRequestError } from './bad-request-error.js';
export { KitConflictError } from './conflict-error.js';
export { KitForbiddenError } from './forbidden-error.js';
export { KitNetworkError } from './network-error.js';
export { KitNotFoundError } from './not-found-error.js';
export { KitOAuthError, type KitOAuthFailure } from './oauth-error.js';
export { KitOAuthRequiredError } from './oauth-required-error.js';
export { KitPayloadTooLargeError } from './payload-too-large-error.js';
export { KitRateLimitedError } from './rate-limited-error.js';
export { KitServerError } from './server-error.js';
export { KitUnauthorizedError, isExpiredTokenMessage } from './unauthorized-error.js';
export { KitUnexpectedResponseError } from './unexpected-response-error.js';
export { KitValidationError } from './validation-error.js';
export { errorFromStatus, parseKitErrorMessages } from './from-response.js';
