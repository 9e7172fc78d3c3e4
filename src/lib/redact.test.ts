import { describe, expect, it } from 'vitest';
import { REDACTED, isSecretParamName, redactHeaders, redactUrl } from './redact.js';

describe('redactHeaders', () => {
  it('redacts the well-known credential headers whatever their case', () => {
    const out = redactHeaders({
      Authorization: 'Bearer abc',
      Cookie: 'session=1',
      'X-Api-Key': 'k',
      'x-kit-api-key': 'kit',
      'X-Kit-Signature': 't=1,v1=ff',
      'content-type': 'application/json',
    });
    expect(out).toEqual({
      authorization: REDACTED,
      cookie: REDACTED,
      'x-api-key': REDACTED,
      'x-kit-api-key': REDACTED,
      'x-kit-signature': REDACTED,
      'content-type': 'application/json',
    });
  });

  it('redacts any header whose name contains token, secret, signature, key or auth', () => {
    const out = redactHeaders({
      'x-access-token': 'a',
      'x-webhook-secret': 'b',
      'x-kitrelay-signature': 'c',
      'x-custom-key': 'd',
      'x-auth-user': 'e',
      'x-request-id': 'req-1',
    });
    expect(out).toEqual({
      'x-access-token': REDACTED,
      'x-webhook-secret': REDACTED,
      'x-kitrelay-signature': REDACTED,
      'x-custom-key': REDACTED,
      'x-auth-user': REDACTED,
      'x-request-id': 'req-1',
    });
  });

  it('keeps the idempotency key readable: it is a correlation id, not a credential', () => {
    expect(redactHeaders({ 'Idempotency-Key': 'job-7' })).toEqual({ 'idempotency-key': 'job-7' });
  });

  it('redacts headers named as secret by origin (values from env references)', () => {
    const out = redactHeaders({ 'X-Tenant': 'acme', 'X-Partner': 'p' }, ['x-tenant']);
    expect(out).toEqual({ 'x-tenant': REDACTED, 'x-partner': 'p' });
  });

  it('joins multi-valued headers, stringifies numbers and drops undefined values', () => {
    const out = redactHeaders({ via: ['a', 'b'], 'content-length': 12, 'x-none': undefined });
    expect(out).toEqual({ via: 'a, b', 'content-length': '12' });
  });
});

describe('redactUrl', () => {
  it('strips userinfo', () => {
    expect(redactUrl('https://user:pass@example.com/hook')).toBe('https://example.com/hook');
  });

  it('redacts secret-looking query values and keeps the rest as sent', () => {
    expect(redactUrl('https://example.com/h?token=abc&page=2&api_key=k&sig=s&code=c&q=a%20b')).toBe(
      'https://example.com/h?token=[redacted]&page=2&api_key=[redacted]&sig=[redacted]&code=[redacted]&q=a%20b',
    );
  });

  it('matches camelCase and compound names but not words that merely contain a short word', () => {
    expect(isSecretParamName('accessToken')).toBe(true);
    expect(isSecretParamName('apiKey')).toBe(true);
    expect(isSecretParamName('client_secret')).toBe(true);
    expect(isSecretParamName('oauth_verifier')).toBe(true);
    expect(isSecretParamName('Password')).toBe(true);
    expect(isSecretParamName('keyword')).toBe(false);
    expect(isSecretParamName('design')).toBe(false);
    expect(isSecretParamName('zipcode')).toBe(false);
  });

  it('drops the fragment, which is never sent and may hold tokens', () => {
    expect(redactUrl('https://example.com/cb#access_token=x')).toBe('https://example.com/cb');
  });

  it('keeps only the origin when the whole URL is a secret', () => {
    expect(redactUrl('https://hooks.example.com/services/T0/B0/XYZ?x=1', { hidePath: true })).toBe(
      'https://hooks.example.com/[redacted]',
    );
  });

  it('replaces a string that is not a URL entirely', () => {
    expect(redactUrl('not a url with secret')).toBe('[unparseable url]');
  });
});
