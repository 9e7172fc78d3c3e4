/**
 * Authentication, valid and hostile: `X-Kit-Signature` for signed deliveries (reference/kit.md
 * §7B; `t=<unix>,v1=<hex>`, 5-minute tolerance) and path tokens for legacy routes (§7A carries no
 * signature: the token in the URL is the credential). Cases describe what to send; `signatureHeader`
 * and `legacyToken` compute it at sending time, when the clock and the route tokens are known.
 */
import fc from 'fast-check';
import { LEGACY_EVENTS } from '../../src/kit/events.js';
import { computeSignature } from '../../src/kit/signature.js';

export const SECRET = 'whsec_fuzz_current';
export const OLD_SECRET = 'whsec_fuzz_previous';
const WRONG_SECRET = 'whsec_fuzz_wrong';
/** Fixed, so tokens of routes the relay does not have can be minted too. */
export const ROUTE_SECRET = 'fuzz-route-secret-0123456789abcdef';

type SecretName = 'current' | 'old' | 'wrong';
const SECRET_OF: Record<SecretName, string> = { current: SECRET, old: OLD_SECRET, wrong: WRONG_SECRET };

export type Signing =
  | {
      readonly kind: 'computed';
      readonly secrets: readonly SecretName[];
      /** Seconds added to the current time for `t`. */
      readonly skewSeconds: number;
      /** `spaced`: blanks around parts; `extra-scheme`: an unknown `v0=` part as well. */
      readonly style: 'plain' | 'spaced' | 'extra-scheme';
      /** `other`: signs different bytes (a tampered body). */
      readonly over: 'body' | 'other';
    }
  /** A header as written; `{t}` becomes the current time and `{v1}` a valid digest for it. */
  | { readonly kind: 'raw'; readonly header: string }
  | { readonly kind: 'missing' };

const pick = <T>(items: readonly T[]) => fc.constantFrom(...items);

/** Signatures the relay must accept: any configured secret, clock skew within the tolerance. */
export const signatureArb: fc.Arbitrary<Signing> = fc.record({
  kind: fc.constant('computed' as const),
  secrets: pick<SecretName[]>([['current'], ['old'], ['current', 'old'], ['wrong', 'current'], ['old', 'wrong']]),
  skewSeconds: fc.integer({ min: -250, max: 250 }),
  style: pick(['plain', 'plain', 'spaced', 'extra-scheme'] as const),
  over: fc.constant('body' as const),
});

const MALFORMED = ['', '   ', 'garbage', ',,,', 't=', 'v1={v1}', 't={t}', 't={t},v1=', 't={t},v1=xyz', 't=abc,v1={v1}', 't=-{t},v1={v1}', 't={t}.5,v1={v1}', 't={t};v1={v1}', 't={t},v1={v1}0', 't={t},t=1{t},v1={v1}', 't=9999999999999999,v1={v1}', 't=1e9,v1={v1}', 'v1={v1},v1={v1}'];

/** Signatures the relay must refuse: wrong secret, stale or future `t`, tampered body, malformed, missing. */
export const badSignatureArb: fc.Arbitrary<Signing> = fc.oneof(
  fc.record({ kind: fc.constant('computed' as const), secrets: pick<SecretName[]>([['wrong']]), skewSeconds: fc.integer({ min: -250, max: 250 }), style: pick(['plain', 'spaced'] as const), over: fc.constant('body' as const) }),
  fc.record({
    kind: fc.constant('computed' as const),
    secrets: pick<SecretName[]>([['current'], ['current', 'old']]),
    skewSeconds: fc.oneof(fc.integer({ min: 310, max: 10_000_000 }), fc.integer({ min: -10_000_000, max: -310 })),
    style: fc.constant('plain' as const),
    over: fc.constant('body' as const),
  }),
  fc.record({ kind: fc.constant('computed' as const), secrets: pick<SecretName[]>([['current']]), skewSeconds: fc.constant(0), style: fc.constant('plain' as const), over: fc.constant('other' as const) }),
  pick(MALFORMED).map((header) => ({ kind: 'raw' as const, header })),
  fc.constant({ kind: 'missing' as const }),
);

export function signatureHeader(signing: Signing, body: Buffer, nowSeconds: number): string | undefined {
  switch (signing.kind) {
    case 'missing':
      return undefined;
    case 'raw':
      return signing.header.replaceAll('{v1}', computeSignature(SECRET, nowSeconds, body)).replaceAll('{t}', String(nowSeconds));
    case 'computed': {
      const t = nowSeconds + signing.skewSeconds;
      const signed = signing.over === 'body' ? body : Buffer.concat([body, Buffer.from(' ')]);
      const sep = signing.style === 'spaced' ? ' , ' : ',';
      const parts = [`t=${t}`, ...signing.secrets.map((name) => `v1=${computeSignature(SECRET_OF[name], t, signed)}`)];
      if (signing.style === 'extra-scheme') parts.splice(1, 0, 'v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39');
      return parts.join(sep);
    }
  }
}

// ---------------------------------------------------------------- legacy tokens and routes

export type TokenMutation =
  | { readonly kind: 'wrong'; readonly token: string }
  | { readonly kind: 'truncated'; readonly keep: number }
  | { readonly kind: 'extended'; readonly extra: string }
  | { readonly kind: 'other-route' | 'case-flipped' };

const BASE64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
const PRINTABLE = [...Array(95).keys()].map((i) => String.fromCharCode(0x20 + i));

