/**
 * The queue's public surface: the worker that runs jobs, and the pieces of its policy (backoff,
 * rate limits, circuit breaker) that the CLI and the dashboard show or explain.
 */
export { createWorker } from './worker.js';
export type { QueueSettings, StopOptions, TickResult, Worker, WorkerDeps } from './types.js';
export { backoffDelay, nextRunAt, type NextRunInput } from './backoff.js';
export { RateLimiter, TokenBucket, type Acquired, type RateLimiterOptions } from './rate-limit.js';
export { Breaker, type BreakerSignal, type BreakerState } from './breaker.js';
