/**
 * OAuth tokens encrypted at rest: AES-256-GCM with a random 96-bit IV per write, the auth tag
 * checked on read, and a version prefix so the format can change. The key comes from
 * `KITRELAY_ENCRYPTION_KEY` (read by config, passed in here): 32 bytes as hex or base64, or a
 * passphrase stretched with scrypt (its salt stored beside the ciphertext).
 *
 * Stored value: `kitrelay-v1.<kdf>.<salt>.<iv>.<tag>.<ciphertext>`, base64url parts, `kdf` being
 * `raw` (salt empty) or `scrypt`. A wrong key fails GCM's tag check → `TokenVaultError`, never
 * garbage tokens. The ciphertext is bound to its purpose (additional authenticated data), so a
 * value copied from another setting does not decrypt here either.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { promisify } from 'node:util';
import { KitrelayError } from '../../lib/errors.js';
import type { OAuthTokens } from './types.js';

const VERSION = 'kitrelay-v1';
/** scrypt cost: N=2^15, r=8 (~32 MiB, ~100 ms): OWASP's floor for interactive use. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const MIN_PASSPHRASE_CHARS = 16;

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: typeof SCRYPT) => Promise<Buffer>;

export type TokenVaultFailure = 'wrong_key' | 'corrupt' | 'unsupported_version' | 'bad_key';

export class TokenVaultError extends KitrelayError {
  override name = 'TokenVaultError';
  constructor(
    readonly failure: TokenVaultFailure,
    message: string,
  ) {
    super(`token_vault_${failure}`, message, 500);
  }
}

export interface TokenVaultOptions {
  /** `KITRELAY_ENCRYPTION_KEY`: 64 hex chars or base64 of 32 bytes, else a passphrase (≥16 chars). */
  readonly key: string;
  /** Reads the stored ciphertext (e.g. `store.getSetting('kit_oauth_token')`). */
  readonly get: () => Promise<string | undefined>;
  readonly set: (value: string) => Promise<void>;
  /** Binds ciphertexts to their purpose. @default 'kitrelay:kit_oauth_token' */
  readonly purpose?: string;
}

export interface TokenVault {
  /** Undefined when nothing is stored; throws `TokenVaultError` for a wrong key or a damaged value. */
  load(): Promise<OAuthTokens | undefined>;
  save(tokens: OAuthTokens): Promise<void>;
}

type Key = { readonly kdf: 'raw'; readonly bytes: Buffer } | { readonly kdf: 'scrypt'; readonly passphrase: string };

export function createTokenVault(options: TokenVaultOptions): TokenVault {
  const key = parseEncryptionKey(options.key);
  const aad = Buffer.from(options.purpose ?? 'kitrelay:kit_oauth_token', 'utf8');
  /** scrypt is slow on purpose: one derivation per salt, kept for this vault's life (async: it must not stall the event loop). */
  const derived = new Map<string, Promise<Buffer>>();
  const keyFor = (salt: Buffer): Promise<Buffer> => {
    if (key.kdf === 'raw') return Promise.resolve(key.bytes);
    const id = salt.toString('base64url');
    let bytes = derived.get(id);
    if (bytes === undefined) {
      bytes = scryptAsync(key.passphrase, salt, 32, SCRYPT);
      derived.set(id, bytes);
    }
    return bytes;
  };
  let saltInUse: Buffer | undefined;

  return {
    async load() {
      const stored = await options.get();
      if (stored === undefined || stored === '') return undefined;
      const { salt, plaintext } = await decrypt(stored, key.kdf, keyFor, aad);
      if (key.kdf === 'scrypt') saltInUse = salt;
      return parseTokens(plaintext);
    },
    async save(tokens) {
      if (key.kdf === 'scrypt') saltInUse ??= randomBytes(16);
      const salt = key.kdf === 'scrypt' ? (saltInUse as Buffer) : Buffer.alloc(0);
      await options.set(encrypt(JSON.stringify(tokens), key.kdf, salt, await keyFor(salt), aad));
    },
  };
}

/** Hex (64 chars) or base64/base64url of exactly 32 bytes → the key itself; anything else is a passphrase. */
function parseEncryptionKey(raw: string): Key {
  const value = raw.trim();
  if (/^[0-9a-f]{64}$/i.test(value)) return { kdf: 'raw', bytes: Buffer.from(value, 'hex') };
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === 32) return { kdf: 'raw', bytes };
  }
  if (value.length < MIN_PASSPHRASE_CHARS) {
    throw new TokenVaultError(
      'bad_key',
      `KITRELAY_ENCRYPTION_KEY must be 32 bytes as hex or base64 (e.g. \`openssl rand -base64 32\`) or a passphrase of at least ${MIN_PASSPHRASE_CHARS} characters`,
    );
  }
  return { kdf: 'scrypt', passphrase: value };
}

function encrypt(plaintext: string, kdf: Key['kdf'], salt: Buffer, key: Buffer, aad: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const parts = [salt, iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
  return [VERSION, kdf, ...parts].join('.');
}

async function decrypt(stored: string, kdf: Key['kdf'], keyFor: (salt: Buffer) => Promise<Buffer>, aad: Buffer): Promise<{ salt: Buffer; plaintext: string }> {
  const parts = stored.split('.');
  if (parts[0] !== VERSION) {
    throw new TokenVaultError('unsupported_version', 'the stored Kit token was not written by this version of kitrelay (unknown format)');
  }
  const [, storedKdf, saltText, ivText, tagText, ctText] = parts;
  if (parts.length !== 6 || ivText === undefined || tagText === undefined || ctText === undefined || saltText === undefined) {
    throw new TokenVaultError('corrupt', 'the stored Kit token is damaged: run `kitrelay kit login` again');
  }
  if (storedKdf !== kdf) {
    throw new TokenVaultError(
      'wrong_key',
      `the stored Kit token was encrypted with a ${storedKdf === 'raw' ? '32-byte key' : 'passphrase'}, but KITRELAY_ENCRYPTION_KEY is now a ${kdf === 'raw' ? '32-byte key' : 'passphrase'}`,
    );
  }
  const salt = Buffer.from(saltText, 'base64url');
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== 12 || tag.length !== 16) throw new TokenVaultError('corrupt', 'the stored Kit token is damaged: run `kitrelay kit login` again');
  const key = await keyFor(salt);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
    return { salt, plaintext };
  } catch {
    // GCM cannot tell a wrong key from a tampered value; the wrong key is by far the likelier.
    throw new TokenVaultError(
      'wrong_key',
      'cannot decrypt the stored Kit token: KITRELAY_ENCRYPTION_KEY is not the key it was encrypted with (or the value was altered). Restore the key, or run `kitrelay kit login` again',
    );
  }
}

function parseTokens(plaintext: string): OAuthTokens {
  let value: unknown;
  try {
    value = JSON.parse(plaintext);
  } catch {
    throw new TokenVaultError('corrupt', 'the stored Kit token decrypted to something that is not a token set');
  }
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  if (typeof record.accessToken !== 'string') throw new TokenVaultError('corrupt', 'the stored Kit token has no access token');
  return {
    accessToken: record.accessToken,
    ...(typeof record.refreshToken === 'string' ? { refreshToken: record.refreshToken } : {}),
    ...(typeof record.expiresAt === 'number' ? { expiresAt: record.expiresAt } : {}),
    ...(typeof record.obtainedAt === 'number' ? { obtainedAt: record.obtainedAt } : {}),
    ...(typeof record.scope === 'string' ? { scope: record.scope } : {}),
    ...(typeof record.tokenType === 'string' ? { tokenType: record.tokenType } : {}),
  };
}
