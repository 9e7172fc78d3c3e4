import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import type { KitEvent } from '../kit/events.js';
import { compileRules, routeEvent } from './route.js';

const base: ConfigInput = {
  destinations: {
    crm: { type: 'webhook', url: 'http://127.0.0.1:9/crm', retry: { maxAttempts: 4 } },
    chat: { type: 'webhook', url: 'http://127.0.0.1:9/chat' },
  },
};

function route(rules: ConfigInput['rules'], event: KitEvent, receivedAt?: number) {
  const { config } = resolveConfig({ ...base, rules }, { cwd: '/tmp', env: {}, source: 'test' });
  return routeEvent(event, compileRules(config), config, receivedAt);
}

const tagAdded = (tagId: string, subscriberId = 7): KitEvent => ({
  type: 'subscriber.tag_added',
  kitType: 'subscriber.tag_add',
  system: 'legacy',
  scope: { param: 'tag_id', value: tagId },
  subscriber: { id: subscriberId, email: 'a@example.com', state: 'active', fields: {} },
  payload: {},
});

describe('routing', () => {
  it('matches by canonical or legacy event name and scope, and names the rule on each job', () => {
    const result = route(
      [
        { id: 'by-canonical', on: 'subscriber.tag_added', scope: { tag_id: [1, 2] }, actions: [{ destination: 'crm' }] },
        { id: 'by-legacy-name', on: 'subscriber.tag_add', scope: { tag_id: 2 }, actions: [{ destination: 'chat', params: { channel: '#sales' } }] },
        { id: 'other-tag', on: 'subscriber.tag_added', scope: { tag_id: 3 }, actions: [{ destination: 'chat' }] },
        { id: 'other-type', on: 'subscriber.tag_removed', actions: [{ destination: 'chat' }] },
      ],
      tagAdded('2'),
    );
    expect(result.jobs).toEqual([
      { rule: 'by-canonical', destination: 'crm', action: 'send', params: {}, maxAttempts: 4 },
      { rule: 'by-legacy-name', destination: 'chat', action: 'send', params: { channel: '#sales' }, maxAttempts: 8 },
    ]);
    expect(result.decisions).toEqual([]);
  });

  it('records a predicate that says no, and one that throws, without making jobs', () => {
    const result = route(
      [
        { id: 'inactive-only', on: '*', when: (e) => e.subscriber?.state === 'inactive', actions: [{ destination: 'crm' }] },
        { id: 'broken', on: '*', when: () => { throw new Error('boom'); }, actions: [{ destination: 'crm' }] },
      ],
      tagAdded('1'),
    );
    expect(result.jobs).toEqual([]);
    expect(result.decisions).toEqual([
      { rule: 'inactive-only', outcome: 'predicate_false' },
      { rule: 'broken', outcome: 'predicate_error', detail: 'boom' },
    ]);
  });

  it('turns a once key into a ledger key per rule (and per action when there are several)', () => {
    const once = (e: KitEvent) => `welcome:${e.subscriber?.id}`;
    const result = route(
      [
        { id: 'single', on: '*', once, actions: [{ destination: 'crm' }] },
        { id: 'double', on: '*', once, actions: [{ destination: 'crm' }, { destination: 'chat', subKey: (e) => `sub-${e.subscriber?.id}` }] },
        { id: 'unlimited', on: '*', once: () => undefined, actions: [{ destination: 'crm' }] },
      ],
      tagAdded('1', 42),
    );
    expect(result.jobs.map((j) => [j.rule, j.destination, j.ledgerKey, j.subKey])).toEqual([
      ['single', 'crm', 'single:welcome:42', undefined],
      ['double', 'crm', 'double:welcome:42#0', undefined],
      ['double', 'chat', 'double:welcome:42#1', 'sub-42'],
      ['unlimited', 'crm', undefined, undefined],
    ]);
  });

  it('does not match a scoped rule when the event has no scope', () => {
    const event: KitEvent = { ...tagAdded('1'), scope: undefined };
    expect(route([{ id: 'r', on: '*', scope: { tag_id: 1 }, actions: [{ destination: 'crm' }] }], event).jobs).toEqual([]);
  });

  it('plans a digesting rule\'s jobs in the fixed window holding the arrival time, one window per action', () => {
    const at = Date.parse('2026-06-01T12:07:30.000Z');
    const rules = [{ id: 'digest', on: 'subscriber.tag_added', digest: { window: '10m', threshold: 3 }, actions: [{ destination: 'crm' }, { destination: 'chat' }] }];
    const { jobs } = route(rules, tagAdded('1'), at);
    const start = Date.parse('2026-06-01T12:00:00.000Z');
    expect(jobs.map((j) => j.digest)).toEqual([
      { key: 'digest#0', windowStart: start, windowEnd: start + 600_000, threshold: 3 },
      { key: 'digest#1', windowStart: start, windowEnd: start + 600_000, threshold: 3 },
    ]);
    // 1h30m windows are slices of 5,400,000 ms from the epoch: 12:07:30 falls in 12:00–13:30.
    expect(route([{ ...rules[0]!, digest: { window: '1h30m' } }], tagAdded('1'), at).jobs[0]?.digest).toEqual({ key: 'digest#0', windowStart: start, windowEnd: start + 5_400_000, threshold: 0 });
  });

  it('refuses a digest window it cannot read, naming the field', () => {
    for (const window of ['10', '10 minutes', '', '5s', '25h']) {
      expect(() => route([{ id: 'd', on: 'subscriber.tag_added', digest: { window }, actions: [{ destination: 'crm' }] }], tagAdded('1'), 0), window).toThrow(/rules\.0\.digest\.window|rules\[0\]\.digest\.window/);
    }
  });

  it('shows kitrelay\'s own events only to rules that name them, never to `*`', () => {
    const alert: KitEvent = { type: 'kitrelay:job_dead', kitType: 'kitrelay:job_dead', system: 'signed', payload: { job: { id: 1 } } };
    const rules = [
      { id: 'everything', on: '*', actions: [{ destination: 'crm' }] },
      { id: 'alerts', on: 'kitrelay:job_dead', actions: [{ destination: 'chat' }] },
    ];
    expect(route(rules, alert).jobs.map((j) => j.rule)).toEqual(['alerts']);
    expect(route(rules, tagAdded('1')).jobs.map((j) => j.rule)).toEqual(['everything']);
  });
});
