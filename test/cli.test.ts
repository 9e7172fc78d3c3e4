/**
 * The `kitrelay` command as a user runs it: real processes, a real SQLite file, a real relay on
 * loopback for `sandbox send`.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKitSimulator } from '../src/kit/simulator/index.js';
import { createKitWebhooks } from '../src/kit/simulator/webhooks.js';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

let dir: string;
let remove: () => void;

async function kitrelay(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--data-dir', dir, ...args], { cwd: ROOT, env: { ...process.env, KITRELAY_ROUTE_SECRET: 'cli-test', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(() => {
  ({ dir, remove } = tempDir());
});
afterAll(() => remove());

describe('kitrelay CLI', () => {
  it('routes --json lists every legacy route of the built-in example with a stable URL', async () => {
    const first = await kitrelay(['routes', '--json']);
    expect(first.code).toBe(0);
    const parsed = JSON.parse(first.stdout) as { legacy: Array<{ event: string; url: string; scope: string }>; signed: Array<{ url: string }> };
    expect(parsed.legacy.find((r) => r.event === 'subscriber.tag_add')).toMatchObject({ scope: 'tag_id=7' });
    expect(parsed.signed[0]!.url).toBe('http://127.0.0.1:8787/hooks/kit/signed/main');
    const again = JSON.parse((await kitrelay(['routes', '--json'])).stdout) as typeof parsed;
    expect(again.legacy.map((r) => r.url)).toEqual(parsed.legacy.map((r) => r.url));
  });

  it('config check exits 2 and names the field when the config is wrong', async () => {
    const file = path.join(dir, 'bad.config.mjs');
    writeFileSync(file, "export default { destinations: { crm: { type: 'webhook', url: 'http://127.0.0.1:1' } }, rules: [{ id: 'r', on: 'subscriber.tag_added', actions: [{ destination: 'nope' }] }] };\n");
    const result = await kitrelay(['--config', file, 'config', 'check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('config.rules[0].actions[0].destination: "nope" is not defined');
  });

  it('refuses bad options with a clear message', async () => {
    const result = await kitrelay(['jobs', 'list', '--status', 'exploded']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--status must be one of pending, running, succeeded, dead, cancelled');
    const since = await kitrelay(['events', 'list', '--since', 'yesterday-ish']);
    expect(since.stderr).toContain('--since takes a date');
  });

  it('pauses and resumes a destination, and lists empty queues', async () => {
    expect((await kitrelay(['destinations', 'pause', 'example-hook', '--reason', 'maintenance'])).stdout).toContain('example-hook paused');
    const listed = JSON.parse((await kitrelay(['destinations', 'list', '--json'])).stdout) as Array<{ name: string; paused: string }>;
    expect(listed.find((d) => d.name === 'example-hook')?.paused).toContain('maintenance');
    expect((await kitrelay(['destinations', 'resume', 'example-hook'])).code).toBe(0);
    expect((await kitrelay(['destinations', 'pause', 'nowhere'])).stderr).toContain('No destination "nowhere"');
    expect((await kitrelay(['jobs', 'list'])).stdout).toContain('(none)');
  });

  it('erases a person and says what it removed; refuses what is not an address', async () => {
    // Ada is in the subscriber mirror, as a backfill leaves her.
    const { openSqliteStore } = await import('../src/store/sqlite/index.js');
    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      await store.upsertSubscribers([{ kitId: 77, email: 'ada.erase@example.com', firstName: 'Ada', state: 'active', fields: {}, createdAt: null }], 'backfill', Date.now());
    } finally {
      await store.close();
    }
    const erased = await kitrelay(['erase', 'Ada.Erase@example.com', '--json']);
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ email: 'ada.erase@example.com', subscriberIds: ['77'], mirror: 1 });
    expect((await kitrelay(['erase', 'ada.erase@example.com'])).stdout).toMatch(/^erased ada\.erase@example\.com: 0 event\(s\), 0 job\(s\), 0 mirror row\(s\)/);
    const bad = await kitrelay(['erase', 'not-an-address']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not an email address');
  });

  it('exits quietly when the reader of its output goes away (`kitrelay routes | head`)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--data-dir', dir, 'routes'], {
      cwd: ROOT,
      env: { ...process.env, KITRELAY_ROUTE_SECRET: 'cli-test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Close our end before the command prints: every write it makes then fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  it('backs up the database to a readable copy', async () => {
    const target = path.join(dir, 'backup.db');
    const result = await kitrelay(['backup', target]);
    expect(result.code).toBe(0);
    const copy = await kitrelay(['--db', target, 'destinations', 'list', '--json']);
    expect(copy.code).toBe(0);
  });
});

describe('kitrelay kit … against the Kit simulator', () => {
  it('plans, applies and re-applies webhook registration, then lists the inventory', async () => {
    const webhooks = createKitWebhooks();
    const sim = await startKitSimulator({ seed: { subscribers: 20 }, plugins: [webhooks.plugin], rateLimit: false });
    try {
      const file = path.join(dir, 'kit.config.mjs');
      writeFileSync(
        file,
        `export default {
  server: { publicBaseUrl: 'https://relay.example.com' },
  kit: { api: { baseUrl: '${sim.url}', apiKey: { $env: 'KIT_API_KEY' } } },
  destinations: { crm: { type: 'webhook', url: 'http://127.0.0.1:9/x' } },
  rules: [{ id: 'vip', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'crm' }] }],
};\n`,
      );
      const env = { KIT_API_KEY: 'kit_sim_key' };
      const kit = (...args: string[]) => kitrelay(['--config', file, '--db', path.join(dir, 'kit.db'), ...args], env);
      const plan = JSON.parse((await kit('kit', 'webhooks', 'sync', '--dry-run', '--json')).stdout) as { changed: number; actions: Array<{ action: string; event: string }> };
      expect(plan).toMatchObject({ changed: 1, actions: [{ action: 'create_legacy', event: 'subscriber.tag_add' }] });
      expect(webhooks.legacy).toHaveLength(0);
      expect((await kit('kit', 'webhooks', 'sync')).stdout).toContain('changed 1 webhook(s)');
      expect((await kit('kit', 'webhooks', 'sync')).stdout).toContain('changed 0 webhook(s)');
      expect(webhooks.legacy[0]?.targetUrl).toMatch(/^https:\/\/relay\.example\.com\/hooks\/kit\/legacy\/tag_add-7\//);
      const inventory = JSON.parse((await kit('kit', 'inventory', '--json')).stdout) as Array<{ owner: string; scope: string }>;
      expect(inventory).toEqual([expect.objectContaining({ owner: 'kitrelay', scope: 'tag_id=7' })]);
      const backfill = await kit('kit', 'backfill');
      expect(backfill.stdout).toContain('backfill complete: 20 subscribers');
    } finally {
      await webhooks.close();
      await sim.close();
    }
  });

  it('says how to get credentials when there are none', async () => {
    const result = await kitrelay(['--db', path.join(dir, 'none.db'), 'kit', 'inventory']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Cannot reach Kit: no Kit credentials: set KIT_API_KEY');
  });
});

describe('kitrelay kit login', () => {
  it('authorises with OAuth + PKCE through the loopback callback, stores the tokens encrypted, and uses them', async () => {
    const webhooks = createKitWebhooks();
    const sim = await startKitSimulator({ seed: { subscribers: 5 }, rateLimit: false, oauth: { clientId: 'app-123' }, plugins: [webhooks.plugin] });
    try {
      const file = path.join(dir, 'oauth.config.mjs');
      writeFileSync(
        file,
        `export default { kit: { api: { baseUrl: '${sim.url}', oauth: { clientId: 'app-123', authorizeUrl: '${sim.url}/v4/oauth/authorize', tokenUrl: '${sim.url}/v4/oauth/token', redirectPort: 0 } } } };\n`,
      );
      const db = path.join(dir, 'oauth.db');
      const env = { ...process.env, KITRELAY_ENCRYPTION_KEY: 'a-long-enough-test-passphrase' };
      const login = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', file, '--db', db, 'kit', 'login', '--timeout', '20000'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      login.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const authorizeUrl = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        const timer = setTimeout(() => reject(new Error(`no authorisation URL: ${stderr}`)), 20_000);
        login.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /(http:\/\/127\.0\.0\.1:\d+\/v4\/oauth\/authorize\S+)/.exec(stderr);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      expect(new URL(authorizeUrl).searchParams.get('code_challenge_method')).toBe('S256');
      // The "browser": Kit (the simulator) approves and redirects to kitrelay's loopback callback.
      const approval = await fetch(authorizeUrl, { redirect: 'manual' });
      expect(approval.status).toBe(302);
      const callback = await fetch(approval.headers.get('location')!);
      expect(callback.status).toBe(200);
      const code = await new Promise<number | null>((resolve) => login.once('exit', resolve));
      expect(code).toBe(0);
      expect(stdout).toContain('Kit OAuth tokens stored (encrypted)');

      const inventory = await kitrelay(['--config', file, '--db', db, 'kit', 'inventory', '--json'], { KITRELAY_ENCRYPTION_KEY: 'a-long-enough-test-passphrase' });
      expect(inventory.stderr).toBe("");
      expect(inventory.code).toBe(0);
      // The code was exchanged at the token endpoint, and the API was then called with the bearer token.
      expect(sim.requests.some((r) => r.method === 'POST' && r.path === '/v4/oauth/token')).toBe(true);
      const listed = sim.requests.find((r) => r.path === '/v4/webhooks')!;
      expect(listed.headers.authorization).toBeDefined();
      expect(listed.headers['x-kit-api-key']).toBeUndefined();
      const wrongKey = await kitrelay(['--config', file, '--db', db, 'kit', 'inventory'], { KITRELAY_ENCRYPTION_KEY: 'another-long-enough-passphrase' });
      expect(wrongKey.code).toBe(1);
    } finally {
      await webhooks.close();
      await sim.close();
    }
  });
});
