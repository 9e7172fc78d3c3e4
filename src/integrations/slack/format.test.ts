import { describe, expect, it } from 'vitest';
import { parseLegacyDelivery, parseSignedDelivery, type KitEvent } from '../../kit/index.js';
import {
  jsonBody,
  legacyFixture,
  legacyFixtures,
  signedEnvelope,
  signedFormSubscribedEvent,
  signedTagAddedEvent,
  signedUnknownEvent,
  type LegacyFixtureOverrides,
} from '../../kit/fixtures.js';
import { sourceKitEvent } from '../source-event.js';
import { BLOCK_KIT_LIMITS, blockKitViolations, fitMessage, mrkdwn, plainText, truncate, type Block, type SlackMessage, type TextObject } from './blocks.js';
import { REPLAY_ACTION_ID, eventKind, formatDeadLetterAlert, formatDigest, formatEvent, type EventKind } from './format.js';

function legacy(name: string, o: LegacyFixtureOverrides = {}): KitEvent {
  const fixture = legacyFixture(name, o);
  const result = parseLegacyDelivery({ spec: fixture.spec, scopeValue: fixture.scopeValue, body: jsonBody(fixture.body) });
  if (!result.ok) throw new Error(result.detail);
  return result.event.kitEvent;
}

function signed(raw: Record<string, unknown>): KitEvent {
  const result = parseSignedDelivery(jsonBody(signedEnvelope([raw])));
  const first = result.ok ? result.events[0] : undefined;
  if (!first?.ok) throw new Error('fixture did not parse');
  return first.event.kitEvent;
}

const DEAL_WON = sourceKitEvent({ type: 'webhook:deal.won', email: 'Ann@Example.com', occurredAt: 1_785_335_530_000, payload: { deal: 'Acme', amount: 1200, won: true } });

function allEvents(o: LegacyFixtureOverrides = {}): KitEvent[] {
  return [
    ...legacyFixtures(o).map((f) => legacy(f.spec.legacyName, o)),
    signed(signedTagAddedEvent(o)),
    signed(signedFormSubscribedEvent(o)),
    signed(signedUnknownEvent(o)),
    DEAL_WON,
  ];
}

/** Every mrkdwn string Slack will parse: the `text` fallback and every mrkdwn text object. */
function parsedTexts(message: SlackMessage): string[] {
  const objects: TextObject[] = message.blocks.flatMap((b: Block): TextObject[] => {
    if (b.type === 'section') return [...(b.text ? [b.text] : []), ...(b.fields ?? [])];
    if (b.type === 'context') return [...b.elements];
    return [];
  });
  return [message.text, ...objects.filter((t) => t.type === 'mrkdwn').map((t) => t.text)];
}

