/**
 * The HTTP edge: inbound webhook routes, `/healthz` and `/metrics`. Bodies are read as raw bytes
 * (signatures are computed over them, quarantine keeps them) and parsed by kit/normalize.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { SecretResolver, SourceResponse } from '../integrations/index.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import type { Store } from '../store/types.js';
import type { CompiledRule } from '../rules/route.js';
import { createGate, LEGACY_ROUTE_PATTERN, SIGNED_ROUTE_PATTERN, unknownPathMessage } from './gate.js';
import { ingestLegacy, ingestSigned, LEGACY_MESSAGES } from './handlers.js';
import { toHttp, type IngestOutcome, type RejectReason } from './outcome.js';
import type { RouteTable } from './routes.js';
import { createEndpointSecrets } from './secrets.js';
import { ingestSource, SOURCE_ROUTE_PATTERN, SOURCE_ROUTE_WITH_REST_PATTERN } from './sources.js';

export interface IngestServerDeps {
  readonly config: Config;
  readonly routes: RouteTable;
  readonly rules: readonly CompiledRule[];
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly secrets: SecretResolver;
  /** Called after a commit that made jobs (the worker wakes up). */
  readonly onJobs?: () => void;
  /**
   * False on an instance without the `ingest` role (`server.roles`): every request but /healthz and
   * /metrics is answered 503 with Retry-After, so a webhook sent here by mistake is retried by its
   * sender (Kit retries a 5xx), never acknowledged nor lost. @default true
   */
  readonly isIngest?: boolean;
  /** The store's write-ahead log size, for `/metrics` (SQLite). */
  readonly walBytes?: () => number;
}

