/**
 * GDPR erasure: `kitrelay erase <email>` removes one person from kitrelay's store (events, jobs,
 * the subscriber mirror, quarantined bodies, spent once-keys) and keeps their audit records with
 * nothing personal in them, so what was sent stays provable without saying about whom.
 */
import type { EraseResult } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

export type EraseOutcome = { readonly kind: 'erased'; readonly result: EraseResult } | { readonly kind: 'invalid_email'; readonly message: string };

/** A deliberately loose check: anything with one @ and a dot after it (Kit decides what an address is). */
const LOOKS_LIKE_EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export async function eraseSubscriber(deps: ServiceDeps, email: string): Promise<EraseOutcome> {
  const address = email.trim();
  if (!LOOKS_LIKE_EMAIL.test(address)) return { kind: 'invalid_email', message: `"${email}" is not an email address: erase takes the person's address (kitrelay erase ada@example.com)` };
  return { kind: 'erased', result: await deps.store.eraseSubscriber({ email: address, now: deps.clock.now() }) };
}
