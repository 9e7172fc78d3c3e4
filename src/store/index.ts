/** The store: every durable fact kitrelay keeps. Glossary and ports in types.ts. */
export * from './types.js';
export { ENROLMENT_STATUSES } from './kajabi-types.js';
export { openSqliteStore, type SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './sqlite/index.js';
