import type { RowReason } from '../core/reasons.js';

/**
 * The `Store` port: everything the stages persist, with no SQL and no driver types in its signatures, so a
 * second implementation (PostgreSQL, claims with `FOR UPDATE SKIP LOCKED`) fits behind it. Methods return
 * promises although the SQLite implementation is synchronous underneath.
 *
 * Only `src/store/` may touch the datastore; stages hold a `Store` and nothing else.
 */

/**
 * Where one planned message is in its life. The sending states are guarded transitions; what the API later
 * says about delivery lives in `apiStatus`, not here.
 *
 * - `planned`: to be sent (again).  `sending`: committed right before the request left.
 * - `accepted`: the API returned a UUID (delivery status in `apiStatus`). Never goes back.
 * - `rejected`: the API refused it permanently (4xx validation). `failed_to_send`: retries exhausted.
 * - `unknown`: a crash left it `sending` longer ago than the idempotency window; resent only on request.
 * - never sendable: `invalid`, `duplicate`, `suppressed`, `skipped` (removed by a replan), `expired` (deadline).
 */
export type MessageState =
  | 'planned'
  | 'sending'
  | 'accepted'
  | 'rejected'
  | 'failed_to_send'
  | 'unknown'
  | 'invalid'
  | 'duplicate'
  | 'suppressed'
  | 'skipped'
  | 'expired';

/** Every state, in report order. */
export const MESSAGE_STATES: readonly MessageState[] = [
  'planned',
  'sending',
  'accepted',
  'rejected',
  'failed_to_send',
  'unknown',
  'invalid',
  'duplicate',
  'suppressed',
  'skipped',
  'expired',
];

/** Fingerprints of the inputs a plan was made from; a change to any of them freezes the plan. */
export interface PlanFingerprint {
  /** SHA-256 of the recipient CSV bytes. */
  csv: string;
  /** SHA-256 of the template source (file or inline). */
  template: string;
  /** SHA-256 of the campaign keys that change what is sent (device, type, media, payload, columns...). */
  config: string;
  /** SHA-256 of the suppression files, concatenated. */
  suppress: string;
  /** SHA-256 of the media file, or empty. */
  media: string;
  /**
   * The recipient CSV's identity and times when `csv` was hashed (see `csvStatKey` in src/plan/csv-stat.ts): an
   * unchanged key lets a resume reuse `csv` instead of hashing a big file again. Not compared by itself.
   */
  csvStat?: string;
}

/** A campaign's stored record. */
export interface CampaignRecord {
  id: string;
  name: string;
  /** Stable hash of the API key: groups campaigns of one project without storing the key. */
  projectId: string;
  sourcePath: string;
  fingerprint: PlanFingerprint | null;
  /** Plan generation; a replan increments it. */
  planGeneration: number;
  /** False while planning is in progress (a crash mid-plan restarts planning). */
  planComplete: boolean;
  plannedAt: number | null;
  firstSendAt: number | null;
  lastSendAt: number | null;
  finishedAt: number | null;
  /** Why the last run stopped, e.g. `quota`, `auth`, `interrupted`, `done`, `window`, `expired`. */
  lastStop: string | null;
  updatedAt: number;
}

/** One input row, planned: what the planner hands the store. */
export interface PlanRowInput {
  /** 1-based line of the row in the CSV. */
  line: number;
  rawPhone: string;
  /** Normalised number, or null when invalid. */
  phone: string | null;
  /** The CSV fields of the row (for reports). */
  fields: Record<string, string>;
  /** `planned`, or a never-sendable state with its reason. */
  state: 'planned' | 'invalid' | 'suppressed';
  /** Rendered text (planned rows). */
  text: string | null;
  /** Rendered payload (planned rows). */
  payload: Record<string, unknown> | null;
  /** Deterministic idempotency key (planned rows only). */
  requestId: string | null;
  /** Why the row will not be sent. */
  reason: string | null;
  /** Recipient's own IANA zone, when the campaign has a timezone column. */
  timezone?: string | null;
  /** `fields` already as JSON (the plan worker serialises off the main thread); wins over `fields`. */
  fieldsJson?: string;
  /** `payload` already as JSON; wins over `payload`. */
  payloadJson?: string;
}

