/**
 * Back-pressure on PostgreSQL: a fault of the connection or the server (cannot connect, the server
 * shutting down or refusing connections, the pool exhausted past its wait) becomes the store's
 * StoreUnavailableError, so ingest answers 503 with Retry-After and Kit retries the delivery later.
 * Every other error (a bug, a constraint) is thrown as it is.
 */
import { StoreUnavailableError } from '../types.js';

/** How long a sender should wait before retrying, when PostgreSQL cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** Node's network errors (no server, no route, a dropped connection). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * SQLSTATE classes and codes that mean "the database cannot take this now" rather than "this
 * request is wrong": 08 connection exception, 53 insufficient resources, 57P01–57P03 shutdown and
 * cannot-connect-now, 58 system error (I/O).
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code.startsWith('58') || ['57P01', '57P02', '57P03'].includes(code);
}

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || isUnavailableSqlState(code))) return true;
  // pg's own messages when a connection ends or the pool times out waiting for one.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(error.message);
}

/** Runs `work`, turning an unavailable database into StoreUnavailableError. */
export async function orUnavailable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StoreUnavailableError || !isUnavailable(error)) throw error;
    throw new StoreUnavailableError(`the store is unavailable: ${(error as Error).message}`, UNAVAILABLE_RETRY_AFTER_SECONDS, { cause: error });
  }
}
