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

function route(rules: ConfigInput['rules'], event: KitEvent) {
  const { config } = resolveConfig({ ...base, rules }, { cwd: '/tmp', env: {}, source: 'test' });
  return routeEvent(event, compileRules(config), config);
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
});
