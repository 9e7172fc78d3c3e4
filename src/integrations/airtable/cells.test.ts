import { describe, expect, it } from 'vitest';
import { kitText, normalCell, sameCell, tagNames } from './cells.js';

describe('cells compared the way Airtable answers them', () => {
  it('treats an absent cell, null, blank text, false and [] as one empty value', () => {
    for (const empty of [undefined, null, '', '   ', false, []]) expect(normalCell(empty)).toBeNull();
    expect(sameCell(undefined, null)).toBe(true);
    expect(sameCell([], undefined)).toBe(true);
    expect(sameCell('', 'x')).toBe(false);
  });

  it('compares text trimmed, lists as sets, and numbers with their text', () => {
    expect(sameCell(' Ada ', 'Ada')).toBe(true);
    expect(sameCell(['vip', 'customer', 'vip'], ['customer', 'vip'])).toBe(true);
    expect(sameCell(['vip'], ['vip', 'customer'])).toBe(false);
    expect(sameCell(42, '42')).toBe(true);
    expect(sameCell(42, '42.5')).toBe(false);
    expect(sameCell(true, 'true')).toBe(false);
    expect(sameCell({ id: 'usr1' }, { id: 'usr1' })).toBe(true);
  });

  it("turns a cell into Kit's text for its kind, and tags cells into names", () => {
    expect(kitText(12.5, { customField: 'revenue', as: 'number' })).toBe('12.5');
    expect(kitText(true, { customField: 'vip', as: 'checkbox' })).toBe('true');
    expect(kitText(false, { customField: 'vip', as: 'checkbox' })).toBeNull();
    expect(kitText('2026-03-01T10:00:00.000Z', { customField: 'joined', as: 'date' })).toBe('2026-03-01');
    expect(kitText(['b', 'a'], { customField: 'interests', as: 'multipleSelects' })).toBe('a, b');
    expect(kitText('  ', { source: 'first_name', as: 'text' })).toBeNull();
    expect(tagNames(['vip', ' customer '])).toEqual(['customer', 'vip']);
    expect(tagNames('vip, customer,,')).toEqual(['vip', 'customer']);
    expect(tagNames(null)).toEqual([]);
  });
});
