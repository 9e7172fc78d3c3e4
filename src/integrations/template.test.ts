import { describe, expect, it } from 'vitest';
import type { KitEvent } from '../kit/events.js';
import { renderParams, templateScope } from './template.js';

const event: KitEvent = {
  type: 'subscriber.tag_added',
  kitType: 'subscriber.tag_add',
  system: 'legacy',
  scope: { param: 'tag_id', value: '7' },
  subscriber: { id: 5, email: 'ada@example.com', firstName: null, fields: { company: 'Tom & Jerry <Inc>' } },
  payload: {},
};

describe('param templates', () => {
  it('renders event values deeply, leaves other text alone and never escapes', () => {
    const scope = templateScope(event);
    expect(renderParams({ note: 'Hi {{subscriber.email}} at {{ subscriber.fields.company }}', list: ['{{scope.value}}', 3], n: 1 }, scope)).toEqual({
      note: 'Hi ada@example.com at Tom & Jerry <Inc>',
      list: ['7', 3],
      n: 1,
    });
  });

  it('renders a missing or empty value as its fallback, or as nothing', () => {
    const scope = templateScope(event);
    expect(renderParams('Hello {{subscriber.first_name | there}}!', scope)).toBe('Hello there!');
    expect(renderParams('Hello {{first_name}}!', scope)).toBe('Hello !');
    expect(renderParams('{{subscriber.nope.deeper | -}}', scope)).toBe('-');
    expect(renderParams('{{email | nobody}}', scope)).toBe('ada@example.com');
  });

  it('does not reach outside the event through prototype names', () => {
    expect(renderParams('{{constructor.name}}{{subscriber.__proto__}}', templateScope(event))).toBe('');
  });
});