/** Counts of what one plan batch did. */
export interface PlanBatchResult {
  planned: number;
  duplicate: number;
  invalid: number;
  suppressed: number;
  /** Rows that were already accepted (replan) and were left as they were. */
  kept: number;
}

/** A message ready to be sent. */
export interface OutgoingMessage {
  id: number;
  line: number;
  phone: string;
  text: string | null;
  payload: Record<string, unknown> | null;
  requestId: string;
  attempts: number;
  timezone: string | null;
}

/** A failure recorded on a message. */
export interface MessageError {
  code: string;
  message: string;
}

/** How a retry is recorded (see `Store.markRetry`). */
export interface RetryHow {
  countAttempt: boolean;
  uncertain: boolean;
}

/** An accepted message the sweep should ask about. */
export interface SweepTarget {
  id: number;
  uuid: string;
  apiStatus: string | null;
  checks: number;
}

/** What the sweep learned about one message. */
export interface StatusUpdate {
  apiStatus: string;
  deliveredAt: string | null;
  failedAt: string | null;
  errorMessage: string | null;
  checkedAt: number;
}

/** One row of a report, in CSV order. */
export interface ReportRow {
  line: number;
  rawPhone: string;
  phone: string | null;
  fields: Record<string, string>;
  state: MessageState;
  apiStatus: string | null;
  uuid: string | null;
  requestId: string | null;
  attempts: number;
  errorCode: string | null;
  errorMessage: string | null;
  sentAt: number | null;
  acceptedAt: number | null;
  deliveredAt: string | null;
  failedAt: string | null;
  lastCheckedAt: number | null;
}

/** Counts by state, plus accepted messages by API status. */
export interface CampaignCounts {
  total: number;
  byState: Record<MessageState, number>;
  byApiStatus: Record<string, number>;
}

/** A run lock (lease) on one campaign. */
export interface Lease {
  campaignId: string;
  owner: string;
  pid: number;
  host: string;
  acquiredAt: number;
  heartbeatAt: number;
}

/** Thrown when a guarded transition finds the row in another state than expected. */
export class TransitionError extends Error {
  constructor(
    readonly messageId: number,
    readonly from: MessageState | readonly MessageState[],
    readonly to: MessageState,
  ) {
    super(`message ${messageId}: cannot move to ${to}: it is not ${Array.isArray(from) ? from.join('/') : from}`);
    this.name = 'TransitionError';
  }
}

