import type { StatusUpdate, SweepTarget } from '../store/types.js';

/** The status ledger the sweep reads and writes: what the API said about each accepted message. */
export interface StatusLedger {
  /** Accepted messages whose API status is not final, in id order after `afterId` (a pass pages through them). */
  sweepTargets(campaignId: string, finalStatuses: readonly string[], limit: number, afterId: number): Promise<SweepTarget[]>;
  /** Records what the API said about one accepted message. One statement; never changes the send state. */
  recordStatus(id: number, update: StatusUpdate): Promise<void>;
}
