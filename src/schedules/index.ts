/** Durable schedules: definitions, the scheduler, and `config.schedules` overrides. */
export { createScheduler, DEFAULT_LEASE_MS, DEFAULT_RETRY, SCHEDULE_NAME, type Scheduler, type SchedulerOptions } from './scheduler.js';
export { checkpointName } from './context.js';
export { applyScheduleOverrides, type ConfiguredSchedules } from './overrides.js';
export type * from './types.js';
