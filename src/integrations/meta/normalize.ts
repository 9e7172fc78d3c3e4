/**
 * Meta's match keys, normalised and hashed the way Meta matches them (reference/destinations.md
 * §2.4): SHA-256, lowercase hex, over the UTF-8 normalised value, for every key except EXTERN_ID
 * and MADID, which go unhashed. Meta matches only on exact hash equality, so a value normalised
 * differently from Meta's side silently never matches: these rules follow Meta's own SDKs (the
 * python SDK's `normalize_key`, the node SDK's server-side `normalizeAndHash`) and Meta's
 * customer-list guide.
 *
 * Hand-written because no maintained npm library implements Meta's rules (the general
 * normalisers and phone libraries apply other conventions: E.164 with '+', Gmail dot removal, a
 * default country). Country names and codes come from the runtime's CLDR data (Intl), not a table.
 *
 * A value that fails normalisation is reported, never thrown: `buildRow` sends '' in its place and
 * keeps the row, so one bad field never costs the batch.
 */
import { createHash } from 'node:crypto';
import { countryCode, usStateCode } from './places.js';

/** Meta's multi-key schema (§2.2), in the order its reference lists them. LOOKALIKE_VALUE is not used. */
export const MATCH_KEYS = ['EXTERN_ID', 'EMAIL', 'PHONE', 'GEN', 'DOBY', 'DOBM', 'DOBD', 'LN', 'FN', 'FI', 'CT', 'ST', 'ZIP', 'MADID', 'COUNTRY'] as const;

export type MatchKey = (typeof MATCH_KEYS)[number];

/** Every key but EXTERN_ID and MADID is sent as SHA-256 hex (§2.4). */
export const HASHED_KEYS: ReadonlySet<MatchKey> = new Set<MatchKey>(MATCH_KEYS.filter((key) => key !== 'EXTERN_ID' && key !== 'MADID'));

export type Normalized = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly reason: string };

export interface HashOptions {
  /**
   * Pass a hashed key's value that is already 64 hex characters through (lowercased) instead of
   * hashing it again. Segment and other clients do this (§2.4, [C]); turn it off if raw values
   * could ever be 64 hex characters.
   * @default true
   */
  readonly allowPreHashed?: boolean;
}

/**
 * Shortest and longest phone numbers, in digits with the country code: E.164 allows at most 15;
 * the shortest real numbers are 7 (country code plus a 4-digit subscriber number, as in Niue or
 * Saint Helena). Meta's node SDK refuses numbers outside the same bounds.
 */
export const PHONE_DIGITS = { min: 7, max: 15 } as const;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Trimmed by the python SDK before every key: whitespace (\s covers its \t \r \n \x0B), NUL and dots at either end. */
const SDK_TRIM = /^[\s\0.]+|[\s\0.]+$/gu;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
/** Deliberately loose (one '@', a dotted domain, no spaces): Kit has validated the address; a strict RFC check would only drop real ones. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@.][^\s@]*\.[^\s@.]+$/u;
/** Letters of any script (names may carry accents, §2.4), combining marks kept with their letter. */
const NOT_LETTER = /[^\p{L}\p{M}]/gu;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const GENDERS: Readonly<Record<string, 'm' | 'f'>> = { m: 'm', male: 'm', man: 'm', boy: 'm', f: 'f', female: 'f', woman: 'f', girl: 'f' };
/** An advertising id of all zeros is what iOS and Android report when the person opted out of tracking. */
const ZERO_MADID = /^[0-]+$/;

