/**
 * The living sandbox: with no Kit credentials, the relay runs the Kit simulator, registers its
 * webhooks there, and a change made in the simulated Kit flows through as a real webhook.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { exampleConfig } from '../src/config/example.js';
import { silentLog } from '../src/lib/log.js';
import { startRelay, type Relay } from '../src/main.js';
import { eventually, execCli, tempDir } from './helpers.js';

let relay: Relay | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await relay?.close({ graceMs: 500 });
  remove?.();
});

describe('sandbox', () => {
  it('registers the legacy routes in the simulated Kit and turns a tag added there into an event and a delivered job', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const kit = relay.sandboxKit!;
    expect(kit.registration.changed).toBe(relay.routes.legacy.size);
    expect(kit.webhooks.legacy).toHaveLength(relay.routes.legacy.size);

    const { subscriber } = await kit.client.createSubscriber({ email: 'grace@example.com', firstName: 'Grace' });
    await kit.client.tagSubscriber(7, subscriber.id); // "VIP": the example's vip-tagged rule
    const event = await eventually(async () => (await relay!.store.listEvents({ type: 'subscriber.tag_added' }))[0], 10_000, 'the tag_added webhook');
    expect(event).toMatchObject({ source: 'legacy', subscriberId: String(subscriber.id), email: 'grace@example.com', scope: { param: 'tag_id', value: '7' } });
    const job = await eventually(async () => (await relay!.store.listJobs({ status: 'succeeded', eventId: event.id, rule: 'vip-tagged' }))[0], 10_000, 'the job to be delivered');
    expect(job.rule).toBe('vip-tagged');
    // The webhook also updated the subscriber mirror in the same transaction.
    const mirrored = await relay.store.getSubscriber(subscriber.id);
    expect(mirrored?.tags.map((t) => t.id)).toContain(7);

    // Registering again changes nothing.
    const { syncWebhooks } = await import('../src/sync/webhooks.js');
    const { buildRouteTable } = await import('../src/ingest/routes.js');
    const routes = buildRouteTable(relay.config, (await relay.store.getSetting('route_secret'))!, relay.listenUrl);
    const again = await syncWebhooks({ client: kit.client, store: relay.store, config: relay.config, routes, publicBaseUrl: relay.listenUrl, now: () => Date.now() });
    expect(again.changed).toBe(0);
  });

  it('stands a Bonjoro simulator in for the bonjoro destination: a VIP tag makes one greet, re-tagging none', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const bonjoro = relay.sandboxSimulators.find((sim) => sim.name === 'bonjoro');
    expect(bonjoro).toMatchObject({ destination: 'bonjoro', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as unknown });
    const greets = async () => ((await (await fetch(`${bonjoro?.url}/_sim/state`)).json()) as { greets: { note: string }[] }).greets;

    const kit = relay.sandboxKit!;
    const { subscriber } = await kit.client.createSubscriber({ email: 'newuser@example.com', firstName: 'Nia' });
    await kit.client.tagSubscriber(7, subscriber.id);
    const [greet] = await eventually(async () => ((await greets()).length === 1 ? greets() : undefined), 10_000, 'the greet');
    expect(greet?.note).toBe('New VIP: Nia (newuser@example.com) — say hello!');
    const [audit] = await relay.store.listAttempts({ destination: 'bonjoro' });
    expect(audit).toMatchObject({ outcome: 'succeeded', responseStatus: 200, request: { method: 'POST', url: `${bonjoro?.url}/api/v2/greets` } });

    await kit.client.untagSubscriberByEmail(7, 'newuser@example.com');
    await kit.client.tagSubscriber(7, subscriber.id);
    await eventually(async () => ((await relay!.store.listEvents({ type: 'subscriber.tag_added' })).length === 2 ? true : undefined), 10_000, 'the second tag event');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await greets()).toHaveLength(1);

    const status = await execCli(['sandbox', 'status', '--json'], { KITRELAY_DATA_DIR: temp.dir });
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { simulators: { name: string; url: string; isRunning: boolean }[] };
    expect(parsed.simulators.map((sim) => [sim.name, sim.isRunning])).toEqual([['kit', true], ['webhook', true], ['bonjoro', true], ['slack', true], ['meta', true], ['airtable', true], ['kajabi', true]]);
    // What commands need to act for a stand-in (its simulator token) is not shown.
    expect(status.stdout).not.toContain('standIn');
    // Each tag (the first and the re-tag: the Slack rule has no `once`) is announced in the simulated Slack's #sales.
    const slack = relay.sandboxSimulators.find((sim) => sim.name === 'slack');
    const slackState = (await (await fetch(`${slack?.url}/_sim/state`)).json()) as { channels: { id: string; name: string }[]; messages: Record<string, { text: string }[]> };
    const sales = slackState.channels.find((c) => c.name === 'sales');
    expect(slackState.messages[sales?.id ?? '']?.map((m) => m.text)).toEqual(['New VIP: newuser@example.com', 'New VIP: newuser@example.com']);
    expect(parsed.simulators.find((sim) => sim.name === 'bonjoro')?.url).toBe(bonjoro?.url);

    // `sandbox purchase`: Kit's product-purchase webhook, announced in #sales by the example's rule.
    const bought = await execCli(['sandbox', 'purchase', 'buyer@example.com'], { KITRELAY_DATA_DIR: temp.dir });
    expect(bought.stderr).toBe('');
    expect(bought.stdout).toMatch(/^200: buyer@example\.com \(subscriber \d+\) bought product 1/);
    const purchase = await eventually(async () => {
      const state = (await (await fetch(`${slack?.url}/_sim/state`)).json()) as typeof slackState;
      return state.messages[sales?.id ?? '']?.find((m) => m.text.includes('buyer@example.com'));
    }, 10_000, 'the purchase in #sales');
    expect(purchase.text).toMatch(/purchase/i);
  });

  it('stands a Meta simulator in for the meta destination: `meta sync customers` fills the audience from Kit, an unsubscribe then a sync removes the person', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const meta = relay.sandboxSimulators.find((sim) => sim.name === 'meta');
    expect(meta?.destination).toBe('meta');
    const audience = async () => {
      const state = (await (await fetch(`${meta?.url}/_sim/state`)).json()) as { audiences: { id: string; name: string; members: { keys: { EMAIL?: string; EXTERN_ID?: string } }[] }[] };
      const [only] = state.audiences;
      return only!;
    };
    expect(await audience()).toMatchObject({ name: 'Kit customers', members: [] });
    // Who should be in it: the simulated Kit's active subscribers tagged "Customer".
    const customers: { id: number; email_address: string }[] = [];
    for await (const page of relay.sandboxKit!.client.listTagSubscribers(1, { status: 'active', perPage: 1000 })) customers.push(...page.items);
    expect(customers.length).toBeGreaterThan(5);

    const first = await execCli(['meta', 'sync', 'customers', '--json'], { KITRELAY_DATA_DIR: temp.dir });
    expect(first.code, first.stderr).toBe(0);
    const firstRun = JSON.parse(first.stdout) as { status: string; stats: { kitPull: { kind: string; written: number }; rowsSent: number; expected: number } };
    expect(firstRun).toMatchObject({ status: 'succeeded', stats: { kitPull: { kind: 'backfill' }, rowsSent: customers.length, expected: customers.length } });
    const members = (await audience()).members;
    expect(members.map((m) => m.keys.EXTERN_ID).sort()).toEqual(customers.map((c) => String(c.id)).sort());
    // Hashed here: no address reached the simulator in clear.
    expect(JSON.stringify(members)).not.toContain('@');

    const leaver = customers[0]!;
    const unsubscribed = await execCli(['sandbox', 'unsubscribe', leaver.email_address], { KITRELAY_DATA_DIR: temp.dir });
    expect(unsubscribed.code, unsubscribed.stderr).toBe(0);
    await eventually(async () => ((await relay!.store.getSubscriber(leaver.id))?.state === 'cancelled' ? true : undefined), 10_000, 'the unsubscribe webhook');
    const second = await execCli(['meta', 'sync', 'customers', '--json'], { KITRELAY_DATA_DIR: temp.dir });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'succeeded', stats: { rowsSent: 1, kitPull: { kind: 'changed' } } });
    expect((await audience()).members.map((m) => m.keys.EXTERN_ID)).not.toContain(String(leaver.id));
    expect((await audience()).members).toHaveLength(customers.length - 1);

    const runs = await execCli(['meta', 'runs', 'customers'], { KITRELAY_DATA_DIR: temp.dir });
    expect(runs.stdout.trim().split('\n')).toHaveLength(2);
  }, 60_000); // four CLI processes, each starting tsx

  it('stands an Airtable simulator in for the airtable destination: `airtable backfill subscribers` fills the table from Kit, an unsubscribe then deletes the row, an edit in Airtable reaches Kit', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const airtable = relay.sandboxSimulators.find((sim) => sim.name === 'airtable');
    expect(airtable?.destination).toBe('airtable');
    const rows = async () => {
      const state = (await (await fetch(`${airtable?.url}/_sim/state`)).json()) as { bases: { tables: { name: string; records: { fields: Record<string, unknown> }[] }[] }[] };
      return state.bases[0]!.tables.find((t) => t.name === 'Subscribers')!.records;
    };
    expect(await rows()).toEqual([]);
    // Who should be in it: the simulated Kit's active subscribers.
    const active: { id: number; email_address: string }[] = [];
    for await (const page of relay.sandboxKit!.client.listSubscribers({ status: 'active', perPage: 1000 })) active.push(...page.items);
    expect(active.length).toBeGreaterThan(5);

    const filled = await execCli(['airtable', 'backfill', 'subscribers', '--json'], { KITRELAY_DATA_DIR: temp.dir });
    expect(filled.code, filled.stderr).toBe(0);
    expect(JSON.parse(filled.stdout)).toMatchObject({ status: 'completed', kitPull: { kind: 'backfill' }, stats: { created: active.length, refused: 0 } });
    const records = await rows();
    expect(records.map((r) => r.fields['Kit ID']).sort()).toEqual(active.map((s) => s.id).sort());
    expect(records.find((r) => r.fields['Kit ID'] === active[0]!.id)?.fields).toMatchObject({ Email: active[0]!.email_address, State: 'active' });

    // Near real time: the unsubscribe webhook makes the relay delete the row, with no backfill.
    const leaver = active[0]!;
    const unsubscribed = await execCli(['sandbox', 'unsubscribe', leaver.email_address], { KITRELAY_DATA_DIR: temp.dir });
    expect(unsubscribed.code, unsubscribed.stderr).toBe(0);
    await eventually(async () => ((await rows()).some((r) => r.fields['Kit ID'] === leaver.id) ? undefined : true), 15_000, 'the row to be deleted');
    expect(await rows()).toHaveLength(active.length - 1);

    const status = await execCli(['airtable', 'status'], { KITRELAY_DATA_DIR: temp.dir });
    expect(status.stdout).toMatch(new RegExp(`airtable/subscribers\\s+${active.length - 1}\\s+done`));

    // Two-way: an edit made "as a person in Airtable" pings the sandbox's webhook and reaches the simulated Kit.
    const editor = active[1]!;
    const edited = await execCli(['sandbox', 'airtable-edit', editor.email_address, 'Name=Edited In Airtable'], { KITRELAY_DATA_DIR: temp.dir });
    expect(edited.code, edited.stderr).toBe(0);
    // Read from the simulator's state: asking through the API would spend the Kit budget the edit's job needs.
    await eventually(() => (relay!.sandboxKit!.simulator.state.getSubscriber(editor.id)?.first_name === 'Edited In Airtable' ? true : undefined), 45_000, 'the edit to reach Kit');
    expect((await relay.store.listEvents({ type: 'airtable:webhook_ping', limit: 5 })).length).toBeGreaterThan(0);
  }, 120_000);

  it('stands a Kajabi simulator in for the kajabi destination: `sandbox kajabi-purchase` tags the buyer once settled, `sandbox kajabi-refund` untags them at the next poll', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const kajabi = relay.sandboxSimulators.find((sim) => sim.name === 'kajabi');
    expect(kajabi?.destination).toBe('kajabi');
    // The sandbox registered the public-API hooks at its own `hooks` source.
    const state = (await (await fetch(`${kajabi?.url}/_sim/state`)).json()) as { hooks: { event: string; targetUrl: string }[] };
    expect(state.hooks.map((h) => h.event).sort()).toEqual(['payment_succeeded', 'purchase']);
    expect(state.hooks[0]!.targetUrl).toContain('/hooks/in/kajabi/hooks/');

    const email = 'learner@example.com';
    const tagsInKit = () => {
      const sim = relay!.sandboxKit!.simulator.state;
      const subscriber = sim.findSubscriberByEmail(email);
      return subscriber ? sim.tags.filter((t) => sim.taggings.get(t.id, subscriber.id)).map((t) => t.name).sort() : [];
    };
    const bought = await execCli(['sandbox', 'kajabi-purchase', email], { KITRELAY_DATA_DIR: temp.dir });
    expect(bought.code, bought.stderr).toBe(0);
    await eventually(() => (tagsInKit().includes('Course A student') ? true : undefined), 20_000, 'the tag to appear in Kit');
    const shown = await execCli(['kajabi', 'enrolments', 'show', email], { KITRELAY_DATA_DIR: temp.dir });
    expect(shown.stdout).toMatch(/: granted/);

    const refunded = await execCli(['sandbox', 'kajabi-refund', email], { KITRELAY_DATA_DIR: temp.dir });
    expect(refunded.code, refunded.stderr).toBe(0);
    // The example polls every 10 s: the tag goes, the stop tag comes.
    await eventually(() => (tagsInKit().join(',') === 'Course access ended' ? true : undefined), 30_000, 'the refund to untag them');
    const listed = await execCli(['kajabi', 'enrolments', 'list', '--json'], { KITRELAY_DATA_DIR: temp.dir });
    expect(JSON.parse(listed.stdout)).toMatchObject({ enrolments: [{ email, status: 'refunded', kitTagged: false, isStopApplied: true }] });
  }, 90_000);
});
