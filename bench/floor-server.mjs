// Durable floors: the least a service can do that meets the issue's durability rule, to tell what
// the rule costs on this machine from what kitrelay's own work costs. node:http reads the body; a
// worker thread commits the bodies it finds waiting in one transaction (group commit, WAL,
// synchronous=FULL), and the 200s go out after that commit. Bodies are handed to the worker at the
// end of each event-loop turn and, with `--early-flush N`, as soon as N have gathered (what
// kitrelay's store client does with 8; the store modes default to that, `one` to 0 = off, which
// measured faster for it). Modes:
//
//   --rows one             each body is one row of a table with no index: the durability rule
//                          alone.
//   --rows store           each body goes through kitrelay's own store (SqliteCore.commitDelivery:
//                          the code, pragmas and schema the service runs — delivery, event, dedupe
//                          window, job and subscriber-mirror rows with their indexes), its input
//                          built straight from the body's subscriber id with no parsing,
//                          validation or routing: kitrelay's writes with a free main thread.
//   --rows store-no-mirror the same without the mirror rows: only what the core relay's issue
//                          asks to commit per event (delivery, event, dedupe key, job).
//
// Every mode needs the build (dist/): SQLite is opened as the service opens it.
// Usage: node bench/floor-server.mjs <data dir> [--rows one|store|store-no-mirror] [--early-flush N] [--port N]
//        (prints `floor listening on http://127.0.0.1:PORT`)
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

if (isMainThread) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rows: { type: 'string', default: 'one' }, 'early-flush': { type: 'string' }, port: { type: 'string', default: '0' } },
  });
  const earlyFlush = Number(values['early-flush'] ?? (values.rows === 'one' ? 0 : 8));
  if (!Number.isInteger(earlyFlush) || earlyFlush < 0) throw new Error(`--early-flush must be a whole number, not ${values['early-flush']}`);
  if (!['one', 'store', 'store-no-mirror'].includes(values.rows)) throw new Error(`--rows must be one, store or store-no-mirror, not ${values.rows}`);
  if (positionals[0] === undefined) throw new Error('usage: node bench/floor-server.mjs <data dir> [--rows one|store|store-no-mirror] [--port N]');
  const worker = new Worker(new URL(import.meta.url), { workerData: { file: path.join(positionals[0], 'floor.db'), rows: values.rows } });
  /** Batches posted and not answered yet, oldest first; each is the responses to send. */
  const inFlight = [];
  let queue = [];
  let scheduled = false;
  worker.on('message', () => {
    for (const res of inFlight.shift()) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
      res.end('{}');
    }
  });
  worker.on('error', (error) => {
    process.stderr.write(`floor writer failed: ${error.stack}\n`);
    process.exit(1);
  });
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    inFlight.push(queue.map((item) => item.res));
    worker.postMessage(queue.map((item) => item.body));
    queue = [];
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      queue.push({ body: Buffer.concat(chunks).toString('utf8'), res });
      if (earlyFlush > 0 && queue.length >= earlyFlush) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`floor listening on http://127.0.0.1:${server.address().port}\n`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void worker.terminate().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  const commit = workerData.rows === 'one' ? await oneRow(workerData.file) : await storeRows(workerData.file, { withMirror: workerData.rows === 'store' });
  parentPort.on('message', (first) => {
    // Like kitrelay's writer: every batch waiting in the port joins this transaction.
    const batches = [first];
    for (let next = receiveMessageOnPort(parentPort); next !== undefined; next = receiveMessageOnPort(parentPort)) batches.push(next.message);
    commit(batches);
    for (let i = 0; i < batches.length; i++) parentPort.postMessage(i);
  });
}

async function oneRow(file) {
  // better-sqlite3 as the service loads it (the build this Node.js runs safely).
  const { Sqlite } = await import(new URL('../dist/store/sqlite/driver.js', import.meta.url).href);
  const db = new Sqlite(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO bodies (received_at, body) VALUES (?, ?)');
  const commitAll = db.transaction((batches) => {
    const now = Date.now();
    for (const bodies of batches) for (const body of bodies) insert.run(now, body);
  });
  return (batches) => commitAll.immediate(batches);
}

/** kitrelay's store (its writer's code, pragmas, schema and group commit), fed ready-made inputs. */
async function storeRows(file, { withMirror }) {
  const { SqliteCore } = await import(new URL('../dist/store/sqlite/core.js', import.meta.url).href);
  const core = SqliteCore.open({ path: file, busyTimeoutMs: 5000 });
  const route = 'tag_add-4242';
  const scope = { param: 'tag_id', value: '4242' };
  // What ingest makes of the benchmark's legacy subscriber.tag_add body (src/ingest/commit.ts).
  const input = (body, now) => {
    const id = /"id":(\d+)/.exec(body)?.[1];
    if (id === undefined) throw new Error(`no subscriber id in ${body}`);
    const email = `bench-${id}@example.com`;
    const subscriberKey = `id:${id}`;
    return {
      delivery: { system: 'legacy', route, receivedAt: now, bodyBytes: Buffer.byteLength(body) },
      events: [
        {
          source: 'legacy',
          type: 'subscriber.tag_added',
          kitType: 'subscriber.tag_add',
          payloadJson: body,
          scope,
          subscriberId: id,
          email,
          subscriberKey,
          dedupe: { key: `legacy:${createHash('sha256').update(`${route}\n${body}`).digest('hex')}`, expiresAt: now + 30_000, subscriberKey, type: 'subscriber.tag_added', scope: 'tag_id:4242' },
          clearsDedupeTypes: ['subscriber.tag_removed'],
          jobs: [{ rule: 'bench-tag-add', destination: 'sink', action: 'send', params: {}, maxAttempts: 8 }],
          decisions: [],
          mirror: withMirror
            ? [
                { kind: 'subscriber', subscriber: { kitId: Number(id), email, firstName: 'Ada', state: 'active', fields: { last_name: 'Doe' }, createdAt: 1518723624913 } },
                { kind: 'tag_added', kitId: Number(id), email, tag: { id: 4242 } },
              ]
            : [],
        },
      ],
      quarantine: [],
    };
  };
  return (batches) => {
    const now = Date.now();
    const results = core.executeBatch(batches.flat().map((body) => ({ op: 'commitDelivery', args: [input(body, now)] })));
    const failed = results.find((result) => !result.ok);
    if (failed) throw new Error(`commitDelivery failed: ${failed.error.message}`);
    if (results.length > 0) core.checkpointIfDue(now);
  };
}
