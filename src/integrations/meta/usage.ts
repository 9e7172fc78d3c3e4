/**
 * Meta's usage headers (reference/destinations.md §2.6): every Graph answer says how much of each
 * rate-limit quota is spent, as JSON in a header, in percent (throttled at 100). Reading them lets
 * kitrelay slow down before Meta throttles it, instead of learning from a code 80003 error.
 *
 * - `X-App-Usage`: `{"call_count","total_time","total_cputime"}` for the app.
 * - `X-Business-Use-Case-Usage`: `{"<business_id>":[{type, call_count, total_cputime, total_time,
 *   estimated_time_to_regain_access, ads_api_access_tier}]}`; the regain time is in minutes ([U]).
 * - `X-Ad-Account-Usage`: `{acc_id_util_pct, reset_time_duration, ads_api_access_tier}` ([U]: exact
 *   keys; `reset_time_duration` read as seconds).
 *
 * Headers are untrusted text: a missing, garbled or oddly typed header or field is skipped and
 * named in `detail.unreadable`, never thrown. Numbers given as strings are accepted.
 */
import { isRecord } from '../../lib/json.js';

export interface AppUsage {
  readonly callCount?: number;
  readonly totalTime?: number;
  readonly totalCputime?: number;
}

export interface BusinessUseCaseUsage {
  readonly businessId: string;
  /** `custom_audience`, `ads_management`, `ads_insights`, … */
  readonly type?: string;
  readonly callCount?: number;
  readonly totalCputime?: number;
  readonly totalTime?: number;
  /** As Meta sent it (minutes, [U]). */
  readonly estimatedTimeToRegainAccess?: number;
  readonly accessTier?: string;
}

export interface AdAccountUsage {
  readonly utilPct?: number;
  /** As Meta sent it (seconds, [U]). */
  readonly resetTimeDuration?: number;
  readonly accessTier?: string;
}

export interface UsageDetail {
  readonly app?: AppUsage;
  readonly businessUseCases: readonly BusinessUseCaseUsage[];
  readonly adAccount?: AdAccountUsage;
  /** Usage headers that were present but could not be read (lower-cased names). */
  readonly unreadable: readonly string[];
}

export interface Usage {
  /** The highest percentage of any quota the answer reported; undefined when it reported none. */
  readonly maxPct: number | undefined;
  /** How long until Meta lets calls through again, when it said so (a positive regain time). */
  readonly regainAccessMs: number | undefined;
  readonly detail: UsageDetail;
}

export interface UsageOptions {
  /**
   * Milliseconds per unit of `estimated_time_to_regain_access`: the fact sheet reads it as minutes,
   * unverified ([U]).
   * @default 60_000
   */
  readonly regainAccessUnitMs?: number;
  /**
   * Milliseconds per unit of the ad account's `reset_time_duration`, read as the regain time when
   * the account is at 100% ([U]: seconds).
   * @default 1_000
   */
  readonly resetDurationUnitMs?: number;
  /**
   * Business use-case types whose usage counts. Which quota throttles audience uploads is not
   * certain (80003 custom_audience [U], 80004 ads_management), so by default every type counts:
   * slowing down for a quota that turned out not to matter costs less than being throttled.
   * @default every type
   */
  readonly useCaseTypes?: readonly string[];
}

export const APP_USAGE_HEADER = 'x-app-usage';
export const BUSINESS_USAGE_HEADER = 'x-business-use-case-usage';
export const AD_ACCOUNT_USAGE_HEADER = 'x-ad-account-usage';

