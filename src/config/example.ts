/**
 * The built-in example config: what `npm start` runs when there is no `kitrelay.config.ts`. It
 * needs no credentials. Its destination URL is an environment reference; in the sandbox, when
 * that variable is unset, kitrelay points it at a local webhook receiver simulator so deliveries
 * succeed and can be watched (`kitrelay jobs list`, `kitrelay audit`).
 *
 * With no BONJORO_API_KEY (SLACK_BOT_TOKEN, META_ACCESS_TOKEN, AIRTABLE_TOKEN, KAJABI_CLIENT_ID), the sandbox likewise
 * runs a Bonjoro (Slack, Meta, Airtable, Kajabi) simulator for the `bonjoro` (`slack`, `meta`, `airtable`, `kajabi`)
 * destination.
 *
 * The ids (tag 7 "VIP", form 1, sequence 1, product 1, custom field 1) are those of the sandbox's
 * seeded Kit simulator, so the sandbox works end to end. Copy `examples/kitrelay.config.ts` to the
 * project root to start your own.
 */
import { defineConfig, env, type ConfigInput } from './schema.js';

export const exampleConfig: ConfigInput = defineConfig({
  kit: {
    legacy: {
      enabled: true,
      // Routes the rules below do not already imply, so every kind of legacy event has a URL.
      routes: [
        { event: 'subscriber.subscriber_activate' },
        { event: 'subscriber.subscriber_unsubscribe' },
        { event: 'subscriber.subscriber_bounce' },
        { event: 'subscriber.subscriber_complain' },
        { event: 'subscriber.form_subscribe', form_id: 1 },
        { event: 'subscriber.course_subscribe', sequence_id: 1 },
        { event: 'subscriber.course_complete', sequence_id: 1 },
        { event: 'subscriber.link_click', initiator_value: 'https://example.com/offer' },
        { event: 'subscriber.tag_remove', tag_id: 7 },
        { event: 'custom_field.field_created' },
        { event: 'custom_field.field_deleted' },
        { event: 'custom_field.field_value_updated', custom_field_id: 1 },
      ],
    },
    signed: {
      endpoints: [{ name: 'main', secrets: [env('KIT_WEBHOOK_SECRET', { optional: true })] }],
    },
  },
  destinations: {
    // Pattern 1: a personal video in Bonjoro for every new VIP. With BONJORO_API_KEY unset, the
    // sandbox runs a Bonjoro simulator in its place (`kitrelay sandbox status` prints its URL).
    bonjoro: {
      type: 'bonjoro',
      apiKey: env('BONJORO_API_KEY'),
      retry: { maxAttempts: 8, baseDelayMs: 1000, maxDelayMs: 60_000 },
    },
    // Pattern 2: alerts in Slack. With SLACK_BOT_TOKEN unset, the sandbox runs a Slack simulator.
    slack: {
      type: 'slack',
      token: env('SLACK_BOT_TOKEN'),
      defaultChannel: '#sales',
      // Buttons (Replay on dead-letter alerts) and `/kitrelay <email>`: Slack signs its requests
      // with this. The sandbox's Slack simulator sets it; `sandbox slack-press` presses as U0SANDBOX.
      signingSecret: env('SLACK_SIGNING_SECRET', { optional: true }),
      replayUsers: ['U0SANDBOX'],
    },
    // Pattern 3: a Meta Custom Audience of every active customer (tag "Customer"), hashed here,
    // leavers removed. With META_ACCESS_TOKEN unset, the sandbox runs a Meta simulator holding an
    // empty audience: `npx kitrelay meta sync customers` fills it (the first run pulls Kit into the
    // subscriber mirror), `npx kitrelay meta runs customers` shows what was sent.
    meta: {
      type: 'meta',
      accessToken: env('META_ACCESS_TOKEN'),
      adAccountId: 'act_100000000000001',
      audiences: {
        customers: {
          name: 'Kit customers',
          select: { tags: { any: ['Customer'] }, states: ['active'] },
          keys: { EMAIL: true, EXTERN_ID: true },
          // Meta needs an audience id: `npx kitrelay meta audiences create customers` makes one.
          // The sandbox's simulator gives it one of its own.
        },
      },
    },
    // Pattern 4: every active subscriber as a record in an Airtable table, kept up to date as
    // webhooks arrive (changes within 2 s make one write). With AIRTABLE_TOKEN unset, the sandbox
    // runs an Airtable simulator holding the table, empty: `npx kitrelay airtable backfill
    // subscribers` fills it (the first run pulls Kit into the subscriber mirror), and
    // `npx kitrelay sandbox airtable-edit <email> Name=Ada` edits a row as a person would.
    airtable: {
      type: 'airtable',
      token: env('AIRTABLE_TOKEN'),
      syncs: {
        subscribers: {
          baseId: 'appKitRelaySandbx', // your base's id, from its URL
          table: 'Subscribers',
          select: { states: ['active'] },
          kitIdField: 'Kit ID',
          fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags' },
          // Tags become options of the multiple select as they appear.
          typecast: true,
          // Edits made in Airtable (name, tags) go back to Kit once quiet for 2 s; the sandbox makes
          // the base's webhook itself (elsewhere: `npx kitrelay airtable webhooks sync`).
          inbound: { mode: 'webhook', quietMs: 2000 },
        },
      },
    },
    // Pattern 5: Kajabi enrolment as the source of truth. A settled purchase of the offer tags the
    // buyer in Kit; a refund or deactivation (found by polling: Kajabi sends no webhook for them)
    // removes the tag and adds the stop tag, which a Kit automation uses to take them out of the
    // course's sequence. With KAJABI_CLIENT_ID unset, the sandbox runs a Kajabi simulator and
    // registers its hooks: `npx kitrelay sandbox kajabi-purchase <email>`, then
    // `npx kitrelay sandbox kajabi-refund <email>`; `npx kitrelay kajabi enrolments list`.
    kajabi: {
      type: 'kajabi',
      clientId: env('KAJABI_CLIENT_ID'),
      clientSecret: env('KAJABI_CLIENT_SECRET'),
      // Your offer ids, from `GET /v1/offers` (the sandbox's simulator stands its own in, in order).
      offers: { '2151430002': { tag: 'Course A student' } },
      stopAction: { tag: 'Course access ended' },
      // Polled every 10 s in the sandbox, to show a refund quickly (default: every 5 minutes).
      poll: { schedule: '*/10 * * * * *' },
      // The nightly reconciliation's summary (`npx kitrelay kajabi reconcile` runs one now).
      reconcile: { slack: { destination: 'slack', channel: '#sales' } },
    },
    'example-hook': {
      type: 'webhook',
      url: env('EXAMPLE_HOOK_URL'),
      concurrency: 4,
      rateLimit: { perSecond: 50, burst: 50 },
      retry: { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 },
    },
  },
  rules: [
    {
      id: 'vip-welcome-video',
      description: 'A subscriber tagged VIP (tag 7) gets one personal-video task in Bonjoro, ever: re-tagging makes no second.',
      on: 'subscriber.tag_added',
      scope: { tag_id: 7 },
      once: (event) => (event.subscriber?.id === undefined ? undefined : `vip-video:${event.subscriber.id}`),
      actions: [
        {
          destination: 'bonjoro',
          action: 'greet',
          params: { note: 'New VIP: {{subscriber.first_name | (no name)}} ({{subscriber.email}}) — say hello!', custom_attributes: { source: 'kit', purpose: 'vip-welcome' } },
        },
      ],
    },
    {
      id: 'vip-slack-alert',
      description: 'A new VIP is announced in #sales.',
      on: 'subscriber.tag_added',
      scope: { tag_id: 7 },
      actions: [{ destination: 'slack', action: 'post', params: { channel: '#sales', title: 'New VIP: {{subscriber.email}}' } }],
    },
    {
      id: 'purchase-slack-alert',
      description: 'Every purchase is announced in #sales (`npx kitrelay sandbox purchase <email>`).',
      on: ['purchase.created', 'subscriber.product_purchased'],
      actions: [{ destination: 'slack', action: 'post', params: { channel: '#sales' } }],
    },
    {
      id: 'new-subscribers-digest',
      description: 'New subscribers in #growth: the first 5 of each 10 minutes one by one, then one digest for the rest.',
      on: 'subscriber.activated',
      digest: { window: '10m', threshold: 5 },
      actions: [{ destination: 'slack', action: 'post', params: { channel: '#growth' } }],
    },
    {
      id: 'dead-letter-alerts',
      description:
        'A job that goes dead is announced in #ops with a Replay button (more than 3 in 5 minutes become one digest), and posted to the example hook: an alert never goes through the destination whose job died, so Slack\'s own failures reach the hook.',
      on: 'kitrelay:job_dead',
      digest: { window: '5m', threshold: 3 },
      actions: [
        { destination: 'slack', action: 'post', params: { channel: '#ops' } },
        { destination: 'example-hook', params: { purpose: 'dead-letter' } },
      ],
    },
    {
      id: 'audience-alerts',
      description: 'A Meta audience run held by the removal guard (it would remove too many), or refused by Meta, is announced in #ops.',
      on: ['meta:sync_held', 'meta:sync_failed'],
      actions: [{ destination: 'slack', action: 'post', params: { channel: '#ops', title: 'Meta audience {{payload.audience}}: run {{payload.runId}} {{payload.status}}', mention: '<!here>' } }],
    },
    {
      id: 'vip-tagged',
      description: 'A subscriber tagged VIP (tag 7) is posted to the example hook, once per subscriber.',
      on: 'subscriber.tag_added',
      scope: { tag_id: 7 },
      once: (event) => (event.subscriber?.id === undefined ? undefined : `vip:${event.subscriber.id}`),
      actions: [{ destination: 'example-hook', params: { purpose: 'vip-welcome' } }],
    },
    {
      id: 'purchases',
      on: 'purchase.created',
      actions: [{ destination: 'example-hook', params: { purpose: 'purchase' } }],
    },
    {
      id: 'product-1',
      on: 'subscriber.product_purchased',
      scope: { product_id: 1 },
      actions: [{ destination: 'example-hook', params: { purpose: 'product-1' } }],
    },
    {
      id: 'lifecycle',
      on: ['subscriber.activated', 'subscriber.unsubscribed', 'subscriber.bounced', 'subscriber.complained'],
      actions: [{ destination: 'example-hook', params: { purpose: 'lifecycle' } }],
    },
  ],
});
