/**
 * Runs the properties with fast-check, shared by the vitest test and `npm run fuzz`.
 *
 * One fast-check run is a batch of cases sent concurrently (one HTTP round trip costs about a
 * millisecond; one at a time would waste the relay's group commit). Each group of cases (legacy,
 * signed, unauthenticated) gets a fresh relay. A failure is shrunk to a minimal batch for one
 * family of violations (property × what broke × mutation); the run then goes on with a new seed
 * looking for other families, so one report lists every distinct defect found, each with its own
 * counterexample, seed and path.
 */
import fc from 'fast-check';
import { legacyCaseArb, signedCaseArb, unauthCaseArb, type FuzzCase, type LegacyCase, type SignedCase, type UnauthCase } from './arbitraries.js';
import { describeCase } from './describe.js';
import { Harness } from './harness.js';
import { familyOf, runAuthenticated, runUnauthenticated, type BatchResult, type PropertyId, type Violation } from './properties.js';

export type GroupName = 'legacy' | 'signed' | 'unauth';

/** Candidates fast-check may pull while shrinking one failure (each costs a batch over HTTP). */
const MAX_SHRINKS = 500;

interface Group {
  readonly name: GroupName;
  /** Share of the cases and of the time. */
  readonly share: number;
  readonly arbitrary: fc.Arbitrary<FuzzCase>;
  readonly run: (h: Harness, batch: readonly FuzzCase[]) => Promise<BatchResult>;
}

/** Cheapest first: the last group (signed, ten events a case) also gets the time the others left. */
const GROUPS: readonly Group[] = [
  { name: 'unauth', share: 0.2, arbitrary: unauthCaseArb, run: (h, b) => runUnauthenticated(h, b as UnauthCase[]) },
  { name: 'legacy', share: 0.4, arbitrary: legacyCaseArb, run: (h, b) => runAuthenticated(h, b as LegacyCase[]) },
  { name: 'signed', share: 0.4, arbitrary: signedCaseArb, run: (h, b) => runAuthenticated(h, b as SignedCase[]) },
];

export interface RunOptions {
  readonly seed: number;
  /** Cases in total, shared among the groups. */
  readonly cases: number;
  /** Time cap for the whole run. */
  readonly seconds: number;
  /** Requests in flight at once. @default 16 */
  readonly concurrency?: number;
  /** Cases per fast-check run (a batch). @default 32 */
  readonly batchSize?: number;
  /** Time spent shrinking one failure. @default 15 */
  readonly shrinkSeconds?: number;
  /** Distinct failure families to shrink and report; further ones are only counted. @default 30 */
  readonly maxFamilies?: number;
  /** Groups to run. @default all */
  readonly groups?: readonly GroupName[];
  readonly log?: (line: string) => void;
}

export interface Failure {
  readonly family: string;
  readonly group: GroupName;
  readonly property: PropertyId;
  readonly seed: number;
  readonly path: string | undefined;
  readonly shrinks: number;
  /** fast-check's report: counterexample, error, and how to replay it. */
  readonly report: string;
  /** One case of the counterexample that fails alone, and its body when small. */
  readonly minimal?: string;
  readonly minimalBodyBase64?: string;
}

export interface Summary {
  readonly seed: number;
  elapsedMs: number;
  readonly cases: Record<GroupName, number>;
  /** How many cases (P1–P3) and health checks (P4) each property was checked on. */
  readonly checked: Record<PropertyId, number>;
  readonly statuses: Record<GroupName, Record<string, number>>;
  /** Events stored (accepted or duplicate), bodies or events quarantined, requests refused. */
  committedEvents: number;
  quarantined: number;
  rejected: number;
  /** Violations of each family, one per answer (counted outside shrinking). */
  readonly violations: Record<string, number>;
  readonly failures: Failure[];
}

export function emptySummary(seed: number): Summary {
  return {
    seed,
    elapsedMs: 0,
    cases: { legacy: 0, signed: 0, unauth: 0 },
    checked: { P1: 0, P2: 0, P3: 0, P4: 0 },
    statuses: { legacy: {}, signed: {}, unauth: {} },
    committedEvents: 0,
    quarantined: 0,
    rejected: 0,
    violations: {},
    failures: [],
  };
}

