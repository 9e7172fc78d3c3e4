/** Comparing secrets (URL tokens, OAuth state) without leaking through timing. */
import { timingSafeEqual } from 'node:crypto';

/** Whether two texts are equal, compared in constant time; a length mismatch is itself a mismatch (lengths are not secret). */
export function secretsMatch(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
