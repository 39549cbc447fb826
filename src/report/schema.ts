/**
 * The JSON report's schema as code: tests check real reports against it, and docs/report-format.md embeds the
 * JSON Schema generated from it (`reportJsonSchema()`), so the documentation cannot drift from the output.
 */
import { z } from 'zod';

const isoTime = z.string().describe('ISO 8601 time in UTC, e.g. 2026-12-05T02:00:00.000Z');
const count = z.int().min(0);
const share = z.number().min(0).max(1);

/** One row of the JSON report. */
export const ReportRowSchema = z
  .strictObject({
    line: z.int().min(1).describe('1-based line of the row in the recipient CSV'),
    recipient: z.string().nullable().describe('Normalised number (country code, digits only); null when the number is invalid'),
    original_number: z.string().describe('The phone column exactly as written in the CSV'),
    fields: z.record(z.string(), z.string()).describe('The chosen CSV columns (report.columns, default all but the phone column)'),
    message_id: z.string().nullable().describe('Message UUID from RK Connect; null if it was never accepted'),
    status: z.string().describe('One of the documented report statuses, or an API status kept verbatim'),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    attempts: count.describe('Send attempts made'),
    request_id: z.string().nullable().describe('The X-REQUEST-ID idempotency key; null for rows never meant to be sent'),
    sent_at: isoTime.nullable().describe('First send attempt'),
    delivered_at: isoTime.nullable(),
    failed_at: isoTime.nullable(),
    device: z.string().nullable().describe('The device (X-DEVICE-CODE) the message went through; null when never sent'),
    media_file: z.string().nullable().optional().describe('Campaigns with media: the row\'s file, relative to the campaign folder'),
    media_sha256: z.string().nullable().optional().describe('Campaigns with media: SHA-256 of the file when planned (the bytes sent)'),
    variant: z.string().nullable().optional().describe('Campaigns with variants: the variant the row was rendered with'),
  })
  .describe('One input row');

/** The whole JSON report. */
export const JsonReportSchema = z
  .strictObject({
    schema_version: z.literal(1),
    generator: z.literal('rk-broadcast'),
    generated_at: isoTime,
    campaign: z.strictObject({ id: z.string(), name: z.string() }),
    timings: z.strictObject({
      planned_at: isoTime.nullable(),
      first_send_at: isoTime.nullable(),
      last_send_at: isoTime.nullable(),
      duration_ms: count.nullable().describe('last_send_at - first_send_at'),
      achieved_rate_per_minute: z.number().min(0).nullable().describe('(accepted - 1) per minute between the first and last send'),
      statuses_checked_at: isoTime.nullable().describe('Newest status check of any row'),
    }),
    rows_total: count,
    accepted: count.describe('Rows RK Connect accepted (any API status)'),
    delivered: count.describe('Rows delivered or read'),
    delivery_rate: share.nullable().describe('delivered / accepted, 4 decimals; null when nothing was accepted'),
    totals: z.record(z.string(), count).describe('Rows per status: every documented status, plus any other API status met'),
    top_failure_reasons: z
      .array(
        z.strictObject({
          status: z.string(),
          error_code: z.string().nullable(),
          reason: z.string().describe('The error message with row-specific values replaced by …'),
          count,
          share: share.describe('Share of all rows'),
          example_line: z.int().min(1),
        }),
      )
      .max(10),
    sends_over_time: z.strictObject({
      bucket_ms: z.int().min(1),
      buckets: z.array(z.strictObject({ start: isoTime, delivered: count, failed: count, in_progress: count })),
    }),
    by_device: z
      .array(
        z.strictObject({
          device: z.string(),
          sent: count.describe('Rows sent (or tried) through this device'),
          accepted: count,
          delivered: count,
          failed: count.describe('Rows that failed or were not sent after trying this device'),
          in_progress: count,
        }),
      )
      .describe('Sends and outcomes per device, by device code'),
    columns: z.array(z.string()).describe('The CSV columns in each row\'s fields, in order'),
    rows: z.array(ReportRowSchema),
  })
  .describe('rk-broadcast delivery report');

/** The JSON Schema (draft 2020-12) of the JSON report, as documented in docs/report-format.md. */
export function reportJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(JsonReportSchema) as Record<string, unknown>;
}
