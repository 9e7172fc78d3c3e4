/**
 * `kitrelay simulator <name>` as a user runs it: a real process printing one JSON line, a real
 * simulator on loopback answering, a clean exit on SIGTERM.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startAirtableSimulator } from '../src/integrations/airtable/simulator.js';
import { startMetaSimulator } from '../src/integrations/meta/simulator.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts')];

const children = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** Starts `kitrelay simulator …` and resolves with its first stdout line, parsed. */
async function startSimulator(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; info: Record<string, any>; exited: Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  const child = spawn(process.execPath, [...CLI, 'simulator', ...args], { cwd: ROOT, env: process.env });
  children.add(child);
  let stderr = '';
  let rest = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout: rest, stderr })));
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`kitrelay simulator exited (${code}) before printing: ${stderr}`)));
  });
  lines.on('line', (line) => (rest += `${line}\n`));
  return { child, info: JSON.parse(first) as Record<string, any>, exited };
}

describe('kitrelay simulator', () => {
  it('runs the Bonjoro simulator: one JSON line with its url and token, a working API, a clean exit on SIGTERM', async () => {
    const { child, info, exited } = await startSimulator(['bonjoro', '--seed', '3']);
    expect(info).toMatchObject({ name: 'bonjoro', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), token: 'bonjoro-sim-token' });
    expect(info.campaigns[0]).toMatchObject({ id: 1, uuid: expect.any(String) });
    const state = (await (await fetch(`${info.url}/_sim/state`)).json()) as { users: Array<{ id: string }> };
    expect(state.users.map((u) => u.id)).toEqual((info.users as Array<{ id: string }>).map((u) => u.id));
    const users = await fetch(`${info.url}/api/v2/users`, { headers: { authorization: `Bearer ${info.token}` } });
    expect(users.status).toBe(200);
    expect((await fetch(`${info.url}/api/v2/users`)).status).toBe(401);
    child.kill('SIGTERM');
    expect(await exited).toMatchObject({ code: 0, stdout: '' });
  }, 60_000);

  it('runs the Kit simulator and the webhook receiver by name, on the port asked for', async () => {
    const kit = await startSimulator(['kit', '--port', '0']);
    expect(kit.info).toMatchObject({ name: 'kit', apiKeys: ['kit_sim_key'] });
    const account = await fetch(`${kit.info.url}/v4/account`, { headers: { 'x-kit-api-key': kit.info.apiKeys[0] } });
    expect(account.status).toBe(200);
    expect(((await (await fetch(`${kit.info.url}/_sim/state`)).json()) as { subscribers: { count: number } }).subscribers.count).toBe(200);
    const webhook = await startSimulator(['webhook']);
    expect(webhook.info.name).toBe('webhook');
    expect((await fetch(`${webhook.info.url}/hook`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    expect(((await (await fetch(`${webhook.info.url}/_sim/requests`)).json()) as unknown[]).length).toBe(1);
    kit.child.kill('SIGINT');
    webhook.child.kill('SIGTERM');
    expect((await kit.exited).code).toBe(0);
    expect((await webhook.exited).code).toBe(0);
  }, 60_000);

  it('runs the Meta simulator: its url, token and ad account on one line, the Graph API answering under any version', async () => {
    const { child, info, exited } = await startSimulator(['meta', '--seed', '3']);
    const same = await startMetaSimulator({ seed: 3 });
    await same.close();
    expect(info).toMatchObject({ name: 'meta', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), accessToken: same.accessToken, adAccountId: same.adAccountId, audienceId: same.audienceId, apiVersion: 'v25.0' });
    expect(info.graphUrl).toBe(`${info.url}/v25.0`);
    const hash = 'b'.repeat(64);
    const added = await fetch(`${info.url}/v24.0/${info.audienceId}/users?access_token=${info.accessToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload: { schema: 'EMAIL_SHA256', data: [hash] } }) });
    expect(await added.json()).toMatchObject({ audience_id: info.audienceId, num_received: 1, num_invalid_entries: 0 });
    const state = (await (await fetch(`${info.url}/_sim/state`)).json()) as { audiences: Array<{ members: Array<{ identity: string }> }> };
    expect(state.audiences[0]!.members.map((m) => m.identity)).toEqual([`EMAIL:${hash}`]);
    child.kill('SIGTERM');
    expect(await exited).toMatchObject({ code: 0, stdout: '' });
  }, 60_000);

  it('runs the Airtable simulator: its url, token, base and table on one line, the records API answering that token', async () => {
    const { child, info, exited } = await startSimulator(['airtable', '--seed', '3']);
    const same = await startAirtableSimulator({ seed: 3 });
    await same.close();
    expect(info).toEqual({ name: 'airtable', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), ...same.credentials });
    const headers = { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' };
    const created = await fetch(`${info.url}/v0/${info.baseId}/${info.tableId}`, { method: 'POST', headers, body: JSON.stringify({ fields: { Email: 'ada@example.com' } }) });
    expect(created.status).toBe(200);
    const listed = (await (await fetch(`${info.url}/v0/${info.baseId}/${encodeURIComponent(info.tableName)}`, { headers })).json()) as { records: Array<{ fields: Record<string, unknown> }> };
    expect(listed.records.map((r) => r.fields.Email)).toEqual(['ada@example.com']);
    child.kill('SIGTERM');
    expect(await exited).toMatchObject({ code: 0, stdout: '' });
  }, 60_000);

  it('refuses an unknown simulator with exit code 2, naming the known ones', async () => {
    const error = (await promisify(execFile)(process.execPath, [...CLI, 'simulator', 'nope'], { cwd: ROOT }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toContain('No simulator "nope". Known simulators: kit, webhook, bonjoro');
  }, 60_000);
});
