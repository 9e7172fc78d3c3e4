/**
 * The store contract: what every Store implementation must do, proved only through the Store
 * interface. SQLite (sqlite/store.test.ts) and PostgreSQL (postgres/store.test.ts) run the same suite.
 *
 * Each test gets a fresh, empty store from `open` and gives it back through `cleanup`. Every
 * backend also passes `reopen` (close and open the same database again) and `openPeer` (a second
 * store on the same database, as another process): both stores can, so no test is skipped.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import { ingestContract } from './ingest.contract.js';
import { kitContract, type KitContractContext } from './kit.contract.js';
import { operationsContract } from './operations.contract.js';
import { airtableContract } from './airtable.contract.js';
import { audiencesContract } from './audiences.contract.js';
import { digestsContract } from './digests.contract.js';
import { eraseContract } from './erase.contract.js';
import { kajabiContract } from './kajabi.contract.js';
import { portContract } from './port.contract.js';
import { queueContract } from './queue.contract.js';
import { schedulesContract } from './schedules.contract.js';
import type { Store } from './types.js';

export interface OpenedStore {
  readonly store: Store;
  /** Closes the store (whichever `reopen` returned last) and deletes its data. */
  readonly cleanup: () => Promise<void>;
  /** Closes the store and opens the same database again. */
  readonly reopen: () => Promise<Store>;
  /** Opens a second store on the same database, as another process would; its caller closes it. */
  readonly openPeer: () => Promise<Store>;
}

export function storeContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`store contract: ${name}`, () => {
    let opened: OpenedStore | undefined;
    let current: Store | undefined;
    const ctx: KitContractContext = {
      get store(): Store {
        if (current === undefined) throw new Error('the store is not open');
        return current;
      },
      async reopen(): Promise<Store> {
        if (opened === undefined) throw new Error('the store is not open');
        current = await opened.reopen();
        return current;
      },
      openPeer(): Promise<Store> {
        if (opened === undefined) throw new Error('the store is not open');
        return opened.openPeer();
      },
    };

    beforeEach(async () => {
      opened = await open();
      current = opened.store;
    });

    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
      current = undefined;
    });

    describe('ingest', () => ingestContract(ctx));
    describe('queue', () => queueContract(ctx));
    describe('operations', () => operationsContract(ctx));
    describe('integration port', () => portContract(ctx));
    describe('digests and dead-job alerts', () => digestsContract(ctx));
    describe('erasure', () => eraseContract(ctx));
    describe('meta audiences', () => audiencesContract(ctx));
    describe('airtable syncs', () => airtableContract(ctx));
    describe('kajabi enrolments', () => kajabiContract(ctx));
    describe('kit', () => kitContract(ctx));
    describe('schedules', () => schedulesContract(ctx));
  });
}