/** The value Meta expects for `key`, before hashing. */
export function normalizeKey(key: MatchKey, raw: string | number): Normalized {
  // NFC so that 'é' typed as one code point or as 'e' + accent hashes alike.
  const text = String(raw).normalize('NFC').trim();
  if (text === '') return invalid('empty');
  switch (key) {
    case 'EMAIL': return normalizeEmail(text);
    case 'PHONE': return normalizePhone(text);
    case 'GEN': return normalizeGender(text);
    case 'DOBY': return /^\d{4}$/.test(text) ? valid(text) : invalid('DOBY must be a four-digit year');
    case 'DOBM': return normalizeMonth(text);
    case 'DOBD': return normalizeDayOfMonth(text);
    // Spaces go with punctuation ("Mary Ann" → "maryann"), as the python SDK's normalize_key does.
    case 'FN': case 'LN': return nonEmpty(lettersOnly(text), `${key} has no letters`);
    case 'FI': return nonEmpty(firstLetter(lettersOnly(text)), 'FI has no letter');
    case 'CT': return nonEmpty(lettersOnly(text), 'CT has no letters');
    case 'ST': return normalizeState(text);
    case 'ZIP': return normalizeZip(text);
    case 'COUNTRY': return normalizeCountry(text);
    // Kept as given (trimmed): it only has to equal the EXTERN_ID sent before. [U] The python SDK
    // lowercases it; an advertiser mixing that SDK with kitrelay would need lowercase ids.
    case 'EXTERN_ID': return valid(text);
    // Meta's guide asks for lowercase advertising ids with their hyphens kept ([U]: not in the fact sheet).
    case 'MADID': return ZERO_MADID.test(text) ? invalid('MADID is all zeros (tracking opted out)') : valid(text.toLowerCase());
  }
}

/** The value sent for `key`: the SHA-256 hex of its normalised form, or the normalised form itself for EXTERN_ID and MADID. */
export function hashKey(key: MatchKey, raw: string | number, options: HashOptions = {}): Normalized {
  if (!HASHED_KEYS.has(key)) return normalizeKey(key, raw);
  const text = String(raw).trim();
  if ((options.allowPreHashed ?? true) && SHA256_HEX.test(text)) return valid(text.toLowerCase());
  const normalized = normalizeKey(key, raw);
  return normalized.ok ? valid(sha256Hex(normalized.value)) : normalized;
}

export type MatchValues = Partial<Record<MatchKey, string | number | null | undefined>>;

export type BuiltRow =
  /** `row` follows `schema`, '' where a value is missing or was dropped; `dropped` says why each was. */
  | { readonly ok: true; readonly row: string[]; readonly dropped: readonly { readonly key: MatchKey; readonly reason: string }[] }
  | { readonly ok: false; readonly reason: string };

/** Keys that identify a person on their own. */
const STRONG_KEYS: readonly MatchKey[] = ['EMAIL', 'PHONE', 'EXTERN_ID', 'MADID'];
/** With a last name and a first name or initial, any of these makes a name matchable. */
const NAME_COMPANIONS: readonly MatchKey[] = ['ZIP', 'CT', 'ST', 'COUNTRY', 'DOBY'];

/**
 * One row of `data` for `schema`. A bad value becomes '' and is listed in `dropped`; the row
 * itself is refused only when what is left identifies nobody. The rule: at least one of EMAIL,
 * PHONE, EXTERN_ID or MADID; or LN with FN or FI plus one of ZIP, CT, ST, COUNTRY or DOBY (a
 * name alone matches too many people to be worth sending).
 */
export function buildRow(schema: readonly MatchKey[], values: MatchValues, options: HashOptions = {}): BuiltRow {
  if (schema.length === 0) return { ok: false, reason: 'the schema names no keys' };
  if (new Set(schema).size !== schema.length) return { ok: false, reason: `the schema repeats a key (${schema.join(', ')})` };
  const dropped: { key: MatchKey; reason: string }[] = [];
  const kept = new Set<MatchKey>();
  const row = schema.map((key) => {
    const raw = values[key];
    if (raw === null || raw === undefined || String(raw).trim() === '') return '';
    const hashed = hashKey(key, raw, options);
    if (!hashed.ok) {
      dropped.push({ key, reason: hashed.reason });
      return '';
    }
    kept.add(key);
    return hashed.value;
  });
  const hasStrongKey = STRONG_KEYS.some((key) => kept.has(key));
  const hasMatchableName = kept.has('LN') && (kept.has('FN') || kept.has('FI')) && NAME_COMPANIONS.some((key) => kept.has(key));
  if (!hasStrongKey && !hasMatchableName) {
    const why = dropped.length > 0 ? ` (dropped: ${dropped.map((d) => `${d.key} ${d.reason}`).join('; ')})` : '';
    return { ok: false, reason: `no identifying key: needs EMAIL, PHONE, EXTERN_ID or MADID, or LN with FN/FI and a place or birth year${why}` };
  }
  return { ok: true, row, dropped };
}

