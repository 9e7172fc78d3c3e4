// One graphile-worker process for the `postgres` phase (bench/postgres.mjs): graphile-worker's own
// `run()` with two tasks, `noop` (returns at once) and `http` (one POST of the job's payload to the
// local receiver, through one keep-alive undici Agent, as kitrelay's webhook destination sends).
//   node bench/postgres-gw.mjs <database url> <schema> <concurrency> <maxPoolSize> <receiver url> <localQueue size, 0: off>
// Prints `gw ready` once the runner has started. On SIGTERM it stops the runner and prints
// `gw-stats {"first":…,"last":…,"count":…}`: when its first job started, when its last one returned
// (epoch ms) and how many it ran — the same span kitrelay's attempts record.
import { Logger, run } from 'graphile-worker';
import { Agent, request } from 'undici';

const [url, schema, concurrencyArg, poolArg, receiverUrl, localQueueArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const localQueue = Number(localQueueArg ?? 0);
const target = `${receiverUrl}/sink`;
const agent = new Agent({ connections: concurrency, keepAliveTimeout: 60_000 });

let first;
let last;
let count = 0;
const timed = (task) => async (payload) => {
  const t = Date.now();
  first ??= t;
  await task(payload);
  last = Date.now();
  count += 1;
};

async function post(payload) {
  const res = await request(target, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'idempotency-key': `gw-${payload.key}` },
    body: JSON.stringify(payload),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`receiver answered ${res.statusCode}`);
}

// Warnings and errors only (graphile-worker logs every job at info).
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`gw ${level}: ${message}\n`);
});

const runner = await run({
  connectionString: url,
  schema,
  concurrency,
  maxPoolSize: Number(poolArg),
  noHandleSignals: true,
  logger,
  taskList: { noop: timed(async () => {}), http: timed(post) },
  ...(localQueue > 0 ? { preset: { worker: { localQueue: { size: localQueue } } } } : {}),
});
process.stdout.write('gw ready\n');

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  runner
    .stop()
    .catch((error) => process.stderr.write(`gw stop: ${error}\n`))
    .finally(async () => {
      await agent.close().catch(() => undefined);
      process.stdout.write(`gw-stats ${JSON.stringify({ first, last, count })}\n`);
      process.exit(0);
    });
});
