/**
 * The better-sqlite3 build this Node.js can run safely: 13 on Node ≥ 22 (its supported range),
 * 12 (the npm alias `better-sqlite3-node20`, an optional dependency) on Node 20.
 *
 * Why two: better-sqlite3 12 wraps its objects in Node's own `node::ObjectWrap`, which on Node 24
 * registers an environment cleanup hook and removes it in its destructor, asserting that a JS
 * context is entered. When the garbage collector frees a statement or an iterator outside one
 * (a GC run from a V8 task), the process aborts (`Assertion failed: (env) != nullptr`). A statement
 * or iterator that becomes garbage is routine (every `db.pragma()` call prepares one), so on Node 24
 * the service died within seconds of load; `driver.test.ts` reproduces it. better-sqlite3 13 moved
 * to Node-API and does not have the fault, but requires Node ≥ 22, and kitrelay supports Node 20.
 * The two majors have the same API for everything kitrelay uses.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** The Node.js major from which better-sqlite3 13 is used. */
const NAPI_BUILD_FROM_MAJOR = 22;

/** The package loaded here: the npm name, or the alias for the Node 20 build. */
export const SQLITE_DRIVER =
  Number.parseInt(process.versions.node, 10) >= NAPI_BUILD_FROM_MAJOR ? 'better-sqlite3' : 'better-sqlite3-node20';

function load(): typeof BetterSqlite3 {
  try {
    return require(SQLITE_DRIVER) as typeof BetterSqlite3;
  } catch (error) {
    if (SQLITE_DRIVER === 'better-sqlite3-node20' && (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `Node.js ${process.versions.node} needs better-sqlite3 12 (optional dependency better-sqlite3-node20), ` +
          'which is not installed (npm leaves an optional dependency out when its native build fails). Run `npm ci` again and read its output, ' +
          'or use Node.js 22 or later.',
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * better-sqlite3's `Database` class, from the build chosen above. Types come from
 * `import type … from 'better-sqlite3'` as usual: they are the same for both builds.
 */
export const Sqlite: typeof BetterSqlite3 = load();