function allTexts(message: SlackMessage): string[] {
  return [message.text, ...JSON.stringify(message.blocks).match(/"text":"(?:[^"\\]|\\.)*"/g)!.map((s) => JSON.parse(s.slice(7)) as string)];
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('formatEvent', () => {
  it('formats every legacy event, signed events and an integration event within Slack limits, with a text fallback', () => {
    const events = allEvents();
    expect(events).toHaveLength(19);
    for (const event of events) {
      const message = formatEvent(event, { mention: '<!here>', link: 'https://app.kit.com/subscribers/1', extra: { 'Lead score': '87' }, isDegraded: true });
      expect(blockKitViolations(message), event.type).toEqual([]);
      expect(message.text.trim(), event.type).not.toBe('');
      expect(message.text.startsWith('<!here> '), event.type).toBe(true);
    }
  });

  it('formats every kind a rule may pick within limits', () => {
    const kinds: EventKind[] = ['purchased', 'upgraded', 'churned', 'tag_added', 'tag_removed', 'subscribed', 'unsubscribed', 'bounced', 'complained', 'form_subscribed', 'sequence_started', 'sequence_completed', 'link_clicked', 'custom_field_updated', 'other'];
    for (const event of allEvents()) {
      for (const kind of kinds) expect(blockKitViolations(formatEvent(event, { kind })), `${event.type} as ${kind}`).toEqual([]);
    }
  });

  it('formats a subscriber with a 5,000-character first name and custom field value within limits', () => {
    const huge = { firstName: 'N'.repeat(5000), fields: { last_name: 'V'.repeat(5000) } };
    for (const event of allEvents(huge)) {
      const message = formatEvent(event, { extra: { Notes: 'E'.repeat(5000) } });
      expect(blockKitViolations(message), event.type).toEqual([]);
      expect(message.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    }
    const updated = formatEvent(legacy('custom_field.field_value_updated', huge));
    const header = updated.blocks[0]?.type === 'header' ? updated.blocks[0].text.text : '';
    expect(header).toHaveLength(BLOCK_KIT_LIMITS.headerText);
    expect(header.endsWith('…')).toBe(true);
    expect(JSON.stringify(updated.blocks)).toContain(`*Last name*\\n${'V'.repeat(100)}`);
  });

  it('escapes mentions and links in subscriber values, and keeps a configured mention', () => {
    const event = legacy('subscriber.tag_add', { firstName: '<@U123> <!channel>', email: 'x@example.com', fields: { last_name: '<https://evil.example|click> & co' } });
    const message = formatEvent(event, { mention: '<@U999>', extra: { Note: '<!everyone>' }, title: 'Hi <!here>' });
    const parsed = parsedTexts(message).join('\n');
    expect(parsed).not.toMatch(/<@U123>|<!channel>|<!everyone>|<!here>|<https:\/\/evil/);
    expect(parsed).toContain('&lt;@U123&gt; &lt;!channel&gt;');
    expect(parsed).toContain('&lt;https://evil.example|click&gt; &amp; co');
    expect(message.text).toBe('<@U999> Hi &lt;!here&gt;');
    expect(formatEvent(event, { mention: 'hello <!channel>' }).text).toMatch(/^hello &lt;!channel&gt; /);
  });

  it('says what happened, by kind', () => {
    const purchase = formatEvent(legacy('purchase.purchase_create'));
    expect(JSON.stringify(purchase.blocks)).toContain('bought *2 × Floppy Disk (512k), Super Nintendo*');
    expect(JSON.stringify(purchase.blocks)).toContain('21.00 USD');
    expect(formatEvent(signed(signedTagAddedEvent({ tagName: 'Customer', tagId: 42 }))).blocks[1]).toEqual({ type: 'section', text: mrkdwn('*John Doe* (john@example.com) was tagged *Customer (#42)*') });
    expect(formatEvent(legacy('subscriber.tag_add', { scopeValue: '4001' }), { kind: 'upgraded' }).text).toBe('Upgraded: John Doe (john@example.com)');
    expect(formatEvent(DEAL_WON).text).toBe('webhook:deal.won: ann@example.com');
    expect(JSON.stringify(formatEvent(DEAL_WON).blocks)).toContain('*deal*\\nAcme');
  });

  it('maps types to kinds, including integrations that say upgrade, churn or purchase', () => {
    expect(eventKind('subscriber.product_purchased')).toBe('purchased');
    expect(eventKind('subscriber.created')).toBe('subscribed');
    expect(eventKind('billing:subscription.upgraded')).toBe('upgraded');
    expect(eventKind('billing:subscription.cancelled')).toBe('churned');
    expect(eventKind('kajabi:purchase')).toBe('purchased');
    expect(eventKind('webhook:deal.won')).toBe('other');
    expect(eventKind('subscriber.referral_completed')).toBe('other');
  });

  it('shows an http(s) link as a button and ignores any other', () => {
    const withLink = formatEvent(DEAL_WON, { link: 'https://crm.example/deals/1' });
    expect(withLink.blocks).toContainEqual({ type: 'actions', elements: [{ type: 'button', text: plainText('Open'), url: 'https://crm.example/deals/1', action_id: 'kitrelay_link' }] });
    expect(formatEvent(DEAL_WON, { link: 'javascript:alert(1)' }).blocks.some((b) => b.type === 'actions')).toBe(false);
  });

  it('says so when enrichment failed', () => {
    const context = formatEvent(DEAL_WON, { isDegraded: true }).blocks.at(-1);
    expect(JSON.stringify(context)).toContain('Enrichment failed');
    expect(JSON.stringify(formatEvent(DEAL_WON).blocks)).not.toContain('Enrichment failed');
  });

  it('splits 60 enrichment fields into sections of ten', () => {
    const extra = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`Field ${i}`, `value ${i}`]));
    const message = formatEvent(DEAL_WON, { extra });
    expect(blockKitViolations(message)).toEqual([]);
    expect(message.blocks.filter((b) => b.type === 'section' && b.fields?.length === 10)).toHaveLength(6);
  });
});

