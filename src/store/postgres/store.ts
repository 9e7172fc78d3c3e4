/**
 * The PostgreSQL store (issue 13): the `Store` port over one `pg` pool, for deployments that
 * outgrow one machine (several kitrelay processes sharing one database). Each area is its own
 * module (ingest, query, queue, retention, erase, Kit, schedules, audiences, Airtable, Kajabi), as
 * on SQLite; this file opens the pool, migrates (safe when several instances start at once),
 * and makes one object of them.
 *
 * Every method turns an unreachable database into StoreUnavailableError (ingest answers 503 with
 * Retry-After), as the SQLite store does for a dead writer.
 */
import type pg from 'pg';
import type { RateBucketStore, Store } from '../types.js';
import { PgAirtableInboundOps } from './airtable-inbound.js';
import { PgAirtableOps } from './airtable.js';
import { PgAudienceOps } from './audiences.js';
import { PgEraseOps } from './erase.js';
import { PgIngestOps } from './ingest.js';
import { PgKajabiOps } from './kajabi.js';
import { PgKitOps } from './kit.js';
import { migrate } from './migrate.js';
import { createJobsListener, type ListenErrorHandler } from './notify.js';
import { openPool, type PoolOptions } from './pool.js';
import { PgQueryOps } from './query.js';
import { PgQueueOps } from './queue.js';
import { PgRateBucketOps } from './rate-buckets.js';
import { PgRetentionOps } from './retention.js';
import { PgScheduleOps } from './schedules.js';
import { orUnavailable } from './unavailable.js';

export interface PostgresStore extends Store, RateBucketStore {
  readonly dialect: 'postgres';
  /** The schema the tables are in. */
  readonly schema: string;
  /**
   * Calls `listener` soon after any process's transaction on this schema made jobs runnable (LISTEN
   * on one dedicated connection; see notify.ts): a hint to claim now, never a guarantee, so
   * workers keep polling. `onError` hears the connection's failures (it reconnects by itself).
   * Answers the unsubscribe; `close()` ends the connection.
   */
  onJobsAvailable(listener: () => void, onError?: ListenErrorHandler): () => void;
}

export async function openPostgresStore(options: PoolOptions): Promise<PostgresStore> {
  const pool = openPool(options);
  // An idle connection the server drops (a restart, a terminated backend) must not crash the
  // process: the next query gets a fresh connection, or fails as unavailable.
  pool.on('error', () => undefined);
  try {
    await orUnavailable(() => migrate(pool));
    const storeId = await orUnavailable(async () => (await pool.query<{ value: string }>("SELECT value FROM settings WHERE key = 'store_id'")).rows[0]?.value);
    if (storeId === undefined) throw new Error('settings has no store_id: the database was not migrated');
    return compose(pool, storeId, options);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
}

type Provided = PgRateBucketOps & PgIngestOps & PgQueryOps & PgQueueOps & PgRetentionOps & PgEraseOps & PgKitOps & PgScheduleOps & PgAudienceOps & PgAirtableOps & PgAirtableInboundOps & PgKajabiOps;
/** A Store method no area provides; the assignment below names it when the port grows. */
type Missing = Exclude<keyof Store, keyof Provided | 'dialect' | 'close'>;
export const EVERY_METHOD_PROVIDED: [Missing] extends [never] ? true : Missing = true;

function compose(pool: pg.Pool, storeId: string, options: PoolOptions): PostgresStore {
  const { url } = options;
  const schema = options.schema ?? 'public';
  const areas: object[] = [
    new PgIngestOps(pool, options.maxWriteBacklog),
    new PgQueryOps(pool),
    new PgQueueOps(pool, storeId),
    new PgRetentionOps(pool),
    new PgEraseOps(pool),
    new PgKitOps(pool),
    new PgScheduleOps(pool),
    new PgAudienceOps(pool),
    new PgAirtableOps(pool),
    new PgAirtableInboundOps(pool),
    new PgKajabiOps(pool),
    new PgRateBucketOps(pool),
  ];
  const store: Record<string, unknown> = { dialect: 'postgres', schema };
  for (const area of areas) {
    const prototype = Object.getPrototypeOf(area) as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = prototype[name];
      if (name === 'constructor' || typeof method !== 'function') continue;
      if (Object.hasOwn(store, name)) throw new Error(`two PostgreSQL store areas define ${name}`);
      const bound = (method as (...args: unknown[]) => Promise<unknown>).bind(area);
      store[name] = (...args: unknown[]) => orUnavailable(() => bound(...args));
    }
  }
  const jobsListener = createJobsListener({ url, schema });
  store['onJobsAvailable'] = (listener: () => void, onError?: ListenErrorHandler) => jobsListener.add(listener, onError);
  let closed: Promise<void> | undefined;
  store['close'] = () => (closed ??= jobsListener.close().then(() => pool.end()));
  return store as unknown as PostgresStore;
}
