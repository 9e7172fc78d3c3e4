/**
 * Structured JSON logs (pino). Secrets never reach logs: known secret-bearing paths are redacted
 * by pino, and URLs carrying route tokens are logged through `redactUrl` (lib/redact.ts).
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type Log = Logger;

export const REDACT_PATHS = [
  'secret',
  'secrets',
  'token',
  'password',
  'authorization',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["x-kit-signature"]',
  'headers["x-kit-api-key"]',
  'req.headers.authorization',
  'req.headers["x-kit-signature"]',
  'req.headers["x-kit-api-key"]',
];

export function createLog(options: { level?: string; destination?: DestinationStream; name?: string } = {}): Log {
  return pino(
    {
      name: options.name ?? 'kitrelay',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** A logger that writes nothing, for tests and CLI commands that print their own output. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
