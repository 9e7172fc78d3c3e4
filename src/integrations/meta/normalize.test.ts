import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildRow, hashKey, HASHED_KEYS, MATCH_KEYS, normalizeKey, sha256Hex, type MatchKey } from './normalize.js';

/** The expected hash, computed here independently of the module under test. */
const sha = (normalized: string) => createHash('sha256').update(Buffer.from(normalized, 'utf8')).digest('hex');

const normalizes = (key: MatchKey, cases: readonly (readonly [string | number, string])[]) => {
  for (const [raw, expected] of cases) expect(normalizeKey(key, raw), `${key} ${JSON.stringify(raw)}`).toEqual({ ok: true, value: expected });
};
const refuses = (key: MatchKey, raws: readonly (string | number)[]) => {
  for (const raw of raws) expect(normalizeKey(key, raw).ok, `${key} ${JSON.stringify(raw)}`).toBe(false);
};

describe('meta match keys: hashing', () => {
  it('hashes the fact sheet email to its published digest', () => {
    expect(hashKey('EMAIL', ' Test@Example.COM ')).toEqual({ ok: true, value: '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b' });
    expect(sha('test@example.com')).toBe('973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b');
  });

  it('hashes SHA-256 lowercase hex over the UTF-8 bytes of the normalised value', () => {
    expect(sha256Hex('zoë')).toBe(sha('zoë'));
    expect(hashKey('FN', 'Zoë')).toEqual({ ok: true, value: sha('zoë') });
    expect(hashKey('PHONE', '+1 (555) 123-4567')).toEqual({ ok: true, value: sha('15551234567') });
    expect(hashKey('COUNTRY', 'Germany')).toEqual({ ok: true, value: sha('de') });
  });

  it('hashes every key but EXTERN_ID and MADID', () => {
    expect([...HASHED_KEYS].sort()).toEqual(MATCH_KEYS.filter((k) => k !== 'EXTERN_ID' && k !== 'MADID').sort());
  });

  it('sends EXTERN_ID and MADID unhashed', () => {
    expect(hashKey('EXTERN_ID', ' 12345 ')).toEqual({ ok: true, value: '12345' });
    expect(hashKey('EXTERN_ID', 'Sub-ABC')).toEqual({ ok: true, value: 'Sub-ABC' });
    expect(hashKey('MADID', 'AECE52E7-03EE-455A-B3C4-E57283966239')).toEqual({ ok: true, value: 'aece52e7-03ee-455a-b3c4-e57283966239' });
  });

  it('passes a value that is already 64 hex characters through, lowercased', () => {
    const hashed = sha('test@example.com');
    expect(hashKey('EMAIL', hashed.toUpperCase())).toEqual({ ok: true, value: hashed });
    expect(hashKey('PHONE', ` ${hashed} `)).toEqual({ ok: true, value: hashed });
    expect(hashKey('EMAIL', hashed, { allowPreHashed: false }).ok).toBe(false);
    expect(hashKey('EMAIL', hashed.slice(0, 63)).ok).toBe(false);
  });

  it('refuses what it cannot normalise instead of hashing it', () => {
    expect(hashKey('PHONE', '+0000000000')).toEqual({ ok: false, reason: expect.stringContaining('PHONE') });
    expect(hashKey('EMAIL', 'not an email').ok).toBe(false);
  });
});