/** Meta's usage headers read from a response's headers (any case). */
export function readUsage(headers: Readonly<Record<string, string | undefined>>, options: UsageOptions = {}): Usage {
  const lowered = lowerCaseHeaders(headers);
  const unreadable: string[] = [];
  const parse = (name: string): Record<string, unknown> | undefined => {
    const text = lowered[name];
    if (text === undefined || text.trim() === '') return undefined;
    const value = parseObject(text);
    if (value === undefined) unreadable.push(name);
    return value;
  };

  const appJson = parse(APP_USAGE_HEADER);
  const app: AppUsage | undefined = appJson && { callCount: pct(appJson.call_count), totalTime: pct(appJson.total_time), totalCputime: pct(appJson.total_cputime) };

  const businessUseCases = businessUsage(parse(BUSINESS_USAGE_HEADER) ?? {});

  const accountJson = parse(AD_ACCOUNT_USAGE_HEADER);
  const adAccount: AdAccountUsage | undefined = accountJson && {
    utilPct: pct(accountJson.acc_id_util_pct),
    resetTimeDuration: pct(accountJson.reset_time_duration),
    accessTier: text(accountJson.ads_api_access_tier),
  };

  const counted = options.useCaseTypes ? businessUseCases.filter((b) => b.type === undefined || options.useCaseTypes?.includes(b.type)) : businessUseCases;
  const percentages = [
    app?.callCount, app?.totalTime, app?.totalCputime,
    ...counted.flatMap((b) => [b.callCount, b.totalCputime, b.totalTime]),
    adAccount?.utilPct,
  ].filter((n): n is number => n !== undefined);
  const maxPct = percentages.length > 0 ? Math.max(...percentages) : undefined;

  const regainUnit = options.regainAccessUnitMs ?? 60_000;
  const waits = counted.map((b) => (b.estimatedTimeToRegainAccess ?? 0) * regainUnit);
  if (adAccount?.utilPct !== undefined && adAccount.utilPct >= 100 && adAccount.resetTimeDuration !== undefined) {
    waits.push(adAccount.resetTimeDuration * (options.resetDurationUnitMs ?? 1_000));
  }
  const longest = Math.max(0, ...waits);
  return { maxPct, regainAccessMs: longest > 0 ? Math.round(longest) : undefined, detail: { app, businessUseCases, adAccount, unreadable } };
}

/**
 * Added to a wait for Meta's regain time. Meta rounds the time up to whole minutes or seconds and
 * counts it on its own clock; a call that lands a moment early is refused and costs another whole
 * wait, a second more costs nothing.
 */
export const REGAIN_MARGIN_MS = 1_000;

export interface ThrottleOptions {
  /** Usage (percent) below which calls go at full speed. @default 75 */
  readonly thresholdPct?: number;
  /** The pause just short of 100%, and at 100% when Meta gave no regain time. @default 300_000 (5 minutes) */
  readonly maxDelayMs?: number;
}

/**
 * How long to wait before the next call, from the last answer's usage.
 *
 * - Meta gave a regain time (`estimated_time_to_regain_access` > 0): that time and
 *   `REGAIN_MARGIN_MS`, whatever the percentages say: calls before it are refused anyway.
 * - Otherwise, below `thresholdPct`: 0.
 * - From `thresholdPct` to 100%: `maxDelayMs × t²`, t = (usage − threshold) / (100 − threshold).
 *   The square starts flat (a call at 76% barely waits) and steepens towards 100%, where the
 *   quota is nearly gone; with the defaults, 80% → 12 s, 90% → 1.8 min, 95% → 3.2 min.
 * - At or above 100%: `maxDelayMs`.
 *
 * Without a regain time the delay never decreases as usage rises, and never exceeds `maxDelayMs`.
 */
export function throttleDelayMs(usage: Pick<Usage, 'maxPct' | 'regainAccessMs'>, options: ThrottleOptions = {}): number {
  if (usage.regainAccessMs !== undefined && usage.regainAccessMs > 0) return usage.regainAccessMs + REGAIN_MARGIN_MS;
  const threshold = Math.min(Math.max(options.thresholdPct ?? 75, 0), 99.999);
  const cap = Math.max(options.maxDelayMs ?? 300_000, 0);
  const pctUsed = usage.maxPct;
  if (pctUsed === undefined || pctUsed < threshold) return 0;
  if (pctUsed >= 100) return cap;
  const t = (pctUsed - threshold) / (100 - threshold);
  return Math.round(cap * t * t);
}

