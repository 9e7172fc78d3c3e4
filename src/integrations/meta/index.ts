/**
 * Meta Custom Audiences (pattern 3): an audience kept in step with a selection of Kit subscribers,
 * hashed locally, uploaded in batches, leavers removed, drift repaired. Facts:
 * reference/destinations.md §2.
 *
 * Not in the registry yet: the scheduled sync that plans the batches (and `kitrelay meta …`) comes
 * with the rest of issue 10; until then a `meta` destination would accept config it cannot act on.
 */
import type { Integration } from '../types.js';
import { metaDestinationSchema, type MetaDestinationConfig } from './schema.js';
import { uploadAction } from './upload.js';

export const metaIntegration: Integration<MetaDestinationConfig> = {
  type: 'meta',
  description: 'Meta (Facebook) customer-file Custom Audiences',
  configSchema: metaDestinationSchema,
  defaultAction: 'upload',
  actions: { upload: uploadAction },
};

export { metaDestinationSchema, audienceSchema, type MetaDestinationConfig, type AudienceConfig } from './schema.js';
export { graphClient, type GraphClient, type GraphTarget } from './client.js';
export { membershipOf, schemaOf, isSelected } from './selection.js';
export { audienceKey, uploadParamsSchema, type UploadParams } from './upload.js';
