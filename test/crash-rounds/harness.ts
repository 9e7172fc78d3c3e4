/**
 * Crash rounds: the relay runs as a child process on a real SQLite file under load, and each round
 * SIGKILLs it at a random moment (sometimes twice, the second time during its recovery), restarts
 * it, lets it drain, and checks the file against what the load was told (see check.ts). The data
 * dir, the destination and the figures carry over from round to round; a last check after a
 * graceful stop covers the whole run, so a row lost after its own round was checked is caught too.
 *
 * Everything is bounded: a fixed number of rounds, posts per round, kills per round, and a timeout
 * on every wait. Traffic stays on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { START, addFigures, check, emptyFigures, failures, waitForDrain, type Figures, type Watermark } from './check.js';
import { resend, startLoad, type IdSource, type PostRecord } from './load.js';
import { createPrng, roundSeed, type Prng } from './prng.js';
import { startSink, type Sink } from './receiver.js';
import { databasePath, delay, startRelayProcess, writeRelayConfig, type RelayFiles, type RelayProcess } from './relay-process.js';

export interface CrashRoundsOptions {
  readonly rounds: number;
  /** Every random choice follows from it; print it so a failing run can be replayed. */
  readonly seed: number;
  /** Number of the first round; round seeds depend on it, so `--first-round 42 --rounds 1` replays round 42. @default 1 */
  readonly firstRound?: number;
  /** Posts in flight at once. @default 8 */
  readonly loadConcurrency?: number;
  /** @default 400 */
  readonly maxPostsPerRound?: number;
  /** @default 10_000 */
  readonly postTimeoutMs?: number;
  /** For the relay to print its listening line. @default 30_000 */
  readonly startTimeoutMs?: number;
  /** For every job to finish after a restart. @default 60_000 */
  readonly drainTimeoutMs?: number;
  /** Called after each round, e.g. to print it. */
  readonly onRound?: (report: RoundReport) => void;
  /** Aborting kills the relay and ends the run with the error (a test's timeout, Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface RoundTimings {
  /** From the first post to the (first) kill, the load stopped. */
  readonly loadMs: number;
  /** Waiting for restarted relays to listen. */
  readonly restartMs: number;
  /** Re-sending unanswered posts. */
  readonly resendMs: number;
  readonly drainMs: number;
  readonly checkMs: number;
  readonly totalMs: number;
}

export interface RoundReport {
  readonly round: number;
  readonly seed: number;
  /** ms after the load started when the first SIGKILL came. */
  readonly killAtMs: number;
  /** How long the load ran; when shorter than killAtMs, the kill landed among deliveries, not posts. */
  readonly loadForMs: number;
  /** SIGKILLs this round (a second one lands during the recovery). */
  readonly kills: number;
  readonly figures: Figures;
  readonly failures: readonly string[];
  readonly timings: RoundTimings;
}

export interface CrashRoundsResult {
  readonly seed: number;
  readonly rounds: readonly RoundReport[];
  /** Sums over the rounds. */
  readonly totals: Figures;
  /** The check over the whole run after the graceful stop; undefined when the run broke off. */
  readonly final: Figures | undefined;
  /** Every invariant that failed, prefixed with where. Empty when all held. */
  readonly failures: readonly string[];
  /** Kept when something failed, for a look at the SQLite file; undefined once removed. */
  readonly dataDir: string | undefined;
  readonly elapsedMs: number;
}

/** Everything that lives across rounds. */
interface Run {
  readonly options: Required<Omit<CrashRoundsOptions, 'onRound' | 'signal'>>;
  readonly signal: AbortSignal | undefined;
  readonly files: RelayFiles;
  readonly sink: Sink;
  readonly ids: IdSource;
  readonly posts: PostRecord[];
  relay: RelayProcess;
  store?: Store;
  watermark: Watermark;
}

const MAX_KILLS_PER_ROUND = 2;
const SECOND_KILL_CHANCE = 0.2;
const STOP_TIMEOUT_MS = 20_000;

export async function runCrashRounds(options: CrashRoundsOptions): Promise<CrashRoundsResult> {
  const started = performance.now();
  const resolved = withDefaults(options);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kitrelay-crash-rounds-'));
  const files = writeRelayConfig(dataDir);
  const sink = await startSink();
  const reports: RoundReport[] = [];
  const allFailures: string[] = [];
  let final: Figures | undefined;
  let run: Run | undefined;
  let brokenOff: { readonly error: unknown } | undefined;
  const onAbort = () => void run?.relay.kill();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const relay = await startRelayProcess(files, sink.url, resolved.startTimeoutMs);
    run = { options: resolved, signal: options.signal, files, sink, ids: { nextSubscriber: 1, nextPost: 1 }, posts: [], relay, watermark: START };
    // Opened once the relay has created and migrated the file, so the two never migrate at once.
    run.store = await openSqliteStore({ path: databasePath(files) });
    await runRounds(run, options.onRound, reports);
    allFailures.push(...reports.flatMap((report) => report.failures.map((failure) => `round ${report.round}: ${failure}`)));
    const closing = await finish(run);
    final = closing.figures;
    allFailures.push(...closing.failures.map((failure) => `final: ${failure}`));
  } catch (error: unknown) {
    brokenOff = { error };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await run?.relay.kill(); // already gone after finish(); after a failure it must not outlive us
    await run?.store?.close();
    await sink.close();
  }
  if (brokenOff) {
    // Not an invariant's verdict (a relay that would not start, an abort): an abort leaves nothing
    // worth a look; anything else keeps the data dir and says where.
    if (!options.signal?.aborted) throw new Error(`crash rounds broke off; data dir kept: ${dataDir}`, { cause: brokenOff.error });
    rmSync(dataDir, { recursive: true, force: true });
    throw brokenOff.error;
  }
  const totals = emptyFigures();
  for (const report of reports) addFigures(totals, report.figures);
  if (totals.acknowledged === 0) allFailures.push('no event was acknowledged: the load never reached the relay');
  const isKept = allFailures.length > 0;
  if (!isKept) rmSync(dataDir, { recursive: true, force: true });
  return { seed: options.seed, rounds: reports, totals, final, failures: allFailures, dataDir: isKept ? dataDir : undefined, elapsedMs: performance.now() - started };
}

