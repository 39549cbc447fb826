import type { MessageState } from '../store/types.js';

/**
 * The status vocabulary of every report (CSV, JSON, HTML), in display order. See docs/report-format.md.
 * An API status this tool does not know is reported verbatim after these.
 */
export const REPORT_STATUSES = [
  'delivered',
  'read',
  'sent',
  'queued',
  'pending',
  'failed',
  'rejected',
  'failed_to_send',
  'unknown',
  'invalid',
  'duplicate',
  'suppressed',
  'skipped',
  'expired',
] as const;

/** One of the documented report statuses (or, at run time, any API status kept verbatim). */
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** Statuses that count as delivered. */
export const DELIVERED_STATUSES: readonly string[] = ['delivered', 'read'];

/**
 * Statuses whose rows `--failed-only` writes: the message did not arrive and sending it again can help.
 * Not included: `pending`/`queued`/`sent` (still on their way), `delivered`/`read`, and rows never meant to be
 * sent (`invalid`, `duplicate`, `suppressed`, `skipped`).
 */
export const RETRY_STATUSES: readonly string[] = ['failed', 'rejected', 'failed_to_send', 'unknown', 'expired'];

/** Statuses grouped for charts and cards. */
export type StatusGroup = 'delivered' | 'in_progress' | 'failed' | 'not_sent';

/** Which group a report status belongs to. An unknown API status counts as in progress (it is not final). */
export function statusGroup(status: string): StatusGroup {
  switch (status) {
    case 'delivered':
    case 'read':
      return 'delivered';
    case 'failed':
    case 'rejected':
    case 'failed_to_send':
    case 'unknown':
      return 'failed';
    case 'invalid':
    case 'duplicate':
    case 'suppressed':
    case 'skipped':
    case 'expired':
      return 'not_sent';
    default:
      return 'in_progress';
  }
}

/**
 * The report status of a row: for accepted messages, what the API last said (verbatim; `queued` until the first
 * sweep); `pending` for rows not sent yet; otherwise the row's state.
 */
export function reportStatus(row: { state: MessageState; apiStatus: string | null }): string {
  switch (row.state) {
    case 'accepted':
      return row.apiStatus ?? 'queued';
    case 'planned':
    case 'sending':
      return 'pending';
    default:
      return row.state;
  }
}

