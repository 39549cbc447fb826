import type { ReportRow } from '../store/types.js';
import { reportStatus, statusGroup } from './status.js';

/** How one variant did (issue 11): its recipients, and of them how many were sent, delivered and failed. */
export interface VariantTotals {
  name: string;
  /** Rows rendered with this variant. */
  recipients: number;
  /** Accepted by RK Connect. */
  sent: number;
  delivered: number;
  failed: number;
}

/** Totals per variant, by name (A, B, …), from one streamed pass over the rows. */
export async function variantTotals(rows: AsyncIterable<ReportRow>): Promise<VariantTotals[]> {
  const byName = new Map<string, VariantTotals>();
  for await (const row of rows) {
    if (row.variant == null) continue;
    let t = byName.get(row.variant);
    if (!t) {
      t = { name: row.variant, recipients: 0, sent: 0, delivered: 0, failed: 0 };
      byName.set(row.variant, t);
    }
    t.recipients++;
    const group = statusGroup(reportStatus(row));
    if (row.state === 'accepted') t.sent++;
    if (group === 'delivered') t.delivered++;
    else if (group === 'failed') t.failed++;
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
