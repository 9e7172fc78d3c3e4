// The baseline: a bare node:http server that reads the request body and answers 200 `{}`. No
// parsing, no storage: the most any Node HTTP service can do per core on this machine.
// Usage: node bench/bare-server.mjs [port]   (prints `bare listening on http://127.0.0.1:PORT`)
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let _bytes = 0;
  req.on('data', (chunk) => {
    _bytes += chunk.length;
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
    res.end('{}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`bare listening on http://127.0.0.1:${server.address().port}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
