/**
 * `npx kitrelay …` in a checkout runs the checkout's own build (issue 7, defect 8): `prepare`
 * links it into node_modules/.bin, where npx looks before its cache. Offline and with installs
 * refused (`--no`), it can only pass if the link is there: without it, npx would have to install
 * the checkout into its cache, and it says it will not.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

it('runs the checkout’s own kitrelay through npx, offline, without installing anything', async () => {
  expect(readlinkSync(path.join(ROOT, 'node_modules', '.bin', 'kitrelay'))).toBe(path.join('..', '..', 'dist', 'cli', 'index.js'));
  const { stdout } = await promisify(execFile)('npx', ['--no', '--', 'kitrelay', '--version'], {
    cwd: ROOT,
    env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
    timeout: 60_000,
  });
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(stdout.trim()).toBe(version);
}, 90_000);
