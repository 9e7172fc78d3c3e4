/**
 * Cron expressions: parsing and the times they name, on croner (the only module that imports it).
 * Five fields (`minute hour day month weekday`), or six with seconds first; nicknames such as
 * `@hourly` too. Day of month and day of week are ORed, as in Vixie cron. Times are epoch ms.
 *
 * croner's quirks this hides: `nextRun(d)` is strictly after `d` and `previousRuns(1, d)` strictly
 * before it; an expression that never matches (`0 0 30 2 *`) parses but has no next run.
 */
import { Cron } from 'croner';

export interface CronSchedule {
  readonly expression: string;
  /** IANA name, or undefined for UTC. */
  readonly timezone: string | undefined;
  /** The first slot strictly after `ms`, or null when the expression matches no later time. */
  nextAfter(ms: number): number | null;
  /** The last slot at or before `ms`, or null when there is none. */
  latestAtOrBefore(ms: number): number | null;
}

export type CronParse = { readonly ok: true; readonly schedule: CronSchedule } | { readonly ok: false; readonly message: string };

/** A valid expression others can copy, for error messages. */
export const CRON_EXAMPLE = "'0 * * * *' (hourly) or '*/15 * * * *' (every 15 minutes)";

export function parseCron(expression: string, timezone?: string): CronParse {
  if (timezone !== undefined && !isValidTimezone(timezone)) {
    return { ok: false, message: `"${timezone}" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)` };
  }
  let cron: Cron;
  try {
    // Without a callback croner starts no timer: the object only computes times.
    cron = new Cron(expression, { timezone: timezone ?? 'UTC' });
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
    return { ok: false, message: `"${expression}" is not a cron expression: ${reason}; e.g. ${CRON_EXAMPLE}` };
  }
  if (cron.nextRun() === null) return { ok: false, message: `"${expression}" never runs (no date matches it); e.g. ${CRON_EXAMPLE}` };
  const schedule: CronSchedule = {
    expression,
    timezone,
    nextAfter: (ms) => cron.nextRun(new Date(ms))?.getTime() ?? null,
    latestAtOrBefore: (ms) => cron.previousRuns(1, new Date(ms + 1))[0]?.getTime() ?? null,
  };
  return { ok: true, schedule };
}

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
