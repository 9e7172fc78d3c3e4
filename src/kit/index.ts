/**
 * Kit as a domain: the event vocabulary, payload schemas, the signature scheme and normalisation.
 * Other folders import from here only. Fixtures are for tests and the benchmark: import them from
 * `kit/fixtures.js` directly.
 */
export * from './events.js';
export * from './signature.js';
export * from './normalize.js';
export * from './payloads.js';
