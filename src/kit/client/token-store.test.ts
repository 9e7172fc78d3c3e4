import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenVault, TokenVaultError, type TokenVaultOptions } from './token-store.js';
import type { OAuthTokens } from './types.js';

const TOKENS: OAuthTokens = {
  accessToken: 'kit_access_7d1c0ffee',
  refreshToken: 'kit_refresh_91beef',
  expiresAt: Date.parse('2026-01-01T02:00:00Z'),
  obtainedAt: Date.parse('2026-01-01T00:00:00Z'),
  scope: 'read write',
  tokenType: 'bearer',
};

/** A settings row, as the store's getSetting/setSetting would keep it. */
function settingsRow(): { value: string | undefined; port: Pick<TokenVaultOptions, 'get' | 'set'> } {
  const row: { value: string | undefined; port: Pick<TokenVaultOptions, 'get' | 'set'> } = {
    value: undefined,
    port: {
      get: () => Promise.resolve(row.value),
      set: (value) => {
        row.value = value;
        return Promise.resolve();
      },
    },
  };
  return row;
}

async function failure(promise: Promise<unknown>): Promise<TokenVaultError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVaultError);
  return err as TokenVaultError;
}

describe('token vault', () => {
  it.each([
    ['a 64-char hex key', randomBytes(32).toString('hex')],
    ['a base64 key', randomBytes(32).toString('base64')],
    ['a base64url key', randomBytes(32).toString('base64url')],
    ['a passphrase (scrypt)', 'correct horse battery staple'],
  ])('round-trips a token set with %s', async (_label, key) => {
    const row = settingsRow();
    await createTokenVault({ key, ...row.port }).save(TOKENS);
    // A fresh vault (a restarted process) with the same key reads the same tokens back.
    expect(await createTokenVault({ key, ...row.port }).load()).toEqual(TOKENS);
  });

  it('stores versioned ciphertext with no trace of the tokens, and a new IV on every write', async () => {
    const row = settingsRow();
    const vault = createTokenVault({ key: randomBytes(32).toString('hex'), ...row.port });
    await vault.save(TOKENS);
    const first = row.value ?? '';
    await vault.save(TOKENS);
    expect(first).toMatch(/^kitrelay-v1\.raw\./);
    expect(first).not.toContain('kit_access');
    expect(first).not.toContain('kit_refresh');
    expect(row.value).not.toBe(first);
  });

  it('answers undefined when nothing is stored', async () => {
    expect(await createTokenVault({ key: randomBytes(32).toString('hex'), ...settingsRow().port }).load()).toBeUndefined();
  });

  it('refuses to decrypt with the wrong key, with a clear error instead of garbage', async () => {
    const row = settingsRow();
    await createTokenVault({ key: randomBytes(32).toString('hex'), ...row.port }).save(TOKENS);
    const err = await failure(createTokenVault({ key: randomBytes(32).toString('hex'), ...row.port }).load());
    expect(err.code).toBe('token_vault_wrong_key');
    expect(err.message).toMatch(/KITRELAY_ENCRYPTION_KEY/);
  });

  it('refuses a wrong passphrase, and a passphrase where a raw key was used', async () => {
    const row = settingsRow();
    await createTokenVault({ key: 'the first long passphrase', ...row.port }).save(TOKENS);
    expect((await failure(createTokenVault({ key: 'another long passphrase!', ...row.port }).load())).failure).toBe('wrong_key');
    expect((await failure(createTokenVault({ key: randomBytes(32).toString('hex'), ...row.port }).load())).failure).toBe('wrong_key');
  });

  it('detects a tampered ciphertext', async () => {
    const row = settingsRow();
    const key = randomBytes(32).toString('hex');
    await createTokenVault({ key, ...row.port }).save(TOKENS);
    const parts = (row.value ?? '').split('.');
    const ct = Buffer.from(parts[5] ?? '', 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    parts[5] = ct.toString('base64url');
    row.value = parts.join('.');
    expect((await failure(createTokenVault({ key, ...row.port }).load())).failure).toBe('wrong_key');
  });

  it('does not decrypt a value written for another purpose', async () => {
    const row = settingsRow();
    const key = randomBytes(32).toString('hex');
    await createTokenVault({ key, purpose: 'kitrelay:something_else', ...row.port }).save(TOKENS);
    expect((await failure(createTokenVault({ key, ...row.port }).load())).failure).toBe('wrong_key');
  });

  it('names damaged and foreign values as such', async () => {
    const key = randomBytes(32).toString('hex');
    const row = settingsRow();
    row.value = 'kitrelay-v1.raw..abc';
    expect((await failure(createTokenVault({ key, ...row.port }).load())).failure).toBe('corrupt');
    row.value = '{"accessToken":"plain"}';
    expect((await failure(createTokenVault({ key, ...row.port }).load())).failure).toBe('unsupported_version');
  });

  it('rejects a key that is neither 32 bytes nor a long passphrase', () => {
    expect(() => createTokenVault({ key: 'short', ...settingsRow().port })).toThrow(TokenVaultError);
  });
});
