/** kitrelay's own version, for User-Agent headers. */
import { createRequire } from 'node:module';

/**
 * The version in package.json, read when asked (never at import). This file sits two levels below
 * the package root both as source (src/lib) and as build output (dist/lib), so one path serves both.
 */
export function packageVersion(): string {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

export function userAgent(): string {
  return `kitrelay/${packageVersion()}`;
}
