/**
 * A starting point for your own config: copy it to ./kitrelay.config.ts and edit.
 * `npx kitrelay config check` validates it; `npx kitrelay routes` prints the URLs to give Kit.
 * Secrets come from the environment (`env('NAME')`), never from this file.
 */
import { defineConfig, env } from 'kitrelay';

export default defineConfig({
  server: { port: 8787, publicBaseUrl: 'https://relay.example.com' },
  kit: {
    // Legacy /v4/webhooks: one URL per event and scope, made from the rules below.
    legacy: { enabled: true, dedupeWindowSeconds: 30 },
    // Webhooks 2.0 (/v4/webhook_endpoints): signed, batched. List the previous secret while rotating.
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_WEBHOOK_SECRET'), env('KIT_WEBHOOK_SECRET_PREVIOUS', { optional: true })] }] },
  },
  destinations: {
    crm: {
      type: 'webhook',
      url: env('CRM_WEBHOOK_URL'),
      headers: { authorization: env('CRM_TOKEN') },
      signing: { secret: env('CRM_SIGNING_SECRET') },
      concurrency: 4,
      rateLimit: { perSecond: 5, burst: 10 },
      retry: { maxAttempts: 8, baseDelayMs: 2000, maxDelayMs: 3_600_000 },
      breaker: { failureThreshold: 5, cooldownMs: 30_000 },
    },
    // Pattern 1: a personal-video task in Bonjoro. Bonjoro has no idempotency key: kitrelay marks
    // each greet with its job and looks before creating again, so a crash never makes two.
    bonjoro: {
      type: 'bonjoro',
      apiKey: env('BONJORO_API_KEY'),
      // Bonjoro documents no limit; 600 a minute was observed. Set 'shadow' to compare with a Zap first.
      rateLimit: { perSecond: 10, burst: 10 },
      mode: 'live',
    },
    // Pattern 2: alerts in Slack, one message per channel within Slack's ~1/s per channel.
    slack: {
      type: 'slack',
      token: env('SLACK_BOT_TOKEN'),
      // Buttons (Replay) and `/kitrelay <email>`: paste `kitrelay routes`' slack/interactive URL in the app.
      signingSecret: env('SLACK_SIGNING_SECRET'),
      replayUsers: ['U0123ABCD'],
    },
    // Pattern 5: Kajabi enrolment as the source of truth for Kit tags. `npx kitrelay kajabi hooks sync`
    // registers the hooks; refunds and deactivations are polled (Kajabi sends no webhook for them).
    kajabi: {
      type: 'kajabi',
      clientId: env('KAJABI_CLIENT_ID'),
      clientSecret: env('KAJABI_CLIENT_SECRET'),
      offers: { '2151330100': { tag: 'Course A student', sequenceId: 12 } },
      // A Kit automation "tag added → unsubscribe from sequence" does the rest (README: Kajabi).
      stopAction: { tag: 'Course access ended' },
      reconcile: { slack: { destination: 'slack', channel: '#ops' } },
    },
    // Dead-letter alerts go through another destination than the ones that may fail.
    'ops-alerts': { type: 'slack', webhookUrl: env('SLACK_OPS_WEBHOOK_URL') },
  },
  rules: [
    {
      // Kit → Kajabi: a tag added in Kit grants a Kajabi offer (finding or making the contact).
      id: 'grant-bonus-course',
      on: 'subscriber.tag_added',
      scope: { tag_id: 8910 },
      actions: [{ destination: 'kajabi', action: 'grant_offer', params: { offer_id: '2151330101' } }],
    },
    {
      id: 'sales-alert',
      on: 'purchase.created',
      actions: [{ destination: 'slack', params: { channel: '#sales', mention: '<!here>' } }],
    },
    {
      id: 'signups',
      on: 'subscriber.activated',
      // The first 10 of each 15 minutes one by one, then one digest for the rest.
      digest: { window: '15m', threshold: 10 },
      actions: [{ destination: 'slack', params: { channel: '#growth' } }],
    },
    {
      id: 'dead-letters',
      on: 'kitrelay:job_dead',
      digest: { window: '5m', threshold: 3 },
      actions: [{ destination: 'ops-alerts' }],
    },
    {
      id: 'welcome-video',
      on: 'subscriber.tag_added',
      scope: { tag_id: 4567 },
      // One video per subscriber for this purpose; another only after 365 days.
      once: { key: (event) => (event.subscriber?.id === undefined ? undefined : `welcome-video:${event.subscriber.id}`), repeatAfterDays: 365 },
      actions: [
        {
          destination: 'bonjoro',
          action: 'greet',
          params: {
            note: 'Welcome {{subscriber.first_name}}! ({{subscriber.email}})',
            // campaign_id takes the campaign's uuid (GET /api/v2/campaigns → data[].uuid), not its number.
            custom_attributes: { source: 'kit' },
          },
        },
      ],
    },
    {
      id: 'customer-tagged',
      on: 'subscriber.tag_added',
      scope: { tag_id: 12345 },
      // Only once per subscriber, however often the tag is re-added.
      once: (event) => (event.subscriber?.id === undefined ? undefined : String(event.subscriber.id)),
      actions: [{ destination: 'crm', params: { list: 'customers' } }],
    },
    {
      id: 'big-purchases',
      on: 'purchase.created',
      when: (event) => Number(event.purchase?.total ?? 0) >= 100,
      actions: [{ destination: 'crm', params: { list: 'high-value' } }],
    },
  ],
  retention: { eventDays: 30, auditPersonalDataDays: 90 },
});