describe('fitMessage', () => {
  it('cuts 60 blocks to 50, the last saying how many more there were', () => {
    const blocks: Block[] = Array.from({ length: 60 }, (_, i) => ({ type: 'section', text: mrkdwn(`block ${i}`) }));
    const fitted = fitMessage({ text: 'sixty', blocks });
    expect(fitted.blocks).toHaveLength(50);
    expect(fitted.blocks[48]).toEqual({ type: 'section', text: mrkdwn('block 48') });
    expect(fitted.blocks[49]).toEqual({ type: 'context', elements: [mrkdwn('… 11 more blocks not shown')] });
    expect(blockKitViolations(fitted)).toEqual([]);
  });

  it('moves fields past ten into further sections instead of dropping them', () => {
    const fields = Array.from({ length: 25 }, (_, i) => mrkdwn(`f${i}`));
    const fitted = fitMessage({ text: 't', blocks: [{ type: 'section', text: mrkdwn('head'), fields }] });
    expect(fitted.blocks.map((b) => (b.type === 'section' ? b.fields?.length : 0))).toEqual([10, 10, 5]);
    expect(blockKitViolations(fitted)).toEqual([]);
  });

  it('never splits a surrogate pair or an emoji sequence at the cut', () => {
    for (const emoji of ['😀', '👍🏽', '👨‍👩‍👧', '🇫🇷']) {
      for (let pad = 140; pad < 150; pad++) {
        const fitted = fitMessage({ text: 't', blocks: [{ type: 'header', text: plainText('a'.repeat(pad) + emoji.repeat(10)) }] });
        const text = fitted.blocks[0]?.type === 'header' ? fitted.blocks[0].text.text : '';
        expect(text.length).toBeLessThanOrEqual(150);
        expect(text).not.toMatch(LONE_SURROGATE);
        expect(text.endsWith('…')).toBe(true);
        const kept = text.slice(pad, -1);
        expect(kept, `${emoji} after ${pad}`).toBe(emoji.repeat(kept.length / emoji.length));
      }
    }
    expect(truncate('😀'.repeat(3000), 150)).toBe(`${'😀'.repeat(74)}…`);
  });

  it('never cuts inside an entity or a link, and replaces lone surrogates', () => {
    expect(truncate(`${'a'.repeat(10)}&amp;bbbbbbbbbb`, 14, { isMrkdwn: true })).toBe(`${'a'.repeat(10)}…`);
    expect(truncate(`see <https://example.com/long|label> now`, 20, { isMrkdwn: true })).toBe('see…');
    expect(truncate('a\uD83Db', 10)).toBe('a\uFFFDb');
  });

  it('always sets text: the first block when the message had none, else a default', () => {
    expect(fitMessage({ text: '', blocks: [{ type: 'header', text: plainText('Hi <@U1>') }] }).text).toBe('Hi &lt;@U1&gt;');
    expect(fitMessage({ text: '  ', blocks: [] }).text).toBe('kitrelay notification');
    expect(fitMessage({ text: 'x'.repeat(50_000), blocks: [] }).text).toHaveLength(BLOCK_KIT_LIMITS.messageText);
  });

  it('keeps the sum of all texts under the total budget by shortening the longest', () => {
    const blocks: Block[] = Array.from({ length: 10 }, (_, i) => ({ type: 'section', text: mrkdwn(`${i}`.repeat(i === 0 ? 10 : 3000)) }));
    const fitted = fitMessage({ text: 't', blocks });
    expect(blockKitViolations(fitted)).toEqual([]);
    expect(fitted.blocks[0]).toEqual(blocks[0]);
    expect(JSON.stringify(fitted.blocks).length).toBeLessThan(BLOCK_KIT_LIMITS.totalBlockText + 2000);
  });

  it('drops what Slack would refuse: empty texts, empty blocks, bad URLs; cuts ids', () => {
    const fitted = fitMessage({
      text: 't',
      blocks: [
        { type: 'header', text: plainText(' ') },
        { type: 'section', fields: [mrkdwn('')] },
        { type: 'context', elements: [] },
        { type: 'actions', elements: [{ type: 'button', text: plainText('Go'), url: 'not a url', action_id: 'a'.repeat(300), value: 'v'.repeat(2100) }] },
      ],
    });
    expect(fitted.blocks).toEqual([{ type: 'actions', elements: [{ type: 'button', text: plainText('Go'), action_id: 'a'.repeat(255), value: 'v'.repeat(2000) }] }]);
    expect(blockKitViolations(fitted)).toEqual([]);
  });
});

