import type { RowReason } from '../core/reasons.js';
import type { PlanBatchResult, PlanFingerprint, PlanRowInput } from '../store/types.js';

/**
 * What the plan stage writes: a plan's rows, its completion with the inputs' fingerprint, and suppression changes
 * applied to a plan already made. Every method is one transaction: a crash leaves either all of it or none.
 */
export interface PlanWriter {
  /**
   * Starts a plan (first or replan). A first plan (or one that crashed midway) clears any partial rows; a
   * replan keeps accepted/in-flight rows and deletes the never-sent ones so they are re-derived from the CSV.
   * Returns the new generation. Atomic.
   */
  beginPlan(campaignId: string, mode: 'fresh' | 'replan', now: number): Promise<number>;
  /** Writes a batch of planned rows in one transaction, deduplicating by number (one sendable row per number). */
  insertPlanBatch(campaignId: string, generation: number, rows: readonly PlanRowInput[], now: number): Promise<PlanBatchResult>;
  /**
   * Marks the plan complete with its fingerprint. A replan turns every row of an earlier plan that could still be
   * sent (`planned`, `sending` left by a crash, `unknown`, `failed_to_send`) but that this plan does not hold into
   * `skipped`, so neither crash recovery nor `--resend-unknown` / `--retry-failed` can send it. One transaction.
   */
  completePlan(campaignId: string, generation: number, fingerprint: PlanFingerprint, now: number): Promise<{ skipped: number }>;
  /**
   * Numbers added to a suppression list after planning: every row of one of `phones` that could still be sent
   * (`planned`, `unknown`, `failed_to_send`; and `sending` when `inFlightToo`, which only the start of a run, before
   * crash recovery, may ask) becomes `suppressed` with `reason`, noting when its last attempt may have reached the
   * API. One transaction. Returns how many rows changed.
   */
  applySuppression(
    campaignId: string,
    phones: Iterable<string>,
    reason: RowReason,
    now: number,
    options: { inFlightToo: boolean },
  ): Promise<number>;
  /** The numbers of the campaign's `suppressed` rows (to tell whether a changed list un-suppressed any). */
  suppressedNumbers(campaignId: string): Promise<Set<string>>;
  /** Replaces the fingerprint of a complete plan (after a change applied without a replan). One statement. */
  setPlanFingerprint(campaignId: string, fingerprint: PlanFingerprint, now: number): Promise<void>;
  /**
   * Optional tuning around a bulk write (a large plan): a store may trade disk for speed between the two calls and
   * must restore its steady-state settings at `endBulkWrite`. Calls may nest.
   */
  beginBulkWrite?(): void;
  endBulkWrite?(): void;
}
