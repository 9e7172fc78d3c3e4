/**
 * Ingest on PostgreSQL, what several instances sharing the database add to the store contract
 * (store.test.ts): one dedupe verdict, one ledger spend and one digest close across concurrent
 * writers, an event stream read in commit order, and back-pressure when PostgreSQL cannot be
 * reached. Each instance is a whole store on a pool of its own, on a fresh schema per test.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECOND, T0, asAccepted, commit, eventInput, plannedJob } from '../fixtures.contract.js';
import { StoreUnavailableError, type Store } from '../types.js';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from './harness.js';
import { openPool } from './pool.js';
import { openPostgresStore, type PostgresStore } from './store.js';

describe('postgres ingest: several instances on one database', () => {
  let schema: TestSchema | undefined;
  let store: PostgresStore | undefined;
  const open = (): Promise<PostgresStore> => openPostgresStore({ url: schema!.url, schema: schema!.schema, max: 4 });

  beforeEach(async () => {
    schema = await createTestSchema();
    store = await open();
  });

  afterEach(async () => {
    await store?.close();
    await schema?.drop();
    store = undefined;
    schema = undefined;
  });

  /** `n` stores on pools of their own, as n processes; closed after `work`. */
  async function withPeers<T>(n: number, work: (peers: Store[]) => Promise<T>): Promise<T> {
    const peers = await Promise.all(Array.from({ length: n }, open));
    try {
      return await work(peers);
    } finally {
      await Promise.all(peers.map((peer) => peer.close()));
    }
  }

  it('accepts an event re-sent to several instances at once exactly once', async () => {
    const dedupe = { key: 'kit:evt-race', expiresAt: T0 + 3600 * SECOND };
    const results = await withPeers(3, (peers) =>
      Promise.all(peers.flatMap((peer) => [1, 2, 3].map(() => commit(peer, [eventInput({ subscriberId: '5', dedupe, jobs: [plannedJob()] })], T0)))),
    );
    const outcomes = results.map((result) => result.events[0]!);
    const accepted = outcomes.filter((outcome) => outcome.status === 'accepted');
    expect(accepted).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.status === 'duplicate').map((o) => o.status === 'duplicate' && o.duplicateOf)).toEqual(
      Array.from({ length: 8 }, () => accepted[0]!.eventId),
    );
    expect(await store!.listJobs({})).toHaveLength(1);
  });

  it('commits fields holding U+0000, which PostgreSQL text cannot store, as U+FFFD, keeping the raw body as sent', async () => {
    const body = '{"subscriber":{"id":5,"email_address":"a\\u0000b@example.com"}}';
    const event = eventInput({ subscriberId: '5', email: 'a\u0000b@example.com', payload: JSON.parse(body), payloadJson: body, jobs: [plannedJob()] });
    const { eventId } = asAccepted((await commit(store!, [event], T0)).events[0]);
    const [stored] = await store!.listEvents({});
    expect(stored).toMatchObject({ id: eventId, email: 'a\ufffdb@example.com', payload: { subscriber: { email_address: 'a\u0000b@example.com' } } });
    expect(await store!.listJobs({})).toHaveLength(1);
  });

  it('spends a ledger key once when several instances commit it at the same time', async () => {
    const job = plannedJob({ rule: 'welcome-video', destination: 'bonjoro', action: 'video', ledgerKey: 'welcome:id:8' });
    const results = await withPeers(3, (peers) => Promise.all(peers.map((peer) => commit(peer, [eventInput({ subscriberId: '8', jobs: [job] })], T0))));
    expect(results.map((result) => asAccepted(result.events[0]).jobIds.length).sort()).toEqual([0, 0, 1]);
    expect(await store!.listJobs({ destination: 'bonjoro' })).toHaveLength(1);
  });

  it('closes a digest window once when several instances close at the same time', async () => {
    const digest = { key: 'vip#0', windowStart: T0, windowEnd: T0 + 60 * SECOND };
    await commit(store!, [eventInput({ jobs: [plannedJob({ digest })] }), eventInput({ jobs: [plannedJob({ digest })] })], T0 + SECOND);
    const closed = await withPeers(3, (peers) => Promise.all(peers.map((peer) => peer.closeDigests({ now: T0 + 60 * SECOND, limit: 10 }))));
    expect(closed.flat()).toHaveLength(1);
    expect(await store!.listEvents({ type: 'kitrelay:digest' })).toHaveLength(1);
  });

  it('lets a follower of the event stream miss no event while several instances commit', async () => {
    const seen: number[] = [];
    let isWriting = true;
    const follow = async (): Promise<void> => {
      let afterId = 0;
      for (;;) {
        const wasWriting = isWriting;
        const heads = await store!.listEventHeads({ afterId, limit: 1000 });
        for (const head of heads) seen.push(head.id);
        afterId = heads.at(-1)?.id ?? afterId;
        if (!wasWriting && heads.length === 0) return;
      }
    };
    const following = follow();
    const committed = await withPeers(4, (peers) =>
      Promise.all(peers.map(async (peer) => {
        const ids: number[] = [];
        for (let i = 0; i < 25; i++) {
          const result = await commit(peer, [eventInput(), eventInput()], T0 + i);
          ids.push(...result.events.map((event) => event.eventId));
        }
        return ids;
      })),
    ).finally(() => {
      isWriting = false;
    });
    await following;
    expect(seen).toEqual(committed.flat().sort((a, b) => a - b));
  });
});