describe('blockKitViolations', () => {
  it('names each problem by its json-pointer', () => {
    const problems = blockKitViolations({
      text: '',
      blocks: [
        { type: 'section', text: mrkdwn('x'.repeat(3001)) },
        { type: 'header', text: { type: 'mrkdwn', text: 'h' } as unknown as ReturnType<typeof plainText> },
        { type: 'actions', elements: [{ type: 'button', text: plainText('b'.repeat(76)) }] },
      ],
    });
    expect(problems).toEqual([
      '/text: empty',
      '/blocks/0/text/text: 3001 characters, more than 3000',
      '/blocks/1/text/type: must be plain_text',
      '/blocks/2/elements/0/text/text: 76 characters, more than 75',
    ]);
  });
});

describe('formatDigest', () => {
  it('reads "212 new subscribers in the last 10 minutes" for one kind of event', () => {
    const message = formatDigest({ counts: { 'subscriber.activated': 200, 'subscriber.created': 12 }, windowMs: 600_000 });
    expect(message.text).toBe('212 new subscribers in the last 10 minutes');
    expect(blockKitViolations(message)).toEqual([]);
  });

  it('counts by type, shows five examples and a link', () => {
    const examples = Array.from({ length: 8 }, (_, i) => legacy('subscriber.form_subscribe', { id: i + 1, email: `s${i}@example.com`, firstName: `<!channel> ${i}` }));
    const message = formatDigest({
      counts: { 'subscriber.subscribed_to_form': 1200, 'subscriber.tag_added': 30, 'webhook:deal.won': 1 },
      windowMs: 3_600_000,
      examples,
      link: 'https://relay.example.com/events',
      mention: '<!here>',
    });
    expect(message.text).toBe('<!here> 1,231 events in the last hour');
    const json = JSON.stringify(message.blocks);
    expect(json).toContain('*Form subscriptions*\\n1,200');
    expect(json).toContain('*webhook:deal.won*\\n1');
    expect(json.match(/• /g)).toHaveLength(5);
    expect(json).toContain('…and 1,226 more');
    expect(json).not.toContain('<!channel>');
    expect(message.blocks.at(-1)).toMatchObject({ type: 'actions', elements: [{ url: 'https://relay.example.com/events' }] });
    expect(blockKitViolations(message)).toEqual([]);
  });

  it('stays within limits with many types and huge examples', () => {
    const counts = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`webhook:type_${i}_${'x'.repeat(3000)}`, i + 1]));
    const examples = allEvents({ firstName: 'N'.repeat(5000) });
    const message = formatDigest({ counts, windowMs: 90_000, examples });
    expect(blockKitViolations(message)).toEqual([]);
    expect(message.text.startsWith('7,260 events in the last 90 seconds')).toBe(true);
  });
});

describe('formatDeadLetterAlert', () => {
  const input = { jobId: 123, destination: 'sales-slack', rule: 'vip-purchase', action: 'post', error: 'Slack answered channel_not_found', attempts: 5, maxAttempts: 5, email: 'john@example.com', eventType: 'purchase.created', failedAt: 1_785_335_530_000 };

  it('has a Replay button carrying the job id', () => {
    const message = formatDeadLetterAlert(input);
    const actions = message.blocks.find((b) => b.type === 'actions');
    expect(actions).toEqual({ type: 'actions', elements: [{ type: 'button', text: plainText('Replay'), action_id: REPLAY_ACTION_ID, value: '123', style: 'primary' }] });
    expect(REPLAY_ACTION_ID).toBe('kitrelay_replay');
    expect(blockKitViolations(message)).toEqual([]);
  });

  it('names the job, destination, rule, error, attempts and subscriber', () => {
    const message = formatDeadLetterAlert({ ...input, link: 'https://relay.example.com/jobs/123' });
    const json = JSON.stringify(message);
    for (const part of ['sales-slack', 'vip-purchase', 'channel_not_found', '5 of 5', 'john@example.com', '#123', 'purchase.created']) expect(json).toContain(part);
    expect(message.text).toBe('Job #123 to sales-slack is dead after 5 attempts: Slack answered channel_not_found');
    expect(message.blocks.find((b) => b.type === 'actions')).toMatchObject({ elements: [{ action_id: REPLAY_ACTION_ID }, { url: 'https://relay.example.com/jobs/123' }] });
  });

  it('stays within limits with a huge error and escapes it', () => {
    const message = formatDeadLetterAlert({ ...input, error: `<!channel> ${'e'.repeat(20_000)}`, destination: 'd'.repeat(500) });
    expect(blockKitViolations(message)).toEqual([]);
    expect(parsedTexts(message).join('\n')).not.toContain('<!channel>');
    expect(allTexts(message).every((t) => !LONE_SURROGATE.test(t))).toBe(true);
  });
});
