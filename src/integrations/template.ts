/**
 * Templated action params: a string param may name values of the event, `{{subscriber.email}}`,
 * `{{subscriber.fields.company}}`, `{{tag.name}}`, `{{type}}`, with a fallback for a missing or
 * empty value: `{{subscriber.first_name | there}}`. Rendered when the job is attempted,
 * so the job keeps the rule's params as written and every attempt renders the same text.
 *
 * Written here rather than taken from a template library: we need only dotted-path lookups into one
 * object, with no HTML escaping (mustache and handlebars escape by default, which would mangle a
 * note like "Tom & Jerry"), no logic and no partials.
 */
import type { KitEvent } from '../kit/events.js';

/** `{{path}}` or `{{path | fallback}}`: the fallback when the value is missing or empty. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w]*(?:\.[\w-]+)*)\s*(?:\|\s*([^}]*?)\s*)?\}\}/g;

/** The names a template may use, for an event: the KitEvent plus `email` and `first_name` shortcuts. */
export function templateScope(event: KitEvent): Record<string, unknown> {
  return {
    ...event,
    email: event.subscriber?.email,
    first_name: event.subscriber?.firstName ?? undefined,
    subscriber: event.subscriber && { ...event.subscriber, first_name: event.subscriber.firstName ?? undefined },
  };
}

/** Renders every string inside `params` (deeply); a missing value renders as ''. */
export function renderParams(params: unknown, scope: Readonly<Record<string, unknown>>): unknown {
  if (typeof params === 'string') {
    if (!params.includes('{{')) return params;
    return params.replace(PLACEHOLDER, (_m, path: string, fallback: string | undefined) => {
      const value = text(lookup(scope, path));
      return value === '' && fallback !== undefined ? fallback : value;
    });
  }
  if (Array.isArray(params)) return params.map((item) => renderParams(item, scope));
  if (typeof params === 'object' && params !== null) {
    return Object.fromEntries(Object.entries(params).map(([key, value]) => [key, renderParams(value, scope)]));
  }
  return params;
}

function lookup(scope: Readonly<Record<string, unknown>>, path: string): unknown {
  let value: unknown = scope;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? '';
}
