export { openSqliteStore, type SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './store.js';
export { MIGRATIONS_DIR } from './core.js';
