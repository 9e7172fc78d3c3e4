/**
 * Erasure's part in Airtable, for `kitrelay erase <email>`: the person's row is deleted from every
 * configured sync's table (integrations/airtable/erase.ts) before the store forgets them. A sync
 * whose API cannot be reached stops the erasure: nothing is forgotten while a row remains.
 */
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import { openClient, syncKey } from '../integrations/airtable/index.js';
import { eraseFromSync } from '../integrations/airtable/erase.js';
import { integrationScheduleDeps } from '../main.js';
import type { AnyStore } from '../store/index.js';
import { findSync } from './airtable-target.js';
import { CliError } from './context.js';

export async function removeFromAirtable(store: AnyStore, loaded: LoadedConfig, email: string): Promise<{ readonly removed: readonly string[] }> {
  const subscriber = await store.getSubscriberByEmail(email.trim().toLowerCase());
  const removed: string[] = [];
  for (const [destinationName, destination] of Object.entries(loaded.config.destinations)) {
    if (destination.type !== 'airtable') continue;
    for (const syncName of Object.keys(destination.syncs)) {
      const target = await findSync(store, loaded, syncName, destinationName);
      const secrets = createSecretResolver(process.env, target.overlay);
      const deps = integrationScheduleDeps({ config: loaded.config, store, secrets }, destinationName, target.destination);
      let opened: ReturnType<typeof openClient>;
      try {
        opened = openClient(deps, { now: Date.now });
      } catch (error) {
        // No token here: if kitrelay never wrote their row in this sync, there is nothing of theirs to remove.
        const held = subscriber ? await store.getAirtableRecords(syncKey(destinationName, syncName), [subscriber.kitId]) : [];
        if (held.length === 0) continue;
        throw new CliError('no_token', `cannot remove ${email} from Airtable sync ${destinationName}/${syncName}, which holds their row: ${error instanceof Error ? error.message : String(error)}: nothing was erased`, 1);
      }
      try {
        const result = await eraseFromSync({ store, client: opened.client, destinationName, syncName, sync: target.destination.syncs[syncName]! }, { email, ...(subscriber ? { kitId: subscriber.kitId } : {}) });
        if (!result.ok) throw new CliError('airtable_error', `Airtable sync ${destinationName}/${syncName}: ${result.error}: nothing was erased`, 1);
        if (result.deleted > 0) removed.push(`${destinationName}/${syncName} (${result.deleted} row${result.deleted === 1 ? '' : 's'})`);
      } finally {
        await opened.close();
      }
    }
  }
  return { removed };
}