/** Meta's usage as an answer reported it, when its call was sent and when the answer came (epoch ms). */
export interface UsageReading {
  readonly usage: Usage;
  readonly sentAt: number;
  readonly answeredAt: number;
}

/** A turn to send, from `UsagePacer.takeTurn`: `release` passes it on once the call is answered. */
export interface PacingTurn {
  release(): void;
}

/**
 * The uploads to one ad account, pacing themselves on Meta's usage. While the last answer's usage
 * asks for a wait, uploads go one at a time: each waits for the one before it to be answered and
 * paces on that answer. Uploads running side by side would otherwise all pace on the same answer
 * and go out together, past 100% (the worker runs several at once; issue 10's throttling test found
 * it). Below the threshold nothing waits for a turn: the quota has room for the few in flight.
 */
export class UsagePacer {
  readonly #options: ThrottleOptions;
  #last: UsageReading | undefined;
  /** Settles when every upload that took a turn so far has released it. */
  #turn: Promise<void> = Promise.resolve();

  constructor(options: ThrottleOptions = {}) {
    this.#options = options;
  }

  get last(): UsageReading | undefined {
    return this.#last;
  }

  /**
   * How long a call sent at `now` should wait first (0: go now): what the last reading's usage asks,
   * counted from its answer (Meta's regain time holds from when it answered, not sooner).
   */
  waitMs(now: number): number {
    const last = this.#last;
    if (!last) return 0;
    return Math.max(0, throttleDelayMs(last.usage, this.#options) - (now - last.answeredAt));
  }

  /**
   * Keeps an answer's usage, unless that of a call sent later is kept already: answers of calls
   * sent side by side may come back in any order, and the later call saw more of the quota spent.
   */
  record(usage: Usage, times: { readonly sentAt: number; readonly answeredAt: number }): void {
    if (!this.#last || times.sentAt >= this.#last.sentAt) this.#last = { usage, ...times };
  }

  /**
   * Resolves when this upload may pace itself and send: at once while the last usage asks for no
   * wait, else after the uploads that took a turn before it released theirs. Undefined when
   * `signal` aborted first: its place in line is given up, and those after it still wait for
   * those before it.
   */
  async takeTurn(signal?: AbortSignal): Promise<PacingTurn | undefined> {
    // Whether the wait is over already does not matter: two uploads seeing it over would both go.
    if (!this.#last || throttleDelayMs(this.#last.usage, this.#options) === 0) return { release: () => undefined };
    const before = this.#turn;
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.#turn = before.then(() => mine);
    const isAborted = await untilSettledOrAborted(before, signal);
    if (isAborted) {
      release();
      return undefined;
    }
    return { release };
  }
}

/** true when `signal` aborted before `promise` settled. */
function untilSettledOrAborted(promise: Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return promise.then(() => false);
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => resolve(true);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    });
  });
}

/** Each business's entries; one given as an object rather than a list of one is read too. */
function businessUsage(json: Record<string, unknown>): BusinessUseCaseUsage[] {
  return Object.entries(json).flatMap(([businessId, entries]) =>
    (Array.isArray(entries) ? entries : [entries]).filter(isRecord).map((entry) => ({
      businessId,
      type: text(entry.type),
      callCount: pct(entry.call_count),
      totalCputime: pct(entry.total_cputime),
      totalTime: pct(entry.total_time),
      estimatedTimeToRegainAccess: pct(entry.estimated_time_to_regain_access),
      accessTier: text(entry.ads_api_access_tier),
    })),
  );
}

/** A finite, non-negative number, from a number or a numeric string; else undefined. */
function pct(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function lowerCaseHeaders(headers: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}
