/**
 * Prepared statements for SQL built at run time (listing filters): prepared once per distinct
 * text and reused, since the set of filter combinations is small and fixed by the code.
 */
import type { Database, Statement } from 'better-sqlite3';

export class StatementCache {
  readonly #db: Database;
  readonly #cache = new Map<string, Statement>();

  constructor(db: Database) {
    this.#db = db;
  }

  get(sql: string): Statement {
    let statement = this.#cache.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}
