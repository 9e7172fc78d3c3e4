/**
 * The base of kitrelay's errors: every error has a stable code (for logs, metrics and scripts) and
 * the HTTP status it maps to when it reaches an HTTP edge (fastify's lib/errors.js habit).
 *
 * Expected outcomes (a bad signature, a duplicate) are values, not errors; errors are for bugs,
 * infrastructure faults and invalid configuration.
 */
export class KitrelayError extends Error {
  override name = 'KitrelayError';
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 500,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Configuration that fails validation: the message names the field and the fix. */
export class ConfigError extends KitrelayError {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super('config_invalid', message, 500);
  }
}

/** The store cannot take writes now: ingest answers 503 with Retry-After. */
export class StoreUnavailableError extends KitrelayError {
  override name = 'StoreUnavailableError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super('store_unavailable', message, 503, options);
  }
}