/**
 * A TCP relay on loopback to the test database: a store connects through it, and `cut` stops it
 * and ends every connection, as a database that goes away under a running store. `cut` resolves
 * once the store's side has closed each connection too, so its pool has seen them end (a
 * connection lost while checked out is another matter, which this does not test).
 */
async function openRelay(): Promise<{ readonly url: string; cut(): Promise<void> }> {
  const target = new URL(TEST_DATABASE_URL);
  const links = new Set<{ readonly inbound: Socket; readonly outbound: Socket; readonly closed: Promise<void> }>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [inbound, outbound]) socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => inbound.once('close', () => resolve()));
    links.add({ inbound, outbound, closed });
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    async cut() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const { inbound, outbound } of links) {
        outbound.destroy();
        inbound.end();
      }
      await Promise.all([stopped, ...[...links].map((link) => link.closed)]);
    },
  };
}

describe('postgres ingest back-pressure', () => {
  it('fails a commit with StoreUnavailableError when PostgreSQL cannot be reached, so ingest answers 503', async () => {
    const schema = await createTestSchema();
    const relay = await openRelay();
    const store = await openPostgresStore({ url: relay.url, schema: schema.schema, max: 1 });
    try {
      await commit(store, [eventInput()], T0);
      await relay.cut();
      const failed = commit(store, [eventInput()], T0 + SECOND);
      await expect(failed).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(failed).rejects.toMatchObject({ statusCode: 503, code: 'store_unavailable' });
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await store.close();
      await schema.drop();
    }
  });

  it('fails to open with StoreUnavailableError when PostgreSQL cannot be reached at start-up', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const opening = openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', max: 1 });
    await expect(opening).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(opening).rejects.toMatchObject({ statusCode: 503, code: 'store_unavailable' });
  });
});

describe('postgres ingest: group commit', () => {
  it('commits deliveries that wait together in one transaction, and a faulty one fails alone', async () => {
    // Another connection holds the ingest lock, so every delivery below queues behind the first.
    const schema = await createTestSchema();
    const holder = openPool({ url: schema.url, schema: schema.schema, max: 1 });
    const store = await openPostgresStore({ url: schema.url, schema: schema.schema, max: 2 });
    try {
      const client = await holder.connect();
      await client.query('SELECT pg_advisory_lock(7242013, hashtext(current_schema()))');
      const commits = Array.from({ length: 6 }, (_, i) =>
        // The fourth has an occurrence time no bigint column takes: its statement fails.
        commit(store, [eventInput({ subscriberId: String(i + 1), jobs: [plannedJob()], ...(i === 3 ? { occurredAt: Number.MAX_VALUE } : {}) })], T0 + i).then(
          (result) => asAccepted(result.events[0]).eventId,
          (error: unknown) => error,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await client.query('SELECT pg_advisory_unlock(7242013, hashtext(current_schema()))');
      client.release();
      const outcomes = await Promise.all(commits);
      expect(outcomes[3]).toBeInstanceOf(Error);
      expect(outcomes[3]).not.toBeInstanceOf(StoreUnavailableError);
      const ids = outcomes.filter((outcome): outcome is number => typeof outcome === 'number');
      expect(ids).toHaveLength(5);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids); // in the order they were called
      expect((await store.listEvents({})).map((event) => event.subscriberId).sort()).toEqual(['1', '2', '3', '5', '6']);
      expect(await store.listJobs({})).toHaveLength(5);
    } finally {
      await store.close();
      await holder.end();
      await schema.drop();
    }
  });

  it('refuses a commit at once with StoreUnavailableError once maxWriteBacklog deliveries wait, and commits those it took', async () => {
    const schema = await createTestSchema();
    const holder = openPool({ url: schema.url, schema: schema.schema, max: 1 });
    const store = await openPostgresStore({ url: schema.url, schema: schema.schema, max: 2, maxWriteBacklog: 2 });
    try {
      const client = await holder.connect();
      await client.query('SELECT pg_advisory_lock(7242013, hashtext(current_schema()))');
      // The first is in flight (waiting for the lock); two more wait; the rest are refused.
      const commits = Array.from({ length: 5 }, (_, i) =>
        commit(store, [eventInput({ subscriberId: String(i + 1) })], T0 + i).then(
          () => 'committed',
          (error: unknown) => error,
        ),
      );
      const refused = await Promise.all(commits.slice(3));
      for (const error of refused) expect(error).toMatchObject({ name: 'StoreUnavailableError', statusCode: 503, retryAfterSeconds: 1, message: expect.stringContaining('write backlog is full') });
      await client.query('SELECT pg_advisory_unlock(7242013, hashtext(current_schema()))');
      client.release();
      expect(await Promise.all(commits.slice(0, 3))).toEqual(['committed', 'committed', 'committed']);
      expect(await store.listEvents({})).toHaveLength(3);
      // The two that waited were committed together: their rows carry one transaction id.
      const { rows } = await holder.query<{ transactions: number }>('SELECT count(DISTINCT xmin::text)::int AS transactions FROM events');
      expect(rows[0]?.transactions).toBe(2);
    } finally {
      await store.close();
      await holder.end();
      await schema.drop();
    }
  });
});
