import { describe, expect, it } from 'vitest';
import { jsonDepth, topLevelArrayExtents, valueDepth } from './json-scan.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

describe('jsonDepth', () => {
  it('counts objects and arrays, not brackets inside strings', () => {
    expect(jsonDepth(bytes('1'))).toBe(0);
    expect(jsonDepth(bytes('{}'))).toBe(1);
    expect(jsonDepth(bytes('{"a":[{}],"b":{}}'))).toBe(3);
    expect(jsonDepth(bytes('{"a":"[[[{{{\\"]]]"}'))).toBe(1);
    expect(jsonDepth(bytes('["é{", "\\\\", {"x": ["ü"]}]'))).toBe(3);
  });

  it('measures 100,000 levels without recursion, and stops early past a limit', () => {
    expect(jsonDepth(bytes(nested(100_000)))).toBe(100_000);
    expect(jsonDepth(bytes(nested(100_000)), 64)).toBe(65);
  });
});

describe('topLevelArrayExtents', () => {
  const slices = (text: string, key = 'events') => {
    const raw = bytes(text);
    return topLevelArrayExtents(raw, key)?.map((e) => [raw.subarray(e.start, e.end).toString('utf8'), e.depth]);
  };

  it('returns each element exactly as written, with its depth', () => {
    expect(slices('{"delivery_id":"d","events":[ {"id":"1","n":1e400} ,\n{"id":"2","n":9007199254740993,"s":"],"}, 7 ,"x",[[]] ]}')).toEqual([
      ['{"id":"1","n":1e400}', 1],
      ['{"id":"2","n":9007199254740993,"s":"],"}', 1],
      ['7', 0],
      ['"x"', 0],
      ['[[]]', 2],
    ]);
  });

  it('follows JSON.parse: the last duplicate key wins, escapes in keys are read, nested keys do not count', () => {
    expect(slices('{"events":[1],"events":[2,3]}')).toEqual([['2', 0], ['3', 0]]);
    expect(slices('{"events":[1],"events":"no"}')).toBeUndefined();
    expect(slices('{"\\u0065vents":[{"a":1}]}')).toEqual([['{"a":1}', 1]]);
    expect(slices('{"x":{"events":[1]},"y":"events"}')).toBeUndefined();
    expect(slices('{"events":[]}')).toEqual([]);
    expect(slices('[{"events":[1]}]')).toBeUndefined();
  });

  it('keeps multi-byte characters whole and reports deep elements without recursion', () => {
    const deep = nested(20_000);
    const raw = bytes(`{"events":[{"name":"Zoë ✓"},${deep}]}`);
    const extents = topLevelArrayExtents(raw, 'events')!;
    expect(raw.subarray(extents[0]!.start, extents[0]!.end).toString('utf8')).toBe('{"name":"Zoë ✓"}');
    expect(extents[1]).toMatchObject({ depth: 20_000 });
    expect(raw.subarray(extents[1]!.start, extents[1]!.end).toString('utf8')).toBe(deep);
  });
});

describe('valueDepth', () => {
  it('agrees with jsonDepth on parsed values, without recursion', () => {
    for (const text of ['1', '{}', '[]', '{"a":[{}],"b":{}}', '[[1,[2,[3]]],{"x":{"y":{}}}]']) {
      expect(valueDepth(JSON.parse(text))).toBe(jsonDepth(bytes(text)));
    }
    expect(valueDepth(JSON.parse(nested(50_000)))).toBe(50_000);
    expect(valueDepth(JSON.parse(nested(50_000)), 10)).toBe(11);
  });
});
