/**
 * The store contract on PostgreSQL (issue 13): the same suites SQLite passes (sqlite/store.test.ts),
 * each test in a schema of its own on the machine's PostgreSQL, with a reopened store and a peer
 * store on its own pool (another process). Never skipped: CI makes sure PostgreSQL is up.
 */
import { storeContract } from '../contract.js';
import { createTestSchema } from './harness.js';
import { openPostgresStore } from './store.js';

storeContract('postgres', async () => {
  const schema = await createTestSchema('kr_contract');
  const open = () => openPostgresStore({ url: schema.url, schema: schema.schema, max: 4 });
  let current = await open();
  const peers: Array<{ close(): Promise<void> }> = [];
  return {
    store: current,
    cleanup: async () => {
      await Promise.all([current.close(), ...peers.map((p) => p.close())]);
      await schema.drop();
    },
    reopen: async () => {
      await current.close();
      current = await open();
      return current;
    },
    openPeer: async () => {
      const peer = await open();
      peers.push(peer);
      return peer;
    },
  };
});
