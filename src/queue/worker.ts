/**
 * The worker: claims due jobs destination by destination, runs their attempts, and keeps each
 * destination within its concurrency, rate limit, pause switch and circuit breaker.
 *
 * Two ways to drive it:
 * - `tick()`: one pass, awaited to completion — for tests with a TestClock and for "run once".
 * - `start()` / `stop()`: the background loop. It claims again as soon as capacity frees up (an
 *   attempt finishing wakes it), so a destination's concurrency stays full; when nothing is due
 *   it sleeps `pollIntervalMs`, or until `nudge()` (ingest calls it after committing jobs).
 *
 * Ordering (per-subscriber FIFO) and reclaiming crashed workers' jobs are the store's job
 * (`claimJobs`); the worker adds what only a running process knows: what is in flight here.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import type { ClaimedJob, DestinationState } from '../store/types.js';
import { IntegrationRegistry } from '../integrations/index.js';
import { userAgent } from '../lib/version.js';
import { logAttempt, runAttempt, type AttemptDeps, type AttemptReport } from './attempt.js';
import { runBatchAttempt } from './batch.js';
import { Enricher } from './enrich.js';
import { Breakers } from './breaker.js';
import { InFlight, LeaseKeeper } from './in-flight.js';
import { RateLimiter, type Limiter } from './rate-limit.js';
import { SharedRateLimiter } from './rate-limit-shared.js';
import { Sleeper } from './sleep.js';
import type { StopOptions, TickResult, Worker, WorkerDeps } from './types.js';

/** Longest pause after repeated store faults in the loop. */
const MAX_FAULT_PAUSE_MS = 30_000;
/** How often jobs of destinations removed from the config are looked for. */
const ORPHAN_SWEEP_MS = 60_000;
/** Orphaned jobs claimed per sweep (the rest go at the next sweep). */
const ORPHAN_BATCH = 100;
/**
 * How long the loop reuses the destination states it read (breakers opened by other instances,
 * pause switches). A pass runs every time an attempt finishes; reading states at each one would
 * double the store round trips between a slot freeing up and its next claim. A stale state costs
 * little: claimJobs itself leases nothing of a paused destination, so a pause holds at once, and a
 * resume or another instance's breaker is seen within this time.
 */
const STATES_MAX_AGE_MS = 250;

export function createWorker(deps: WorkerDeps): Worker {
  const integrations = deps.integrations ?? new IntegrationRegistry();
  for (const [name, destination] of Object.entries(deps.destinations)) {
    if (!integrations.get(destination.type)) {
      throw new ConfigError(`destination "${name}" has type "${destination.type}", for which no integration is registered`);
    }
  }
  return new QueueWorker(deps, integrations);
}

class QueueWorker implements Worker {
  readonly id: string;
  readonly #deps: WorkerDeps;
  readonly #log: Log;
  readonly #attemptDeps: AttemptDeps;
  readonly #limiter: Limiter;
  readonly #breakers: Breakers;
  readonly #flights = new InFlight();
  readonly #leases: LeaseKeeper;
  readonly #sleeper = new Sleeper();
  #stopController = stopController();
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #isStopping = false;
  #isTicking = false;
  #nextOrphanSweepAt = Number.NEGATIVE_INFINITY;
  /** The destination states the loop read last, and when (performance.now(): real time, not the clock's). */
  #states: { readonly states: Map<string, DestinationState>; readonly readAt: number } | undefined;
  /** What the loop has done since start (the loop has no caller to return counts to). */
  readonly #totals: TickResult = emptyCounts();

  /** The soonest a destination that waited for a token this pass gets one, in ms; undefined when none waited. */
  #untilTokenMs: number | undefined;
  /** Per destination, the most jobs one call takes (1 unless it has batch actions). */
  readonly #maxBatch = new Map<string, number>();
  /** Per destination, its batch actions and the most jobs a call of each takes. */
  readonly #batchActions = new Map<string, Record<string, number>>();

