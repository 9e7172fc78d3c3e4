/**
 * Airtable's webhook pings, the `webhook` source (reference/destinations.md §3.6), at
 * `/hooks/in/<destination>/webhook/<token>`: the notification URL `kitrelay airtable webhooks
 * sync` registers for every two-way sync of the destination.
 *
 * A ping says only that a webhook has new payloads: `{"base":{"id"},"webhook":{"id"},"timestamp"}`.
 * It is authenticated twice: by the URL token, like every source, and by `X-Airtable-Content-MAC:
 * hmac-sha256=<hex>`, the HMAC-SHA256 of the exact body bytes keyed by the **base64-decoded**
 * `macSecretBase64` of one of the destination's webhooks (kept in the store's settings: given at
 * creation, never again). The MAC is checked against each of the destination's webhook secrets,
 * so no byte of an unauthenticated body is parsed. Airtable documents no timestamp or replay
 * header; a replayed ping only makes kitrelay read payloads it has read (the cursor is durable).
 *
 * Each ping is one event `webhook_ping` (id `<webhook>:<timestamp>`: a re-sent ping is a duplicate)
 * with one `fetch_changes` job (fetch-changes.ts), committed before the empty 200 Airtable expects.
 * The job reads the payloads; nothing slow happens here.
 */
import { createHmac } from 'node:crypto';
import { secretsMatch } from '../../lib/compare.js';
import { isRecord } from '../../lib/json.js';
import type { SourceAuth, SourceDefinition, SourceParse } from '../types.js';
import type { AirtableDestinationConfig } from './schema.js';
import { loadWebhook } from './webhook-state.js';

export const WEBHOOK_SOURCE = 'webhook';
export const PING_EVENT = 'webhook_ping';
export const FETCH_CHANGES_ACTION = 'fetch_changes';
export const MAC_HEADER = 'x-airtable-content-mac';

/** `hmac-sha256=<hex>` over `body`, keyed by the decoded secret: the header Airtable sends. */
export function airtableMac(macSecretBase64: string, body: Buffer | string): string {
  return `hmac-sha256=${createHmac('sha256', Buffer.from(macSecretBase64, 'base64')).update(body).digest('hex')}`;
}

/** Whether `header` is the MAC of `body` under one of `secrets` (each compared in constant time). */
export function verifyAirtableMac(secrets: readonly string[], body: Buffer, header: string | undefined): 'ok' | 'missing' | 'mismatch' {
  const given = header?.trim();
  if (!given) return 'missing';
  // Hex is case-insensitive; the scheme name is compared as sent.
  const normal = given.replace(/=([0-9a-fA-F]+)$/, (_match, hex: string) => `=${hex.toLowerCase()}`);
  let isMatch = false;
  // Every secret is tried (no early exit), so timing says nothing about which one matched.
  for (const secret of secrets) isMatch = secretsMatch(airtableMac(secret, body), normal) || isMatch;
  return isMatch ? 'ok' : 'mismatch';
}

const EMPTY_OK = { status: 200, body: '' } as const;

export const webhookSource: SourceDefinition<AirtableDestinationConfig> = {
  name: WEBHOOK_SOURCE,
  description: "Airtable's webhook pings (records of a two-way sync's table changed), MAC-signed: `kitrelay airtable webhooks sync` registers the URL",
  isEnabled: (destination) => Object.values(destination.syncs).some((sync) => sync.inbound.mode === 'webhook'),
  async authenticate(request, ctx): Promise<SourceAuth> {
    if (!secretsMatch(ctx.urlToken, request.subpath.replace(/^\//, ''))) {
      return { ok: false, status: 401, code: 'bad_token', reason: 'Wrong or missing URL token: use the URL `kitrelay airtable webhooks sync` registers.' };
    }
    const header = request.headers[MAC_HEADER];
    if (!header) return { ok: false, status: 401, code: 'missing_signature', reason: 'Missing X-Airtable-Content-MAC.' };
    const { getSetting } = ctx;
    if (!getSetting) return { ok: false, status: 401, code: 'bad_signature', reason: 'Cannot verify X-Airtable-Content-MAC here: no store to read the webhook secrets from.' };
    const secrets: string[] = [];
    for (const syncName of Object.keys(ctx.destination.syncs)) {
      const state = await loadWebhook({ getSetting }, ctx.destinationName, syncName);
      if (state) secrets.push(state.macSecretBase64);
    }
    if (secrets.length === 0) return { ok: false, status: 401, code: 'bad_signature', reason: 'This destination has no webhook: make one with `kitrelay airtable webhooks sync`.' };
    if (verifyAirtableMac(secrets, request.body, header) === 'ok') return { ok: true };
    return { ok: false, status: 401, code: 'bad_signature', reason: "X-Airtable-Content-MAC does not match any of this destination's webhooks (one made again has a new secret)." };
  },
  parse: (request) => parsePing(request.body),
};

/** A ping as one event with its `fetch_changes` job; anything else is quarantined. */
export function parsePing(body: Buffer): SourceParse {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { kind: 'malformed', reason: 'invalid_json', detail: error instanceof Error ? error.message : String(error) };
  }
  const baseId = isRecord(json) && isRecord(json.base) ? json.base.id : undefined;
  const webhookId = isRecord(json) && isRecord(json.webhook) ? json.webhook.id : undefined;
  const timestamp = isRecord(json) ? json.timestamp : undefined;
  const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  if (typeof baseId !== 'string' || baseId === '' || typeof webhookId !== 'string' || webhookId === '' || typeof timestamp !== 'string' || !Number.isFinite(at)) {
    return { kind: 'malformed', reason: 'invalid_payload', detail: 'not a ping: {"base":{"id"},"webhook":{"id"},"timestamp"} expected' };
  }
  return {
    kind: 'events',
    events: [
      {
        type: PING_EVENT,
        id: `${webhookId}:${timestamp}`,
        occurredAt: at,
        // One webhook's reads run one at a time, in order: each goes on from the last one's cursor.
        orderKey: `airtable-webhook:${webhookId}`,
        payload: { base: { id: baseId }, webhook: { id: webhookId }, timestamp },
        jobs: [{ action: FETCH_CHANGES_ACTION, params: { webhookId }, subKey: baseId }],
      },
    ],
    quarantine: [],
    respond: EMPTY_OK,
  };
}
