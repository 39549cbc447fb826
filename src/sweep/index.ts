/** The status sweep: polls RK Connect for the delivery status of accepted messages until they are final. */
export {
  queueRateFor,
  sweepCampaign,
  type PollBackoff,
  type SweepDeps,
  type SweepEvent,
  type SweepOptions,
  type SweepOutcome,
  type SweepProgress,
  type SweepStopReason,
} from './sweeper.js';
export { FINAL_API_STATUSES, isFinalApiStatus } from './final.js';
export { sendSlotGate, type SendSlotGateOptions, type StatusCallGate } from './gate.js';
