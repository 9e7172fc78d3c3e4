/**
 * The PostgreSQL store's connections (issue 13): one `pg` pool per store, every connection on the
 * store's schema (`search_path`), and the transaction helper every write goes through.
 *
 * Numbers: BIGINT columns (ids, epoch-ms times) come back as JavaScript numbers. Every value
 * kitrelay keeps in them is below 2^53 (ids count rows; times are milliseconds), so the parse is
 * exact; `pg`'s default (strings, for values past 2^53) would make every caller convert.
 */
import pg from 'pg';

pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export interface PoolOptions {
  /** `postgres://user@host:port/database`. */
  readonly url: string;
  /** The schema kitrelay's tables live in (created if missing). @default 'public' */
  readonly schema?: string;
  /** Connections at most. @default 10 */
  readonly max?: number;
  /** Deliveries waiting to commit before commitDelivery fails with StoreUnavailableError (ingest answers 503). @default 10_000 */
  readonly maxWriteBacklog?: number;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** A schema name safe to splice into SQL (it cannot be a bound parameter). */
export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new RangeError(`not a plain lower-case identifier: "${name}"`);
  return `"${name}"`;
}

export function openPool(options: PoolOptions): pg.Pool {
  const schema = options.schema ?? 'public';
  quoteIdent(schema);
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10, options: `-c search_path=${schema}` });
  pool.on('connect', sanitizeTextParameters);
  return pool;
}

/**
 * PostgreSQL text cannot hold U+0000 (the statement fails: "invalid byte sequence for encoding
 * UTF8: 0x00"), and SQLite's can. A webhook whose fields carry one (JSON allows "\u0000") would
 * fail its commit on every redelivery, so every string bound to a statement has U+0000 replaced by
 * U+FFFD, the replacement character, on every connection of the pool (`connect` is emitted before
 * a new connection is first handed out). A delivery's raw body is stored as received: JSON writes
 * the character as the escape `\u0000`, six ASCII characters. pg has no hook for bound values, so
 * the client's `query` is wrapped.
 */
function sanitizeTextParameters(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const wrapped = (config: unknown, values?: unknown, ...rest: unknown[]): unknown => {
    // A plain query config ({ text, values, name }) is copied; a submittable (a Query, a cursor) is left as it is.
    const isPlain = typeof config === 'object' && config !== null && 'values' in config && typeof (config as { submit?: unknown }).submit !== 'function';
    const safeConfig = isPlain ? { ...config, values: withoutNul(config.values) } : config;
    return query(safeConfig, Array.isArray(values) ? withoutNul(values) : values, ...rest);
  };
  (client as unknown as { query: typeof wrapped }).query = wrapped;
}

/** `value` itself when it holds no U+0000 (every statement of the hot paths passes through here), else a copy without. */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
  if (Array.isArray(value) && value.some(holdsNul)) return value.map(withoutNul);
  return value;
}

function holdsNul(value: unknown): boolean {
  return typeof value === 'string' ? value.includes('\0') : Array.isArray(value) && value.some(holdsNul);
}

/**
 * Runs `work` in one transaction on one connection: committed when it resolves, rolled back when
 * it throws (the error is thrown again).
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, isolation: 'read committed' | 'repeatable read' | 'serializable' = 'read committed'): Promise<T> {
  const client = await pool.connect();
  // A connection lost while checked out (a server restart mid-transaction) is also emitted as an
  // 'error' event on the client: with no listener it would crash the process. The query in flight
  // fails on its own, and release(error) below drops the connection.
  const onError = (): void => undefined;
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`);
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