/** `X-Kit-Delivery`, which quarantine keeps: usually Kit's id, sometimes odd or long, sometimes none. */
export const deliveryHeaderArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map(String) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string({ unit: pick(PRINTABLE), minLength: 1, maxLength: 300 }).map((s) => s.trim() || 'x') },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 8_000 }).map((n) => '9'.repeat(n)) },
);

const tokenMutationArb: fc.Arbitrary<TokenMutation> = fc.oneof(
  fc.string({ unit: pick(BASE64URL), minLength: 1, maxLength: 40 }).map((token) => ({ kind: 'wrong' as const, token })),
  fc.integer({ min: 1, max: 31 }).map((keep) => ({ kind: 'truncated' as const, keep })),
  fc.string({ unit: pick(BASE64URL), minLength: 1, maxLength: 4 }).map((extra) => ({ kind: 'extended' as const, extra })),
  pick(['other-route', 'case-flipped'] as const).map((kind) => ({ kind })),
);

/** The token sent for a legacy route: derived from the valid one, never equal to it. */
export function legacyToken(m: TokenMutation, valid: string, other: string): string {
  switch (m.kind) {
    case 'wrong':
      return m.token === valid ? `${m.token}x` : m.token;
    case 'truncated':
      return valid.slice(0, m.keep);
    case 'extended':
      return valid + m.extra;
    case 'other-route':
      return other;
    case 'case-flipped': {
      const i = [...valid].findIndex((c) => c.toLowerCase() !== c.toUpperCase());
      const c = valid.charAt(i);
      return i < 0 ? `${valid}x` : valid.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + valid.slice(i + 1);
    }
  }
}

/** Route ids the relay does not have, some of them names every JS object answers to. */
const UNKNOWN_ROUTE_IDS = ['tag_add-999', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'TAG_ADD-4242', 'subscriber.tag_add', 'tag_add', 'tag_add-4242 ', '..'];
const UNKNOWN_ENDPOINTS = ['other', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'MAIN', 'main2', '..'];
const OTHER_PATHS = ['/', '/hooks', '/hooks/kit/legacy', '/hooks/kit/signed', '/healthz', '/metrics', '/hooks/kit/signed/main/extra', '/HOOKS/kit/signed/main', `/hooks/kit/legacy/${'a'.repeat(5000)}/x`];
const BAD_CONTENT_TYPES = [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/json', 'application/xml'];

const eventArb = pick(LEGACY_EVENTS.map((e) => e.legacyName));
const routeKindArb = pick(['legacy', 'signed'] as const);

/**
 * Where an unauthenticated (or otherwise refused) request goes. Unknown routes are tried with
 * credentials that would be valid there (a minted token, a good signature), so only the route
 * refuses them. Content type and size are tried with valid credentials: refused before reading.
 */
export type UnauthTarget = { readonly label: string } & (
  | { readonly kind: 'legacy-token'; readonly event: string; readonly token: TokenMutation }
  | { readonly kind: 'signature'; readonly signing: Signing }
  | { readonly kind: 'unknown-legacy'; readonly routeId: string }
  | { readonly kind: 'unknown-endpoint'; readonly name: string }
  | { readonly kind: 'other-path'; readonly path: string }
  | { readonly kind: 'content-type'; readonly route: 'legacy' | 'signed'; readonly event: string; readonly contentType: string | undefined }
  | { readonly kind: 'oversize'; readonly route: 'legacy' | 'signed'; readonly event: string; readonly bytes: number }
  | { readonly kind: 'method'; readonly route: 'legacy' | 'signed'; readonly event: string; readonly method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' }
);

export const unauthTargetArb: fc.Arbitrary<UnauthTarget> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ event: eventArb, token: tokenMutationArb }).map((t) => ({ kind: 'legacy-token' as const, ...t, label: `token:${t.token.kind}` })) },
  { weight: 12, arbitrary: badSignatureArb.map((signing) => ({ kind: 'signature' as const, signing, label: `signature:${signing.kind === 'computed' ? (signing.over === 'other' ? 'tampered' : signing.secrets.includes('wrong') ? 'wrong-secret' : 'stale') : signing.kind}` })) },
  { weight: 4, arbitrary: pick(UNKNOWN_ROUTE_IDS).map((routeId) => ({ kind: 'unknown-legacy' as const, routeId, label: 'unknown-legacy-route' })) },
  { weight: 4, arbitrary: pick(UNKNOWN_ENDPOINTS).map((name) => ({ kind: 'unknown-endpoint' as const, name, label: 'unknown-endpoint' })) },
  { weight: 4, arbitrary: pick(OTHER_PATHS).map((path) => ({ kind: 'other-path' as const, path, label: 'unknown-path' })) },
  { weight: 8, arbitrary: fc.record({ route: routeKindArb, event: eventArb, contentType: pick(BAD_CONTENT_TYPES) }).map((t) => ({ kind: 'content-type' as const, ...t, label: 'content-type' })) },
  { weight: 2, arbitrary: fc.record({ route: routeKindArb, event: eventArb, method: pick(['GET', 'PUT', 'PATCH', 'DELETE'] as const) }).map((t) => ({ kind: 'method' as const, ...t, label: 'method' })) },
  { weight: 1, arbitrary: fc.record({ route: routeKindArb, event: eventArb, bytes: fc.integer({ min: 1_048_577, max: 1_100_000 }) }).map((t) => ({ kind: 'oversize' as const, ...t, label: 'oversize' })) },
);
