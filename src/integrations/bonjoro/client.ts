/**
 * Bonjoro API v2 calls (reference/destinations.md §4): Bearer auth, JSON, Laravel-style answers.
 * The client sends through the attempt's `ActionHttp`, so timeouts, aborts and shadow mode apply to
 * every call it makes, and returns the raw results: what they mean is the action's decision.
 */
import type { HttpResult } from '../../lib/http.js';
import type { ActionHttp } from '../types.js';
import { MARKER_ATTRIBUTE } from './schema.js';
import { isRecord, parseJsonBody } from '../../lib/json.js';

export interface BonjoroClientOptions {
  readonly http: ActionHttp;
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly userAgent: string;
}

export interface GreetBody {
  readonly profiles: readonly string[];
  readonly note?: string;
  readonly assignee_id?: string;
  readonly campaign_id?: string;
  readonly template_id?: string;
  readonly custom_attributes: Readonly<Record<string, string | number | boolean>>;
}

export interface FoundGreet {
  readonly id: string;
  readonly status?: string;
}

export type Lookup =
  | { readonly kind: 'found'; readonly greet: FoundGreet; readonly result: HttpResult }
  | { readonly kind: 'absent'; readonly result: HttpResult }
  /** The lookup itself failed: the caller cannot tell, so it must not create. */
  | { readonly kind: 'failed'; readonly result: HttpResult };

export class BonjoroClient {
  readonly #options: BonjoroClientOptions;

  constructor(options: BonjoroClientOptions) {
    this.#options = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
  }

  createGreet(body: GreetBody): Promise<HttpResult> {
    return this.#send('POST', '/greets', body);
  }

  /** Bonjoro's clients create the profile first (its need is unconfirmed); a 4xx here is not fatal. */
  createProfile(profile: { email: string; first_name?: string; last_name?: string }): Promise<HttpResult> {
    return this.#send('POST', '/profiles', profile);
  }

  /**
   * Looks through the subscriber's greets (`search` by email, newest pages first as Bonjoro sorts
   * them) for one whose custom attributes carry `marker`. Reads at most `maxPages` pages.
   */
  async findGreetByMarker(email: string, marker: string, maxPages: number): Promise<Lookup> {
    let last: HttpResult | undefined;
    for (let page = 1; page <= maxPages; page += 1) {
      const query = new URLSearchParams({ search: email, limit: '100', page: String(page) });
      const result = await this.#send('GET', `/greets?${query.toString()}`);
      last = result;
      if (result.kind !== 'response' || result.status !== 200) return { kind: 'failed', result };
      const parsed = parseJsonBody(result.body);
      const data = isRecord(parsed) && Array.isArray(parsed.data) ? (parsed.data as unknown[]) : undefined;
      if (!data || !isRecord(parsed)) return { kind: 'failed', result };
      for (const greet of data) {
        if (!isRecord(greet) || typeof greet.id !== 'string') continue;
        const attributes = greet.custom_attributes;
        if (isRecord(attributes) && String(attributes[MARKER_ATTRIBUTE]) === marker) {
          return { kind: 'found', greet: { id: greet.id, ...(typeof greet.status === 'string' ? { status: greet.status } : {}) }, result };
        }
      }
      const lastPage = typeof parsed.last_page === 'number' ? parsed.last_page : page;
      if (page >= lastPage || data.length === 0) return { kind: 'absent', result };
    }
    if (!last) throw new Error('findGreetByMarker needs maxPages of at least 1');
    // More pages than we read: the greet may be further back. Not finding it is not proof.
    return { kind: 'failed', result: last };
  }

  #send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpResult> {
    const { http, baseUrl, apiKey, userAgent } = this.#options;
    return http.send({
      method,
      url: `${baseUrl}${path}`,
      headers: {
        authorization: `Bearer ${apiKey}`,
        accept: 'application/json',
        'user-agent': userAgent,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      secretHeaderNames: ['authorization'],
    });
  }
}

/**
 * Bonjoro's error in its own words. Three shapes (§4.3): a flat `{message}` (401), a nested
 * `{error: {message, status_code}}` (400/403/404/500), and Laravel's 422 `{message, errors: {field: [..]}}`.
 */
export function bonjoroErrorText(result: Extract<HttpResult, { kind: 'response' }>): string {
  const parsed = parseJsonBody(result.body);
  const parts: string[] = [];
  if (isRecord(parsed)) {
    const nested = isRecord(parsed.error) ? parsed.error.message : undefined;
    if (typeof nested === 'string') parts.push(nested);
    else if (typeof parsed.message === 'string') parts.push(parsed.message);
    if (isRecord(parsed.errors)) {
      for (const [field, messages] of Object.entries(parsed.errors)) {
        const list = Array.isArray(messages) ? messages.filter((m) => typeof m === 'string') : [];
        parts.push(`${field}: ${list.join(' ') || 'invalid'}`);
      }
    }
  }
  const detail = parts.length > 0 ? parts.join('; ') : result.body.subarray(0, 200).toString('utf8').trim();
  return `Bonjoro answered HTTP ${result.status}${detail ? `: ${detail}` : ''}`;
}

/** The created greet's id from `{"message":"Created","data":{id,…}}`, if the answer has one. */
export function createdGreetId(result: Extract<HttpResult, { kind: 'response' }>): string | undefined {
  const parsed = parseJsonBody(result.body);
  if (!isRecord(parsed) || !isRecord(parsed.data)) return undefined;
  return typeof parsed.data.id === 'string' ? parsed.data.id : undefined;
}

