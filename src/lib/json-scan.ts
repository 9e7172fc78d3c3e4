/**
 * Byte-level scans of JSON text that never recurse and never build values: how deep a document
 * nests, and where each element of a top-level array sits in the raw bytes.
 *
 * Written by hand because what ingest needs is not what parsers give: JSON.parse builds the whole
 * tree and reports no positions, and the position-reporting parsers (jsonc-parser's parseTree,
 * @streamparser/json) descend recursively or build the tree too, so a body nested 10,000 deep
 * costs them the stack that this check exists to protect. Both scans only ever run on text that
 * JSON.parse has accepted (or, for `jsonDepth`, any bytes at all: it only counts), so they need
 * not validate anything.
 *
 * Work on bytes: the structural characters (`{ } [ ] " \ , :`) are ASCII, and in UTF-8 no byte
 * of a multi-byte character is ASCII, so scanning bytes never mistakes part of a character for one.
 */

const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const COMMA = 0x2c; // ,
const COLON = 0x3a; // :

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** The end (exclusive) of the string whose opening quote is at `start`. */
function stringEnd(bytes: Uint8Array, start: number): number {
  let i = start + 1;
  while (i < bytes.length) {
    const byte = bytes[i]!;
    if (byte === BACKSLASH) i += 2;
    else if (byte === QUOTE) return i + 1;
    else i++;
  }
  return bytes.length;
}

/**
 * The deepest nesting of objects and arrays: `1` → 0, `{}` → 1, `{"a":[{}]}` → 3. Stops counting
 * once past `stopAbove` (the answer is then `stopAbove + 1`), so an attacker's deep body costs no
 * more than the limit it breaks.
 */
export function jsonDepth(bytes: Uint8Array, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === QUOTE) {
      i = stringEnd(bytes, i) - 1;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return deepest;
}

/** Where one element of an array sits in the raw bytes, and how deep it nests (`jsonDepth` of it). */
export interface ElementExtent {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly depth: number;
}

interface ArrayScan {
  readonly extents: ElementExtent[];
  /** Index just past the array's closing bracket. */
  readonly end: number;
}

/** Scans the array whose `[` is at `open`, recording each element's extent and depth. */
function scanArray(bytes: Uint8Array, open: number): ArrayScan {
  const extents: ElementExtent[] = [];
  let depth = 0; // relative to the element being read
  let deepest = 0;
  let start = -1;
  let lastSignificant = -1;
  const finish = () => {
    if (start >= 0) extents.push({ start, end: lastSignificant + 1, depth: deepest });
    start = -1;
    deepest = 0;
  };
  for (let i = open + 1; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (isWhitespace(byte)) continue;
    if (depth === 0 && (byte === COMMA || byte === CLOSE_ARRAY)) {
      finish();
      if (byte === CLOSE_ARRAY) return { extents, end: i + 1 };
      continue;
    }
    if (start < 0) start = i;
    if (byte === QUOTE) {
      i = stringEnd(bytes, i) - 1;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
    lastSignificant = i;
  }
  finish();
  return { extents, end: bytes.length };
}

/**
 * The extents of the elements of the array stored under `key` in the top-level object, as
 * JSON.parse reads it: when the key appears more than once, the last one wins. Undefined when the
 * text is not an object or has no such array. The text must be JSON that JSON.parse accepted.
 */
export function topLevelArrayExtents(bytes: Uint8Array, key: string): ElementExtent[] | undefined {
  let found: ElementExtent[] | undefined;
  let depth = 0;
  // In the top-level object: the key just read (until its colon), then the key whose value is next.
  let readKey: string | undefined;
  let valueOf: string | undefined;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (isWhitespace(byte)) continue;
    if (depth === 1 && valueOf !== undefined) {
      const isOurs = valueOf === key;
      valueOf = undefined;
      if (isOurs && byte === OPEN_ARRAY) {
        const scanned = scanArray(bytes, i);
        found = scanned.extents;
        i = scanned.end - 1;
        continue;
      }
      // The key's value is not an array: a later duplicate of the key may still be one.
      if (isOurs) found = undefined;
    } else if (depth === 1 && byte === QUOTE) {
      // A key of the top-level object. Decoding it with JSON.parse reads escapes (`"\u0065vents"`
      // is `events`) exactly as the parser did.
      const end = stringEnd(bytes, i);
      readKey = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + i, end - i).toString('utf8')) as string;
      i = end - 1;
      continue;
    } else if (depth === 1 && byte === COLON) {
      valueOf = readKey;
      readKey = undefined;
      continue;
    }
    if (byte === QUOTE) i = stringEnd(bytes, i) - 1;
    else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) depth++;
    else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) depth--;
  }
  return found;
}

/**
 * `jsonDepth` of a parsed value, walked with an explicit stack (no recursion); stops past
 * `stopAbove`. For values whose text is not at hand.
 */
export function valueDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    const inner = depth + 1;
    if (inner > deepest) {
      deepest = inner;
      if (deepest > stopAbove) return deepest;
    }
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) stack.push([child, inner]);
    }
  }
  return deepest;
}
