import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackRequest, type SlackVerifyInput } from './signature.js';

// bolt-js's own vector (reference/destinations.md §1.5), recomputed independently:
//   python3 -c "import hmac,hashlib;print(hmac.new(b'<secret>',b'v0:1531420618:<body>',hashlib.sha256).hexdigest())"
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = 1531420618;
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
// The same request signed with 'old_secret' (python, as above).
const OLD_SIGNATURE = 'v0=ba341e9c65616b5c750423b60aaf9467a8672a130b4876626a1693edc86d5fe2';

const NOW = TS * 1000;

function verify(overrides: Partial<SlackVerifyInput> = {}): ReturnType<typeof verifySlackRequest> {
  return verifySlackRequest({
    signingSecrets: [SECRET],
    headers: { 'x-slack-signature': SIGNATURE, 'x-slack-request-timestamp': String(TS) },
    rawBody: Buffer.from(BODY),
    now: NOW,
    ...overrides,
  });
}

describe('signSlackRequest', () => {
  it("produces bolt-js's known signature", () => {
    expect(signSlackRequest({ signingSecret: SECRET, timestamp: TS, body: BODY })).toBe(SIGNATURE);
    expect(signSlackRequest({ signingSecret: SECRET, timestamp: String(TS), body: Buffer.from(BODY) })).toBe(SIGNATURE);
  });
});

describe('verifySlackRequest', () => {
  it("accepts bolt-js's known request", () => {
    expect(verify()).toEqual({ ok: true });
  });

  it('accepts what signSlackRequest produced for a JSON body with multi-byte characters', () => {
    const body = Buffer.from('{"type":"block_actions","user":{"name":"José 🎉"}}');
    const sig = signSlackRequest({ signingSecret: 'shh', timestamp: TS, body });
    expect(verify({ signingSecrets: ['shh'], rawBody: body, headers: { 'x-slack-signature': sig, 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: true });
  });

  it('rejects a signature made with another secret, a changed body and a changed timestamp', () => {
    expect(verify({ signingSecrets: ['another'] })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify({ rawBody: Buffer.from(`${BODY}&x=1`) })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify({ headers: { 'x-slack-signature': SIGNATURE, 'x-slack-request-timestamp': String(TS + 1) } })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects a v0 value that is not a SHA-256 hex digest without throwing', () => {
    for (const bad of ['v0=', 'v0=abc', `${SIGNATURE}00`, `v0=${'z'.repeat(64)}`]) {
      expect(verify({ headers: { 'x-slack-signature': bad, 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'mismatch' });
    }
  });

  it('accepts a timestamp just inside 300 s either way and rejects one just outside', () => {
    expect(verify({ now: NOW + 300_000 })).toEqual({ ok: true });
    expect(verify({ now: NOW + 300_999 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ now: NOW + 301_000 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ now: NOW - 300_000 })).toEqual({ ok: true });
    expect(verify({ now: NOW - 301_000 })).toEqual({ ok: false, reason: 'future' });
  });

  it('checks the timestamp before the signature', () => {
    expect(verify({ now: NOW + 3_600_000, signingSecrets: ['another'] })).toEqual({ ok: false, reason: 'stale' });
  });

  it('honours a custom tolerance', () => {
    expect(verify({ now: NOW + 61_000, toleranceSeconds: 60 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ now: NOW + 60_000, toleranceSeconds: 60 })).toEqual({ ok: true });
  });

  it('reports missing or unusable headers', () => {
    expect(verify({ headers: { 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ headers: { 'x-slack-signature': SIGNATURE } })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ headers: {} })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ headers: { 'x-slack-signature': ' ', 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ headers: { 'x-slack-signature': SIGNATURE, 'x-slack-request-timestamp': '1531420618.5' } })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ headers: { 'x-slack-signature': [SIGNATURE, SIGNATURE], 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it('rejects any version but v0', () => {
    const hex = SIGNATURE.slice(3);
    expect(verify({ headers: { 'x-slack-signature': `v1=${hex}`, 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'bad_version' });
    expect(verify({ headers: { 'x-slack-signature': hex, 'x-slack-request-timestamp': String(TS) } })).toEqual({ ok: false, reason: 'bad_version' });
  });

  it('accepts either secret while one rotates, in any order', () => {
    const headers = { 'x-slack-signature': OLD_SIGNATURE, 'x-slack-request-timestamp': String(TS) };
    expect(verify({ headers, signingSecrets: [SECRET, 'old_secret'] })).toEqual({ ok: true });
    expect(verify({ headers, signingSecrets: ['old_secret', SECRET] })).toEqual({ ok: true });
    expect(verify({ signingSecrets: [SECRET, 'old_secret'] })).toEqual({ ok: true });
    expect(verify({ headers, signingSecrets: [SECRET] })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects everything when no secret is configured', () => {
    expect(verify({ signingSecrets: [] })).toEqual({ ok: false, reason: 'mismatch' });
  });
});
