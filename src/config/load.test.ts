import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { tempDir } from '../../test/helpers.js';
import { loadConfig, resolveConfig } from './load.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('loads a TypeScript config that imports defineConfig from kitrelay, with no build step', async () => {
    const { dir, remove } = tempDir();
    cleanup = remove;
    writeFileSync(
      path.join(dir, 'kitrelay.config.ts'),
      `import { defineConfig, env } from 'kitrelay';
const tagId: number = 12;
export default defineConfig({
  destinations: { crm: { type: 'webhook', url: env('CRM_URL') } },
  rules: [{ id: 'r1', on: 'subscriber.tag_add', scope: { tag_id: tagId }, when: (e) => e.subscriber?.state === 'active', actions: [{ destination: 'crm' }] }],
});
`,
    );
    const loaded = await loadConfig({ cwd: dir, env: { CRM_URL: 'http://127.0.0.1:1/x' } });
    expect(loaded.source).toBe(path.join(dir, 'kitrelay.config.ts'));
    expect(loaded.config.rules[0]!.id).toBe('r1');
    expect(typeof loaded.config.rules[0]!.when).toBe('function');
    expect(loaded.databasePath).toBe(path.join(dir, 'data', 'kitrelay.db'));
    expect(loaded.missingEnv).toEqual([]);
  });

  it('validates the shipped example config', async () => {
    const loaded = await loadConfig({ cwd: ROOT, env: {}, overrides: { config: 'examples/kitrelay.config.ts' } });
    expect(Object.keys(loaded.config.destinations)).toEqual(['crm', 'bonjoro', 'slack', 'kajabi', 'ops-alerts']);
    expect(loaded.missingEnv).toContain('CRM_WEBHOOK_URL');
  });

  it('falls back to the built-in example and applies flags over environment variables', async () => {
    const { dir, remove } = tempDir();
    cleanup = remove;
    const loaded = await loadConfig({ cwd: dir, env: { KITRELAY_PORT: '9000', KITRELAY_DATA_DIR: 'env-data' }, overrides: { dataDir: 'flag-data' } });
    expect(loaded.isExample).toBe(true);
    expect(loaded.warnings).toEqual([]); // the sandbox's own config starts without a warning
    expect(loaded.config.server.port).toBe(9000);
    expect(loaded.dataDir).toBe(path.join(dir, 'flag-data'));
    expect(loaded.publicBaseUrl).toBe('http://127.0.0.1:9000');
  });

  it("warns about an event type nobody sends, not about an integration's own events", () => {
    // A webhook destination: its type is an integration's, whatever events it has.
    const destinations = { hook: { type: 'webhook', url: 'http://127.0.0.1:1' } };
    const rules = [
      { id: 'a', on: ['webhook:anything', 'kitrelay:job_dead'], actions: [{ destination: 'hook' }] },
      { id: 'b', on: 'kajabi:purchase.created', actions: [{ destination: 'hook' }] },
    ];
    const { warnings } = resolveConfig({ destinations, rules }, { cwd: '/tmp', env: {}, source: 'test' });
    expect(warnings).toEqual([expect.stringContaining('"kajabi:purchase.created" is not an event type kitrelay knows')]);
  });

  it('names the field and the fix for a rule that points at an unknown destination', () => {
    const error = errorOf(() =>
      resolveConfig({ destinations: { crm: { type: 'webhook', url: 'http://127.0.0.1:1' } }, rules: [{ id: 'r', on: 'subscriber.tag_added', actions: [{ destination: 'crn' }] }] }, { cwd: '/tmp', env: {}, source: 'test' }),
    );
    expect(error.message).toContain('config.rules[0].actions[0].destination: "crn" is not defined; add it under config.destinations or fix the name (defined: crm)');
  });

  it('names the field for schema errors: bad types, unknown keys, a scope that does not fit the event', () => {
    const error = errorOf(() =>
      resolveConfig(
        {
          server: { port: 'eighty' },
          destinations: { crm: { type: 'webhook', url: 'ftp://x', retries: 3 } },
          rules: [{ id: 'r', on: 'subscriber.activated', scope: { tag_id: 1 }, actions: [{ destination: 'crm' }] }],
        },
        { cwd: '/tmp', env: {}, source: 'test' },
      ),
    );
    expect(error.message).toContain('config.server.port');
    expect(error.message).toContain('config.destinations.crm');
    const second = errorOf(() =>
      resolveConfig(
        { destinations: { crm: { type: 'webhook', url: 'http://127.0.0.1:1' } }, rules: [{ id: 'r', on: 'subscriber.activated', scope: { tag_id: 1 }, actions: [{ destination: 'crm' }] }] },
        { cwd: '/tmp', env: {}, source: 'test' },
      ),
    );
    expect(second.message).toContain('config.rules[0].scope.tag_id: none of the rule\'s events (subscriber.activated) is scoped by tag_id');
  });

  it('refuses a signed dedupe window shorter than Kit\'s retry span', () => {
    const error = errorOf(() => resolveConfig({ kit: { signed: { dedupeHours: 24 } } }, { cwd: '/tmp', env: {}, source: 'test' }));
    expect(error.message).toContain('config.kit.signed.dedupeHours: must be at least 42');
  });
});
