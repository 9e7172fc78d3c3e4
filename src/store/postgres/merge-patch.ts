/**
 * RFC 7396 JSON Merge Patch, what SQLite's `json_patch` does to a job's facts and an Airtable
 * record's synced values (the PostgreSQL store merges in JS: jsonb has no merge patch, and its
 * text form would reorder what SQLite keeps as written).
 */
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A patch that is an object is merged key by key into the target (an object, else `{}`), a null removing its key; any other patch replaces the target. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const merged: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    // defineProperty: a key named `__proto__` stays a key.
    else Object.defineProperty(merged, key, { value: mergePatch(merged[key], value), enumerable: true, writable: true, configurable: true });
  }
  return merged;
}
