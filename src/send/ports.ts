import type { LeaseFence, MessageError, OutgoingMessage, RetryHow } from '../store/types.js';

/**
 * The send queue: the guarded state machine of the messages to send. Every transition is one guarded statement
 * in its own transaction; one that finds the row in another state than expected throws `TransitionError` and
 * changes nothing, so of two processes attempting the same transition exactly one wins. The send-path transitions
 * take an optional `fence` (see LeaseFence; `fencedStore` in src/store/fence.ts passes it): with one, the row changes
 * only while that owner still holds the campaign's lease, checked in the same statement, else LeaseLostError.
 */
export interface SendQueue {
  /**
   * After a crash: `sending` rows whose last attempt started within `windowMs` go back to `planned` (resent
   * with the same request id); older ones become `unknown`. One transaction. Returns the counts.
   */
  recoverInFlight(campaignId: string, now: number, windowMs: number): Promise<{ requeued: number; unknown: number }>;
  /** `unknown` rows (without a UUID) back to `planned`, on the user's explicit request. One statement. */
  requeueUnknown(campaignId: string, now: number): Promise<number>;
  /** `failed_to_send` rows back to `planned` with their attempts reset, on the user's explicit request. One statement. */
  requeueFailed(campaignId: string, now: number): Promise<number>;
  /** Up to `limit` planned rows due at `now`, in CSV order, skipping ids in `exclude`. A read; claims nothing. */
  nextPlanned(campaignId: string, now: number, limit: number, exclude?: ReadonlySet<number>): Promise<OutgoingMessage[]>;
  /** Earliest `next_attempt_at` among planned rows (for waiting on backoff), or null when none is planned. */
  nextPlannedAt(campaignId: string): Promise<number | null>;

  /**
   * planned -> sending, committed before the request leaves, recording the `device` it leaves through (null: keep
   * the one recorded). Returns the attempt number. Guarded.
   */
  markSending(id: number, now: number, device?: string | null, fence?: LeaseFence): Promise<number>;
  /** sending -> accepted with the UUID. Guarded. */
  markAccepted(id: number, uuid: string, apiStatus: string, now: number, fence?: LeaseFence): Promise<void>;
  /**
   * sending -> planned, to retry at `nextAttemptAt` with the same request id. `countAttempt` is false when the
   * API provably did not process the request (429, a run-stopping 401/403); `uncertain` when it may have. Guarded.
   */
  markRetry(id: number, error: MessageError, nextAttemptAt: number, now: number, how: RetryHow, fence?: LeaseFence): Promise<void>;
  /** sending -> rejected (the API refused it for good). Guarded. */
  markRejected(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void>;
  /** sending -> failed_to_send (retries exhausted). Guarded. */
  markFailedToSend(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void>;
  /** Every `planned` row -> `expired` (deadline passed), with `reason`. One statement. */
  expirePlanned(campaignId: string, reason: string, now: number): Promise<number>;
}

/**
 * The project's shared send window: every process (and machine) sending for one project through this state
 * database reserves a slot before each request, so the API's sliding 60 s window never sees more than the rate.
 */
export interface RateWindow {
  /**
   * Reserves a send slot for a project if fewer than `perMinute` slots are live in the last 60 s (a slot is live
   * while in flight and for 60 s after its answer), and slots stay on a grid `minSpacingMs` apart (lateness is
   * caught up by at most one spacing). Otherwise says when to ask again. Atomic across processes: two reservations
   * never both take the last slot.
   */
  reserveSendSlot(projectId: string, now: number, perMinute: number, minSpacingMs: number): Promise<{ slot: number } | { retryAt: number }>;
  /** Marks a slot's request answered (or failed) at `now`: it stays counted for 60 s from then. One statement. */
  releaseSendSlot(slot: number, now: number): Promise<void>;
}

/**
 * Per-device bookkeeping of the sender (several devices, daily caps and warm-up): which device a message went
 * through, and sends per device and local day, shared by every campaign and process of the database.
 */
export interface DeviceLedger {
  /**
   * Records the device the API says a message went through when it differs from the one `markSending` recorded,
   * for reports. Any state; no transition.
   */
  setMessageDevice(id: number, device: string): Promise<void>;
  /**
   * Counts one send through `device` on local day `day` (`YYYY-MM-DD`) if fewer than `cap` are counted. Atomic
   * across processes: two runners never both take the last send of a day.
   */
  reserveDeviceDay(device: string, day: string, cap: number): Promise<boolean>;
  /** Gives back a `reserveDeviceDay` whose message was not created after all. One statement. */
  releaseDeviceDay(device: string, day: string): Promise<void>;
  /** Sends counted through `device` on `day`, and the first day any send was counted through it (null: never). */
  deviceDay(device: string, day: string): Promise<{ sent: number; firstDay: string | null }>;
}
