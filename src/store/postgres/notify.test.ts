/**
 * The jobs listener (notify.ts) on the machine's PostgreSQL: it hears its own schema's
 * notifications only, and comes back by itself when its connection is killed.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from './harness.js';
import { createJobsListener, JOBS_CHANNEL, type JobsListener } from './notify.js';

let schema: TestSchema | undefined;
let listener: JobsListener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
  await schema?.drop();
  schema = undefined;
});

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('jobs listener', () => {
  it("calls its listeners for its own schema's notifications only", async () => {
    schema = await createTestSchema('kr_notify');
    const { url } = schema;
    listener = createJobsListener({ url, schema: schema.schema });
    let heard = 0;
    listener.add(() => heard++);
    await waitFor(() => listener!.isListening, 'LISTEN');
    await withClient(url, (client) => client.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, 'some_other_schema']));
    await withClient(url, (client) => client.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, schema!.schema]));
    await waitFor(() => heard === 1, 'the notification');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toBe(1);
  });

  it('reconnects after its connection is killed, reports the loss, and wakes its listeners once back', async () => {
    schema = await createTestSchema('kr_notify');
    const { url } = schema;
    listener = createJobsListener({ url, schema: schema.schema });
    let heard = 0;
    const errors: unknown[] = [];
    listener.add(() => heard++, (error) => errors.push(error));
    await waitFor(() => listener!.isListening, 'LISTEN');
    const name = `kitrelay-listen:${schema.schema}`;
    const killed = await withClient(url, async (client) => (await client.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [name])).rowCount);
    expect(killed).toBe(1);
    await waitFor(() => !listener!.isListening, 'the loss');
    await waitFor(() => listener!.isListening && heard === 1, 'the reconnection'); // woken once: jobs may have come meanwhile
    expect(errors.length).toBeGreaterThan(0);
    await withClient(url, (client) => client.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, schema!.schema]));
    await waitFor(() => heard === 2, 'a notification on the new connection');
  });

  it('never throws while the database is unreachable, and stops trying once closed', async () => {
    listener = createJobsListener({ url: 'postgres://postgres@127.0.0.1:9/test', schema: 'public' });
    const errors: unknown[] = [];
    listener.add(() => undefined, (error) => errors.push(error));
    await waitFor(() => errors.length >= 2, 'two failed attempts');
    expect(listener.isListening).toBe(false);
    await listener.close();
    const count = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(errors.length).toBe(count);
  });
});
