import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonBody, legacyFixture } from '../kit/fixtures.js';
import { createServicesHarness, type ServicesHarness } from './harness.js';
import { discardQuarantine, listQuarantine, reingestQuarantine, showEvent, showQuarantine } from './index.js';

let h: ServicesHarness;
beforeEach(async () => {
  h = await createServicesHarness();
});
afterEach(async () => h.close());

/** A signed event cut from a batch because it has no subscriber. */
const badSigned = { id: 'evt-1', type: 'subscriber.tag_added', created: '2026-07-29T14:32:10Z', data: { tag: { id: 4242 } } };

describe('quarantine services', () => {
  it('re-ingests a quarantined signed event once its body is fixed, and marks the entry', async () => {
    const id = await h.quarantine({ system: 'signed', route: 'main', body: Buffer.from(JSON.stringify(badSigned)) });
    expect(await reingestQuarantine(h, id)).toMatchObject({ kind: 'still_invalid', reason: 'invalid_event' });
    expect(await showQuarantine(h, id)).toMatchObject({ status: 'open' });

    const fixed = Buffer.from(JSON.stringify({ ...badSigned, data: { ...badSigned.data, subscriber: { id: 9, email_address: 'nine@example.com' } } }));
    expect(await reingestQuarantine(h, id, fixed)).toMatchObject({ kind: 'done', outcome: { kind: 'accepted', accepted: 1, jobs: 2 } });
    const after = await showQuarantine(h, id);
    expect(after).toMatchObject({ status: 'reingested' });
    expect(after?.reingestedEventIds).toHaveLength(1);
    const event = await showEvent(h, after!.reingestedEventIds[0]!);
    expect(event?.event).toMatchObject({ source: 'reingest', subscriberId: '9', kitEventId: 'evt-1', receivedAt: h.clock.now() });
    expect(await reingestQuarantine(h, id, fixed)).toMatchObject({ kind: 'not_open', entry: { status: 'reingested' } });
  });

  it('re-ingests a quarantined legacy body after a fix, and needs its route still configured', async () => {
    const id = await h.quarantine({ system: 'legacy', route: 'tag_add-4242', body: Buffer.from('{"subscriber":') });
    expect(await reingestQuarantine(h, id)).toMatchObject({ kind: 'still_invalid' });
    expect(await reingestQuarantine(h, id, jsonBody(legacyFixture('subscriber.tag_add').body))).toMatchObject({ kind: 'done', outcome: { kind: 'accepted', accepted: 1 } });

    const gone = await h.quarantine({ system: 'legacy', route: 'tag_add-1', body: Buffer.from('{}') });
    expect(await reingestQuarantine(h, gone)).toMatchObject({ kind: 'route_gone', entry: { id: gone } });
    expect(await reingestQuarantine(h, 999_999)).toEqual({ kind: 'not_found' });
  });

  it('discards an open entry once, and tells a resolved entry from a missing one', async () => {
    const id = await h.quarantine({ system: 'legacy', route: 'tag_add-4242', body: Buffer.from('{"subscriber":') });
    expect(await listQuarantine(h, { status: 'open' })).toMatchObject([{ id }]);
    expect(await discardQuarantine(h, id)).toEqual({ kind: 'discarded' });
    expect(await discardQuarantine(h, id)).toMatchObject({ kind: 'not_open', entry: { id, status: 'discarded' } });
    expect(await discardQuarantine(h, 999_999)).toEqual({ kind: 'not_found' });
    expect(await listQuarantine(h, { status: 'open' })).toEqual([]);
    expect(await reingestQuarantine(h, id)).toMatchObject({ kind: 'not_open' });
  });
});
