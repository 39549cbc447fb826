import { safeText } from '../core/text.js';
import type { CampaignCounts, MessageState } from '../store/types.js';

/**
 * The status vocabulary of every report (CSV, JSON, HTML) and of every count the CLI prints, in display order:
 * by group as the HTML cards show them (delivered, failed, in progress, not sent), and within a group from the
 * furthest along. See docs/report-format.md. An API status this tool does not know is shown verbatim after these.
 */
export const REPORT_STATUSES = [
  'delivered',
  'read',
  'failed',
  'rejected',
  'failed_to_send',
  'unknown',
  'sent',
  'queued',
  'pending',
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
      // Cleaned again here (the client already did): what the API said is never trusted into a report as is.
      return (row.apiStatus === null ? '' : safeText(row.apiStatus, 32)) || 'queued';
    case 'planned':
    case 'sending':
      return 'pending';
    default:
      return row.state;
  }
}

/** Statuses in display order: the documented ones in `REPORT_STATUSES` order, then any other API status by name. */
export function inDisplayOrder(statuses: Iterable<string>): string[] {
  const rank = (s: string): number => {
    const i = (REPORT_STATUSES as readonly string[]).indexOf(s);
    return i < 0 ? REPORT_STATUSES.length : i;
  };
  return [...statuses].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * A campaign's counts by report status (zeros left out), derived as `reportStatus` derives one row's: API statuses
 * for accepted messages, `pending` for rows not sent yet, the state's own name otherwise.
 */
export function statusTotals(counts: CampaignCounts): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const [state, n] of Object.entries(counts.byState)) {
    if (n === 0 || state === 'accepted') continue;
    const name = reportStatus({ state: state as MessageState, apiStatus: null });
    totals[name] = (totals[name] ?? 0) + n;
  }
  for (const [status, n] of Object.entries(counts.byApiStatus)) if (n > 0) totals[status] = (totals[status] ?? 0) + n;
  return totals;
}
