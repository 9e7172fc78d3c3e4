/**
 * What every simulator shares: faults on demand, the bounded request record, per-credential rate
 * limits, `waitFor`, the `/_sim/*` inspection routes, and the handle and factory types. A
 * simulator (Kit, the webhook receiver, Bonjoro…) builds on `createSimServer` and adds its API's
 * routes, state, authentication and error shapes.
 */
export type { RunningSimulator, SimulatorFactory, SimulatorStartOptions } from './types.js';
export { FaultRules, parseFaultSpecs, pathMatcher, type FaultAction, type FaultKind, type FaultMatchers, type FaultRequestView, type FaultSpec, type FaultSummary } from './faults.js';
export { RequestRecord, type AnswerStatus, type SimRequest } from './record.js';
export { WindowLimiter, rateLimitHeaders, type RateDecision, type WindowLimit } from './rate-limit.js';
export { Waiters, type WaitOptions } from './wait.js';
export { createSimServer, type EntryContext, type SimAnswers, type SimServer, type SimServerOptions, type SimView } from './server.js';
export { pathOf, send, type SimAnswer } from './http.js';