/** The persistence port used by plan, send, sweep, report and schedule. */
export interface Store {
  getCampaign(id: string): Promise<CampaignRecord | undefined>;
  listCampaigns(): Promise<CampaignRecord[]>;
  /** Creates the campaign record if missing; returns it. */
  ensureCampaign(init: { id: string; name: string; projectId: string; sourcePath: string; now: number }): Promise<CampaignRecord>;
  updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'name' | 'sourcePath' | 'lastStop' | 'finishedAt' | 'projectId'>>,
    now: number,
  ): Promise<void>;

  /**
   * Starts a plan (first or replan). A first plan (or one that crashed midway) clears any partial rows; a
   * replan keeps accepted/in-flight rows and deletes the never-sent ones so they are re-derived from the CSV.
   * Returns the new generation.
   */
  beginPlan(campaignId: string, mode: 'fresh' | 'replan', now: number): Promise<number>;
  /** Writes a batch of planned rows in one transaction, deduplicating by request id. */
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
  /** Replaces the fingerprint of a complete plan (after a change applied without a replan). */
  setPlanFingerprint(campaignId: string, fingerprint: PlanFingerprint, now: number): Promise<void>;

  /**
   * After a crash: `sending` rows whose last attempt started within `windowMs` go back to `planned` (resent
   * with the same request id); older ones become `unknown`. Returns the counts.
   */
  recoverInFlight(campaignId: string, now: number, windowMs: number): Promise<{ requeued: number; unknown: number }>;
  /** `unknown` rows (without a UUID) back to `planned`, on the user's explicit request. */
  requeueUnknown(campaignId: string, now: number): Promise<number>;
  /** `failed_to_send` rows back to `planned` with their attempts reset, on the user's explicit request. */
  requeueFailed(campaignId: string, now: number): Promise<number>;
  /** Up to `limit` planned rows due at `now`, in CSV order, skipping ids in `exclude`. */
  nextPlanned(campaignId: string, now: number, limit: number, exclude?: ReadonlySet<number>): Promise<OutgoingMessage[]>;
  /** Earliest `next_attempt_at` among planned rows (for waiting on backoff), or null when none is planned. */
  nextPlannedAt(campaignId: string): Promise<number | null>;

  /** planned -> sending, committed before the request leaves. Returns the attempt number. */
  markSending(id: number, now: number): Promise<number>;
  /** sending -> accepted with the UUID, in one transaction. */
  markAccepted(id: number, uuid: string, apiStatus: string, now: number): Promise<void>;
  /**
   * sending -> planned, to retry at `nextAttemptAt` with the same request id. `countAttempt` is false when the
   * API provably did not process the request (429, a run-stopping 401/403); `uncertain` when it may have.
   */
  markRetry(id: number, error: MessageError, nextAttemptAt: number, now: number, how: RetryHow): Promise<void>;
  /** sending -> rejected (the API refused it for good). */
  markRejected(id: number, error: MessageError, now: number): Promise<void>;
  /** sending -> failed_to_send (retries exhausted). */
  markFailedToSend(id: number, error: MessageError, now: number): Promise<void>;
  /** Every `planned` row -> `expired` (deadline passed). */
  expirePlanned(campaignId: string, reason: string, now: number): Promise<number>;

  /** Accepted messages whose API status is not final, in id order after `afterId` (a pass pages through them). */
  sweepTargets(campaignId: string, finalStatuses: readonly string[], limit: number, afterId: number): Promise<SweepTarget[]>;
  /** Records what the API said about one accepted message. */
  recordStatus(id: number, update: StatusUpdate): Promise<void>;

  counts(campaignId: string): Promise<CampaignCounts>;
  /** Every row of the campaign in CSV order, streamed in pages. */
  reportRows(campaignId: string, pageSize?: number): AsyncIterable<ReportRow>;
  /** Messages accepted for a project since `sinceMs` (quota pre-flight). */
  acceptedSince(projectId: string, sinceMs: number): Promise<number>;

  /** Takes the campaign's run lock, or returns the live holder. A lease older than `staleMs` is taken over. */
  acquireLease(lease: Omit<Lease, 'acquiredAt' | 'heartbeatAt'>, now: number, staleMs: number): Promise<{ acquired: true } | { acquired: false; holder: Lease }>;
  heartbeat(campaignId: string, owner: string, now: number): Promise<boolean>;
  releaseLease(campaignId: string, owner: string): Promise<void>;
  /** The campaign's lease as stored (live or stale), without taking it: for `list` and `status`. */
  getLease(campaignId: string): Promise<Lease | undefined>;
  /** Distinct recipient zones (null: none given) of the rows still to send, for per-recipient windows in `due`. */
  pendingTimezones(campaignId: string): Promise<(string | null)[]>;

  /**
   * Rate gate shared by every process using this database: reserves a send slot for a project if fewer than
   * `perMinute` slots are live in the last 60 s (a slot is live while in flight and for 60 s after its answer,
   * so the API's sliding window can never see more than `perMinute`), and slots stay on a grid `minSpacingMs`
   * apart (lateness is caught up by at most one spacing). Otherwise says when to ask again.
   */
  reserveSendSlot(projectId: string, now: number, perMinute: number, minSpacingMs: number): Promise<{ slot: number } | { retryAt: number }>;
  /** Marks a slot's request answered (or failed) at `now`: it stays counted for 60 s from then. */
  releaseSendSlot(slot: number, now: number): Promise<void>;

  /**
   * Optional tuning around a bulk write (a large plan): a store may trade disk for speed between the two calls and
   * must restore its steady-state settings at `endBulkWrite`. Calls may nest.
   */
  beginBulkWrite?(): void;
  endBulkWrite?(): void;

  close(): Promise<void>;
}
