/**
 * Routing: event → jobs. Pure (no I/O, no clock): ingest calls it just before the commit, so the
 * event, its jobs and their ledger keys are written in one transaction and no accepted event is
 * ever left unrouted.
 *
 * Every rule whose type and scope match leaves a decision on the event (a job, a predicate that
 * said no or threw, a ledger key already spent): that is what answers "why didn't it fire?".
 */
import type { Config, RuleConfig } from '../config/schema.js';
import { canonicalEventType, type KitEvent } from '../kit/events.js';
import { IntegrationRegistry } from '../integrations/index.js';
import type { PlannedJob, RouteDecision } from '../store/types.js';

const registry = new IntegrationRegistry();

export interface CompiledRule {
  readonly rule: RuleConfig;
  /** Canonical types, or undefined for `*`. */
  readonly types?: ReadonlySet<string>;
  /** Scope param → accepted values (as strings). */
  readonly scope: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Per action (same order as `rule.actions`): its name, the integration's default when the rule
   * names none, and the sub-key its integration derives from its params (Slack: the channel).
   * Params are static, so both are settled here once, not for every event.
   */
  readonly actions: readonly { readonly name: string; readonly subKey?: string }[];
}

export interface RoutingResult {
  readonly jobs: PlannedJob[];
  /** Decisions that made no job; job decisions are added by the store with the job ids. */
  readonly decisions: RouteDecision[];
}

export function compileRules(config: Config): CompiledRule[] {
  return config.rules.map((rule) => {
    const on = typeof rule.on === 'string' ? [rule.on] : rule.on;
    const scope = new Map<string, ReadonlySet<string>>();
    for (const [param, values] of Object.entries(rule.scope ?? {})) {
      if (values === undefined) continue;
      scope.set(param, new Set((Array.isArray(values) ? values : [values]).map(String)));
    }
    const actions = rule.actions.map((action) => {
      const destination = Object.hasOwn(config.destinations, action.destination) ? config.destinations[action.destination] : undefined;
      const name = action.action ?? (destination && registry.get(destination.type)?.defaultAction) ?? 'send';
      const subKey = destination && integrationSubKey(destination, name, action.params);
      return { name, ...(subKey !== undefined ? { subKey } : {}) };
    });
    return { rule, ...(on.includes('*') ? {} : { types: new Set(on.map(canonicalEventType)) }), scope, actions };
  });
}

/** kitrelay's own events (`kitrelay:digest`, `kitrelay:job_dead`): only rules that name them see them. */
const INTERNAL_TYPE_PREFIX = 'kitrelay:';

function matches(compiled: CompiledRule, event: KitEvent): boolean {
  if (compiled.types ? !compiled.types.has(event.type) : event.type.startsWith(INTERNAL_TYPE_PREFIX)) return false;
  for (const [param, values] of compiled.scope) {
    if (event.scope?.param !== param || !values.has(event.scope.value)) return false;
  }
  return true;
}

type Called<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

/**
 * Runs one of the config's functions on an event. A function that throws, or answers with what it
 * may not (a promise: routing is synchronous; a key that is not text), is a bug in the config:
 * the rule records a `predicate_error` decision and makes no job, and the event is still stored.
 * Never a 5xx, never a lost event.
 */
function callRuleFunction<T>(fn: () => unknown, check: (value: unknown) => value is T, expected: string): Called<T> {
  let value: unknown;
  try {
    value = fn();
  } catch (error) {
    return { ok: false, detail: errorText(error) };
  }
  if (isThenable(value)) return { ok: false, detail: 'returned a promise; rule functions must be synchronous' };
  if (!check(value)) return { ok: false, detail: `returned ${describe(value)}; expected ${expected}` };
  return { ok: true, value };
}

/** What a thrown value says, even when it is not an Error or its message cannot be read. */
function errorText(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'threw a value that cannot be printed';
  }
}

function isThenable(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

const isAny = (_value: unknown): _value is unknown => true;
const isKey = (value: unknown): value is string | number | undefined =>
  value === undefined || (typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value));
const isSubKey = (value: unknown): value is string | undefined => value === undefined || (typeof value === 'string' && value !== '');

/** The sub-key the destination's action derives from its params (Slack: the channel), if any. */
function integrationSubKey(destination: Config['destinations'][string], actionName: string, params: unknown): string | undefined {
  const action = registry.action(destination.type, actionName);
  if (action?.kind !== 'job' || !action.subKey) return undefined;
  const parsed = action.params.safeParse(params);
  return parsed.success ? action.subKey(parsed.data, destination) : undefined;
}

