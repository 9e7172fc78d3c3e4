/**
 * The connector contract: one suite every integration's actions pass against their own simulator,
 * through the real queue (a real SQLite store, the worker, real HTTP on loopback; a TestClock).
 * An integration's `contract.test.ts` calls `actionContract` with a subject that starts its
 * simulator and points a destination at it.
 *
 * What it proves, for every action: a normal call succeeds and leaves an audit record; 5xx and
 * network errors make the job run again (`retry`, or `unknown` where the action declares the
 * request may have been applied); 429 is retried, at the destination's `Retry-After` when it gives
 * one; a permanent 4xx kills the job with a readable reason; a timeout ends as the action declares;
 * a missing secret fails the job naming the variable, sending nothing; secrets never reach audit
 * records or logs; a stop aborts the call and the job runs again.
 *
 * Only tests import this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createSecretResolver } from '../config/secrets.js';
import { destinationSchema, type DestinationConfig } from '../config/schema.js';
import { TestClock } from '../lib/clock.js';
import { createHttpClient, type HttpClient } from '../lib/http.js';
import { createLog } from '../lib/log.js';
import { createWorker } from '../queue/index.js';
import type { Worker } from '../queue/types.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import type { AttemptRecord, JobRecord } from '../store/types.js';
import type { FaultAction } from '../simulators/faults.js';

/** A simulator standing in for one integration's API, with a destination pointed at it. */
export interface ContractSubject {
  /** The destination as a config file writes it (`type` included), pointing at the simulator. */
  readonly destination: Record<string, unknown>;
  /** The environment the destination's `env()` references read. */
  readonly env: Readonly<Record<string, string>>;
  /** A variable the destination needs: the suite unsets it to prove a clear failure. */
  readonly requiredVar: string;
  /** Values that must never appear in an audit record or a log line. */
  readonly secretValues: readonly string[];
  /** Applies `fault` to the next request the action sends to its main endpoint. */
  fault(fault: FaultAction): void;
  /** Requests the simulator received on the action's main endpoint. */
  received(): number;
  close(): Promise<void>;
}

export interface ActionContractSpec {
  readonly action: string;
  readonly params: Readonly<Record<string, unknown>>;
  start(): Promise<ContractSubject>;
  /** What a 5xx means for this action: `unknown` when the request may have been applied. */
  readonly onServerError: 'retry' | 'unknown';
  /** What a timeout or a reset connection means for this action. */
  readonly onTimeout: 'retry' | 'unknown';
  /** A 4xx the destination never accepts, and how the job's error reads. */
  readonly permanent: { readonly status: number; readonly body?: unknown; readonly error: RegExp };
}

interface Run {
  readonly store: SqliteStore;
  readonly clock: TestClock;
  readonly subject: ContractSubject;
  readonly logs: string[];
  worker(env?: Readonly<Record<string, string>>, destination?: Record<string, unknown>): Worker;
  /** Commits one event with one job for the action; returns the job id. */
  commitJob(): Promise<number>;
  job(id: number): Promise<JobRecord>;
  attempts(id: number): Promise<AttemptRecord[]>;
}

