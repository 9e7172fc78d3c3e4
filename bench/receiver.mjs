// A minimal, unthrottled webhook receiver for the delivery benchmarks: every POST gets 200 `{}` as
// soon as its body has been read. It counts requests and distinct Idempotency-Key headers (a
// redelivered job shows up as total > unique). Run as its own process:
//   node bench/receiver.mjs [port]   (prints `receiver listening on http://127.0.0.1:PORT`)
// GET /__stats answers `{ count, unique, bytes }`; nothing else is special.
import { createServer } from 'node:http';

let count = 0;
let bytes = 0;
const keys = new Set();

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ count, unique: keys.size, bytes }));
    return;
  }
  let n = 0;
  req.on('data', (chunk) => {
    n += chunk.length;
  });
  req.on('end', () => {
    count += 1;
    bytes += n;
    const key = req.headers['idempotency-key'];
    if (typeof key === 'string') keys.add(key);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
    res.end('{}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`receiver listening on http://127.0.0.1:${server.address().port}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
