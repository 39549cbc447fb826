/**
 * Error codes and reason texts that the store writes on rows it takes out of the plan. They are policy, not
 * storage: every store implementation binds these values instead of spelling its own, so two stores cannot drift.
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
