/**
 * Error codes and reason texts the stores write on rows (taken out of the plan, duplicates, invalid rows,
 * expired, uncertain after a crash) and the default API status. They are policy, not storage: every store
 * implementation binds these values as statement parameters instead of spelling its own, so two stores cannot
 * drift (the store conformance suite checks that both write exactly these).
 */

/** Why a row is not (or no longer) sent, as stored in `error_code` / `error_message`. */
export interface RowReason {
  code: string;
  message: string;
}

/**
 * Added to the reason of a row taken out of the plan whose last attempt may have reached the API: it was in
 * flight when a run stopped (`sending`), was resent after such a stop, or its fate is `unknown`.
 */
export const MAY_HAVE_BEEN_SENT_NOTE =
  '; its last attempt was in flight when a run stopped, so the API may already have created this message (check it with `rk-broadcast message-status` if it matters)';

/** A row of an earlier plan that the current recipient file no longer holds as a sendable row. */
export const REMOVED_FROM_PLAN: RowReason = {
  code: 'REMOVED_FROM_PLAN',
  message: 'no longer a sendable row of the recipient file (removed, now invalid or suppressed) at replan',
};

/** A row whose number is on a suppression list when the plan was made. */
export const SUPPRESSED_AT_PLAN: RowReason = {
  code: 'SUPPRESSED',
  message: 'number is on a suppression list (opt-out)',
};

/** A planned row whose number was added to a suppression list after planning (applied without a replan). */
export const SUPPRESSED_AFTER_PLAN: RowReason = {
  code: 'SUPPRESSED',
  message: 'number was added to a suppression list (opt-out) after the campaign was planned; not sent',
};

/** A row whose last attempt may have reached the API, found after a crash older than the idempotency window. */
export const UNCERTAIN_AFTER_CRASH: RowReason = {
  code: 'UNCERTAIN_AFTER_CRASH',
  message:
    'the last attempt may have reached the API, and it is older than the idempotency window: resending could double it (use --resend-unknown to resend anyway)',
};

/** Code of a planned row that the schedule's deadline expired (its message is the caller's). */
export const DEADLINE_PASSED_CODE = 'DEADLINE_PASSED';

/** Code of a sendable row whose number an earlier row of the same plan already holds. */
export const DUPLICATE_CODE = 'DUPLICATE';

/** The message of a duplicate row: which line holds the number (`?` if none could be found). */
export function duplicateOfLine(line: number | undefined): string {
  return `same number as line ${line ?? '?'}`;
}

/** Code of a row that cannot be sent as it is (bad number, missing variable, ...). */
export const INVALID_CODE = 'INVALID';

/** The reason of an invalid row when the planner gave none. */
export const INVALID_DEFAULT_MESSAGE = 'invalid row';

/** How `counts` names the API status of an accepted row that has none recorded. */
export const DEFAULT_API_STATUS = 'queued';