/** @param receivedAt when the event arrived: the start of a `once` key's `repeatAfterDays`. */
export function routeEvent(event: KitEvent, rules: readonly CompiledRule[], config: Config, receivedAt?: number): RoutingResult {
  const jobs: PlannedJob[] = [];
  const decisions: RouteDecision[] = [];
  for (const compiled of rules) {
    if (!matches(compiled, event)) continue;
    const routed = routeRule(compiled, event, config, receivedAt);
    if (routed.ok) jobs.push(...routed.value);
    else decisions.push(routed.decision);
  }
  return { jobs, decisions };
}

type RuleRouting = { readonly ok: true; readonly value: PlannedJob[] } | { readonly ok: false; readonly decision: RouteDecision };

/** One matching rule: its predicate, its once key, then a job per action (or the decision why none). */
function routeRule(compiled: CompiledRule, event: KitEvent, config: Config, receivedAt: number | undefined): RuleRouting {
  const { rule } = compiled;
  const error = (detail: string): RuleRouting => ({ ok: false, decision: { rule: rule.id, outcome: 'predicate_error', detail } });
  if (rule.when) {
    const when = rule.when;
    const verdict = callRuleFunction(() => when(event), isAny, 'a boolean');
    // A `when` decision's detail is the message alone (its form from before the other functions were guarded).
    if (!verdict.ok) return error(verdict.detail);
    if (!verdict.value) return { ok: false, decision: { rule: rule.id, outcome: 'predicate_false' } };
  }
  let ledgerKey: string | undefined;
  let ledgerExpiresAt: number | undefined;
  if (rule.once) {
    const keyOf = typeof rule.once === 'function' ? rule.once : rule.once.key;
    const key = callRuleFunction(() => keyOf(event), isKey, 'a non-empty string, a number or undefined');
    if (!key.ok) return error(`once: ${key.detail}`);
    ledgerKey = key.value === undefined ? undefined : `${rule.id}:${key.value}`;
    // Measured from when the event arrives; routing is pure, so the caller passes that time.
    if (typeof rule.once === 'object' && receivedAt !== undefined) ledgerExpiresAt = receivedAt + rule.once.repeatAfterDays * 86_400_000;
  }
  const jobs: PlannedJob[] = [];
  // A digest's window is decided from the arrival time (routing is pure: the caller passes it).
  const digestWindow = rule.digest && receivedAt !== undefined ? windowOf(rule.digest.window, receivedAt) : undefined;
  for (const [index, action] of rule.actions.entries()) {
    const destination = config.destinations[action.destination];
    if (!destination) continue; // load.ts refuses configs that name unknown destinations
    const { subKey: subKeyOf } = action;
    const settled = compiled.actions[index];
    const actionName = settled?.name ?? 'send';
    const subKey =
      typeof subKeyOf === 'function'
        ? callRuleFunction(() => subKeyOf(event), isSubKey, 'a non-empty string or undefined')
        : ({ ok: true, value: subKeyOf ?? settled?.subKey } as const);
    if (!subKey.ok) return error(`actions[${index}].subKey: ${subKey.detail}`);
    jobs.push({
      rule: rule.id,
      destination: action.destination,
      action: actionName,
      params: action.params,
      maxAttempts: action.maxAttempts ?? destination.retry.maxAttempts,
      ...(subKey.value !== undefined ? { subKey: subKey.value } : {}),
      // One ledger key per action, so a rule with two actions makes both exactly once.
      ...(ledgerKey !== undefined ? { ledgerKey: rule.actions.length > 1 ? `${ledgerKey}#${index}` : ledgerKey } : {}),
      ...(ledgerKey !== undefined && ledgerExpiresAt !== undefined ? { ledgerExpiresAt } : {}),
      ...(digestWindow && rule.digest ? { digest: { key: `${rule.id}#${index}`, ...digestWindow, threshold: rule.digest.threshold } } : {}),
    });
  }
  return { ok: true, value: jobs };
}

/** The fixed window of `windowMs` holding `at`: [start, end). */
function windowOf(windowMs: number, at: number): { readonly windowStart: number; readonly windowEnd: number } {
  const windowStart = Math.floor(at / windowMs) * windowMs;
  return { windowStart, windowEnd: windowStart + windowMs };
}
