import { isoFromMs, peekFirst, planColumns, toRecord } from './record.js';
import { requireCampaign, type ReportSource } from './source.js';
import { REPORT_SCHEMA_VERSION, summariseRows, type ReportSummary } from './summary.js';

/**
 * The top of the JSON report, everything but `rows` (schema in docs/report-format.md). Field names are snake_case
 * and stable; new fields may be added without changing `schema_version`.
 */
export interface JsonReportHead {
  schema_version: number;
  generator: string;
  generated_at: string;
  campaign: ReportSummary['campaign'];
  timings: ReportSummary['timings'];
  rows_total: number;
  accepted: number;
  delivered: number;
  delivery_rate: number | null;
  totals: Record<string, number>;
  top_failure_reasons: ReportSummary['top_failure_reasons'];
  sends_over_time: { bucket_ms: number; buckets: { start: string; delivered: number; failed: number; in_progress: number }[] };
  /** Sends and outcomes per device. */
  by_device: ReportSummary['by_device'];
  /** The CSV columns in each row's `fields`, in order. */
  columns: string[];
}

/** Builds the head of the JSON report from a summary. */
export function jsonHead(summary: ReportSummary, columns: string[], generatedAt: number): JsonReportHead {
  return {
    schema_version: REPORT_SCHEMA_VERSION,
    generator: 'rk-broadcast',
    generated_at: new Date(generatedAt).toISOString(),
    campaign: summary.campaign,
    timings: summary.timings,
    rows_total: summary.rows,
    accepted: summary.accepted,
    delivered: summary.delivered,
    delivery_rate: summary.delivery_rate,
    totals: summary.totals,
    top_failure_reasons: summary.top_failure_reasons,
    sends_over_time: {
      bucket_ms: summary.timeline.bucket_ms,
      buckets: summary.timeline.buckets.map((b) => ({ ...b, start: isoFromMs(b.start)! })),
    },
    by_device: summary.by_device,
    columns,
  };
}

/**
 * The JSON report: one object, its head pretty-printed, then `rows` with one row object per line. Two streamed
 * passes over the store (totals first, then the rows), so memory stays flat for any campaign size.
 */
export async function* jsonReport(source: ReportSource): AsyncGenerator<string> {
  const campaign = await requireCampaign(source);
  const summary = await summariseRows(campaign, source.store.reportRows(source.campaignId), { displayName: source.name, secrets: source.secrets ?? [] });
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, source.columns, source.phoneColumn, source);
  const head = JSON.stringify(jsonHead(summary, plan.fields, source.generatedAt ?? Date.now()), null, 2);
  // Reopen the object to append the rows: `{ ...head, "rows": [ ... ] }`.
  yield head.slice(0, head.lastIndexOf('}')).trimEnd() + ',\n  "rows": [';
  let separator = '\n    ';
  let chunk = '';
  for await (const row of all) {
    chunk += separator + JSON.stringify(toRecord(row, plan.fields, source.secrets, plan.extra));
    separator = ',\n    ';
    if (chunk.length >= 64 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  yield chunk + (separator === '\n    ' ? ']\n}\n' : '\n  ]\n}\n');
}
