/** Store contract, the queue: claiming, leases, finishing attempts, release, replay and cancel. */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, attemptFor, claimIds, commit, eventInput, getJob, ingestJob, plannedJob, type ContractContext } from './fixtures.contract.js';

const LEASE = 30 * SECOND;

export function queueContract(ctx: ContractContext): void {
  it('claims a job only once its runAt has come, with a lease and its event', async () => {
    const jobId = await ingestJob(ctx.store, { receivedAt: T0 });
    expect(await claimIds(ctx.store, T0 - 1)).toEqual([]);

    const claimed = await ctx.store.claimJobs({ workerId: 'w1', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE });
    expect(claimed).toHaveLength(1);
    expect(claimed[0]?.job).toMatchObject({ id: jobId, status: 'running', leaseOwner: 'w1', leaseExpiresAt: T0 + LEASE, attempts: 0 });
    expect(claimed[0]?.event).toEqual(await ctx.store.getEvent(claimed[0]!.job.eventId));
    expect(await claimIds(ctx.store, T0 + SECOND, { workerId: 'w2' })).toEqual([]);
  });

  it('claims at most `limit` jobs, oldest first, and only of the asked destination', async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await ingestJob(ctx.store));
    const other = await ingestJob(ctx.store, { destination: 'slack' });
    expect(await claimIds(ctx.store, T0, { limit: 2 })).toEqual(ids.slice(0, 2));
    expect(await claimIds(ctx.store, T0, { limit: 10 })).toEqual(ids.slice(2));
    expect(await claimIds(ctx.store, T0, { destination: 'slack' })).toEqual([other]);
  });

  it('runs one subscriber’s jobs for a destination in order (per-subscriber FIFO)', async () => {
    const first = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    const second = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    const someoneElse = await ingestJob(ctx.store, { subscriberKey: 'id:2' });
    expect(await claimIds(ctx.store, T0)).toEqual([first, someoneElse]);
    expect(await claimIds(ctx.store, T0)).toEqual([]);

    const job = await getJob(ctx.store, first);
    expect(await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1'), next: { status: 'succeeded' }, now: T0 + SECOND })).toBe(true);
    expect(await claimIds(ctx.store, T0 + SECOND)).toEqual([second]);
  });

  it('holds a subscriber’s later job while an earlier one waits to retry', async () => {
    const first = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    const second = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, first);
    const retryAt = T0 + 60 * SECOND;
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1', { outcome: 'retry', error: 'HTTP 503' }), next: { status: 'pending', runAt: retryAt }, now: T0 + SECOND });
    expect(await claimIds(ctx.store, T0 + 2 * SECOND)).toEqual([]);
    expect(await claimIds(ctx.store, retryAt)).toEqual([first]);
    expect(second).toBeGreaterThan(first);
  });

  it('does not let a dead or cancelled job block the subscriber’s next one', async () => {
    const dead = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    const cancelled = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    const next = await ingestJob(ctx.store, { subscriberKey: 'id:1' });
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, dead);
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1', { outcome: 'failed', error: 'HTTP 400' }), next: { status: 'dead' }, now: T0 + SECOND });
    expect((await ctx.store.cancelJob(cancelled, T0 + SECOND))?.status).toBe('cancelled');
    expect(await claimIds(ctx.store, T0 + SECOND)).toEqual([next]);
  });

  it('runs jobs without a subscriber key side by side, and different destinations independently', async () => {
    const anonymousA = await ingestJob(ctx.store, { subscriberKey: null });
    const anonymousB = await ingestJob(ctx.store, { subscriberKey: null });
    const crm = await ingestJob(ctx.store, { subscriberKey: 'id:3', destination: 'crm' });
    const slack = await ingestJob(ctx.store, { subscriberKey: 'id:3', destination: 'slack' });
    expect(await claimIds(ctx.store, T0)).toEqual([anonymousA, anonymousB, crm]);
    expect(await claimIds(ctx.store, T0, { destination: 'slack' })).toEqual([slack]);
  });

  it('leases no more than `maxRunning` of a destination at once, counting unexpired leases of every worker', async () => {
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await ingestJob(ctx.store, { subscriberKey: null }));
    const claim = (workerId: string, now: number) => ctx.store.claimJobs({ workerId, destination: 'crm', limit: 10, now, leaseMs: LEASE, maxRunning: 3 });
    const first = await claim('w1', T0);
    expect(first.map((c) => c.job.id)).toEqual(ids.slice(0, 3));
    expect(await claim('w2', T0)).toEqual([]);
    // One finishes: one more may run, whoever claims it.
    await ctx.store.finishAttempt({ attempt: attemptFor(first[0]!.job, 'w1'), next: { status: 'succeeded' }, now: T0 });
    expect((await claim('w2', T0 + SECOND)).map((c) => c.job.id)).toEqual([ids[3]]);
    // Leases that expired count for nothing: the claim takes them back, within the cap.
    expect((await claim('w3', T0 + SECOND + LEASE)).map((c) => c.job.id)).toEqual(ids.slice(1, 4));
    expect(await ctx.store.countJobs()).toEqual(expect.arrayContaining([{ destination: 'crm', status: 'running', count: 3 }]));
  });

  it('counts the running jobs of a batch action as the calls they fill toward `maxRunning`', async () => {
    for (let i = 0; i < 5; i++) await ingestJob(ctx.store, { subscriberKey: null });
    // Five jobs of action `post` leased (by a caller without a cap): with `post` a batch action of
    // up to 4 jobs a call they are 2 calls; as a one-job action, 5.
    expect(await claimIds(ctx.store, T0, { limit: 5 })).toHaveLength(5);
    for (let i = 0; i < 3; i++) await ingestJob(ctx.store, { subscriberKey: null });
    const claim = (batchActions: Record<string, number>) => ctx.store.claimJobs({ workerId: 'w2', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE, maxRunning: 3, batchActions });
    expect(await claim({})).toEqual([]);
    expect(await claim({ other: 10 })).toEqual([]);
    expect(await claim({ post: 4 })).toHaveLength(1);
  });

  it('holds `maxRunning` between two stores on the same database claiming at once', async () => {
    const peer = await ctx.openPeer();
    try {
      for (let i = 0; i < 40; i++) await ingestJob(ctx.store, { subscriberKey: null });
      const leased: number[] = [];
      for (let round = 0; round < 8; round++) {
        const claims = [ctx.store, peer].flatMap((store, s) =>
          [0, 1].map((k) => store.claimJobs({ workerId: `w${s}${k}`, destination: 'crm', limit: 2, now: T0 + round * SECOND, leaseMs: LEASE, maxRunning: 5 })),
        );
        const won = (await Promise.all(claims)).flat();
        expect(won).toHaveLength(5);
        leased.push(...won.map((c) => c.job.id));
        for (const { job } of won) await ctx.store.finishAttempt({ attempt: attemptFor(job, job.leaseOwner ?? ''), next: { status: 'succeeded' }, now: T0 + round * SECOND });
      }
      expect(new Set(leased).size).toBe(40);
    } finally {
      await peer.close();
    }
  });

  it('reclaims a job whose lease expired and records the lost attempt as unknown', async () => {
    const jobId = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0, { workerId: 'w1' });
    expect(await claimIds(ctx.store, T0 + LEASE - 1, { workerId: 'w2' })).toEqual([]);

    const claimed = await ctx.store.claimJobs({ workerId: 'w2', destination: 'crm', limit: 10, now: T0 + LEASE, leaseMs: LEASE });
    expect(claimed.map((c) => c.job)).toMatchObject([{ id: jobId, status: 'running', leaseOwner: 'w2', attempts: 1, leaseExpiresAt: T0 + 2 * LEASE }]);
    const audit = await ctx.store.listAttempts({ jobId });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      jobId,
      attempt: 1,
      workerId: 'w1',
      outcome: 'unknown',
      error: 'lease expired: the worker stopped mid-attempt',
      finishedAt: T0 + LEASE,
      destination: 'crm',
    });
  });

  it('marks a job dead instead of reclaiming it when the lost attempt was its last', async () => {
    const jobId = await ingestJob(ctx.store, { maxAttempts: 1 });
    await claimIds(ctx.store, T0, { workerId: 'w1' });
    expect(await claimIds(ctx.store, T0 + LEASE, { workerId: 'w2' })).toEqual([]);
    expect(await getJob(ctx.store, jobId)).toMatchObject({ status: 'dead', attempts: 1, finishedAt: T0 + LEASE, leaseOwner: null });
    expect((await ctx.store.listAttempts({ jobId })).map((a) => a.outcome)).toEqual(['unknown']);
  });

  it('extends only the leases the worker still holds', async () => {
    const mine = await ingestJob(ctx.store);
    const theirs = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0, { workerId: 'w1', limit: 1 });
    await claimIds(ctx.store, T0, { workerId: 'w2', limit: 1 });
    expect(await ctx.store.extendLeases('w1', [theirs, mine], T0 + 2 * LEASE)).toEqual([mine]);
    expect(await getJob(ctx.store, mine)).toMatchObject({ leaseExpiresAt: T0 + 2 * LEASE });
    expect(await getJob(ctx.store, theirs)).toMatchObject({ leaseExpiresAt: T0 + LEASE });
    expect(await claimIds(ctx.store, T0 + LEASE, { workerId: 'w3' })).toEqual([theirs]);
  });

  it('finishes a successful attempt: job succeeded, audit record with the job context', async () => {
    const jobId = await ingestJob(ctx.store, { subscriberKey: 'email:sub@example.com' });
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, jobId);
    const attempt = attemptFor(job, 'w1');
    expect(await ctx.store.finishAttempt({ attempt, next: { status: 'succeeded' }, now: T0 + 300 })).toBe(true);
    expect(await getJob(ctx.store, jobId)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      finishedAt: T0 + 300,
      updatedAt: T0 + 300,
      leaseOwner: null,
      leaseExpiresAt: null,
      lastError: null,
    });
    const [record] = await ctx.store.listAttempts({ jobId });
    expect(record).toEqual({
      ...attempt,
      id: expect.any(Number) as number,
      eventId: job.eventId,
      destination: 'crm',
      action: 'post',
      subscriberKey: 'email:sub@example.com',
      email: job.email,
      durationMs: 250,
      scrubbedAt: null,
    });
    expect((await ctx.store.listAttempts({ email: job.email!.toUpperCase() })).map((a) => a.id)).toEqual([record!.id]);
    expect((await ctx.store.listAttempts({ subscriberId: job.subscriberId!, destination: 'crm' })).map((a) => a.id)).toEqual([record!.id]);
    expect(await ctx.store.listAttempts({ destination: 'slack' })).toEqual([]);
    expect(await ctx.store.listAttempts({ since: T0 + 11 })).toEqual([]);
  });

  it('finishes a failed attempt as a retry at runAt, or as dead', async () => {
    const retried = await ingestJob(ctx.store);
    const killed = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0);
    const retryAt = T0 + 10 * SECOND;
    const retryAttempt = attemptFor(await getJob(ctx.store, retried), 'w1', { outcome: 'retry', errorClass: 'retryable', error: 'HTTP 502', responseStatus: 502 });
    expect(await ctx.store.finishAttempt({ attempt: retryAttempt, next: { status: 'pending', runAt: retryAt }, now: T0 + SECOND })).toBe(true);
    expect(await getJob(ctx.store, retried)).toMatchObject({ status: 'pending', runAt: retryAt, attempts: 1, lastError: 'HTTP 502', leaseOwner: null, finishedAt: null });
    expect(await claimIds(ctx.store, retryAt - 1)).toEqual([]);
    expect(await claimIds(ctx.store, retryAt)).toEqual([retried]);

    const deadAttempt = attemptFor(await getJob(ctx.store, killed), 'w1', { outcome: 'failed', errorClass: 'permanent', error: 'HTTP 400' });
    expect(await ctx.store.finishAttempt({ attempt: deadAttempt, next: { status: 'dead' }, now: T0 + SECOND })).toBe(true);
    expect(await getJob(ctx.store, killed)).toMatchObject({ status: 'dead', attempts: 1, lastError: 'HTTP 400', finishedAt: T0 + SECOND });
    expect((await ctx.store.listAttempts({ outcome: 'failed' })).map((a) => a.jobId)).toEqual([killed]);
  });

  it('keeps the audit record but leaves the job alone when the worker lost its lease', async () => {
    const jobId = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0, { workerId: 'w1' });
    const stale = await getJob(ctx.store, jobId);
    await claimIds(ctx.store, T0 + LEASE, { workerId: 'w2' });
    expect(await ctx.store.finishAttempt({ attempt: attemptFor(stale, 'w1'), next: { status: 'succeeded' }, now: T0 + LEASE + 1 })).toBe(false);
    expect(await getJob(ctx.store, jobId)).toMatchObject({ status: 'running', leaseOwner: 'w2', attempts: 1 });
    expect((await ctx.store.listAttempts({ jobId })).map((a) => [a.workerId, a.outcome])).toEqual([
      ['w1', 'succeeded'],
      ['w1', 'unknown'],
    ]);
  });

  it('leaves a job cancelled while it ran cancelled', async () => {
    const jobId = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0);
    const running = await getJob(ctx.store, jobId);
    expect(await ctx.store.cancelJob(jobId, T0 + SECOND)).toMatchObject({ id: jobId, status: 'cancelled', finishedAt: T0 + SECOND });
    expect(await ctx.store.finishAttempt({ attempt: attemptFor(running, 'w1'), next: { status: 'succeeded' }, now: T0 + 2 * SECOND })).toBe(false);
    expect(await getJob(ctx.store, jobId)).toMatchObject({ status: 'cancelled', attempts: 0 });
    expect(await ctx.store.listAttempts({ jobId })).toHaveLength(1);
    expect(await ctx.store.cancelJob(jobId, T0 + 3 * SECOND)).toBeUndefined();
  });

  it('hands jobs back without spending an attempt', async () => {
    const [a, b] = [await ingestJob(ctx.store), await ingestJob(ctx.store)];
    await claimIds(ctx.store, T0, { workerId: 'w1' });
    await ctx.store.releaseJobs('w2', [a, b], T0, T0);
    expect(await getJob(ctx.store, a)).toMatchObject({ status: 'running', leaseOwner: 'w1' });

    await ctx.store.releaseJobs('w1', [a], T0 + 5 * SECOND, T0 + SECOND);
    expect(await getJob(ctx.store, a)).toMatchObject({ status: 'pending', attempts: 0, runAt: T0 + 5 * SECOND, leaseOwner: null, leaseExpiresAt: null });
    expect(await claimIds(ctx.store, T0 + 2 * SECOND, { workerId: 'w2' })).toEqual([]);
    expect(await claimIds(ctx.store, T0 + 5 * SECOND, { workerId: 'w2' })).toEqual([a]);
    expect(await ctx.store.listAttempts({})).toEqual([]);
  });

  it('replays a terminal job with a fresh attempt budget, and leaves other jobs as they are', async () => {
    const jobId = await ingestJob(ctx.store, { maxAttempts: 2 });
    await claimIds(ctx.store, T0);
    await ctx.store.finishAttempt({ attempt: attemptFor(await getJob(ctx.store, jobId), 'w1', { outcome: 'failed', error: 'HTTP 410' }), next: { status: 'dead' }, now: T0 + SECOND });

    const replayed = await ctx.store.replayJob(jobId, 3, T0 + 60 * SECOND);
    expect(replayed).toMatchObject({ id: jobId, status: 'pending', attempts: 1, maxAttempts: 4, replays: 1, runAt: T0 + 60 * SECOND, finishedAt: null });
    expect(await ctx.store.replayJob(jobId, 3, T0 + 61 * SECOND)).toEqual(replayed);
    expect(await ctx.store.replayJob(jobId + 1000, 3, T0)).toBeUndefined();
    expect(await claimIds(ctx.store, T0 + 60 * SECOND)).toEqual([jobId]);
  });

  it('replays by filter only the matching jobs (one destination of a fan-out)', async () => {
    const event = eventInput({ jobs: [plannedJob({ destination: 'crm' }), plannedJob({ destination: 'slack' })] });
    const [crmJob, slackJob] = asAccepted((await commit(ctx.store, [event])).events[0]).jobIds as [number, number];
    for (const destination of ['crm', 'slack']) {
      const [id] = await claimIds(ctx.store, T0, { destination });
      await ctx.store.finishAttempt({ attempt: attemptFor(await getJob(ctx.store, id!), 'w1', { outcome: 'failed', error: 'HTTP 400' }), next: { status: 'dead' }, now: T0 + SECOND });
    }
    expect(await ctx.store.replayJobs({ status: 'dead', destination: 'crm' }, 1, T0 + 2 * SECOND)).toEqual([crmJob]);
    expect(await getJob(ctx.store, crmJob)).toMatchObject({ status: 'pending', replays: 1 });
    expect(await getJob(ctx.store, slackJob)).toMatchObject({ status: 'dead', replays: 0 });
    expect(await ctx.store.replayJobs({ status: 'pending' }, 1, T0 + 3 * SECOND)).toEqual([]);
  });

  it('leases nothing of a paused destination, even to a caller that did not check, until it is resumed', async () => {
    const jobId = await ingestJob(ctx.store);
    const other = await ingestJob(ctx.store, { destination: 'slack' });
    await ctx.store.pauseDestination('crm', 'maintenance', T0);
    expect(await claimIds(ctx.store, T0)).toEqual([]);
    expect(await claimIds(ctx.store, T0, { destination: 'slack' })).toEqual([other]);
    await ctx.store.resumeDestination('crm', T0 + SECOND);
    expect(await claimIds(ctx.store, T0 + SECOND)).toEqual([jobId]);
  });

  it('counts jobs by destination and status, and lists them by filter', async () => {
    const [a, b] = [await ingestJob(ctx.store), await ingestJob(ctx.store)];
    const c = await ingestJob(ctx.store, { destination: 'slack' });
    await claimIds(ctx.store, T0, { limit: 1 });
    const counts = await ctx.store.countJobs();
    expect(counts.sort((x, y) => `${x.destination}/${x.status}`.localeCompare(`${y.destination}/${y.status}`))).toEqual([
      { destination: 'crm', status: 'pending', count: 1 },
      { destination: 'crm', status: 'running', count: 1 },
      { destination: 'slack', status: 'pending', count: 1 },
    ]);
    expect((await ctx.store.listJobs({})).map((j) => j.id)).toEqual([c, b, a]);
    expect((await ctx.store.listJobs({ status: 'pending', destination: 'crm' })).map((j) => j.id)).toEqual([b]);
    expect((await ctx.store.listJobs({ rule: 'tagged-to-crm', beforeId: c, limit: 1 })).map((j) => j.id)).toEqual([b]);
    const email = (await getJob(ctx.store, c)).email!;
    expect((await ctx.store.listJobs({ email: email.toUpperCase() })).map((j) => j.id)).toEqual([c]);
    const subscriberId = (await getJob(ctx.store, a)).subscriberId!;
    expect((await ctx.store.listJobs({ subscriberId })).map((j) => j.id)).toEqual([a]);
    expect((await ctx.store.listJobs({ subscriberId, status: 'running' })).map((j) => j.id)).toEqual([a]);
  });
}