export async function runFuzz(options: RunOptions): Promise<Summary> {
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const summary = emptySummary(options.seed);
  const groups = GROUPS.filter((g) => !options.groups || options.groups.includes(g.name));
  const shares = groups.reduce((n, g) => n + g.share, 0);
  let shareLeft = shares;
  for (const group of groups) {
    // A group that finishes early leaves its time to the next ones.
    const now = Date.now();
    const groupDeadline = now + ((deadline - now) * group.share) / shareLeft;
    shareLeft -= group.share;
    await runGroup(group, Math.round((options.cases * group.share) / shares), groupDeadline, options, summary);
  }
  summary.elapsedMs = Date.now() - started;
  return summary;
}

/** One group's run: its relay, budget and progress, shared by the fast-check runs of its segments. */
interface GroupRun {
  readonly group: Group;
  readonly h: Harness;
  readonly options: RunOptions;
  readonly summary: Summary;
  readonly cases: number;
  readonly deadline: number;
  readonly shrinkMs: number;
  /** Families already reported: later runs only count them. */
  readonly known: Set<string>;
  done: number;
  lastLog: number;
  /** Once the store stops answering, every further case would wait for it: the group ends. */
  wedged: boolean;
}

/** The failure family a segment is shrinking, once one is found. */
interface Hunt {
  target: string | undefined;
  since: number;
}

const familyKey = (run: GroupRun, v: Violation) => `${run.group.name}/${familyOf(v)}`;
const isOver = (run: GroupRun) => run.wedged || run.done >= run.cases || Date.now() > run.deadline;

async function runGroup(group: Group, cases: number, deadline: number, options: RunOptions, summary: Summary): Promise<void> {
  const h = await Harness.start(options.concurrency ?? 16);
  const known = new Set(summary.failures.map((f) => f.family));
  const run: GroupRun = { group, h, options, summary, cases, deadline, shrinkMs: (options.shrinkSeconds ?? 15) * 1000, known, done: 0, lastLog: Date.now(), wedged: false };
  try {
    // A segment ends at the first failure (shrunk and recorded); the next one looks further.
    for (let segment = 0; !isOver(run); segment++) {
      const seed = (options.seed + segment * 7919 + GROUPS.indexOf(group) * 104_729) | 0;
      const hunt: Hunt = { target: undefined, since: 0 };
      const numRuns = Math.ceil((cases - run.done) / (options.batchSize ?? 32)) + 1;
      // The hard stop: past the deadline and a shrink budget, fast-check ends even mid-shrink.
      const plugins = [fc.interruptAfterTimeLimit(Math.max(0, deadline - Date.now()) + run.shrinkMs)];
      const details = await fc.check<[FuzzCase[]]>(batchProperty(run, hunt), { seed, numRuns, plugins });
      if (details.failed && hunt.target !== undefined) await recordFailure(run, hunt.target, details);
    }
    await checkHealth(h, group.name, summary, options, run.wedged);
  } finally {
    await h.close();
  }
}

/** One fast-check run: a batch sent concurrently, then checked; throws on the family being hunted. */
function batchProperty(run: GroupRun, hunt: Hunt): fc.IAsyncPropertyWithHooks<[FuzzCase[]]> {
  const { group, options } = run;
  const batches = fc.limitShrink(fc.array(group.arbitrary, { minLength: 1, maxLength: options.batchSize ?? 32, size: 'max' }), MAX_SHRINKS);
  return fc.asyncProperty(batches, async (batch) => {
    // Past the budget every run passes at once: fast-check then ends (or ends shrinking) quickly.
    if (hunt.target === undefined ? isOver(run) : run.wedged || Date.now() > Math.min(hunt.since, run.deadline) + run.shrinkMs) return true;
    const startedAt = Date.now();
    const result = await safeRun(group, run.h, batch);
    if (!run.wedged && result.violations.some((v) => v.code === 'store-unreadable')) {
      run.wedged = true;
      options.log?.(`  the store stopped answering: ending the ${group.name} cases`);
    }
    if (Date.now() - startedAt > 5_000) options.log?.(`  slow batch: ${batch.length} ${group.name} cases took ${Date.now() - startedAt} ms`);
    if (hunt.target === undefined) {
      tally(run.summary, group.name, batch, result);
      run.done += batch.length;
      logProgress(run);
      const fresh = result.violations.find((v) => !run.known.has(familyKey(run, v)));
      if (!fresh || run.summary.failures.length >= (options.maxFamilies ?? 30)) return true;
      hunt.target = familyKey(run, fresh);
      hunt.since = Date.now();
    }
    const hits = result.violations.filter((v) => familyKey(run, v) === hunt.target);
    if (hits.length > 0) throw new Error(hits.slice(0, 3).map((v) => `${v.property} ${v.code} [${v.label}]: ${v.message}`).join('\n'));
    return true;
  });
}