export function actionContract(spec: ActionContractSpec): void {
  let run: Run;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-contract-'));
    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    const subject = await spec.start();
    const http: HttpClient = createHttpClient();
    const clock = new TestClock();
    const logs: string[] = [];
    const log = createLog({ level: 'debug', destination: new Writable({ write: (chunk: Buffer, _enc, done) => { logs.push(chunk.toString('utf8')); done(); } }) });
    const workers: Worker[] = [];
    let sequence = 0;
    run = {
      store, clock, subject, logs,
      worker(env = subject.env, destination = subject.destination) {
        const destinations: Record<string, DestinationConfig> = { dest: destinationSchema.parse({ timeoutMs: 2_000, ...destination }) };
        const worker = createWorker({
          store, clock, log, http, destinations, secrets: createSecretResolver(env),
          queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 }, workerId: `contract-${workers.length + 1}`,
          random: () => 0.5,
        });
        workers.push(worker);
        return worker;
      },
      async commitJob() {
        sequence += 1;
        const id = 4000 + sequence;
        const subscriber = { id, first_name: 'Ada', email_address: `ada${id}@example.com`, state: 'active', created_at: '2026-01-01T00:00:00.000Z', fields: {} };
        const result = await store.commitDelivery({
          delivery: { system: 'legacy', route: 'contract', receivedAt: clock.now(), bodyBytes: 100 },
          events: [{
            source: 'legacy', type: 'subscriber.tag_added', kitType: 'subscriber.tag_add', scope: { param: 'tag_id', value: '7' },
            subscriberId: String(id), email: subscriber.email_address, subscriberKey: `id:${id}`, payload: { subscriber },
            jobs: [{ rule: 'contract', destination: 'dest', action: spec.action, params: spec.params, maxAttempts: 5 }], decisions: [],
          }],
          quarantine: [],
        });
        const first = result.events[0];
        if (first?.status !== 'accepted' || first.jobIds[0] === undefined) throw new Error('no job was made');
        return first.jobIds[0];
      },
      async job(id) {
        const job = await store.getJob(id);
        if (!job) throw new Error(`no job ${id}`);
        return job;
      },
      async attempts(id) {
        return (await store.listAttempts({ jobId: id, limit: 100 })).sort((a, b) => a.attempt - b.attempt);
      },
    };
    cleanup = async () => {
      await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
      await store.close();
      await http.close();
      await subject.close();
      rmSync(dir, { recursive: true, force: true });
    };
  });

  afterEach(async () => cleanup());

  /** The job after one pass, with its single audit record. */
  async function attemptOnce(): Promise<{ job: JobRecord; attempt: AttemptRecord }> {
    const id = await run.commitJob();
    await run.worker().tick();
    const [attempt] = await run.attempts(id);
    if (!attempt) throw new Error('no audit record');
    return { job: await run.job(id), attempt };
  }

  it('succeeds on a normal answer and leaves an audit record of the call', async () => {
    const { job, attempt } = await attemptOnce();
    expect(job.status).toBe('succeeded');
    expect(attempt.outcome).toBe('succeeded');
    expect(attempt.request?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    expect(attempt.responseStatus).toBeGreaterThanOrEqual(200);
    expect(run.subject.received()).toBe(1);
  });

  it(`runs the job again after a 5xx (outcome ${spec.onServerError})`, async () => {
    run.subject.fault({ kind: 'status', status: 503 });
    const { job, attempt } = await attemptOnce();
    expect(attempt).toMatchObject({ outcome: spec.onServerError, responseStatus: 503 });
    expect(job.status).toBe('pending');
  });

  it(`runs the job again after a reset connection (outcome ${spec.onTimeout})`, async () => {
    run.subject.fault({ kind: 'reset' });
    const { job, attempt } = await attemptOnce();
    expect(attempt.outcome).toBe(spec.onTimeout);
    expect(attempt.error).toMatch(/ECONNRESET|socket|closed/i);
    expect(job.status).toBe('pending');
  });

  it('honours Retry-After on a 429', async () => {
    run.subject.fault({ kind: 'rate_limited', retryAfter: 7 });
    const { job, attempt } = await attemptOnce();
    expect(attempt).toMatchObject({ outcome: 'retry', errorClass: 'retry_after', responseStatus: 429 });
    expect(job).toMatchObject({ status: 'pending', runAt: run.clock.now() + 7_000 });
  });

  it('retries a 429 without Retry-After on its own backoff', async () => {
    run.subject.fault({ kind: 'rate_limited', retryAfter: false });
    const { job, attempt } = await attemptOnce();
    expect(attempt).toMatchObject({ outcome: 'retry', errorClass: 'retryable', responseStatus: 429 });
    expect(job.status).toBe('pending');
  });

  it('kills the job on a permanent 4xx, with a readable reason', async () => {
    run.subject.fault({ kind: 'status', status: spec.permanent.status, ...(spec.permanent.body !== undefined ? { body: spec.permanent.body } : {}) });
    const { job, attempt } = await attemptOnce();
    expect(attempt).toMatchObject({ outcome: 'failed', errorClass: 'permanent', responseStatus: spec.permanent.status });
    expect(job.status).toBe('dead');
    expect(job.lastError).toMatch(spec.permanent.error);
  });

  it(`ends a timed-out call as ${spec.onTimeout}`, async () => {
    run.subject.fault({ kind: 'hang' });
    const id = await run.commitJob();
    await run.worker(run.subject.env, { ...run.subject.destination, timeoutMs: 300 }).tick();
    const [attempt] = await run.attempts(id);
    expect(attempt?.outcome).toBe(spec.onTimeout);
    expect(attempt?.error).toMatch(/time/i);
    expect((await run.job(id)).status).toBe('pending');
  });

  it('fails the job naming the variable when a secret is missing, sending nothing', async () => {
    const id = await run.commitJob();
    const env = Object.fromEntries(Object.entries(run.subject.env).filter(([name]) => name !== run.subject.requiredVar));
    await run.worker(env).tick();
    const job = await run.job(id);
    expect(job.status).toBe('dead');
    expect(job.lastError).toContain(run.subject.requiredVar);
    expect(run.subject.received()).toBe(0);
  });

  it('never writes a secret to an audit record or a log line', async () => {
    const ok = await run.commitJob();
    run.subject.fault({ kind: 'status', status: spec.permanent.status });
    const bad = await run.commitJob();
    const worker = run.worker();
    await worker.tick();
    await worker.tick();
    const records = JSON.stringify([...(await run.attempts(ok)), ...(await run.attempts(bad))]);
    expect(records.length).toBeGreaterThan(100);
    for (const secret of run.subject.secretValues) {
      expect(records).not.toContain(secret);
      expect(run.logs.join('')).not.toContain(secret);
    }
  });

  it('aborts the call on shutdown; the job runs again', async () => {
    run.subject.fault({ kind: 'hang' });
    const id = await run.commitJob();
    const worker = run.worker(run.subject.env, { ...run.subject.destination, timeoutMs: 60_000 });
    worker.start();
    const deadline = Date.now() + 5_000;
    while (worker.inFlight === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(worker.inFlight).toBe(1);
    const stopped = Date.now();
    await worker.stop({ graceMs: 0 });
    expect(Date.now() - stopped).toBeLessThan(3_000);
    const [attempt] = await run.attempts(id);
    expect(attempt?.outcome).toBe('unknown');
    expect((await run.job(id)).status).toBe('pending');
  });
}
