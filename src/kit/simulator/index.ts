/**
 * The Kit API v4 simulator: a real HTTP server on loopback that behaves like api.kit.com (auth,
 * cursor pagination, rate limits and 429s, error shapes, faults on demand), generates large
 * accounts lazily from a seed, records what it receives and reports every change it makes as a
 * `KitChange` for the webhook emitter. Tests, benchmarks and the sandbox use it.
 */
export { startKitSimulator, type KitCredentials, type KitSimulator, type KitSimulatorOptions } from './server.js';
export { SimState, type SimStateOptions, type SubscriberInput } from './state.js';
export { SimFaults, type FaultSpec, type FaultAction, type FaultRequestView, type WebhookDropSpec } from './faults.js';
export type { RecordedRequest } from './record.js';
export type { BulkCallback } from './routes-commerce.js';
export type { Credential, OAuthOptions, TokenResponse } from './auth.js';
export { API_KEY_INVALID, NO_CREDENTIALS, TOKEN_EXPIRED, TOKEN_INVALID } from './auth.js';
export type { RateLimitOptions } from './rate-limit.js';
export { RATE_LIMITED_BODY } from './rate-limit.js';
export type { SeedSpec } from './seed.js';
export type { ChangeListener, KitChange, KitSubscriberJson, KitTagJson, KitCustomFieldJson } from './changes.js';
export { sendErrors, NOT_FOUND } from './http.js';
export {
  DEFAULT_PER_PAGE,
  MAX_PER_PAGE,
  INVALID_CURSOR,
  paginateById,
  parsePageRequest,
  type Page,
  type PageRequest,
  type PaginationJson,
} from './pagination.js';
export { isoSeconds, type SubscriberState } from './model.js';
