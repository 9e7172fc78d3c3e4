/**
 * What every action that writes to Kit shares (Airtable's `kit_update`, Kajabi's `enrol`): a Kit
 * client on the attempt's HTTP, the audit record made of Kit's calls, and Kit's errors read into
 * outcomes.
 */
import { KitApiError, type KitCall, type KitClient } from '../kit/client/index.js';
import type { HttpClient } from '../lib/http.js';
import type { ActionContext, ActionResult, CallRecord } from './types.js';

/**
 * A Kit client whose requests go through the attempt's HTTP (its timeout, abort and shadow mode
 * apply to Kit's calls too), each pushed onto `calls`. Undefined (with the reason) when this
 * process has no Kit access or Kit cannot be reached.
 */
export async function openAttemptKit(ctx: Pick<ActionContext<unknown, unknown>, 'kit' | 'http'>, calls: KitCall[]): Promise<{ readonly client: KitClient } | { readonly error: string; readonly isRetryable: boolean }> {
  if (!ctx.kit) return { error: 'no Kit access in this process (set KIT_API_KEY, or log in with `kitrelay kit login`): nothing was applied', isRetryable: false };
  const http: HttpClient = { send: ({ signal: _signal, ...request }) => ctx.http.send(request), close: () => Promise.resolve() };
  try {
    return { client: await ctx.kit({ http, onCall: (call) => calls.push(call) }) };
  } catch (error) {
    return { error: `cannot reach Kit: ${error instanceof Error ? error.message : String(error)}`, isRetryable: true };
  }
}

/** The last of Kit's calls, as the audit record keeps one; the rest are named in its correlation. */
export function callRecordOf(calls: readonly KitCall[]): CallRecord | undefined {
  const last = calls.at(-1);
  if (!last) return undefined;
  return {
    request: last.request,
    ...(last.responseStatus !== undefined ? { responseStatus: last.responseStatus } : {}),
    correlation: { calls: calls.map((c) => `${c.request.method} ${new URL(c.request.url).pathname} → ${c.responseStatus ?? c.networkError ?? '?'}`).join('; ').slice(0, 900) },
  };
}

/**
 * A Kit error as the attempt's outcome: `failed` when Kit will never take it as sent, `retry`
 * otherwise (every call these actions make is safe to send again). `done` names what Kit took
 * before the error. Anything not a KitApiError is rethrown (ShadowStop, and bugs: the queue
 * records them).
 */
export function kitErrorResult(error: unknown, calls: readonly KitCall[], done: readonly string[], correlation: Readonly<Record<string, string>>): ActionResult {
  if (!(error instanceof KitApiError)) throw error;
  const call = callRecordOf(calls);
  const where = done.length > 0 ? ` (done before it: ${done.join('; ')}; all is sent again on retry)` : '';
  const base = { correlation, ...(call ? { call } : {}) };
  if (error.retryClass === 'permanent') return { outcome: 'failed', error: `${error.message}${where}`, ...base };
  const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
  return { outcome: 'retry', error: `${error.message}${where}`, ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}), ...base };
}
