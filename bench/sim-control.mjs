// The control server a benchmark's simulator child answers on (its own loopback port): GET /<route>
// → the route's JSON. Prints `<name> {"apiUrl":…,"control":…}` once listening; SIGTERM or SIGINT
// closes both servers and exits.
import http from 'node:http';

/** @param routes `{ '/count': () => body, '/dump': () => body }` */
export function serveControl(name, sim, routes) {
  const control = http.createServer((req, res) => {
    const route = Object.hasOwn(routes, req.url ?? '') ? routes[req.url] : undefined;
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route()));
  });
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${name} ${JSON.stringify({ apiUrl: sim.apiUrl, control: `http://127.0.0.1:${control.address().port}` })}\n`);
  });
  const stop = async () => {
    control.close();
    control.closeAllConnections();
    await sim.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