async function recordFailure(run: GroupRun, family: string, details: fc.RunDetails<[FuzzCase[]]>): Promise<void> {
  run.known.add(family);
  const single = run.wedged ? undefined : await singleCase(run, details.counterexample?.[0] ?? [], family);
  run.summary.failures.push({
    family,
    group: run.group.name,
    property: family.split('/')[1]!.split(':')[0] as PropertyId,
    seed: details.seed,
    path: details.counterexamplePath ?? undefined,
    shrinks: details.numShrinks,
    report: `${lastError(details)}\n${fc.defaultReportMessage(details) ?? ''}`,
    ...(single ? { minimal: describeCase(single), ...(single.body.length <= 8192 ? { minimalBodyBase64: single.body.toString('base64') } : {}) } : {}),
  });
  const alone = single ? `\n${indent(`alone: ${describeCase(single)}`)}` : '';
  run.options.log?.(`\n✗ ${family} (seed ${details.seed}, path ${details.counterexamplePath ?? '-'})\n${indent(lastError(details))}${alone}`);
}

/**
 * The first case of a shrunk batch that breaks the same family when sent alone: fast-check's
 * array shrinking often stops with unrelated cases still in the batch.
 */
async function singleCase(run: GroupRun, batch: readonly FuzzCase[], target: string): Promise<FuzzCase | undefined> {
  for (const c of batch) {
    const result = await safeRun(run.group, run.h, [c]);
    if (result.violations.some((v) => familyKey(run, v) === target)) return c;
  }
  return undefined;
}

/** A harness fault (the store could not be read back) is a finding too, not a crash of the run. */
async function safeRun(group: Group, h: Harness, batch: readonly FuzzCase[]): Promise<BatchResult> {
  try {
    return await group.run(h, batch);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { answers: batch.map(() => []), violations: [{ property: 'P4', code: 'store-unreadable', label: 'batch', message }] };
  }
}

async function checkHealth(h: Harness, group: GroupName, summary: Summary, options: RunOptions, isWedged: boolean): Promise<void> {
  summary.checked.P4++;
  const problem = isWedged ? 'the store stopped answering during the run' : await h.health();
  if (problem === undefined) return;
  const family = `${group}/P4:unhealthy-after-run:${group}`;
  summary.violations[family] = (summary.violations[family] ?? 0) + 1;
  summary.failures.push({ family, group, property: 'P4', seed: summary.seed, path: undefined, shrinks: 0, report: `after the ${group} cases: ${problem}` });
  options.log?.(`\n✗ ${family}: ${problem}`);
}

function tally(summary: Summary, group: GroupName, batch: readonly FuzzCase[], result: BatchResult): void {
  summary.cases[group] += batch.length;
  summary.checked.P1 += batch.length;
  summary.checked[group === 'unauth' ? 'P2' : 'P3'] += batch.length;
  for (const answers of result.answers) {
    for (const a of answers) {
      const key = a.error ? 'no answer' : String(a.status);
      summary.statuses[group][key] = (summary.statuses[group][key] ?? 0) + 1;
      if (group === 'unauth') summary.rejected += a.status >= 400 && a.status < 500 ? 1 : 0;
      else if (a.status === 400) summary.quarantined++;
      else if (a.status === 200) {
        summary.committedEvents += Number(a.json?.accepted ?? 0) + Number(a.json?.duplicates ?? 0);
        summary.quarantined += Number(a.json?.quarantined ?? 0);
      }
    }
  }
  for (const v of result.violations) {
    const family = `${group}/${familyOf(v)}`;
    summary.violations[family] = (summary.violations[family] ?? 0) + 1;
  }
}

function logProgress(run: GroupRun): void {
  const { options, summary } = run;
  if (!options.log || Date.now() - run.lastLog < 2_000) return;
  run.lastLog = Date.now();
  const total = summary.cases.legacy + summary.cases.signed + summary.cases.unauth;
  options.log(`  ${run.group.name}: ${run.done} cases (${total} in all), ${Object.keys(summary.violations).length} failing families`);
}

function lastError(details: { readonly errorInstance?: unknown }): string {
  return details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
}

const indent = (text: string) => text.replace(/^/gm, '    ');
