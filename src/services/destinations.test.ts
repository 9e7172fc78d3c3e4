import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServicesHarness, type ServicesHarness } from './harness.js';
import { listDestinations, pauseDestination, resumeDestination, showDestination } from './index.js';

let h: ServicesHarness;
beforeEach(async () => {
  h = await createServicesHarness();
});
afterEach(async () => h.close());

describe('destinations services', () => {
  it('lists every configured destination with its job counts, idle ones included', async () => {
    const [sink] = await h.commitJobs(1, ['sink']);
    await h.commitJobs(2, ['sink']);
    await h.finish(sink!, 'failed');
    expect(await listDestinations(h)).toEqual([
      { name: 'sink', type: 'webhook', pausedAt: null, pausedReason: null, breakerOpenUntil: null, jobs: { pending: 1, running: 0, succeeded: 0, dead: 1, cancelled: 0 } },
      { name: 'other', type: 'webhook', pausedAt: null, pausedReason: null, breakerOpenUntil: null, jobs: { pending: 0, running: 0, succeeded: 0, dead: 0, cancelled: 0 } },
    ]);
  });

  it('pauses and resumes a configured destination, and refuses one the config does not have', async () => {
    const pausedAt = h.clock.now();
    expect(await pauseDestination(h, 'sink', 'maintenance')).toEqual({ kind: 'paused' });
    expect(await showDestination(h, 'sink')).toMatchObject({ pausedAt, pausedReason: 'maintenance' });
    h.clock.advance(1000);
    expect(await resumeDestination(h, 'sink')).toEqual({ kind: 'resumed' });
    expect(await showDestination(h, 'sink')).toMatchObject({ pausedAt: null, pausedReason: null });

    expect(await pauseDestination(h, 'nowhere', 'x')).toEqual({ kind: 'not_found' });
    expect(await pauseDestination(h, 'toString', 'x')).toEqual({ kind: 'not_found' });
    expect(await resumeDestination(h, 'nowhere')).toEqual({ kind: 'not_found' });
    expect(await h.store.getDestinationStates()).toMatchObject([{ destination: 'sink' }]);
    expect(await showDestination(h, 'nowhere')).toBeUndefined();
  });

  it('shows the breaker only while it is open', async () => {
    const openUntil = h.clock.now() + 30_000;
    await h.store.setBreaker('other', openUntil, h.clock.now());
    expect(await showDestination(h, 'other')).toMatchObject({ breakerOpenUntil: openUntil });
    h.clock.advance(30_000);
    expect(await showDestination(h, 'other')).toMatchObject({ breakerOpenUntil: null });
  });
});
