/**
 * What every operator action is given: the store it acts on and the clock it reads "now" from.
 * Actions that need more (the config's destinations, its retention settings, the route table)
 * say so in their own deps type, so a caller passes one object that satisfies them all.
 */
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/index.js';

export interface ServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
}