  constructor(deps: WorkerDeps, integrations: IntegrationRegistry) {
    this.#deps = deps;
    for (const [name, destination] of Object.entries(deps.destinations)) {
      const actions = Object.entries(integrations.get(destination.type)?.actions ?? {});
      const batchActions = Object.fromEntries(actions.flatMap(([actionName, action]) => (action.kind === 'batch' ? [[actionName, Math.max(1, action.maxBatchSize(destination))]] : [])));
      this.#batchActions.set(name, batchActions);
      this.#maxBatch.set(name, Math.max(1, ...Object.values(batchActions)));
    }
    this.id = deps.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.#log = deps.log.child({ component: 'worker', workerId: this.id });
    this.#limiter = deps.rateBuckets ? new SharedRateLimiter(deps.destinations, deps.rateBuckets) : new RateLimiter(deps.destinations);
    this.#breakers = new Breakers(deps.destinations, deps.store, this.#log);
    this.#leases = new LeaseKeeper({
      store: deps.store, clock: deps.clock, log: this.#log, workerId: this.id,
      leaseMs: deps.queue.leaseMs, heartbeatMs: deps.queue.heartbeatMs, inFlight: this.#flights,
    });
    this.#attemptDeps = {
      store: deps.store, clock: deps.clock, log: this.#log, integrations, http: deps.http, userAgent: deps.userAgent ?? userAgent(),
      destinations: deps.destinations, secrets: deps.secrets, workerId: this.id, random: deps.random ?? Math.random,
      ...(deps.enrichment ? { enricher: new Enricher(deps.enrichment.enrichments, deps.enrichment.rules) } : {}),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.operator ? { operator: deps.operator } : {}),
      ...(deps.kit ? { kit: deps.kit } : {}),
    };
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  async tick(): Promise<TickResult> {
    if (this.#loop) throw new Error('tick() runs passes by hand; this worker is running its loop (stop it first)');
    // Two passes at once would each see the other's claims as free capacity.
    if (this.#isTicking) throw new Error('tick() is already running: await it first');
    this.#isTicking = true;
    const counts = emptyCounts();
    const launched: Promise<void>[] = [];
    this.#leases.start();
    try {
      await this.#pass(counts, launched);
    } finally {
      // Attempts never reject (see #launch), so this settles even when the pass threw.
      await Promise.all(launched);
      await this.#leases.stop();
      this.#isTicking = false;
    }
    return counts;
  }

  start(): void {
    if (this.#isStopping) throw new Error('start() while stop() is under way: await stop() first');
    if (this.#isTicking) throw new Error('start() while tick() is running: await it first');
    if (this.#loop) return;
    this.#leases.start();
    this.#loop = this.#run();
    this.#log.info({ destinations: Object.keys(this.#deps.destinations) }, 'worker started');
  }

  stop(options: StopOptions = {}): Promise<void> {
    // Concurrent calls share one stop: a second caller must not abort what the first lets drain.
    this.#stopping ??= this.#stop(options.graceMs ?? 10_000).finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#isStopping = true;
    this.#sleeper.interrupt();
    await loop;
    if (this.#flights.size > 0 && !(await this.#flights.drain(graceMs))) {
      this.#log.warn({ inFlight: this.#flights.size, graceMs }, 'aborting attempts still in flight after the grace period');
      this.#stopController.abort(new Error(`worker stopped: attempt aborted after a ${graceMs} ms grace period`));
      await this.#flights.settled();
    }
    await this.#leases.stop();
    // Ready for tick() or another start().
    this.#loop = undefined;
    this.#states = undefined;
    this.#isStopping = false;
    this.#stopController = stopController();
    this.#log.info({ totals: this.#totals }, 'worker stopped');
  }

  nudge(): void {
    this.#sleeper.wake();
  }

  /** The loop: a pass, then sleep until woken or the poll interval. A fault pauses, never ends it. */
  async #run(): Promise<void> {
    let faults = 0;
    while (!this.#isStopping) {
      try {
        await this.#pass(this.#totals, undefined);
        faults = 0;
        if (this.#isStopping) break;
        // A destination waiting for its next token wakes the loop when it is due, not a whole poll
        // interval later: a burst then leaves at the limit's pace instead of in clumps.
        const untilToken = this.#untilTokenMs;
        await this.#sleeper.sleep(untilToken === undefined ? this.#deps.queue.pollIntervalMs : Math.max(1, Math.min(this.#deps.queue.pollIntervalMs, untilToken)));
      } catch (err) {
        faults += 1;
        // Doubling pause, and one that wakes only for stop(): a failing store under a stream of
        // nudges must not turn into a tight loop of failing passes.
        const pauseMs = Math.min(MAX_FAULT_PAUSE_MS, Math.max(1_000, this.#deps.queue.pollIntervalMs) * 2 ** (faults - 1));
        this.#log.error({ err, faults, pauseMs }, 'queue pass failed; trying again after a pause');
        if (this.#isStopping) break;
        await this.#sleeper.sleep(pauseMs, { isWakeable: false });
      }
    }
  }

  /** One pass: persist breaker changes, read destination states, claim and launch per destination. */
  async #pass(counts: TickResult, launched: Promise<void>[] | undefined): Promise<void> {
    this.#untilTokenMs = undefined;
    await this.#breakers.persist(this.#deps.clock.now());
    const states = await this.#readStates({ isCacheAllowed: launched === undefined });
    for (const name of Object.keys(this.#deps.destinations)) {
      if (this.#isStopping) return;
      const { limit, isOutOfTokens } = await this.#claimLimit(name, states.get(name));
      if (limit <= 0) {
        if (isOutOfTokens) this.#noteTokenWait(await this.#limiter.msUntilToken(name, this.#deps.clock.now()));
        continue;
      }
      const now = this.#deps.clock.now();
      // The destination's concurrency holds across every worker on the store: the claim counts the
      // calls running anywhere (a batch action's running jobs as the calls they fill).
      const maxBatch = this.#maxBatch.get(name) ?? 1;
      const maxRunning = this.#deps.destinations[name]?.concurrency ?? 1;
      const claimed = await this.#deps.store.claimJobs({ workerId: this.id, destination: name, limit, now, leaseMs: this.#deps.queue.leaseMs, maxRunning, batchActions: this.#batchActions.get(name) ?? {} });
      // `limit` counts calls. Jobs of a batch action share a call, so fill the calls they start.
      if (maxBatch > 1 && claimed.length === limit && claimed.some((c) => this.#batchSizeOf(name, c.job.action) !== undefined)) {
        // No cap here: it fills the calls the claim above was allowed to start.
        const more = await this.#deps.store.claimJobs({ workerId: this.id, destination: name, limit: limit * maxBatch - claimed.length, now, leaseMs: this.#deps.queue.leaseMs });
        const isBatch = (c: ClaimedJob) => this.#batchSizeOf(name, c.job.action) !== undefined;
        claimed.push(...more.filter(isBatch));
        // One-job actions claimed by the top-up would go past the destination's concurrency: back they go, unspent.
        const extra = more.filter((c) => !isBatch(c)).map((c) => c.job.id);
        if (extra.length > 0) await this.#deps.store.releaseJobs(this.id, extra, now, now);
      }
      await this.#dispatch(claimed, counts, launched);
    }
    await this.#sweepOrphans(counts, launched);
  }

  /** tick() (a pass run by hand) always reads; the loop reuses a read for STATES_MAX_AGE_MS. */
  async #readStates(options: { readonly isCacheAllowed: boolean }): Promise<Map<string, DestinationState>> {
    const cached = this.#states;
    if (options.isCacheAllowed && cached && performance.now() - cached.readAt < STATES_MAX_AGE_MS) return cached.states;
    const states = await this.#breakers.readStates();
    this.#states = { states, readAt: performance.now() };
    return states;
  }

  /** How many jobs to claim: concurrency left, whole tokens left, and the breaker's allowance. */
  async #claimLimit(name: string, state: DestinationState | undefined): Promise<{ readonly limit: number; readonly isOutOfTokens: boolean }> {
    const none = { limit: 0, isOutOfTokens: false };
    if (state?.pausedAt != null) return none;
    const destination = this.#deps.destinations[name];
    const breaker = this.#breakers.get(name);
    if (!destination || !breaker) return none;
    const now = this.#deps.clock.now();
    const room = Math.min(destination.concurrency - this.#flights.count(name), breaker.allowance(now));
    // No read of a shared bucket when there is no room anyway.
    if (room <= 0) return none;
    const tokens = await this.#limiter.available(name, now);
    return { limit: Math.min(room, tokens), isOutOfTokens: tokens <= 0 };
  }

  /** Starts an attempt for each claimed job that gets its tokens; hands the others back unspent. */
  async #dispatch(claimed: readonly ClaimedJob[], counts: TickResult, launched: Promise<void>[] | undefined): Promise<void> {
    counts.claimed += claimed.length;
    const now = this.#deps.clock.now();
    const deferred: { id: number; runAt: number }[] = [];
    const batches = new Map<string, ClaimedJob[]>();
    for (const item of claimed) {
      const { job } = item;
      // Claimed while stop() began: hand back at once, no attempt spent.
      if (this.#isStopping) {
        deferred.push({ id: job.id, runAt: now });
        continue;
      }
      const batchSize = this.#batchSizeOf(job.destination, job.action);
      if (batchSize !== undefined) {
        // One call per action and sub-key: a batch stays within one stream (an Airtable base).
        const key = JSON.stringify([job.action, job.subKey]);
        const group = batches.get(key) ?? [];
        group.push(item);
        batches.set(key, group);
        continue;
      }
      const tokens = await this.#limiter.tryAcquire(job.destination, job.subKey, now);
      if (!tokens.isAcquired) {
        this.#noteTokenWait(tokens.waitMs);
        deferred.push({ id: job.id, runAt: now + tokens.waitMs });
        counts.deferred += 1;
        continue;
      }
      const done = this.#launch(item, counts);
      launched?.push(done);
    }
    for (const group of batches.values()) {
      const size = this.#batchSizeOf(group[0]?.job.destination ?? '', group[0]?.job.action ?? '') ?? 1;
      for (let start = 0; start < group.length; start += size) {
        const chunk = group.slice(start, start + size);
        const first = chunk[0];
        if (!first) continue;
        // One token per call, whatever the number of jobs it carries (and one of its sub-key's).
        const tokens = await this.#limiter.tryAcquire(first.job.destination, first.job.subKey, now);
        if (!tokens.isAcquired) {
          for (const item of chunk) deferred.push({ id: item.job.id, runAt: now + tokens.waitMs });
          counts.deferred += chunk.length;
          continue;
        }
        // Launched before pushing: `launched?.push(f())` would not call f when there is no list.
        const done = this.#launchBatch(chunk, counts);
        launched?.push(done);
      }
    }
    // Launch first, release after: a store fault while releasing must not strand runnable jobs.
    for (const { id, runAt } of deferred) await this.#deps.store.releaseJobs(this.id, [id], runAt, now);
  }

  /** Runs one attempt in the background. The returned promise never rejects. */
  #launch(claimed: ClaimedJob, counts: TickResult): Promise<void> {
    const { job } = claimed;
    const breaker = this.#breakers.get(job.destination);
    const isProbe = breaker?.beginAttempt(this.#deps.clock.now()) ?? false;
    const done = (async () => {
      try {
        const report = await runAttempt(this.#attemptDeps, claimed, this.#stopController.signal);
        this.#count(counts, report);
        logAttempt(this.#log, claimed, report, isProbe);
        breaker?.record(report.breakerSignal, isProbe, this.#deps.clock.now());
      } catch (err) {
        // The store could not record the attempt. The job keeps its lease until it expires; the
        // store then reclaims it, records the attempt as unknown, and it runs again.
        this.#log.error({ err, jobId: job.id, destination: job.destination }, 'could not record an attempt; the job runs again when its lease expires');
      }
      try {
        await this.#breakers.persist(this.#deps.clock.now());
      } catch (err) {
        // The breaker holds its state here meanwhile; the next pass writes it again.
        this.#log.warn({ err, destination: job.destination }, 'could not write the circuit breaker state; trying again at the next pass');
      } finally {
        this.#flights.delete(job.id);
        this.#sleeper.wake();
      }
    })();
    this.#flights.add(job.id, job.destination, done);
    return done;
  }

  /** The batch size of a destination's action, or undefined when it takes one job at a time. */
  #batchSizeOf(destinationName: string, actionName: string): number | undefined {
    const destination = Object.hasOwn(this.#deps.destinations, destinationName) ? this.#deps.destinations[destinationName] : undefined;
    if (!destination) return undefined;
    const action = this.#attemptDeps.integrations.action(destination.type, actionName);
    return action?.kind === 'batch' ? Math.max(1, action.maxBatchSize(destination)) : undefined;
  }

  /** Runs one batch call in the background: one flight toward concurrency, every job's lease kept. */
  #launchBatch(chunk: readonly ClaimedJob[], counts: TickResult): Promise<void> {
    const destination = chunk[0]?.job.destination ?? '';
    const breaker = this.#breakers.get(destination);
    const isProbe = breaker?.beginAttempt(this.#deps.clock.now()) ?? false;
    const done = (async () => {
      try {
        const reports = await runBatchAttempt(this.#attemptDeps, chunk, this.#stopController.signal);
        reports.forEach((report, index) => {
          const item = chunk[index];
          this.#count(counts, report);
          if (item) logAttempt(this.#log, item, report, isProbe);
        });
        const signal = reports.find((r) => r.breakerSignal !== 'permanent')?.breakerSignal ?? reports[0]?.breakerSignal ?? 'unknown';
        breaker?.record(signal, isProbe, this.#deps.clock.now());
      } catch (err) {
        this.#log.error({ err, jobIds: chunk.map((c) => c.job.id), destination }, 'could not record a batch attempt; its jobs run again when their leases expire');
      }
      try {
        await this.#breakers.persist(this.#deps.clock.now());
      } catch (err) {
        this.#log.warn({ err, destination }, 'could not write the circuit breaker state; trying again at the next pass');
      } finally {
        for (const item of chunk) this.#flights.delete(item.job.id);
        this.#sleeper.wake();
      }
    })();
    chunk.forEach((item, index) => this.#flights.add(item.job.id, destination, done, index === 0));
    return done;
  }

  /** Remembers the soonest a rate-limited destination gets a token this pass (0: none is waiting). */
  #noteTokenWait(ms: number): void {
    if (ms <= 0) return;
    this.#untilTokenMs = Math.min(this.#untilTokenMs ?? Number.POSITIVE_INFINITY, ms);
  }

  #count(counts: TickResult, report: AttemptReport): void {
    for (const target of counts === this.#totals ? [counts] : [counts, this.#totals]) {
      if (report.isShadow) target.shadow += 1;
      else if (report.outcome === 'unknown') target.unknown += 1;
      else if (report.next === 'succeeded') target.succeeded += 1;
      else if (report.next === 'dead') target.dead += 1;
      else target.retried += 1;
    }
  }

  /**
   * Jobs whose destination is no longer in the config would wait forever: claim them now and then
   * so the attempt marks them dead with an error naming the cause (replayable once it is back).
   */
  async #sweepOrphans(counts: TickResult, launched: Promise<void>[] | undefined): Promise<void> {
    const now = this.#deps.clock.now();
    if (now < this.#nextOrphanSweepAt || this.#isStopping) return;
    this.#nextOrphanSweepAt = now + ORPHAN_SWEEP_MS;
    const orphans = new Set(
      (await this.#deps.store.countJobs())
        .filter((c) => (c.status === 'pending' || c.status === 'running') && c.count > 0 && !Object.hasOwn(this.#deps.destinations, c.destination))
        .map((c) => c.destination),
    );
    for (const destination of orphans) {
      const claimed = await this.#deps.store.claimJobs({ workerId: this.id, destination, limit: ORPHAN_BATCH, now, leaseMs: this.#deps.queue.leaseMs });
      await this.#dispatch(claimed, counts, launched);
    }
  }
}

function emptyCounts(): TickResult {
  return { claimed: 0, succeeded: 0, retried: 0, dead: 0, unknown: 0, deferred: 0, shadow: 0 };
}

/**
 * The signal stop() aborts. Every attempt in flight listens to it, and Node warns past 10 listeners
 * on one AbortSignal ("possible memory leak"); attempts remove theirs when done, so lift the cap.
 */
function stopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