export function createIngestServer(deps: IngestServerDeps): FastifyInstance {
  const { config, routes, store, clock, log, metrics } = deps;
  const commitDeps = { store, config, rules: deps.rules };
  const sourceDeps = { store, config, rules: deps.rules, secrets: deps.secrets };
  const endpointSecrets = createEndpointSecrets({ store, secrets: deps.secrets, now: () => clock.now() });
  const { server } = config;
  const app = Fastify({
    logger: false,
    bodyLimit: server.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A slow client cannot hold a connection open: headers, then the whole request, must arrive in
    // time (Node answers 408 and closes), and an idle keep-alive connection is closed.
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    http: {
      headersTimeout: server.headersTimeoutMs,
      requestTimeout: server.requestTimeoutMs,
      // How often Node looks for requests past their timeouts (its default, 30 s, would let a
      // trickled body run that much longer).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(server.headersTimeoutMs / 4))),
    },
  });
  app.server.maxConnections = server.maxConnections;
  const gate = createGate(config, routes);

  // Raw bytes only: signature verification and quarantine both need the body exactly as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // Some integrations post forms (Slack's interactive payloads): kept as bytes for the source's own
  // checks. Kit's routes refuse them (isJson below).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const isJson = (request: FastifyRequest) => /^application\/json\b/i.test(request.headers['content-type'] ?? '');

  const send = (reply: FastifyReply, outcome: IngestOutcome, system: string, startedAt: number) => {
    record(outcome, system, startedAt);
    const answer = toHttp(outcome);
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };

  const record = (outcome: IngestOutcome, system: string, startedAt: number) => {
    switch (outcome.kind) {
      case 'accepted':
        metrics.events.inc({ outcome: 'accepted' }, outcome.accepted);
        metrics.events.inc({ outcome: 'duplicate' }, outcome.duplicates);
        metrics.events.inc({ outcome: 'quarantined' }, outcome.quarantined);
        metrics.ingestDuration.observe({ system }, (performance.now() - startedAt) / 1000);
        if (outcome.jobs > 0) deps.onJobs?.();
        if (outcome.quarantined > 0) log.warn({ system, deliveryId: outcome.deliveryId, quarantined: outcome.quarantined }, 'some events quarantined');
        return;
      case 'quarantined':
        metrics.events.inc({ outcome: 'quarantined' }, outcome.quarantineIds.length);
        log.warn({ system, deliveryId: outcome.deliveryId, reason: outcome.reason, detail: outcome.detail, quarantineIds: outcome.quarantineIds }, 'delivery quarantined');
        return;
      case 'rejected':
        metrics.rejected.inc({ reason: outcome.reason });
        log.info({ system, reason: outcome.reason }, 'delivery rejected');
        return;
      case 'unavailable':
        metrics.rejected.inc({ reason: 'unavailable' });
        log.error({ system, message: outcome.message }, 'delivery not stored: answering 503');
        return;
    }
  };

  const reject = (reply: FastifyReply, reason: RejectReason, message: string) =>
    send(reply, { kind: 'rejected', reason, message }, 'none', performance.now());

  if (deps.isIngest === false) {
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?', 1)[0];
      if (request.method === 'GET' && (path === '/healthz' || path === '/metrics')) return;
      const message = `This instance runs without the ingest role (server.roles: ${config.server.roles.join(', ')}): send webhooks to an instance with the ingest role.`;
      return reply.code(503).headers({ 'retry-after': '30', connection: 'close' }).send({ error: { code: 'not_ingest', message } });
    });
  }

  // Before the body is read: refuse what the URL and headers already condemn (see gate.ts).
  app.addHook('onRequest', async (request, reply) => {
    const refusal = gate.check(request, reply);
    if (!refusal) return;
    reply.header('connection', 'close');
    return reject(reply, refusal.reason, refusal.message);
  });

  app.post<{ Params: { route: string; token: string } }>(LEGACY_ROUTE_PATTERN, async (request, reply) => {
    const startedAt = performance.now();
    metrics.deliveriesReceived.inc({ system: 'legacy' });
    const route = routes.legacy.get(request.params.route);
    if (!route) return send(reply, { kind: 'rejected', reason: 'unknown_route', message: LEGACY_MESSAGES.unknownRoute(request.params.route) }, 'legacy', startedAt);
    const body = request.body;
    if (!Buffer.isBuffer(body) || !isJson(request)) return reject(reply, 'unsupported_media_type', 'Send the body as application/json.');
    const outcome = await ingestLegacy(commitDeps, route, request.params.token, { body, headers: request.headers, receivedAt: clock.now() });
    return send(reply, outcome, 'legacy', startedAt);
  });

  app.post<{ Params: { name: string } }>(SIGNED_ROUTE_PATTERN, async (request, reply) => {
    const startedAt = performance.now();
    metrics.deliveriesReceived.inc({ system: 'signed' });
    const endpoint = config.kit.signed.endpoints.find((e) => e.name === request.params.name);
    if (!endpoint) return send(reply, { kind: 'rejected', reason: 'unknown_route', message: `No signed endpoint "${request.params.name}".` }, 'signed', startedAt);
    const body = request.body;
    if (!Buffer.isBuffer(body) || !isJson(request)) return reject(reply, 'unsupported_media_type', 'Send the body as application/json.');
    const outcome = await ingestSigned(commitDeps, endpoint, endpointSecrets, { body, headers: request.headers, receivedAt: clock.now() });
    return send(reply, outcome, 'signed', startedAt);
  });

  const sourceHandler = async (request: FastifyRequest<{ Params: { destination: string; source: string; '*'?: string } }>, reply: FastifyReply) => {
    const startedAt = performance.now();
    metrics.deliveriesReceived.inc({ system: 'source' });
    const route = routes.sources.get(`${request.params.destination}/${request.params.source}`);
    if (!route) return send(reply, { kind: 'rejected', reason: 'unknown_route', message: `No inbound source "${request.params.source}" on destination "${request.params.destination}".` }, 'source', startedAt);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const rest = request.params['*'];
    const inbound = {
      method: request.method,
      subpath: rest ? `/${rest}` : '',
      headers: request.headers as Record<string, string | undefined>,
      query: request.query as Record<string, string | undefined>,
      body,
    };
    const result = await ingestSource(sourceDeps, route, inbound, clock.now());
    if (result.kind === 'answered') return answer(reply, result.respond);
    // The source's own answer replaces the JSON ack, only once the events are stored (Slack's
    // ephemeral "Looking up…" to a slash command); any other outcome is answered as usual.
    if (result.respond && result.outcome.kind === 'accepted') {
      record(result.outcome, 'source', startedAt);
      return answer(reply, result.respond);
    }
    return send(reply, result.outcome, 'source', startedAt);
  };
  const answer = (reply: FastifyReply, respond: SourceResponse) =>
    reply.code(respond.status).type(respond.contentType ?? 'text/plain; charset=utf-8').send(respond.body);
  app.post(SOURCE_ROUTE_PATTERN, sourceHandler);
  app.post(SOURCE_ROUTE_WITH_REST_PATTERN, sourceHandler);

  app.get('/healthz', async (_request, reply) => {
    try {
      await store.ping();
      return reply.send({ status: 'ok', store: store.dialect });
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', error: error instanceof Error ? error.message : String(error) });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    metrics.jobs.reset();
    for (const row of await store.countJobs()) metrics.jobs.set({ destination: row.destination, status: row.status }, row.count);
    if (deps.walBytes) metrics.storeWalBytes.set(deps.walBytes());
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.setNotFoundHandler((request, reply) => reject(reply, 'unknown_route', unknownPathMessage(request)));

  app.setErrorHandler((error: { code?: string; statusCode?: number; message: string }, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reject(reply, 'payload_too_large', `Body is larger than ${config.server.bodyLimitBytes} bytes.`);
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reject(reply, 'unsupported_media_type', 'Send the body as application/json.');
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return reject(reply, 'bad_request', error.message);
    log.error({ err: error }, 'unhandled error in request');
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
  });

  return app;
}
