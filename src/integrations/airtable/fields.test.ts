import { describe, expect, it } from 'vitest';
import type { MirrorSubscriber } from '../../store/types.js';
import { contentHash, fromText, markFields, recordOf, tagLabels } from './fields.js';
import { syncSchema, type AirtableSyncConfig } from './schema.js';

const subscriber = (overrides: Partial<MirrorSubscriber> = {}): MirrorSubscriber => ({
  kitId: 1001,
  email: 'ann@example.com',
  firstName: 'Ann',
  state: 'active',
  fields: { company: 'Acme', revenue: '1,250.5', vip: 'yes', renewal: '2026-05-01', interests: 'golf, tennis , ,golf', blank: '  ' },
  tags: [{ id: 7, name: 'VIP' }, { id: 3, name: 'customer' }, { id: 9 }],
  createdAt: Date.parse('2025-02-03T04:05:06.789Z'),
  updatedAt: 0,
  source: 'webhook',
  ...overrides,
});

const sync = (input: Record<string, unknown>): AirtableSyncConfig => syncSchema.parse({ baseId: 'appAAAAAAAAAAAAAA', table: 'Subscribers', ...input });

describe('airtable records: a subscriber as fields', () => {
  it('writes the Kit id and every mapped field, each in its kind', () => {
    const { fields, notes } = recordOf(subscriber(), sync({
      fields: {
        Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags', 'Tags (text)': { source: 'tags', as: 'text' },
        Joined: 'created_at', 'Joined on': { source: 'created_at', as: 'date' }, 'Kit (text)': { source: 'kit_id', as: 'text' },
        Company: { customField: 'company' }, Revenue: { customField: 'revenue', as: 'number' }, VIP: { customField: 'vip', as: 'checkbox' },
        Renewal: { customField: 'renewal', as: 'date' }, Interests: { customField: 'interests', as: 'multipleSelects' },
      },
    }));
    expect(fields).toEqual({
      'Kit ID': 1001, Email: 'ann@example.com', Name: 'Ann', State: 'active', Tags: ['9', 'customer', 'VIP'], 'Tags (text)': '9, customer, VIP',
      Joined: '2025-02-03T04:05:06.789Z', 'Joined on': '2025-02-03', 'Kit (text)': '1001',
      Company: 'Acme', Revenue: 1250.5, VIP: true, Renewal: '2026-05-01', Interests: ['golf', 'tennis'],
    });
    expect(notes).toEqual([]);
  });

  it('writes empty values as what clears the cell, so an emptied value is cleared in Airtable', () => {
    const { fields } = recordOf(subscriber({ firstName: null, tags: [], createdAt: null, fields: {} }), sync({
      kitIdAs: 'text',
      fields: { Name: 'first_name', Tags: 'tags', 'Tag text': { source: 'tags', as: 'text' }, Joined: 'created_at', Company: { customField: 'company' }, N: { customField: 'n', as: 'number' }, VIP: { customField: 'vip', as: 'checkbox' }, I: { customField: 'i', as: 'multipleSelects' } },
    }));
    expect(fields).toEqual({ 'Kit ID': '1001', Name: null, Tags: [], 'Tag text': null, Joined: null, Company: null, N: null, VIP: false, I: [] });
  });

  it('writes a value it cannot convert as empty and says so', () => {
    const { fields, notes } = recordOf(subscriber({ fields: { revenue: '12k', renewal: 'soon' } }), sync({ fields: { Revenue: { customField: 'revenue', as: 'number' }, Renewal: { customField: 'renewal', as: 'dateTime' } } }));
    expect(fields).toMatchObject({ Revenue: null, Renewal: null });
    expect(notes).toEqual(['Revenue: "12k" is not a number: written empty', 'Renewal: "soon" is not a date: written empty']);
  });

  it('unchecks the "left" box of a selected subscriber, and checks it to mark one who left', () => {
    const marking = sync({ onDelete: { mark: 'Left' }, fields: { Email: 'email' } });
    expect(recordOf(subscriber(), marking).fields).toEqual({ 'Kit ID': 1001, Email: 'ann@example.com', Left: false });
    expect(markFields(marking)).toEqual({ Left: true });
    expect(markFields(sync({}))).toBeUndefined();
  });

  it('names tags in a stable order whatever order the mirror holds them in', () => {
    expect(tagLabels({ tags: [{ id: 2, name: 'beta' }, { id: 1, name: 'Alpha' }, { id: 5, name: ' ' }] })).toEqual(['5', 'Alpha', 'beta']);
    expect(tagLabels({ tags: [{ id: 1, name: 'Alpha' }, { id: 2, name: 'beta' }, { id: 5 }] })).toEqual(['5', 'Alpha', 'beta']);
  });

  it('reads checkbox text leniently', () => {
    for (const yes of ['true', 'Yes', '1', 'on', 'X']) expect(fromText(yes, 'checkbox').value).toBe(true);
    for (const no of ['false', 'no', '0', 'maybe']) expect(fromText(no, 'checkbox').value).toBe(false);
  });
});

describe('airtable records: the content hash', () => {
  it('is the same for the same fields in any order, and differs when a value changes', () => {
    const a = contentHash({ Email: 'a@x.com', Tags: ['a', 'b'], 'Kit ID': 1 });
    expect(contentHash({ 'Kit ID': 1, Tags: ['a', 'b'], Email: 'a@x.com' })).toBe(a);
    expect(contentHash({ 'Kit ID': 1, Tags: ['b', 'a'], Email: 'a@x.com' })).not.toBe(a);
    expect(contentHash({ 'Kit ID': 1, Tags: ['a', 'b'], Email: null })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
  });

  it('changes with a tag added, and not with a change to a field the sync does not map', () => {
    const s = sync({ fields: { Email: 'email', Tags: 'tags' } });
    const before = contentHash(recordOf(subscriber(), s).fields);
    expect(contentHash(recordOf(subscriber({ fields: { company: 'Other' } }), s).fields)).toBe(before);
    expect(contentHash(recordOf(subscriber({ tags: [...subscriber().tags, { id: 11, name: 'New' }] }), s).fields)).not.toBe(before);
  });
});