function normalizeEmail(text: string): Normalized {
  const email = text.replace(SDK_TRIM, '').toLowerCase();
  return EMAIL_SHAPE.test(email) ? valid(email) : invalid('EMAIL does not look like an email address');
}

/**
 * Digits only, leading zeros (and so an international '00' prefix) dropped; the country code must
 * already be there (§2.4): no default country is guessed. In an international number a trunk
 * prefix written '(0)' ('+44 (0)20 …') is not dialled, so it goes too.
 */
function normalizePhone(text: string): Normalized {
  const international = /^(?:\+|00)/.test(text) ? text.replace(/\(\s*0\s*\)/g, '') : text;
  const digits = international.replace(/\D/g, '').replace(/^0+/, '');
  if (digits === '') return invalid('PHONE has no digits but zeros');
  if (digits.length < PHONE_DIGITS.min || digits.length > PHONE_DIGITS.max) {
    return invalid(`PHONE has ${digits.length} digits; a number with its country code has ${PHONE_DIGITS.min}–${PHONE_DIGITS.max}`);
  }
  return valid(digits);
}

function normalizeGender(text: string): Normalized {
  const gender = GENDERS[text.toLowerCase().replace(/[^a-z]/g, '')];
  return gender ? valid(gender) : invalid('GEN must be m or f (male, female…)');
}

/** MM, 01–12: '3', '03', 'March' and 'mar' all give '03'. */
function normalizeMonth(text: string): Normalized {
  const named = MONTHS.indexOf(text.toLowerCase().slice(0, 3));
  const month = /^\d{1,2}$/.test(text) ? Number(text) : named >= 0 && /^[a-z]+\.?$/i.test(text) ? named + 1 : NaN;
  return month >= 1 && month <= 12 ? valid(String(month).padStart(2, '0')) : invalid('DOBM must be a month, 01–12');
}

function normalizeDayOfMonth(text: string): Normalized {
  const day = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  return day >= 1 && day <= 31 ? valid(String(day).padStart(2, '0')) : invalid('DOBD must be a day of the month, 01–31');
}

/** US states as their two-letter code ('New York', 'N.Y.' → 'ny'); elsewhere the name, lowercase, letters only. */
function normalizeState(text: string): Normalized {
  const letters = lettersOnly(text);
  return nonEmpty(usStateCode(letters) ?? letters, 'ST has no letters');
}

/**
 * Lowercase, no spaces or dashes ("SW1A 1AA" → "sw1a1aa"); a US ZIP or ZIP+4 keeps its first five
 * digits. [U] Meta's guide asks for the UK's "area, district and sector" only; full postcodes are
 * sent as given, since cutting them could not be undone.
 */
function normalizeZip(text: string): Normalized {
  const compact = text.toLowerCase().replace(/[\s-]/g, '');
  if (/^\d{5}(?:-?\d{4})?$/.test(text.replace(/\s/g, ''))) return valid(compact.slice(0, 5));
  return compact === '' ? invalid('ZIP is empty') : valid(compact);
}

/** ISO 3166-1 alpha-2, lowercase; a known English country name ('Germany', 'United States') gives its code. */
function normalizeCountry(text: string): Normalized {
  const code = countryCode(text);
  return code ? valid(code) : invalid('COUNTRY must be an ISO 3166-1 alpha-2 code (or a country name)');
}

/** Lowercase letters and their accents; no spaces, punctuation or digits. */
function lettersOnly(text: string): string {
  return text.toLowerCase().replace(NOT_LETTER, '');
}

/** The first letter, with any combining accents that follow it ('É.' → 'é'). */
function firstLetter(letters: string): string {
  return /^\p{L}\p{M}*/u.exec(letters)?.[0] ?? '';
}

function nonEmpty(value: string, reason: string): Normalized {
  return value === '' ? invalid(reason) : valid(value);
}

function valid(value: string): Normalized {
  return { ok: true, value };
}

function invalid(reason: string): Normalized {
  return { ok: false, reason };
}
