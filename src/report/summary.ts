import { redact } from '../config/env.js';
import { safeText } from '../core/text.js';
import type { CampaignRecord, ReportRow } from '../store/types.js';
import { isoFromMs } from './record.js';
import { REPORT_STATUSES, reportStatus, statusGroup, type StatusGroup } from './status.js';

/** Version of the JSON report's schema; bumped only for changes that could break a reader. */
export const REPORT_SCHEMA_VERSION = 1;

/** One of the most frequent reasons rows were not delivered. */
export interface FailureReason {
  status: string;
  error_code: string | null;
  /** The error message with row-specific details (quoted values, long numbers, line numbers) replaced by `…`. */
  reason: string;
  count: number;
  /** Share of all rows, 0..1. */
  share: number;
  /** Line of the first row with this reason. */
  example_line: number;
}

/** Rows whose first attempt fell in one bucket of the sends-over-time chart. */
export interface TimeBucket {
  /** Bucket start, ms since the epoch. */
  start: number;
  delivered: number;
  failed: number;
  /** Still on their way (queued, sent, unknown API status). */
  in_progress: number;
}

/** Sends and outcomes of one device. */
export interface DeviceTotals {
  device: string;
  /** Rows sent (or tried) through it. */
  sent: number;
  accepted: number;
  delivered: number;
  /** Rows that failed, or were given up, after going through it. */
  failed: number;
  in_progress: number;
}

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

/** Everything a report says about a campaign as a whole, computed in one streamed pass over its rows. */
export interface ReportSummary {
  campaign: { id: string; name: string };
  timings: {
    planned_at: string | null;
    first_send_at: string | null;
    last_send_at: string | null;
    duration_ms: number | null;
    /** (accepted − 1) per minute between the first and the last send; null with fewer than two. */
    achieved_rate_per_minute: number | null;
    /** When statuses were last checked with the API (the newest check of any row). */
    statuses_checked_at: string | null;
  };
  /** Rows in the report (one per input row). */
  rows: number;
  /** Messages RK Connect accepted (any API status). */
  accepted: number;
  /** Rows delivered or read. */
  delivered: number;
  /** Every documented status (0 when absent) plus any other API status met, by count. */
  totals: Record<string, number>;
  /** Rows per status group (cards and chart). */
  groups: Record<StatusGroup, number>;
  /** delivered / accepted, rounded to 4 decimals; null when nothing was accepted. */
  delivery_rate: number | null;
  top_failure_reasons: FailureReason[];
  /** Sends over time by first attempt; empty when nothing was sent. */
  timeline: { bucket_ms: number; buckets: TimeBucket[] };
  /** Per device, by device code (issue 12). */
  by_device: DeviceTotals[];
  /** Per variant, by name (A, B, …); empty for a campaign without variants. */
  by_variant: VariantTotals[];
}

/** Largest number of distinct failure reasons tracked; more are counted as "other reasons" (bounded memory). */
const MAX_REASONS = 500;
const TOP_REASONS = 10;
const NICE_BUCKETS_MS = [
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
  7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
const MAX_BUCKETS = 48;

/** A bucket size that shows `spanMs` in at most 48 bars. */
export function bucketSizeFor(spanMs: number): number {
  for (const size of NICE_BUCKETS_MS) if (spanMs / size < MAX_BUCKETS) return size;
  return Math.ceil(spanMs / MAX_BUCKETS / 86_400_000) * 86_400_000;
}

/**
 * The general form of an error message, so rows that failed for the same reason group together and no phone
 * number or name ends up in the list: quoted values, runs of 6+ digits and line numbers become `…`.
 */
export function generalReason(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\d{6,}/g, '…')
    .replace(/\bline \d+\b/g, 'line …')
    .trim();
}

/**
 * Aggregates a campaign's rows in one pass: totals by status, delivery rate, timings, top failure reasons, the
 * sends-over-time buckets, and totals per device and per variant. Memory stays bounded whatever the number of rows.
 */
