import { describe, expect, it } from 'vitest';
import { airtableDestinationSchema, checkAirtable, matchOf } from './schema.js';

const destination = (syncs: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  airtableDestinationSchema.safeParse({ type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, syncs, ...extra });
const sync = (extra: Record<string, unknown> = {}) => ({ baseId: 'appAAAAAAAAAAAAAA', table: 'Subscribers', fields: { Email: 'email' }, ...extra });

describe('airtable config', () => {
  it('fills the defaults: the API, Airtable\'s limits, the Kit id field, every active subscriber, delete on leave', () => {
    const parsed = destination({ subscribers: sync() });
    expect(parsed.success).toBe(true);
    expect(parsed.data).toMatchObject({
      apiUrl: 'https://api.airtable.com', budgetWarnShare: 0.8, rateLimit: { perSecond: 50, burst: 50 }, subKeyRateLimit: { perSecond: 5, burst: 5 },
      syncs: { subscribers: { kitIdField: 'Kit ID', kitIdAs: 'number', select: { states: ['active'], tags: {} }, typecast: false, onDelete: 'delete', coalesceMs: 2000 } },
    });
    expect(parsed.data?.monthlyCallBudget).toBeUndefined();
  });

  it('refuses a base id that is not one, and a kind a source cannot be written as, naming the fix', () => {
    const bad = destination({ s: sync({ baseId: 'base1' }) });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['syncs', 's', 'baseId'], message: expect.stringContaining("'app' and 14 letters") });
    const kind = destination({ s: sync({ fields: { Tags: { source: 'tags', as: 'number' } } }) });
    expect(kind.error?.issues[0]).toMatchObject({ path: ['syncs', 's', 'fields', 'Tags', 'as'], message: "tags cannot be written as number: use 'multipleSelects' or 'text'" });
    expect(destination({ s: sync({ fields: { X: 'phone' } }) }).success).toBe(false);
  });

  it('checks across fields: the Kit id field, pause and mark boxes not written from Kit, one sync per table', () => {
    const parsed = destination({
      a: sync({ fields: { Email: 'email', 'Kit ID': 'kit_id', Paused: 'state' }, pauseField: 'Paused', onDelete: { mark: 'Paused' } }),
      b: sync(),
    });
    expect(checkAirtable(parsed.data!, 'airtable')).toEqual([
      'destinations.airtable.syncs.a.fields: "Kit ID" is the kitIdField, written by kitrelay itself: remove it from fields',
      'destinations.airtable.syncs.a.pauseField: "Paused" is also in fields: a pause checkbox is set by people, not by kitrelay; remove it from fields',
      'destinations.airtable.syncs.a.onDelete.mark: "Paused" is also written from Kit: pick a checkbox field of its own',
      'destinations.airtable.syncs.a.onDelete.mark: "Paused" is the pauseField: pick another checkbox field',
      'destinations.airtable.syncs.b: writes the same table as syncs.a (appAAAAAAAAAAAAAA/Subscribers): their rows would overwrite each other; use one sync per table',
    ]);
    expect(checkAirtable(destination({ a: sync() }).data!, 'airtable')).toEqual([]);
  });

  it('matches rows lacking the Kit id on the email field unless told otherwise', () => {
    expect(matchOf(destination({ a: sync() }).data!.syncs.a!)).toEqual({ field: 'Email', source: 'email' });
    expect(matchOf(destination({ a: sync({ fields: { Name: 'first_name' } }) }).data!.syncs.a!)).toBeUndefined();
    expect(matchOf(destination({ a: sync({ match: { field: 'Member no', source: { customField: 'member' } } }) }).data!.syncs.a!)).toEqual({ field: 'Member no', source: { customField: 'member' } });
  });
});
