/**
 * Error codes and reason texts the stores write that src/core/reasons.ts does not hold yet. They are policy like
 * the ones there: PostgresStore binds these values, never its own spelling. SqliteStore still spells the same
 * texts inside its SQL; the store conformance suite (test/store-conformance.ts) checks both stores write exactly
 * these, so the two cannot drift. To be merged into reasons.ts once the SQLite statements bind them too.
 */
import type { RowReason } from './reasons.js';

/** A `sending` row (or an uncertain retry) older than the idempotency window, found after a crash. */
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
