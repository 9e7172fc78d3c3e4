/**
 * JSON as text, for bodies that `JSON.stringify` cannot write and for reading bodies back as bytes.
 *
 * The fuzzer needs exact control over the bytes Kit (or an attacker) could send: number spellings
 * (`1e400`, `-0`), duplicate keys, escaped keys, odd whitespace, nesting thousands of levels deep.
 * So bodies are built as a small tree of `JsonNode`s and rendered to text. Deep nesting is one
 * `deep` node rendered by repetition, never by recursion, so 10,000 levels cost no stack.
 *
 * The readers (`maxDepth`, `eventSlices`) work on bytes, iteratively: they are the fuzzer's own
 * oracle, deliberately independent of the relay's parser.
 */

export type JsonNode =
  /** A token written as is: a number spelling, a literal, or anything invalid. */
  | { readonly t: 'raw'; readonly text: string }
  /** A string; `escaped` writes every non-ASCII character as `\uXXXX`. */
  | { readonly t: 'str'; readonly value: string; readonly escaped?: boolean }
  | { readonly t: 'arr'; readonly items: readonly JsonNode[] }
  /** Entries in order; a key may repeat. */
  | { readonly t: 'obj'; readonly entries: ReadonlyArray<readonly [string, JsonNode]> }
  /** `depth` containers around `leaf`: `[[[leaf]]]`, `{"d":{"d":leaf}}` or, mixed, `[{"d":[leaf]}]`. */
  | { readonly t: 'deep'; readonly depth: number; readonly kind: DeepKind; readonly leaf: JsonNode };

export type DeepKind = 'array' | 'object' | 'mixed';

export const raw = (text: string): JsonNode => ({ t: 'raw', text });
export const str = (value: string, escaped = false): JsonNode => ({ t: 'str', value, escaped });
export const arr = (items: readonly JsonNode[]): JsonNode => ({ t: 'arr', items });
export const obj = (entries: ReadonlyArray<readonly [string, JsonNode]>): JsonNode => ({ t: 'obj', entries });
export const deep = (depth: number, kind: DeepKind, leaf: JsonNode = raw('1')): JsonNode => ({ t: 'deep', depth, kind, leaf });

/** A plain JSON value (the fixtures' bodies) as a tree. Fixtures are shallow, so recursion is fine. */
export function fromValue(value: unknown): JsonNode {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return raw(JSON.stringify(value));
  if (typeof value === 'string') return str(value);
  if (Array.isArray(value)) return arr(value.map(fromValue));
  if (typeof value === 'object') return obj(Object.entries(value).map(([k, v]) => [k, fromValue(v)] as const));
  return raw('null');
}

/** Whitespace between tokens: none, one space, or pretty-printed with CRLF and tabs. */
export type Layout = 'compact' | 'spaced' | 'pretty';

export function render(node: JsonNode, layout: Layout = 'compact'): string {
  const out: string[] = [];
  write(node, layout, 0, out);
  return out.join('');
}

function write(node: JsonNode, layout: Layout, indent: number, out: string[]): void {
  const sep = layout === 'compact' ? '' : layout === 'spaced' ? ' ' : `\r\n${'\t'.repeat(indent + 1)}`;
  const end = layout === 'pretty' ? `\r\n${'\t'.repeat(indent)}` : '';
  const colon = layout === 'compact' ? ':' : ': ';
  switch (node.t) {
    case 'raw':
      out.push(node.text);
      return;
    case 'str':
      out.push(node.escaped ? escapeNonAscii(JSON.stringify(node.value)) : JSON.stringify(node.value));
      return;
    case 'arr':
      out.push('[');
      node.items.forEach((item, i) => {
        out.push(i > 0 ? ',' : '', sep);
        write(item, layout, indent + 1, out);
      });
      out.push(node.items.length > 0 ? end : '', ']');
      return;
    case 'obj':
      out.push('{');
      node.entries.forEach(([key, value], i) => {
        out.push(i > 0 ? ',' : '', sep, JSON.stringify(key), colon);
        write(value, layout, indent + 1, out);
      });
      out.push(node.entries.length > 0 ? end : '', '}');
      return;
    case 'deep': {
      const [open, close] = DEEP_TOKENS[node.kind];
      const half = Math.floor(node.depth / open.length);
      const odd = node.depth % open.length === 1;
      out.push(open.join('').repeat(half), odd ? open[0]! : '');
      write(node.leaf, 'compact', indent, out);
      out.push(odd ? close[close.length - 1]! : '', close.join('').repeat(half));
      return;
    }
  }
}

/** Opening tokens of one repetition, and the closing ones in closing order. */
const DEEP_TOKENS: Record<DeepKind, readonly [readonly string[], readonly string[]]> = {
  array: [['['], [']']],
  object: [['{"d":'], ['}']],
  mixed: [['[', '{"d":'], ['}', ']']],
};

