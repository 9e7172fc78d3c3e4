/**
 * A batch attempt: many claimed jobs of one destination and one batch action, one call. One
 * rate-limit token was spent for the call (worker.ts); each job still gets its own audit record,
 * all naming the shared call by `batchId`, and its own outcome (the action answers per job).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { BatchAction, BatchResult } from '../integrations/index.js';
import type { ClaimedJob } from '../store/types.js';
import { destinationOf, failedEnd, prepareJob, recordAttempt, withAttemptSignal, type AttemptDeps, type AttemptReport, type CallEnd, type PreparedJob } from './attempt.js';

/** Runs one batch call for `claimed` (same destination and action) and records every job's attempt. */
export async function runBatchAttempt(deps: AttemptDeps, claimed: readonly ClaimedJob[], stopSignal: AbortSignal): Promise<AttemptReport[]> {
  const startedAt = deps.clock.now();
  const started = performance.now();
  const batchId = randomUUID();
  const prepared = await Promise.all(claimed.map((item) => prepareJob(deps, item)));
  const ready: { index: number; job: PreparedJob }[] = [];
  const ends: CallEnd[] = claimed.map(() => failedEnd('not attempted'));
  prepared.forEach((p, index) => {
    if (p.ok) ready.push({ index, job: p });
    else ends[index] = failedEnd(p.error);
  });
  const first = ready[0]?.job;
  const destinationName = claimed[0]?.job.destination ?? '';
  const destination = destinationOf(deps, destinationName);
  if (first && destination && first.action.kind === 'batch') {
    const action: BatchAction<unknown, unknown> = first.action;
    let answered: BatchResult | undefined;
    const end = await withAttemptSignal(deps, destinationName, destination, stopSignal, startedAt, async (env) => {
      answered = await action.runBatch({ ...env, items: ready.map((r) => r.job.input) });
      return answered.results[0] ?? { outcome: 'failed', error: 'the batch action answered for no job' };
    });
    ready.forEach(({ index }, position) => {
      const own = answered?.results[position];
      if (end.kind !== 'result' || !answered) ends[index] = end;
      else if (!own) ends[index] = failedEnd(`the batch action answered for ${answered.results.length} of ${ready.length} jobs`);
      else ends[index] = { kind: 'result', result: own.call || !answered.call ? own : { ...own, call: answered.call } };
    });
  } else if (first) {
    for (const { index } of ready) ends[index] = failedEnd(`action "${first.input.job.action}" is not a batch action`);
  }
  const correlation = { batchId, batchSize: String(claimed.length) };
  const reports: AttemptReport[] = [];
  for (const [index, item] of claimed.entries()) {
    reports.push(await recordAttempt(deps, item, ends[index] ?? failedEnd('not attempted'), { startedAt, started, correlation }));
  }
  return reports;
}
