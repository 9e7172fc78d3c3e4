import { describe, expect, it } from 'vitest';
import { FaultRules, parseFaultSpecs, pathMatcher, type FaultRequestView } from './faults.js';

const view = (method: string, path: string, rawBody = ''): FaultRequestView => ({ method, path, url: path, query: {}, headers: {}, body: undefined, rawBody, bytes: Buffer.from(rawBody) });

describe('fault rules', () => {
  it('match paths exactly, by segment (*), by anything (**) or by RegExp', () => {
    expect(pathMatcher('/api/v2/greets')('/api/v2/greets')).toBe(true);
    expect(pathMatcher('/api/v2/greets')('/api/v2/greets/1')).toBe(false);
    expect(pathMatcher('/api/v2/greets/*')('/api/v2/greets/abc')).toBe(true);
    expect(pathMatcher('/api/v2/greets/*')('/api/v2/greets/abc/events')).toBe(false);
    expect(pathMatcher('/api/**')('/api/v2/greets/abc/events')).toBe(true);
    expect(pathMatcher('/a.b')('/axb')).toBe(false);
    expect(pathMatcher(/^\/v4\//)('/v4/tags')).toBe(true);
  });

  it('apply in the order added, each to its next `times` matching requests', () => {
    const rules = new FaultRules();
    rules.add({ kind: 'hang', method: 'POST', times: 2 });
    rules.add({ kind: 'reset' });
    expect(rules.take(view('GET', '/x'))?.kind).toBe('reset');
    expect(rules.take(view('post', '/x'))?.kind).toBe('hang');
    expect(rules.take(view('POST', '/x'))?.kind).toBe('hang');
    expect(rules.take(view('POST', '/x'))).toBeUndefined();
    expect(rules.pending).toBe(0);
  });

  it('match body text and predicates, and refuse a count that is not positive', () => {
    const rules = new FaultRules();
    rules.add({ kind: 'reset', times: Infinity, bodyIncludes: 'ada@', match: (r) => r.method === 'PUT' });
    expect(rules.take(view('PUT', '/p', '{"email":"bob@x"}'))).toBeUndefined();
    expect(rules.take(view('POST', '/p', '{"email":"ada@x"}'))).toBeUndefined();
    expect(rules.take(view('PUT', '/p', '{"email":"ada@x"}'))?.kind).toBe('reset');
    expect(rules.list()).toEqual([{ kind: 'reset', bodyIncludes: 'ada@', hasPredicate: true, remaining: null }]);
    expect(() => rules.add({ kind: 'hang', times: 0 })).toThrow('positive');
  });

  it('parse the JSON form, "Infinity" included, and name the bad field', () => {
    expect(parseFaultSpecs({ kind: 'status', status: 500, times: 'Infinity', path: '/a' })).toEqual({ specs: [{ kind: 'status', status: 500, times: Infinity, path: '/a' }] });
    expect(parseFaultSpecs([{ kind: 'apply_then_reset' }, { kind: 'rate_limited', retryAfter: false }])).toMatchObject({ specs: [{ kind: 'apply_then_reset' }, { kind: 'rate_limited', retryAfter: false }] });
    expect(parseFaultSpecs({ kind: 'delay' })).toMatchObject({ error: expect.stringMatching(/^ms: /) });
    expect(parseFaultSpecs({ kind: 'hang', pth: '/typo' })).toMatchObject({ error: expect.stringContaining('pth') });
    expect(parseFaultSpecs({ kind: 'explode' })).toHaveProperty('error');
  });
});
