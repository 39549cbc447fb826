/**
 * Scheduling: the `schedule` key (start, window, deadline, lateness), pure time functions on an injectable `now`,
 * the send gate, ETA with windows, the monthly quota pre-flight, and what makes a campaign due.
 */
export * from './schema.js';
export * from './window.js';
export * from './gate.js';
export * from './quota.js';
export * from './describe.js';
export * from './due.js';
export * from './state.js';
