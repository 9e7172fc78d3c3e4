/**
 * Slow and large unauthenticated requests (issue 7, defect 5): the gate refuses before reading a
 * body it will not take, slow clients are cut off by the server's timeouts, unauthenticated
 * uploads share a bounded budget, and valid webhooks are still answered while all of that goes on.
 * Raw sockets on loopback; every loop is bounded and every wait has a deadline.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { jsonBody, legacyFixture, signedEnvelope, signedTagAddedEvent } from '../src/kit/fixtures.js';
import { signPayload } from '../src/kit/signature.js';
import { startTestRelay, type TestRelay } from './helpers.js';

const SECRET = 'whsec_slow';
const config: ConfigInput = {
  server: { bodyLimitBytes: 1_000_000, unauthenticatedBodyBudgetBytes: 2_000_000, headersTimeoutMs: 1000, requestTimeoutMs: 1500, keepAliveTimeoutMs: 1000 },
  kit: {
    legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] },
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET')] }] },
  },
  destinations: { sink: { type: 'webhook', url: env('SINK_URL') } },
  rules: [{ id: 'everything', on: '*', actions: [{ destination: 'sink' }] }],
  queue: { pollIntervalMs: 20 },
};

let t: TestRelay | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await t?.close();
  t = undefined;
});

interface RawClient {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server has closed the connection (or it errored). */
  readonly closed: Promise<void>;
}

function open(url: string): Promise<RawClient> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => resolve({ socket, received: () => data, closed }));
    sockets.push(socket);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    const closed = new Promise<void>((done) => {
      socket.once('close', () => done());
      socket.once('error', () => done());
    });
    socket.once('error', reject);
  });
}

function headers(path: string, contentLength: number, extra: Record<string, string> = {}): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${contentLength}`, ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Waits until `check` passes, up to `ms`; returns whether it did. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

/** Sends `byte` every 200 ms, at most 40 times (8 s), until the server closes; returns whether it did. */
async function trickleUntilClosed(client: RawClient, byte: string): Promise<boolean> {
  let isClosed = false;
  void client.closed.then(() => (isClosed = true));
  for (let i = 0; i < 40 && !isClosed; i++) {
    client.socket.write(byte);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return isClosed;
}

const start = () => startTestRelay(config, { env: { KIT_SECRET: SECRET } });
const legacyPath = (relay: TestRelay) => [...relay.relay.routes.legacy.values()][0]!.path;
const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);

describe('the gate answers before reading the body', () => {
  it.each([
    ['a legacy route with a wrong token', (r: TestRelay) => legacyPath(r).replace(/\/[^/]+$/, '/wrong-token-wrong-token-wrong'), 401],
    ['an unknown legacy route', () => '/hooks/kit/legacy/nope/token', 404],
    ['an unknown signed endpoint', () => '/hooks/kit/signed/nope', 404],
    ['an unknown path', () => '/upload', 404],
  ])('refuses %s with only its headers sent, and closes the connection', async (_name, pathOf, status) => {
    t = await start();
    const client = await open(t.url);
    client.socket.write(headers(pathOf(t), 900_000)); // the 900 KB body is never sent
    expect(await within(3000, () => statusOf(client.received()) === status)).toBe(true);
    expect(client.received()).toMatch(/connection: close/i);
    await client.closed;
    expect(await t.relay.store.listEvents({})).toEqual([]);
    expect(await t.relay.store.listQuarantine({})).toEqual([]);
  });
});

describe('unauthenticated bodies share a budget', () => {
  it('answers 503 with Retry-After past the budget, before reading the body, and takes signed deliveries again once it frees', async () => {
    t = await start();
    // Two signed uploads of 900 KB that never finish hold 1.8 MB of the 2 MB budget.
    const holders = await Promise.all([open(t.url), open(t.url)]);
    for (const holder of holders) holder.socket.write(headers('/hooks/kit/signed/main', 900_000, { 'X-Kit-Signature': 't=1,v1=00' }) + '{"events":[');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await open(t.url);
    third.socket.write(headers('/hooks/kit/signed/main', 900_000, { 'X-Kit-Signature': 't=1,v1=00' }));
    expect(await within(3000, () => statusOf(third.received()) === 503)).toBe(true);
    expect(third.received()).toMatch(/retry-after: 1/i);
    // A legacy webhook is authenticated by its URL before its body: the budget does not apply.
    expect((await t.post(legacyPath(t), jsonBody(legacyFixture('subscriber.tag_add', { id: 1 }).body))).status).toBe(200);

    for (const holder of holders) holder.socket.destroy();
    await Promise.all(holders.map((holder) => holder.closed));
    const body = jsonBody(signedEnvelope([signedTagAddedEvent({ id: 2 })]));
    const signature = signPayload({ secrets: [SECRET], body, timestamp: Math.floor(Date.now() / 1000) });
    const response = await t.post('/hooks/kit/signed/main', body, { 'x-kit-signature': signature });
    expect(response.status).toBe(200);
    expect(await t.relay.store.listQuarantine({})).toEqual([]);
  });
});

describe('slow clients are cut off', () => {
  it('closes a connection whose body trickles in at one byte per 200 ms (requestTimeoutMs)', async () => {
    t = await start();
    const client = await open(t.url);
    client.socket.write(headers(legacyPath(t), 200));
    const startedAt = Date.now();
    expect(await trickleUntilClosed(client, '{')).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(6000);
    expect(await t.relay.store.listEvents({})).toEqual([]);
  });

  it('closes a connection whose headers never finish (headersTimeoutMs)', async () => {
    t = await start();
    const client = await open(t.url);
    client.socket.write('POST /hooks/kit/signed/main HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    expect(await trickleUntilClosed(client, 'X')).toBe(true);
  });
});

describe('a flood of unauthenticated uploads', () => {
  it('leaves valid webhooks answered and delivered while it runs', async () => {
    t = await start();
    const relay = t;
    const flood: Promise<void>[] = [];
    // 60 trickling signed uploads (most past the budget: 503 at once), 120 bad-token uploads of 900 KB.
    for (let i = 0; i < 60; i++) {
      flood.push(
        open(relay.url).then(async (client) => {
          client.socket.write(headers('/hooks/kit/signed/main', 900_000, { 'X-Kit-Signature': 't=1,v1=00' }));
          for (let n = 0; n < 10 && !client.socket.destroyed; n++) {
            client.socket.write('x'.repeat(1000));
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          client.socket.destroy();
        }),
      );
    }
    const badPath = legacyPath(relay).replace(/\/[^/]+$/, '/wrong-token-wrong-token-wrong');
    for (let i = 0; i < 120; i++) {
      flood.push(
        fetch(`${relay.url}${badPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(900_000, 0x20) }).then(
          (response) => void response.body?.cancel(),
          () => undefined, // the relay may close the connection before the upload ends
        ),
      );
    }
    const statuses: number[] = [];
    for (let id = 1; id <= 20; id++) {
      const response = await relay.post(legacyPath(relay), jsonBody(legacyFixture('subscriber.tag_add', { id, email: `f${id}@example.com` }).body));
      statuses.push(response.status);
    }
    await Promise.all(flood);
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    await relay.receiver.waitFor(20, 15_000);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    expect(await relay.relay.store.listEvents({ limit: 100 })).toHaveLength(20);
  }, 60_000);
});
