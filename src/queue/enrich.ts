/**
 * Enrichment at delivery: a rule action may name an enrichment (`config.enrichments`), an async
 * lookup run by the worker when the job is attempted, so routing stays pure and fast. Answers are
 * cached per subscriber for `cacheMs`. A lookup that fails or passes `timeoutMs` never fails or
 * holds up the job: it goes on without the extra fields, marked degraded.
 */
import type { EnrichmentConfig, EnrichmentFields, RuleConfig } from '../config/schema.js';
import type { Enrichment } from '../integrations/index.js';
import type { KitEvent } from '../kit/events.js';
import type { JobRecord } from '../store/types.js';

/** Cached answers kept at most (oldest dropped first). */
const MAX_CACHED = 10_000;

export class Enricher {
  readonly #enrichments: Readonly<Record<string, EnrichmentConfig>>;
  readonly #rules: readonly RuleConfig[];
  readonly #cache = new Map<string, { readonly fields: EnrichmentFields; readonly expiresAt: number }>();

  constructor(enrichments: Readonly<Record<string, EnrichmentConfig>>, rules: readonly RuleConfig[]) {
    this.#enrichments = enrichments;
    this.#rules = rules;
  }

  /**
   * The enrichment the job's rule action names, if any. A job does not record which of its rule's
   * actions made it, so the action is found by destination, action and params (two actions of one
   * rule to one destination differ in their params: a channel).
   */
  nameFor(job: JobRecord): string | undefined {
    const rule = this.#rules.find((r) => r.id === job.rule);
    const params = JSON.stringify(job.params);
    const candidates = rule?.actions.filter((a) => a.destination === job.destination && (a.action === undefined || a.action === job.action)) ?? [];
    const action = candidates.length === 1 ? candidates[0] : candidates.find((a) => JSON.stringify(a.params) === params);
    return action?.enrich;
  }

  /** Runs (or reuses) the job's enrichment; undefined when it names none. Never rejects. */
  async enrich(job: JobRecord, event: KitEvent, now: number): Promise<Enrichment | undefined> {
    const name = this.nameFor(job);
    if (name === undefined) return undefined;
    const config = Object.hasOwn(this.#enrichments, name) ? this.#enrichments[name] : undefined;
    if (!config) return { name, fields: {}, isDegraded: true, error: `no enrichment "${name}" in the config` };
    const key = `${name}\u0000${job.subscriberKey ?? `job:${job.id}`}`;
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > now) return { name, fields: cached.fields, isDegraded: false, isCached: true };
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error(`enrichment ${name} timed out after ${config.timeoutMs} ms`));
        resolve('timeout');
      }, config.timeoutMs);
    });
    try {
      // Promise.resolve().then: a synchronous throw becomes a rejection handled below.
      const answer = await Promise.race([Promise.resolve().then(() => config.fetch(event, { signal: controller.signal })), timeout]);
      if (answer === 'timeout') return { name, fields: {}, isDegraded: true, error: `timed out after ${config.timeoutMs} ms` };
      const fields = sanitize(answer);
      if (config.cacheMs > 0) this.#remember(key, fields, now + config.cacheMs);
      return { name, fields, isDegraded: false };
    } catch (error) {
      return { name, fields: {}, isDegraded: true, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  #remember(key: string, fields: EnrichmentFields, expiresAt: number): void {
    this.#cache.delete(key);
    this.#cache.set(key, { fields, expiresAt });
    if (this.#cache.size > MAX_CACHED) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }
}

/** Only scalar values, at most 20 of them: an enrichment adds a few labelled lines, not a document. */
function sanitize(answer: unknown): EnrichmentFields {
  if (typeof answer !== 'object' || answer === null) return {};
  const fields: Record<string, string | number | boolean | null> = {};
  for (const [label, value] of Object.entries(answer as Record<string, unknown>).slice(0, 20)) {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[label] = value;
  }
  return fields;
}
