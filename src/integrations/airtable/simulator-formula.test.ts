/**
 * `filterByFormula` over real HTTP (reference/destinations.md §3.2): the formulas the relay and its
 * users write — equality, blanks, AND/OR/NOT, checkboxes, multiple selects, dates, record ids and
 * last-modified times — and the 422 for a formula Airtable would refuse.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAirtableSimulator, type AirtableSimulator } from './simulator.js';

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
let now = T0;
let sim: AirtableSimulator;
let ids: Record<string, string> = {};

beforeAll(async () => {
  sim = await startAirtableSimulator({
    rateLimit: false,
    now: () => now,
    bases: [
      {
        name: 'CRM',
        tables: [
          {
            name: 'People',
            fields: [
              { name: 'Name', type: 'singleLineText' },
              { name: 'Email', type: 'email' },
              { name: 'Tags', type: 'multipleSelects', choices: ['vip', 'customer', 'newsletter'] },
              { name: 'Status', type: 'singleSelect', choices: ['active', 'inactive'] },
              { name: 'Subscribed', type: 'checkbox' },
              { name: 'Score', type: 'number' },
              { name: 'Joined', type: 'date' },
            ],
            records: [
              { Name: 'Ada', Email: 'ada@example.com', Tags: ['vip', 'customer'], Status: 'active', Subscribed: true, Score: 10, Joined: '2026-01-01' },
              { Name: 'Bob', Email: 'bob@example.com', Tags: ['newsletter'], Status: 'inactive', Score: 3 },
              { Email: 'cy@example.com' },
              { Name: "O'Neil", Email: 'oneil@example.com', Score: 0 },
            ],
          },
        ],
      },
    ],
  });
  const names = ['Ada', 'Bob', '(blank)', "O'Neil"];
  ids = Object.fromEntries(sim.records().map((r, i) => [names[i], r.id]));
  now = T0 + 3_600_000;
  sim.person.update('People', ids.Bob!, { Score: 4 });
  return () => sim.close();
});

afterEach(() => {
  now = T0 + 3_600_000;
});

/** The records the formula keeps, by name ('(blank)' for the one without). */
async function filter(formula: string): Promise<string[]> {
  const response = await fetch(`${sim.url}/v0/${sim.baseId}/People?filterByFormula=${encodeURIComponent(formula)}`, { headers: { authorization: `Bearer ${sim.token}` } });
  const json = (await response.json()) as any;
  if (response.status !== 200) throw new Error(`${response.status} ${JSON.stringify(json)}`);
  return (json.records as Array<{ fields: { Name?: string } }>).map((r) => r.fields.Name ?? '(blank)');
}

async function refused(formula: string): Promise<any> {
  const response = await fetch(`${sim.url}/v0/${sim.baseId}/People?filterByFormula=${encodeURIComponent(formula)}`, { headers: { authorization: `Bearer ${sim.token}` } });
  expect(response.status).toBe(422);
  return ((await response.json()) as any).error;
}