function escapeNonAscii(json: string): string {
  return json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ---------------------------------------------------------------- reading bytes back

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
const BOM = [0xef, 0xbb, 0xbf];

/** Index just past the string starting at `i` (which holds the opening quote). */
function skipString(buf: Uint8Array, i: number): number {
  for (let j = i + 1; j < buf.length; j++) {
    if (buf[j] === BACKSLASH) j++;
    else if (buf[j] === QUOTE) return j + 1;
  }
  return buf.length;
}

/** Index just past the value starting at `i`. Containers are skipped by counting, not recursion. */
function skipValue(buf: Uint8Array, i: number): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    for (let j = i; j < buf.length; j++) {
      const b = buf[j];
      if (b === QUOTE) j = skipString(buf, j) - 1;
      else if (b === 0x7b || b === 0x5b) depth++;
      else if (b === 0x7d || b === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return buf.length;
  }
  let j = i;
  while (j < buf.length && !isSpace(buf[j]) && buf[j] !== 0x2c && buf[j] !== 0x5d && buf[j] !== 0x7d) j++;
  return j;
}

function skipSpace(buf: Uint8Array, i: number): number {
  while (isSpace(buf[i])) i++;
  return i;
}

/** The deepest nesting of objects and arrays in `buf[start, end)`: `{}` is 1, `[{}]` is 2, `5` is 0. */
export function maxDepth(buf: Uint8Array, start = 0, end = buf.length): number {
  let depth = 0;
  let max = 0;
  for (let j = start; j < end; j++) {
    const b = buf[j];
    if (b === QUOTE) j = skipString(buf, j) - 1;
    else if (b === 0x7b || b === 0x5b) max = Math.max(max, ++depth);
    else if (b === 0x7d || b === 0x5d) depth--;
  }
  return max;
}

export interface Slice {
  readonly start: number;
  readonly end: number;
}

/**
 * The byte ranges of the elements of the top-level `events` array, read the way `JSON.parse`
 * would: a leading BOM is skipped and the last `events` key wins (keys compared after unescaping).
 * Only for bodies already known to be valid JSON; undefined when `events` is not an array.
 */
export function eventSlices(buf: Uint8Array): Slice[] | undefined {
  let i = BOM.every((b, k) => buf[k] === b) ? 3 : 0;
  i = skipSpace(buf, i);
  if (buf[i] !== 0x7b) return undefined;
  let events: number | undefined;
  i = skipSpace(buf, i + 1);
  while (buf[i] === QUOTE) {
    const keyEnd = skipString(buf, i);
    const key = JSON.parse(Buffer.from(buf.subarray(i, keyEnd)).toString('utf8')) as string;
    const valueStart = skipSpace(buf, skipSpace(buf, keyEnd) + 1);
    if (key === 'events') events = valueStart;
    i = skipSpace(buf, skipValue(buf, valueStart));
    if (buf[i] === 0x2c) i = skipSpace(buf, i + 1);
  }
  if (events === undefined || buf[events] !== 0x5b) return undefined;
  const slices: Slice[] = [];
  i = skipSpace(buf, events + 1);
  while (i < buf.length && buf[i] !== 0x5d) {
    const end = skipValue(buf, i);
    slices.push({ start: i, end });
    i = skipSpace(buf, end);
    if (buf[i] === 0x2c) i = skipSpace(buf, i + 1);
  }
  return slices;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as the relay should read it: strict UTF-8 (one leading BOM dropped), then JSON. */
export function parseBody(buf: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(utf8.decode(buf)) as unknown };
  } catch {
    return { ok: false };
  }
}

// ---------------------------------------------------------------- editing trees

type Entries = ReadonlyArray<readonly [string, JsonNode]>;

/** Applies `edit` to the entries of the object at `path` (the last entry of each key is followed). */
export function editObject(node: JsonNode, path: readonly string[], edit: (entries: Entries) => Entries): JsonNode {
  if (node.t !== 'obj') return node;
  const [head, ...rest] = path;
  if (head === undefined) return obj(edit(node.entries));
  const index = node.entries.map(([key]) => key).lastIndexOf(head);
  if (index < 0) return node;
  return obj(node.entries.map((entry, i) => (i === index ? [entry[0], editObject(entry[1], rest, edit)] : entry)));
}

/** Sets a key (replacing its last occurrence, else appending). */
export const withKey = (entries: Entries, key: string, value: JsonNode): Entries => {
  const index = entries.map(([k]) => k).lastIndexOf(key);
  return index < 0 ? [...entries, [key, value]] : entries.map((entry, i) => (i === index ? [key, value] : entry));
};

/** Sets the value at `path`; an empty path replaces the root. */
export function setAt(node: JsonNode, path: readonly string[], value: JsonNode): JsonNode {
  const key = path[path.length - 1];
  return key === undefined ? value : editObject(node, path.slice(0, -1), (entries) => withKey(entries, key, value));
}
