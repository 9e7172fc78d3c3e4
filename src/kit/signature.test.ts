import { describe, expect, it } from 'vitest';
import { computeSignature, parseSignatureHeader, signPayload, verifySignature, type VerifyInput } from './signature.js';

// Expected digests computed independently, outside this codebase:
//   python3 -c "import hmac,hashlib;print(hmac.new(b'whsec_test',b'1700000000.{\"a\":1}',hashlib.sha256).hexdigest())"
const T = 1_700_000_000;
const BODY = Buffer.from('{"a":1}');
const V_TEST = '38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789'; // whsec_test
const V_OLD = 'b9d801502bb535e960ee9aeee7a294b082bda5089d79c7db610b85116ce6faa6'; // whsec_old
const V_NEW = 'e8dddd2062d71761004bf7a203f96314721871cce1a41057a9e2fdf6d91a3735'; // whsec_new
// A multi-byte UTF-8 body: the HMAC runs over the bytes, not UTF-16 code units.
const UTF8_BODY = Buffer.from('{"name":"José"}', 'utf8');
const V_UTF8 = '1d7029ffe6922aab82d87f0bba67c8105a94c0a63efa3010f80404fc0ea693e8'; // whsec_test
// A realistic envelope signed with a realistic secret at 2026-07-29T14:32:10Z.
const ENVELOPE =
  '{"delivery_id":123456,"events":[{"id":"0b7c4a52-3b7e-4c0e-9a51-2f6f0f3c1d11","type":"subscriber.tag_added","created":"2026-07-29T14:32:10Z","data":{"subscriber":{"id":1,"email_address":"john@example.com"},"tag":{"id":42,"name":"Customer"}}}]}';
const ENVELOPE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ENVELOPE_T = 1_785_335_530;
const V_ENVELOPE = '037af549fa7d9d2a37bbf1a0a85548d405f1227bac393c4d45f21decf68a1505';

const NOW = T * 1000;

function verify(overrides: Partial<VerifyInput>): ReturnType<typeof verifySignature> {
  return verifySignature({ header: `t=${T},v1=${V_TEST}`, body: BODY, secrets: ['whsec_test'], now: NOW, toleranceSeconds: 300, ...overrides });
}

describe('signPayload', () => {
  it('produces the known digest, keyed by the whole whsec_ secret', () => {
    expect(signPayload({ secrets: ['whsec_test'], body: BODY, timestamp: T })).toBe(`t=${T},v1=${V_TEST}`);
    expect(signPayload({ secrets: ['whsec_test'], body: '{"a":1}', timestamp: T })).toBe(`t=${T},v1=${V_TEST}`);
  });

  it('signs the UTF-8 bytes of the body', () => {
    expect(computeSignature('whsec_test', T, UTF8_BODY)).toBe(V_UTF8);
    expect(computeSignature('whsec_test', T, '{"name":"José"}')).toBe(V_UTF8);
  });

  it('matches an independently computed digest of a realistic envelope', () => {
    expect(signPayload({ secrets: [ENVELOPE_SECRET], body: ENVELOPE, timestamp: ENVELOPE_T })).toBe(`t=${ENVELOPE_T},v1=${V_ENVELOPE}`);
  });

  it('emits one v1 per secret, in order', () => {
    expect(signPayload({ secrets: ['whsec_new', 'whsec_old'], body: BODY, timestamp: T })).toBe(`t=${T},v1=${V_NEW},v1=${V_OLD}`);
  });

  it('refuses millisecond or fractional timestamps and an empty secret list', () => {
    expect(() => signPayload({ secrets: ['whsec_test'], body: BODY, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => signPayload({ secrets: [], body: BODY, timestamp: T })).toThrow(RangeError);
  });
});

describe('verifySignature', () => {
  it('accepts a good signature', () => {
    expect(verify({})).toEqual({ ok: true });
  });

  it('accepts what signPayload produced (round trip)', () => {
    const header = signPayload({ secrets: [ENVELOPE_SECRET], body: ENVELOPE, timestamp: ENVELOPE_T });
    expect(verify({ header, body: Buffer.from(ENVELOPE), secrets: [ENVELOPE_SECRET], now: ENVELOPE_T * 1000 + 42_000 })).toEqual({ ok: true });
  });

  it('rejects a signature made with another secret', () => {
    expect(verify({ header: `t=${T},v1=${V_OLD}` })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects a body tampered by one byte', () => {
    expect(verify({ body: Buffer.from('{"a":2}') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ body: Buffer.from('{"a":1} ') })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects a signature whose timestamp was changed', () => {
    expect(verify({ header: `t=${T + 1},v1=${V_TEST}` })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('passes when the second of two v1 values matches (Kit signing with old and new secrets)', () => {
    const header = `t=${T},v1=${V_OLD},v1=${V_NEW}`;
    expect(verify({ header, secrets: ['whsec_new'] })).toEqual({ ok: true });
    expect(verify({ header, secrets: ['whsec_test'] })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('passes a header signed by the previous secret while we hold [new, old]', () => {
    expect(verify({ header: `t=${T},v1=${V_OLD}`, secrets: ['whsec_new', 'whsec_old'] })).toEqual({ ok: true });
  });

  it('fails closed with no secrets configured', () => {
    expect(verify({ secrets: [] })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects a timestamp older than the tolerance, and accepts one at its edge', () => {
    expect(verify({ now: NOW + 301_000 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verify({ now: NOW + 300_000 })).toEqual({ ok: true });
  });

  it('rejects a timestamp further in the future than the tolerance', () => {
    expect(verify({ now: NOW - 301_000 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verify({ now: NOW - 300_000 })).toEqual({ ok: true });
  });

  it('reports a missing header', () => {
    expect(verify({ header: undefined })).toEqual({ ok: false, reason: 'missing_signature' });
    expect(verify({ header: '  ' })).toEqual({ ok: false, reason: 'missing_signature' });
  });

  it.each([
    ['no timestamp', `v1=${V_TEST}`],
    ['no v1', `t=${T}`],
    ['only an unknown scheme', `t=${T},v0=${V_TEST}`],
    ['a non-numeric timestamp', `t=abc,v1=${V_TEST}`],
    ['a millisecond-looking fractional timestamp', `t=${T}.5,v1=${V_TEST}`],
    ['two different timestamps', `t=${T},t=${T + 1},v1=${V_TEST}`],
    ['a v1 that is not a SHA-256 hex digest', `t=${T},v1=not-hex`],
    ['garbage', 'sha256=deadbeef'],
  ])('reports a malformed header: %s', (_name, header) => {
    expect(verify({ header })).toEqual({ ok: false, reason: 'malformed_signature' });
  });

  it('parses tolerantly: spaces, upper-case hex, unknown schemes in any position', () => {
    expect(verify({ header: ` v0=abc , t = ${T} ,  v2=zzz, v1 = ${V_TEST.toUpperCase()} ` })).toEqual({ ok: true });
  });

  it('ignores an unusable v1 beside a good one', () => {
    expect(verify({ header: `t=${T},v1=short,v1=${V_TEST}` })).toEqual({ ok: true });
  });
});

describe('parseSignatureHeader', () => {
  it('keeps the timestamp as written, since it is part of the signed message', () => {
    const parsed = parseSignatureHeader(`t=0${T},v1=${V_TEST}`);
    expect(parsed?.timestampText).toBe(`0${T}`);
    expect(parsed?.timestamp).toBe(T);
    // Signed over "0<T>." — so the digest for "<T>." does not match.
    expect(verify({ header: `t=0${T},v1=${V_TEST}` })).toEqual({ ok: false, reason: 'bad_signature' });
  });
});
