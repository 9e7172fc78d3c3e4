import { describe, expect, it } from 'vitest';
import type { MirrorSubscriber } from '../../store/types.js';
import { sha256Hex } from './normalize.js';
import { audienceSchema } from './schema.js';
import { isSelected, membershipOf, schemaOf } from './selection.js';

function subscriber(overrides: Partial<MirrorSubscriber> = {}): MirrorSubscriber {
  return { kitId: 42, email: 'ada@example.com', firstName: 'Ada', state: 'active', fields: {}, tags: [{ id: 7, name: 'Customer' }], createdAt: null, updatedAt: 0, source: 'backfill', ...overrides };
}

describe('audience selection', () => {
  it('selects by state and by tags any / all / none, by id or name', () => {
    const select = audienceSchema.parse({ select: { tags: { any: ['customer', 99], none: [13] } } }).select;
    expect(isSelected(subscriber(), select)).toBe(true);
    expect(isSelected(subscriber({ state: 'cancelled' }), select)).toBe(false);
    expect(isSelected(subscriber({ tags: [{ id: 99 }] }), select)).toBe(true);
    expect(isSelected(subscriber({ tags: [{ id: 7, name: 'Customer' }, { id: 13 }] }), select)).toBe(false);
    expect(isSelected(subscriber({ tags: [] }), select)).toBe(false);
    const all = audienceSchema.parse({ select: { tags: { all: ['7', 'vip'] }, states: ['active', 'inactive'] } }).select;
    expect(isSelected(subscriber({ state: 'inactive', tags: [{ id: 7 }, { id: 8, name: 'VIP' }] }), all)).toBe(true);
    expect(isSelected(subscriber({ tags: [{ id: 7 }] }), all)).toBe(false);
  });

  it('builds the row in Meta\'s key order with hashed keys and the Kit id unhashed; identity is the address hash', () => {
    const audience = audienceSchema.parse({ keys: { PHONE: { field: 'phone' }, EXTERN_ID: true, EMAIL: true } });
    expect(schemaOf(audience)).toEqual(['EXTERN_ID', 'EMAIL', 'PHONE']);
    const { member, dropped } = membershipOf(subscriber({ email: ' Ada@Example.COM', fields: { phone: '+1 (650) 555-0100' } }), audience);
    expect(member).toEqual({ subscriberId: 42, row: ['42', sha256Hex('ada@example.com'), sha256Hex('16505550100')], matchKey: sha256Hex('ada@example.com') });
    expect(dropped).toEqual([]);
  });

  it('drops only a value that normalises to nothing, and holds no row for someone not selected or with no usable key', () => {
    const audience = audienceSchema.parse({ keys: { EMAIL: true, PHONE: { field: 'phone' } } });
    const bad = membershipOf(subscriber({ fields: { phone: '+0000000000' } }), audience);
    expect(bad.member.row).toEqual([sha256Hex('ada@example.com'), '']);
    expect(bad.dropped.map((d) => d.key)).toEqual(['PHONE']);
    expect(membershipOf(subscriber({ state: 'bounced' }), audience).member).toEqual({ subscriberId: 42, row: null, matchKey: null });
    const nothing = membershipOf(subscriber({ email: '', fields: {} }), audience);
    expect(nothing.member.row).toBeNull();
    expect(nothing.unusable).toBeDefined();
  });

  it('refuses a key with no natural source unless it is mapped to a field', () => {
    expect(() => audienceSchema.parse({ keys: { PHONE: true } })).toThrow(/map it to a custom field/);
    expect(() => audienceSchema.parse({ keys: {} })).toThrow(/at least one match key/);
    expect(audienceSchema.parse({}).keys).toEqual({ EMAIL: true });
  });
});
