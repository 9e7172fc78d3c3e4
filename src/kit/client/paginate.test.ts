/** Cursor pagination against the simulator: every item once, resumable from a saved cursor. */
import { describe, expect, it } from 'vitest';
import { clientFor, startSim, useHarness } from './harness.js';
import { eachItem, type Page } from './paginate.js';
import type { KitSubscriber } from './types.js';

useHarness();

const SUBSCRIBERS = 53;

async function allPages<T>(pages: AsyncIterable<Page<T>>): Promise<Page<T>[]> {
  const out: Page<T>[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

describe('kit client pagination', () => {
  it('walks every page with per_page and sees each subscriber exactly once', async () => {
    const sim = await startSim({ seed: { subscribers: SUBSCRIBERS } });
    const { client } = clientFor(sim);
    const pages = await allPages(client.listSubscribers({ status: 'all', perPage: 10 }));
    expect(pages.map((p) => p.items.length)).toEqual([10, 10, 10, 10, 10, 3]);
    const ids = pages.flatMap((p) => p.items.map((s) => s.id));
    expect(new Set(ids).size).toBe(SUBSCRIBERS);
    expect(pages.at(-1)?.pagination.has_next_page).toBe(false);
    expect(pages.every((p) => p.cursor === p.pagination.end_cursor)).toBe(true);
  });

  it('resumes from a saved cursor with nothing missed or doubled', async () => {
    const sim = await startSim({ seed: { subscribers: SUBSCRIBERS } });
    const { client } = clientFor(sim);
    const seen: number[] = [];
    let saved: string | null = null;
    // A backfill that stops after two pages, its checkpoint holding the cursor of the last page done.
    for await (const page of client.listSubscribers({ status: 'all', perPage: 8 })) {
      seen.push(...page.items.map((s) => s.id));
      saved = page.cursor;
      if (seen.length >= 16) break;
    }
    expect(saved).not.toBeNull();
    // A fresh client (a restarted process) picks up from the checkpoint.
    const { client: resumed } = clientFor(sim);
    for await (const subscriber of eachItem(resumed.listSubscribers({ status: 'all', perPage: 8, after: saved }))) seen.push(subscriber.id);

    const everyone = (await allPages(client.listSubscribers({ status: 'all', perPage: 1000 }))).flatMap((p) => p.items.map((s) => s.id));
    expect(seen).toEqual(everyone);
    expect(new Set(seen).size).toBe(SUBSCRIBERS);
  });

  it('keeps the cursor when resuming past the end yields an empty page', async () => {
    const sim = await startSim({ seed: { subscribers: 5 } });
    const { client } = clientFor(sim);
    const [last] = await allPages(client.listSubscribers({ status: 'all', perPage: 100 }));
    const after = await allPages(client.listSubscribers({ status: 'all', perPage: 100, after: last?.cursor ?? null }));
    expect(after).toHaveLength(1);
    expect(after[0]?.items).toEqual([]);
    expect(after[0]?.cursor).toBe(last?.cursor);
  });

  it('URL-encodes cursors (they are base64 with `=`)', async () => {
    const sim = await startSim({ seed: { subscribers: 30 } });
    const { client, calls } = clientFor(sim);
    const pages = await allPages(client.listSubscribers({ status: 'all', perPage: 3 }));
    const index = pages.findIndex((p) => p.cursor?.includes('=') && p.pagination.has_next_page);
    expect(index).toBeGreaterThanOrEqual(0);
    const cursor = pages[index]?.cursor ?? '';
    // The request for the next page carries it percent-encoded, and Kit read it back intact.
    expect(calls[index + 1]?.request.url).toContain(`after=${encodeURIComponent(cursor)}`);
    expect(sim.requests[index + 1]?.query).toMatchObject({ after: cursor });
  });

  it('asks for total_count on the first page only, and pages any list through `paginate`', async () => {
    const sim = await startSim({ seed: { subscribers: 3, tags: 10 } });
    const { client } = clientFor(sim);
    const pages = await allPages(client.paginate<{ id: number }>('/v4/tags', 'tags', {}, { perPage: 4, includeTotalCount: true }));
    expect(pages.map((p) => p.items.length)).toEqual([4, 4, 2]);
    expect(pages[0]?.pagination.total_count).toBe(10);
    expect(pages[1]?.pagination.total_count).toBeUndefined();
  });

  it('refuses a per_page Kit would not honour', async () => {
    const sim = await startSim();
    const { client } = clientFor(sim);
    await expect(allPages<KitSubscriber>(client.listSubscribers({ perPage: 1001 }))).rejects.toThrow(RangeError);
  });
});
