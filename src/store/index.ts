/** The store: every durable fact kitrelay keeps. Glossary and ports in types.ts. */
export * from './types.js';
export { ENROLMENT_STATUSES } from './kajabi-types.js';
export { openSqliteStore, type SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './sqlite/index.js';
export { openPostgresStore, type PostgresStore } from './postgres/store.js';

import type { PostgresStore } from './postgres/store.js';
import type { RateBucketStore } from './types.js';
import type { SqliteStore } from './sqlite/index.js';
/** The store a deployment runs on: SQLite (the default) or PostgreSQL (`store.url`); `dialect` tells them apart. */
export type AnyStore = SqliteStore | PostgresStore;

/**
 * The rate-limit buckets a worker on `store` must share with the other processes on it: the store
 * itself on PostgreSQL; none on SQLite, whose one process keeps them in memory.
 */
export function sharedRateBuckets(store: AnyStore): { readonly rateBuckets?: RateBucketStore } {
  return store.dialect === 'postgres' ? { rateBuckets: store } : {};
}