describe('airtable simulator: filterByFormula', () => {
  it('matches text exactly, quotes escaped or in double quotes, with braces or a bare name', async () => {
    expect(await filter("{Name} = 'Ada'")).toEqual(['Ada']);
    expect(await filter("{Name} = 'ada'")).toEqual([]);
    expect(await filter("{Name} = 'O\\'Neil'")).toEqual(["O'Neil"]);
    expect(await filter(`{Name} = "O'Neil"`)).toEqual(["O'Neil"]);
    expect(await filter("Email = 'bob@example.com'")).toEqual(['Bob']);
    expect(await filter("LOWER({Email}) = LOWER('ADA@Example.com')")).toEqual(['Ada']);
  });

  it("finds blanks with = '' and BLANK(), and non-blanks with NOT", async () => {
    expect(await filter("{Name} = ''")).toEqual(['(blank)']);
    expect(await filter('{Name} = BLANK()')).toEqual(['(blank)']);
    expect(await filter("NOT({Name} = '')")).toEqual(['Ada', 'Bob', "O'Neil"]);
    expect(await filter("{Name} != ''")).toEqual(['Ada', 'Bob', "O'Neil"]);
  });

  it('combines with AND, OR and NOT; reads a checkbox as true or blank and numbers as numbers', async () => {
    expect(await filter('AND({Subscribed}, {Score} > 5)')).toEqual(['Ada']);
    expect(await filter("OR({Status} = 'inactive', Name = 'Ada')")).toEqual(['Ada', 'Bob']);
    expect(await filter('NOT({Subscribed})')).toEqual(['Bob', '(blank)', "O'Neil"]);
    expect(await filter('{Subscribed} = TRUE()')).toEqual(['Ada']);
    expect(await filter('{Score} >= 4')).toEqual(['Ada', 'Bob']);
    expect(await filter('AND({Score} > 1, {Score} * 2 < 10)')).toEqual(['Bob']);
  });

  it('reads multiple selects as their names joined, for =, FIND and ARRAYJOIN', async () => {
    expect(await filter("FIND('vip', {Tags})")).toEqual(['Ada']);
    expect(await filter("{Tags} = 'newsletter'")).toEqual(['Bob']);
    expect(await filter("FIND(';', ARRAYJOIN({Tags}, ';')) > 0")).toEqual(['Ada']);
    expect(await filter("SEARCH('VIP', {Tags})")).toEqual(['Ada']);
  });

  it('compares dates, record ids and creation times', async () => {
    expect(await filter("IS_AFTER({Joined}, '2025-12-31')")).toEqual(['Ada']);
    expect(await filter(`RECORD_ID() = '${ids.Bob}'`)).toEqual(['Bob']);
    expect(await filter("IS_SAME(CREATED_TIME(), '2026-03-02T23:00:00.000Z', 'day')")).toEqual(['Ada', 'Bob', '(blank)', "O'Neil"]);
    expect(await filter("IS_BEFORE(CREATED_TIME(), DATEADD(NOW(), -30, 'minutes'))")).toHaveLength(4);
  });

  it('finds records modified after a time, with IS_AFTER or >, over the whole record or named fields', async () => {
    const since = new Date(T0 + 1_800_000).toISOString();
    expect(await filter(`IS_AFTER(LAST_MODIFIED_TIME(), '${since}')`)).toEqual(['Bob']);
    expect(await filter(`LAST_MODIFIED_TIME() > '${since}'`)).toEqual(['Bob']);
    expect(await filter(`LAST_MODIFIED_TIME({Score}) > '${since}'`)).toEqual(['Bob']);
    expect(await filter(`LAST_MODIFIED_TIME({Name}) > '${since}'`)).toEqual([]);
    expect(await filter(`LAST_MODIFIED_TIME() >= '${new Date(T0).toISOString()}'`)).toHaveLength(4);
  });

  it('drops a record whose formula errs, as Airtable drops #ERROR!', async () => {
    expect(await filter('VALUE({Name}) > 1')).toEqual([]);
  });

  it('answers 422 INVALID_FILTER_BY_FORMULA for bad syntax, an unknown field or an unknown function', async () => {
    expect(await refused('AND({Name}')).toMatchObject({ type: 'INVALID_FILTER_BY_FORMULA', message: expect.stringContaining('Invalid formula') });
    expect(await refused('{Nope} = 1')).toEqual({ type: 'INVALID_FILTER_BY_FORMULA', message: 'The formula for filtering records is invalid: Unknown field names: Nope' });
    expect((await refused("REGEX_MATCH({Name}, 'A')")).message).toContain('Unknown function names: REGEX_MATCH');
  });

  it('takes a long formula in the body of POST listRecords', async () => {
    const formula = `OR(${[...Array.from({ length: 500 }, (_, i) => `{Email} = 'nobody${i}@example.com'`), "{Email} = 'cy@example.com'"].join(', ')})`;
    expect(formula.length).toBeGreaterThan(16_000);
    const response = await fetch(`${sim.url}/v0/${sim.baseId}/People/listRecords`, { method: 'POST', headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ filterByFormula: formula }) });
    expect((((await response.json()) as any).records as Array<{ fields: Record<string, unknown> }>).map((r) => r.fields.Email)).toEqual(['cy@example.com']);
  });
});
