/**
 * Inbound route URLs. Kit's legacy webhooks carry no event name, id or signature (reference/kit.md
 * §7A), so every (event, scope) pair gets its own URL: the route id says which event and scope the
 * body is, and an unguessable token in the path authenticates it. Tokens are an HMAC of the route
 * id under a route secret, so the same route always gets the same URL (registering them in Kit is
 * idempotent) and nobody without the secret can forge one.
 *
 * Signed (Webhooks 2.0) endpoints are authenticated by their signature; their URL only names the
 * endpoint so the right secrets are used.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { buildSourceRoutes, type SourceRoute } from './sources.js';
import { canonicalEventType, LEGACY_EVENTS, legacyEventSpecByAnyName, type LegacyEventSpec, type ScopeParam } from '../kit/events.js';

export interface LegacyRoute {
  /** `tag_add-123`, `subscriber_activate`, `link_click-<hash of the URL>`. */
  readonly id: string;
  readonly spec: LegacyEventSpec;
  readonly scopeParam?: ScopeParam;
  readonly scopeValue?: string;
  readonly token: string;
  /** Path with the token: `/hooks/kit/legacy/<id>/<token>`. */
  readonly path: string;
  readonly url: string;
  /** Why the route exists: the rule ids that need it, or `config` for explicit routes. */
  readonly neededBy: readonly string[];
}

export interface SignedRoute {
  readonly name: string;
  readonly path: string;
  readonly url: string;
}

export interface RouteTable {
  readonly legacy: ReadonlyMap<string, LegacyRoute>;
  readonly signed: ReadonlyMap<string, SignedRoute>;
  /** Integrations' inbound routes, by `<destination>/<source>` (sources.ts). */
  readonly sources: ReadonlyMap<string, SourceRoute>;
}

export const LEGACY_PATH_PREFIX = '/hooks/kit/legacy';
export const SIGNED_PATH_PREFIX = '/hooks/kit/signed';

export function routeId(spec: LegacyEventSpec, scopeValue: string | undefined): string {
  if (scopeValue === undefined) return spec.slug;
  // Link URLs make poor path segments: use a short digest instead (stable for the same URL).
  const value = /^[A-Za-z0-9_-]{1,64}$/.test(scopeValue) ? scopeValue : createHash('sha256').update(scopeValue).digest('hex').slice(0, 16);
  return `${spec.slug}-${value}`;
}

export function routeToken(routeSecret: string, id: string): string {
  return createHmac('sha256', routeSecret).update(`kitrelay-legacy-route:${id}`).digest('base64url').slice(0, 32);
}

export function buildRouteTable(config: Config, routeSecret: string, publicBaseUrl: string): RouteTable {
  const legacy = new Map<string, LegacyRoute>();
  const add = (spec: LegacyEventSpec, scopeValue: string | undefined, neededBy: string) => {
    const id = routeId(spec, scopeValue);
    const existing = legacy.get(id);
    if (existing) {
      if (!existing.neededBy.includes(neededBy)) legacy.set(id, { ...existing, neededBy: [...existing.neededBy, neededBy] });
      return;
    }
    const token = routeToken(routeSecret, id);
    const routePath = `${LEGACY_PATH_PREFIX}/${id}/${token}`;
    legacy.set(id, {
      id,
      spec,
      ...(spec.scopeParam ? { scopeParam: spec.scopeParam } : {}),
      ...(scopeValue !== undefined ? { scopeValue } : {}),
      token,
      path: routePath,
      url: `${publicBaseUrl}${routePath}`,
      neededBy: [neededBy],
    });
  };

  if (config.kit.legacy.enabled) {
    for (const route of config.kit.legacy.routes) {
      const spec = legacyEventSpecByAnyName(route.event);
      if (!spec) continue; // load.ts already refused the config
      const value = spec.scopeParam ? route[spec.scopeParam] : undefined;
      add(spec, value === undefined ? undefined : String(value), 'config');
    }
    for (const rule of config.rules) {
      for (const spec of legacySpecsFor(rule.on)) {
        if (!spec.scopeParam) {
          add(spec, undefined, rule.id);
          continue;
        }
        // A legacy subscription needs a concrete scope value; a rule without one is served by
        // signed endpoints only (config check warns).
        const values = rule.scope?.[spec.scopeParam];
        for (const value of values === undefined ? [] : Array.isArray(values) ? values : [values]) add(spec, String(value), rule.id);
      }
    }
  }

  const signed = new Map<string, SignedRoute>();
  for (const endpoint of config.kit.signed.endpoints) {
    const routePath = `${SIGNED_PATH_PREFIX}/${endpoint.name}`;
    signed.set(endpoint.name, { name: endpoint.name, path: routePath, url: `${publicBaseUrl}${routePath}` });
  }
  return { legacy, signed, sources: buildSourceRoutes(config, routeSecret, publicBaseUrl) };
}

function legacySpecsFor(on: string | readonly string[]): LegacyEventSpec[] {
  const types = new Set((typeof on === 'string' ? [on] : on).map(canonicalEventType));
  if (types.has('*')) return [];
  return LEGACY_EVENTS.filter((spec) => types.has(spec.canonical));
}

/** Rules that listen to a scoped event without a scope: legacy webhooks cannot serve them. */
export function unscopedLegacyWarnings(config: Config): string[] {
  if (!config.kit.legacy.enabled) return [];
  const warnings: string[] = [];
  for (const rule of config.rules) {
    for (const spec of legacySpecsFor(rule.on)) {
      if (spec.scopeParam && rule.scope?.[spec.scopeParam] === undefined) {
        warnings.push(`rule "${rule.id}": ${spec.canonical} has no ${spec.scopeParam} in its scope, so no legacy route is made for it; it matches events from signed endpoints only`);
      }
    }
  }
  return warnings;
}
