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
import type { PlannedJob, RouteDecision } from '../store/types.js';

export interface CompiledRule {
  readonly rule: RuleConfig;
  /** Canonical types, or undefined for `*`. */
  readonly types?: ReadonlySet<string>;
  /** Scope param → accepted values (as strings). */
  readonly scope: ReadonlyMap<string, ReadonlySet<string>>;
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
    return { rule, ...(on.includes('*') ? {} : { types: new Set(on.map(canonicalEventType)) }), scope };
  });
}

function matches(compiled: CompiledRule, event: KitEvent): boolean {
  if (compiled.types && !compiled.types.has(event.type)) return false;
  for (const [param, values] of compiled.scope) {
    if (event.scope?.param !== param || !values.has(event.scope.value)) return false;
  }
  return true;
}

export function routeEvent(event: KitEvent, rules: readonly CompiledRule[], config: Config): RoutingResult {
  const jobs: PlannedJob[] = [];
  const decisions: RouteDecision[] = [];
  for (const compiled of rules) {
    if (!matches(compiled, event)) continue;
    const { rule } = compiled;
    if (rule.when) {
      let verdict: boolean;
      try {
        verdict = rule.when(event);
      } catch (error) {
        // A predicate that throws is a bug in the config: record it on the event, make no job.
        decisions.push({ rule: rule.id, outcome: 'predicate_error', detail: error instanceof Error ? error.message : String(error) });
        continue;
      }
      if (!verdict) {
        decisions.push({ rule: rule.id, outcome: 'predicate_false' });
        continue;
      }
    }
    let ledgerKey: string | undefined;
    try {
      const key = rule.once?.(event);
      ledgerKey = key === undefined ? undefined : `${rule.id}:${key}`;
    } catch (error) {
      decisions.push({ rule: rule.id, outcome: 'predicate_error', detail: `once: ${error instanceof Error ? error.message : String(error)}` });
      continue;
    }
    rule.actions.forEach((action, index) => {
      const destination = config.destinations[action.destination];
      if (!destination) return; // load.ts refuses configs that name unknown destinations
      const subKey = typeof action.subKey === 'function' ? action.subKey(event) : action.subKey;
      jobs.push({
        rule: rule.id,
        destination: action.destination,
        action: action.action,
        params: action.params,
        maxAttempts: action.maxAttempts ?? destination.retry.maxAttempts,
        ...(subKey !== undefined ? { subKey } : {}),
        // One ledger key per action, so a rule with two actions makes both exactly once.
        ...(ledgerKey !== undefined ? { ledgerKey: rule.actions.length > 1 ? `${ledgerKey}#${index}` : ledgerKey } : {}),
      });
    });
  }
  return { jobs, decisions };
}
