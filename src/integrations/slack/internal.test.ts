import { describe, expect, it } from 'vitest';
import { jsonBody, legacyFixture } from '../../kit/fixtures.js';
import type { DigestSummary } from '../../store/types.js';
import { sourceKitEvent } from '../source-event.js';
import { blockKitViolations, type SlackMessage } from './blocks.js';
import { isReplayActionId, REPLAY_ACTION_ID } from './format.js';
import { internalMessage } from './internal.js';

const START = Date.parse('2026-06-01T12:00:00.000Z');

function digestEvent(summary: Partial<DigestSummary>) {
  const digest: DigestSummary = { windowId: 1, rule: 'r', windowStart: START, windowEnd: START + 600_000, total: 0, sentIndividually: 0, counts: {}, examples: [], ...summary };
  return sourceKitEvent({ type: 'kitrelay:digest', payload: { digest } });
}

function deadPayload(id: number, error = 'HTTP 404 Not Found') {
  return { job: { id, destination: 'crm', rule: 'to-crm', action: 'send', error, attempts: 3, maxAttempts: 3, failedAt: START }, event: { id: 9, type: 'subscriber.tag_added' }, subscriber: { id: '42', email_address: 'a@example.com' } };
}

const actionIds = (message: SlackMessage | undefined): string[] =>
  (message?.blocks ?? []).flatMap((b) => (b.type === 'actions' ? b.elements.map((e) => e.action_id ?? '') : []));

describe('messages for kitrelay\'s own events', () => {
  it('turns a digest of Kit events into a counted message with examples read from the stored payloads', () => {
    const fixture = legacyFixture('subscriber.tag_add', { id: 5, email: 'five@example.com', firstName: 'Ada', scopeValue: '7' });
    const payload = JSON.parse(jsonBody(fixture.body).toString()) as unknown;
    const example = { eventId: 3, type: 'subscriber.tag_added', kitType: 'subscriber.tag_add', source: 'legacy' as const, origin: 'kit', kitEventId: null, email: 'five@example.com', subscriberId: '5', scope: { param: 'tag_id', value: '7' }, receivedAt: START, payload };
    const message = internalMessage(digestEvent({ total: 212, counts: { 'subscriber.tag_added': 200, 'subscriber.activated': 12 }, examples: [example] }), { mention: '<!here>' });
    expect(message?.text).toBe('<!here> 212 events in the last 10 minutes');
    const text = JSON.stringify(message?.blocks);
    expect(text).toContain('Ada');
    expect(text).toContain('…and 211 more');
    expect(blockKitViolations(message!)).toEqual([]);
  });

  it('makes a dead job\'s alert with its Replay button, and a digest of dead jobs with one per job shown', () => {
    const alert = internalMessage(sourceKitEvent({ type: 'kitrelay:job_dead', payload: deadPayload(17) }), {});
    expect(alert?.text).toContain('Job #17 to crm is dead after 3 attempts');
    expect(actionIds(alert)).toEqual([REPLAY_ACTION_ID]);

    const examples = Array.from({ length: 7 }, (_, i) => ({ eventId: i, type: 'kitrelay:job_dead', kitType: 'job_dead', source: 'internal' as const, origin: 'kitrelay', kitEventId: null, email: null, subscriberId: null, scope: null, receivedAt: START, payload: deadPayload(100 + i, 'x'.repeat(5000)) }));
    const digest = internalMessage(digestEvent({ total: 9, counts: { 'kitrelay:job_dead': 9 }, examples }), {});
    expect(digest?.text).toBe('9 jobs dead in the last 10 minutes');
    const ids = actionIds(digest);
    expect(ids).toEqual(['kitrelay_replay_100', 'kitrelay_replay_101', 'kitrelay_replay_102', 'kitrelay_replay_103', 'kitrelay_replay_104']);
    expect(ids.every(isReplayActionId)).toBe(true);
    expect(JSON.stringify(digest?.blocks)).toContain('…and 4 more');
    expect(blockKitViolations(digest!)).toEqual([]);
  });

  it('reads a damaged payload without throwing, and leaves other events to the default formatter', () => {
    expect(internalMessage(sourceKitEvent({ type: 'kitrelay:job_dead', payload: null }), {})?.text).toContain('Job #?');
    expect(internalMessage(sourceKitEvent({ type: 'kitrelay:digest', payload: { digest: 'nonsense' } }), {})?.text).toContain('0 events');
    expect(internalMessage(sourceKitEvent({ type: 'subscriber.tag_added', payload: {} }), {})).toBeUndefined();
    expect(isReplayActionId('kitrelay_link')).toBe(false);
  });
});