function withDefaults(options: CrashRoundsOptions): Run['options'] {
  return {
    rounds: options.rounds,
    seed: options.seed,
    firstRound: options.firstRound ?? 1,
    loadConcurrency: options.loadConcurrency ?? 8,
    maxPostsPerRound: options.maxPostsPerRound ?? 400,
    postTimeoutMs: options.postTimeoutMs ?? 10_000,
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    drainTimeoutMs: options.drainTimeoutMs ?? 60_000,
  };
}

async function runRounds(run: Run, onRound: CrashRoundsOptions['onRound'], reports: RoundReport[]): Promise<void> {
  for (let round = run.options.firstRound; round < run.options.firstRound + run.options.rounds; round++) {
    run.signal?.throwIfAborted();
    const report = await runRound(run, round);
    reports.push(report);
    onRound?.(report);
    // A round that did not drain leaves jobs running into the next: its figures would mislead.
    if (report.failures.some((failure) => failure.startsWith('not drained'))) return;
  }
}

async function runRound(run: Run, round: number): Promise<RoundReport> {
  const seed = roundSeed(run.options.seed, round);
  const prng = createPrng(seed);
  const killAtMs = prng.int(50, 2_000);
  const loadForMs = prng.int(200, 1_500);
  const roundStart = performance.now();
  const posts = await loadAndKill(run, prng, killAtMs, loadForMs);
  const loadMs = performance.now() - roundStart;

  let kills = 1;
  let restartMs = 0;
  let resendMs = 0;
  for (;;) {
    const restartStart = performance.now();
    run.relay = await startRelayProcess(run.files, run.sink.url, run.options.startTimeoutMs);
    run.signal?.throwIfAborted();
    const resendStart = performance.now();
    restartMs += resendStart - restartStart;
    await resend(run.relay.url, posts, run.options.loadConcurrency, run.options.postTimeoutMs);
    resendMs += performance.now() - resendStart;
    if (kills >= MAX_KILLS_PER_ROUND || !prng.chance(SECOND_KILL_CHANCE)) break;
    // During the recovery: expired leases being reclaimed, retried jobs in flight.
    await delay(prng.int(0, 2_500));
    await run.relay.kill();
    kills += 1;
  }

  const drainStart = performance.now();
  const isDrained = await waitForDrain(run.store!, run.options.drainTimeoutMs, run.signal);
  const checkStart = performance.now();
  run.sink.collect();
  const result = await check(run.store!, run.sink, posts, run.watermark);
  run.watermark = result.watermark;
  run.posts.push(...posts);
  const end = performance.now();
  const roundFailures = [...failures(result.figures), ...(isDrained ? [] : [`not drained within ${run.options.drainTimeoutMs} ms`])];
  return {
    round, seed, killAtMs, loadForMs, kills, figures: result.figures, failures: roundFailures,
    timings: { loadMs, restartMs, resendMs, drainMs: checkStart - drainStart, checkMs: end - checkStart, totalMs: end - roundStart },
  };
}

/**
 * Posts until `loadForMs` and kills at `killAtMs`. When the kill comes first, posts are in flight
 * when it lands (and a few more start before the load notices); otherwise it lands among the
 * deliveries of what was posted.
 */
async function loadAndKill(run: Run, prng: Prng, killAtMs: number, loadForMs: number): Promise<PostRecord[]> {
  const start = performance.now();
  const load = startLoad(
    { prng, url: run.relay.url, concurrency: run.options.loadConcurrency, maxPosts: run.options.maxPostsPerRound, postTimeoutMs: run.options.postTimeoutMs },
    run.ids,
  );
  if (killAtMs <= loadForMs) {
    await delay(killAtMs);
    await run.relay.kill();
    await load.stop();
  } else {
    await delay(loadForMs);
    await load.stop();
    await delay(Math.max(0, killAtMs - (performance.now() - start)));
    await run.relay.kill();
  }
  return [...load.posts];
}

/** A graceful stop (must exit 0), then the check over every round's posts and every row. */
async function finish(run: Run): Promise<{ figures: Figures; failures: string[] }> {
  const exitCode = await run.relay.stop(STOP_TIMEOUT_MS);
  run.sink.collect();
  const result = await check(run.store!, run.sink, run.posts, START);
  return { figures: result.figures, failures: [...failures(result.figures), ...(exitCode === 0 ? [] : [`graceful stop exited with ${exitCode}`])] };
}
