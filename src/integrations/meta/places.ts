/**
 * Place names for Meta's ST and COUNTRY keys (reference/destinations.md §2.4): US states as their
 * postal codes, countries as ISO 3166-1 alpha-2.
 *
 * Countries come from the runtime's CLDR data (`Intl.DisplayNames`, `Intl.getCanonicalLocales`),
 * which Node ships and keeps current: no hand-kept table to go stale, no dependency. CLDR knows
 * more regions than ISO assigns, so its groupings and reserved codes are left out, and its
 * deprecated codes ('UK', 'ZR') are mapped to the current ones ('gb', 'cd').
 */

/** The fifty states, DC and the inhabited territories, by name (lowercase letters only) → postal code. */
const US_STATES: Readonly<Record<string, string>> = {
  alabama: 'al', alaska: 'ak', arizona: 'az', arkansas: 'ar', california: 'ca', colorado: 'co', connecticut: 'ct',
  delaware: 'de', districtofcolumbia: 'dc', florida: 'fl', georgia: 'ga', hawaii: 'hi', idaho: 'id', illinois: 'il',
  indiana: 'in', iowa: 'ia', kansas: 'ks', kentucky: 'ky', louisiana: 'la', maine: 'me', maryland: 'md',
  massachusetts: 'ma', michigan: 'mi', minnesota: 'mn', mississippi: 'ms', missouri: 'mo', montana: 'mt',
  nebraska: 'ne', nevada: 'nv', newhampshire: 'nh', newjersey: 'nj', newmexico: 'nm', newyork: 'ny',
  northcarolina: 'nc', northdakota: 'nd', ohio: 'oh', oklahoma: 'ok', oregon: 'or', pennsylvania: 'pa',
  rhodeisland: 'ri', southcarolina: 'sc', southdakota: 'sd', tennessee: 'tn', texas: 'tx', utah: 'ut',
  vermont: 'vt', virginia: 'va', washington: 'wa', westvirginia: 'wv', wisconsin: 'wi', wyoming: 'wy',
  americansamoa: 'as', guam: 'gu', northernmarianaislands: 'mp', puertorico: 'pr', usvirginislands: 'vi',
};

/**
 * The postal code of a US state or territory named by `letters` (lowercase letters only: 'newyork',
 * 'ny'), or undefined when it names none.
 */
export function usStateCode(letters: string): string | undefined {
  return US_STATES[letters];
}

/**
 * Regions CLDR names that are not countries in ISO 3166-1: groupings (EU, EZ, QO, UN), pseudo-locales
 * (XA, XB), the unknown region (ZZ) and codes ISO only reserves (AC, CP, CQ, DG, EA, IC, TA).
 * Kosovo's XK is kept: user-assigned in ISO, but in general use (ad platforms included).
 */
const NOT_COUNTRIES: ReadonlySet<string> = new Set(['EU', 'EZ', 'QO', 'UN', 'XA', 'XB', 'ZZ', 'AC', 'CP', 'CQ', 'DG', 'EA', 'IC', 'TA']);

/** Names people write that CLDR's English names do not spell this way. */
const COUNTRY_ALIASES: Readonly<Record<string, string>> = {
  usa: 'us', unitedstatesofamerica: 'us', america: 'us', greatbritain: 'gb', britain: 'gb', england: 'gb',
  scotland: 'gb', wales: 'gb', northernireland: 'gb', holland: 'nl', turkey: 'tr', ivorycoast: 'ci',
  czechrepublic: 'cz', burma: 'mm', southkorea: 'kr', northkorea: 'kp', russianfederation: 'ru', vietnam: 'vn',
};

interface CountryTables {
  /** Two-letter code (any case, deprecated ones too) → current code, lowercase. */
  readonly codes: ReadonlyMap<string, string>;
  /** English name, lowercase letters only ('unitedkingdom', 'cotedivoire') → code, lowercase. */
  readonly names: ReadonlyMap<string, string>;
}

let tables: CountryTables | undefined;

/** Built on first use (676 look-ups, a few milliseconds), then kept: the data cannot change while the process runs. */
function countryTables(): CountryTables {
  if (tables) return tables;
  const display = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
  const codes = new Map<string, string>();
  const names = new Map<string, string>();
  for (let first = 65; first <= 90; first += 1) {
    for (let second = 65; second <= 90; second += 1) {
      const code = String.fromCharCode(first, second);
      const name = display.of(code);
      if (name === undefined || NOT_COUNTRIES.has(code)) continue;
      const current = Intl.getCanonicalLocales(`und-${code}`)[0]?.split('-')[1] ?? code;
      if (NOT_COUNTRIES.has(current)) continue;
      codes.set(code, current.toLowerCase());
      if (current !== code) continue;
      for (const spelling of spellings(name)) names.set(spelling, code.toLowerCase());
    }
  }
  tables = { codes, names };
  return tables;
}

/**
 * The ISO 3166-1 alpha-2 code, lowercase, for a code ('DE', 'uk') or an English country name
 * ('Germany', 'United Kingdom', "Côte d'Ivoire"); undefined when it is neither.
 */
export function countryCode(text: string): string | undefined {
  const letters = asciiLetters(text);
  const { codes, names } = countryTables();
  if (letters.length === 2) return codes.get(letters.toUpperCase());
  return names.get(letters) ?? COUNTRY_ALIASES[letters];
}

/** CLDR's short English name and the long forms people write: 'St. Lucia' / 'Saint Lucia', 'Bosnia & Herzegovina' / '… and …'. */
function spellings(name: string): string[] {
  const long = name.replace(/^St\. /, 'Saint ').replace(/ & /g, ' and ');
  return [...new Set([asciiLetters(name), asciiLetters(long)])];
}

/** Lowercase a–z only: accents folded ('Côte' → 'cote'), everything else dropped. */
function asciiLetters(text: string): string {
  return text.normalize('NFKD').toLowerCase().replace(/[^a-z]/g, '');
}