export async function summariseRows(
  campaign: CampaignRecord,
  rows: AsyncIterable<ReportRow>,
  options: { displayName?: string | undefined; secrets?: readonly string[] } = {},
): Promise<ReportSummary> {
  const totals: Record<string, number> = Object.fromEntries(REPORT_STATUSES.map((s) => [s, 0]));
  const groups: Record<StatusGroup, number> = { delivered: 0, in_progress: 0, failed: 0, not_sent: 0 };
  const reasons = new Map<string, Omit<FailureReason, 'share'>>();
  const first = campaign.firstSendAt;
  const last = campaign.lastSendAt;
  const bucketMs = first !== null && last !== null ? bucketSizeFor(Math.max(1, last - first)) : 60_000;
  const origin = first === null ? 0 : Math.floor(first / bucketMs) * bucketMs;
  const buckets = new Map<number, TimeBucket>();
  let count = 0;
  let accepted = 0;
  let checkedAt: number | null = null;
  const devices = new Map<string, DeviceTotals>();
  const variants = new Map<string, VariantTotals>();

  for await (const row of rows) {
    count++;
    const status = reportStatus(row);
    totals[status] = (totals[status] ?? 0) + 1;
    const group = statusGroup(status);
    groups[group]++;
    if (row.state === 'accepted') accepted++;
    if (row.lastCheckedAt !== null && (checkedAt === null || row.lastCheckedAt > checkedAt)) checkedAt = row.lastCheckedAt;
    if (row.device) {
      let d = devices.get(row.device);
      // Device codes come from the campaign file (at most 100); bounded anyway.
      if (!d && devices.size < 1000) devices.set(row.device, (d = { device: row.device, sent: 0, accepted: 0, delivered: 0, failed: 0, in_progress: 0 }));
      if (d) {
        d.sent++;
        if (row.state === 'accepted') d.accepted++;
        if (group === 'delivered') d.delivered++;
        else if (group === 'failed') d.failed++;
        else d.in_progress++;
      }
    }
    if (row.variant != null) {
      let v = variants.get(row.variant);
      // Variant names come from the campaign file; bounded anyway.
      if (!v && variants.size < 1000) variants.set(row.variant, (v = { name: row.variant, recipients: 0, sent: 0, delivered: 0, failed: 0 }));
      if (v) {
        v.recipients++;
        if (row.state === 'accepted') v.sent++;
        if (group === 'delivered') v.delivered++;
        else if (group === 'failed') v.failed++;
      }
    }

    if (row.sentAt !== null && first !== null) {
      const at = Math.min(Math.max(row.sentAt, first), last ?? row.sentAt);
      const start = origin + Math.floor((at - origin) / bucketMs) * bucketMs;
      let bucket = buckets.get(start);
      if (!bucket) buckets.set(start, (bucket = { start, delivered: 0, failed: 0, in_progress: 0 }));
      if (group === 'delivered') bucket.delivered++;
      else if (group === 'failed') bucket.failed++;
      else bucket.in_progress++;
    }

    if (group === 'failed' || group === 'not_sent') {
      const errorCode = row.errorCode === null ? null : safeText(row.errorCode, 64);
      const reason = row.errorMessage ? generalReason(safeText(redact(row.errorMessage, options.secrets ?? []), 1000)) : (errorCode ?? status);
      let key = `${status}\u0000${errorCode ?? ''}\u0000${reason}`;
      if (!reasons.has(key) && reasons.size >= MAX_REASONS) key = `${status}\u0000\u0000other reasons`;
      const seen = reasons.get(key);
      if (seen) seen.count++;
      else {
        const other = key.endsWith('\u0000other reasons');
        reasons.set(key, { status, error_code: other ? null : errorCode, reason: other ? 'other reasons' : reason, count: 1, example_line: row.line });
      }
    }
  }

  const delivered = groups.delivered;
  const durationMs = first !== null && last !== null ? last - first : null;
  const timeline: TimeBucket[] = [];
  if (first !== null && last !== null && buckets.size > 0) {
    // Every bucket between the first and the last send, empty ones included, so gaps show as gaps.
    const end = last;
    for (let start = origin; start <= end; start += bucketMs) {
      timeline.push(buckets.get(start) ?? { start, delivered: 0, failed: 0, in_progress: 0 });
    }
  }
  return {
    campaign: { id: campaign.id, name: options.displayName ?? campaign.name },
    timings: {
      planned_at: isoFromMs(campaign.plannedAt),
      first_send_at: isoFromMs(first),
      last_send_at: isoFromMs(last),
      duration_ms: durationMs,
      achieved_rate_per_minute:
        durationMs !== null && durationMs > 0 && accepted >= 2 ? Math.round(((accepted - 1) * 60_000 * 10) / durationMs) / 10 : null,
      statuses_checked_at: isoFromMs(checkedAt),
    },
    rows: count,
    accepted,
    delivered,
    totals,
    groups,
    delivery_rate: accepted > 0 ? Math.round((delivered / accepted) * 10_000) / 10_000 : null,
    top_failure_reasons: [...reasons.values()]
      .sort((a, b) => b.count - a.count || a.example_line - b.example_line)
      .slice(0, TOP_REASONS)
      .map((r) => ({ ...r, share: count > 0 ? Math.round((r.count / count) * 10_000) / 10_000 : 0 })),
    timeline: { bucket_ms: bucketMs, buckets: timeline },
    by_device: [...devices.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0)),
    by_variant: [...variants.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
