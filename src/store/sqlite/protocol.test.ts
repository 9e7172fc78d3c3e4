import { describe, expect, it } from 'vitest';
import { decode, encodeAnswers, type BatchAnswer } from './protocol.js';

const nested = (depth: number): unknown => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));

describe('encodeAnswers', () => {
  it('turns only the result that cannot be serialised into that call’s error', () => {
    const answers: BatchAnswer[] = [
      { id: 1, results: [{ ok: true, value: 'first' }] },
      { id: 2, results: [{ ok: true, value: nested(20_000) }, { ok: true, value: 3 }] },
    ];
    const decoded = decode<BatchAnswer[]>(encodeAnswers(answers, ['getSetting', 'getSubscriber', 'countSubscribers']));
    expect(decoded).toEqual([
      { id: 1, results: [{ ok: true, value: 'first' }] },
      {
        id: 2,
        results: [
          { ok: false, error: { name: 'StoreValueError', message: expect.stringContaining('the result of getSubscriber cannot be passed between threads'), isUnavailable: false } },
          { ok: true, value: 3 },
        ],
      },
    ]);
  });

  it('passes answers that serialise through unchanged', () => {
    const answers: BatchAnswer[] = [{ id: 7, results: [{ ok: true, value: { body: Buffer.from('x'), n: 1 } }, { ok: false, error: { name: 'Error', message: 'no', isUnavailable: false } }] }];
    expect(decode<BatchAnswer[]>(encodeAnswers(answers, ['getQuarantine', 'getEvent']))).toEqual(answers);
  });
});
