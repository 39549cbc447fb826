/**
 * The records the stages and the stores exchange (no SQL, no driver types). The ports that carry them are declared
 * beside their consumers (src/plan/ports.ts, src/send/ports.ts, ...) and united in src/store/port.ts.
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
  /** What that stop said (the breaker's observation, the API's error), or null. Set with `lastStop`. */
  lastStopDetail: string | null;
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
  /** The row's media file, relative to the campaign folder (campaigns with media; issue 11). */
  mediaFile?: string | null;
  /** SHA-256 of that file when planned; the sender refuses other bytes. */
  mediaSha256?: string | null;
  /** Name of the variant the row was rendered with (campaigns with `variants`). */
  variant?: string | null;
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
  /** The row's own media file (relative to the campaign folder) and its SHA-256 when planned (issue 11). */
  mediaFile?: string | null;
  mediaSha256?: string | null;
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
  /** Media file, its SHA-256 when planned, and variant (issue 11); null when the campaign has none. */
  mediaFile?: string | null;
  mediaSha256?: string | null;
  variant?: string | null;
  /** The device the message was last sent through (issue 12); null when never sent. */
  device?: string | null;
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

/**
 * The lease a send-path transition must still hold: the transition changes its row only if `owner` holds the
 * campaign's lease at that moment (checked in the same statement), else it throws LeaseLostError and changes
 * nothing. A runner frozen past its lease (SIGSTOP, a partition) thus cannot send once another took over.
 */
export interface LeaseFence {
  campaignId: string;
  owner: string;
}

/** A fenced transition found the campaign's lease held by another runner, or by none: nothing was changed. */
export class LeaseLostError extends Error {
  constructor(
    readonly campaignId: string,
    readonly owner: string,
  ) {
    super(
      `This runner lost the run lock of campaign ${campaignId}: it was frozen or cut off for longer than the lease ` +
        'timeout, and another runner may have taken the campaign over. It stopped sending it; nothing was lost.',
    );
    this.name = 'LeaseLostError';
  }
}
