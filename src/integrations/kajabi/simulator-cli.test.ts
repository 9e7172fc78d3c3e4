/** `kitrelay simulator kajabi` as a user runs it: a real process, one JSON line, a working API, a clean exit. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

describe('kitrelay simulator kajabi', () => {
  it('prints its url and client credentials on one line, issues tokens, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), 'simulator', 'kajabi', '--seed', '3'], { cwd: ROOT, env: process.env });
    try {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited (${code}) before printing`)));
      });
      const info = JSON.parse(first) as { name: string; url: string; tokenUrl: string; clientId: string; clientSecret: string; offerIds: string[] };
      expect(info).toMatchObject({ name: 'kajabi', clientId: 'kajabi-sim-client', offerIds: expect.any(Array) });
      const issued = await fetch(info.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret }) });
      const { access_token: token } = (await issued.json()) as { access_token: string };
      const offers = await fetch(`${info.url}/v1/offers`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await offers.json()) as { data: Array<{ id: string }> }).data.map((o) => o.id)).toEqual(info.offerIds);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