describe('meta match keys: normalisation', () => {
  it('EMAIL: trims whitespace and the python SDK characters, lowercases', () => {
    normalizes('EMAIL', [
      [' Test@Example.COM ', 'test@example.com'],
      ['\tJane.Doe+kit@Mail.Example.org.\n', 'jane.doe+kit@mail.example.org'],
      ['\0bob@example.com\x0B', 'bob@example.com'],
      ['ÉLODIE@exemple.fr', 'élodie@exemple.fr'],
    ]);
    refuses('EMAIL', ['', '   ', 'jane', 'jane@', '@example.com', 'jane@example', 'jane doe@example.com', 'a@b@example.com']);
  });

  it('PHONE: digits only, leading zeros dropped, 7–15 digits', () => {
    normalizes('PHONE', [
      ['+1 (555) 123-4567', '15551234567'],
      ['0044 20 7946 0958', '442079460958'],
      ['+44 844 412 4653', '448444124653'],
      ['1-234-567-8910', '12345678910'],
      ['+49 (0)30 901820', '4930901820'],
      ['030 901820', '30901820'],
      [4915112345678, '4915112345678'],
      ['+683 4002', '6834002'],
    ]);
    refuses('PHONE', ['+0000000000', '000', 'n/a', '12345', '+1234567890123456', '']);
  });

  it('GEN: m or f from the usual spellings', () => {
    normalizes('GEN', [['M', 'm'], ['male', 'm'], [' Female ', 'f'], ['F', 'f'], ['woman', 'f']]);
    refuses('GEN', ['x', 'unknown', 'mf', '']);
  });

  it('DOBY, DOBM, DOBD: YYYY, MM and DD, zero-padded', () => {
    normalizes('DOBY', [['1985', '1985'], [1985, '1985'], [' 2001 ', '2001']]);
    refuses('DOBY', ['85', '19851', 'nineteen']);
    normalizes('DOBM', [['3', '03'], ['03', '03'], [12, '12'], ['March', '03'], ['sep', '09'], ['Dec.', '12']]);
    refuses('DOBM', ['0', '13', '003', 'smarch']);
    normalizes('DOBD', [['7', '07'], ['07', '07'], [31, '31']]);
    refuses('DOBD', ['0', '32', '1st']);
  });

  it('FN and LN: lowercase letters of any script, no punctuation, digits or spaces', () => {
    normalizes('FN', [['Mary', 'mary'], [' Émilie ', 'émilie'], ['Mary-Ann', 'maryann'], ['Mary Ann', 'maryann'], ['Jean-Luc 2', 'jeanluc'], ['Zoe\u0308', 'zoë']]);
    normalizes('LN', [["O'Brien", 'obrien'], ['van der Berg', 'vanderberg'], ['Müller', 'müller'], ['Ђорђевић', 'ђорђевић']]);
    refuses('LN', ['--', '123']);
  });

  it('FI: the first letter, lowercase', () => {
    normalizes('FI', [['F.', 'f'], ['john', 'j'], ['Émilie', 'é'], [' .m', 'm']]);
    refuses('FI', ['.', '7']);
  });

  it('CT: lowercase, no spaces or punctuation', () => {
    normalizes('CT', [['New York', 'newyork'], ['St. Louis', 'stlouis'], ['Winston-Salem', 'winstonsalem'], ['São Paulo', 'sãopaulo']]);
    refuses('CT', ['  ', '12']);
  });

  it('ST: US states as their two-letter code, others lowercase without punctuation', () => {
    normalizes('ST', [['CA', 'ca'], ['California', 'ca'], ['new york', 'ny'], ['N.Y.', 'ny'], ['District of Columbia', 'dc'], ['Ontario', 'ontario'], ['Baden-Württemberg', 'badenwürttemberg']]);
    refuses('ST', ['--']);
  });

  it('ZIP: lowercase without spaces; a US ZIP+4 keeps five digits', () => {
    normalizes('ZIP', [['94103', '94103'], ['94103-1234', '94103'], ['941031234', '94103'], ['SW1A 1AA', 'sw1a1aa'], ['K1A 0B1', 'k1a0b1'], ['00-950', '00950']]);
    refuses('ZIP', [' - ']);
  });

  it('COUNTRY: ISO 3166-1 alpha-2, lowercase, from a code or an English name', () => {
    normalizes('COUNTRY', [['US', 'us'], ['de', 'de'], ['Germany', 'de'], ['United States', 'us'], ['USA', 'us'], ['UK', 'gb'], ['United Kingdom', 'gb'], ["Côte d'Ivoire", 'ci'], ['Saint Lucia', 'lc'], ['Bosnia and Herzegovina', 'ba'], ['XK', 'xk']]);
    refuses('COUNTRY', ['QQ', 'EU', 'ZZ', 'Atlantis', 'u']);
  });

  it('MADID: lowercase with hyphens; the all-zero opted-out id is refused', () => {
    normalizes('MADID', [['BEBE52E7-03EE-455A-B3C4-E57283966239', 'bebe52e7-03ee-455a-b3c4-e57283966239']]);
    refuses('MADID', ['00000000-0000-0000-0000-000000000000']);
  });
});

describe('meta match keys: rows', () => {
  const schema: readonly MatchKey[] = ['EMAIL', 'PHONE', 'FN', 'LN', 'COUNTRY', 'EXTERN_ID'];

  it('builds a row in schema order, with an empty string for a missing value', () => {
    const built = buildRow(schema, { EMAIL: ' Test@Example.COM ', FN: 'Mary', COUNTRY: 'US', EXTERN_ID: 42 });
    expect(built).toEqual({ ok: true, row: [sha('test@example.com'), '', sha('mary'), '', sha('us'), '42'], dropped: [] });
  });

  it('drops only a bad value, keeping the rest of the row and saying why', () => {
    const built = buildRow(schema, { EMAIL: 'jane@example.com', PHONE: '+0000000000', FN: 'Jane', LN: 'Doe', COUNTRY: 'Atlantis', EXTERN_ID: null });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(built.row).toEqual([sha('jane@example.com'), '', sha('jane'), sha('doe'), '', '']);
    expect(built.dropped.map((d) => d.key)).toEqual(['PHONE', 'COUNTRY']);
  });

  it('refuses a row left with no identifying key', () => {
    const built = buildRow(schema, { EMAIL: 'not-an-email', FN: 'Jane', LN: 'Doe' });
    expect(built).toEqual({ ok: false, reason: expect.stringContaining('EMAIL') });
    expect(buildRow(schema, {}).ok).toBe(false);
  });

  it('accepts a name with a place as identifying', () => {
    const built = buildRow(['FN', 'LN', 'ZIP'], { FN: 'Jane', LN: 'Doe', ZIP: '94103-1234' });
    expect(built).toEqual({ ok: true, row: [sha('jane'), sha('doe'), sha('94103')], dropped: [] });
    expect(buildRow(['FN', 'LN'], { FN: 'Jane', LN: 'Doe' }).ok).toBe(false);
  });

  it('refuses a schema that is empty or repeats a key', () => {
    expect(buildRow([], { EMAIL: 'a@example.com' }).ok).toBe(false);
    expect(buildRow(['EMAIL', 'EMAIL'], { EMAIL: 'a@example.com' }).ok).toBe(false);
  });
});
