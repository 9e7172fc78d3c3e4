/**
 * Services: every operator action and query, the one way the CLI (and the dashboard, next) act on
 * kitrelay; neither reaches the store behind them. Each function is given its dependencies
 * (store, clock, the config slices it reads) and answers a value, often an outcome union; printing
 * and HTTP status are the caller's.
 */
export type { ServiceDeps } from './deps.js';
export { audienceSends, listAuditRecords, type AudienceSendsResult } from './audit.js';
export { listDestinations, pauseDestination, resumeDestination, showDestination, type DestinationDeps, type DestinationStatus, type PauseResult, type ResumeResult } from './destinations.js';
export { eraseSubscriber, type EraseOutcome } from './erase.js';
export { listEvents, showEvent, type EventDetail } from './events.js';
export {
  cancelJob,
  listJobs,
  replayJob,
  replayJobs,
  showJob,
  type CancelResult,
  type JobDetail,
  type ReplayManyOptions,
  type ReplayOptions,
  type ReplayResult,
} from './jobs.js';
export { backupStore, retentionCutoffs, runRetention, type BackupResult, type BackupSource, type RetentionDeps, type RetentionRun } from './maintenance.js';
export { createOperatorPort, type OperatorDeps } from './operator.js';
export { discardQuarantine, listQuarantine, reingestQuarantine, showQuarantine, type DiscardResult, type ReingestDeps, type ReingestResult } from './quarantine.js';
export { shadowReport, type ShadowEntry, type ShadowFilter, type ShadowReport } from './shadow.js';
