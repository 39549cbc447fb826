import { redact } from '../config/env.js';
import { safeText } from '../core/text.js';
import type { ReportRow } from '../store/types.js';
import { reportStatus } from './status.js';

/** Fixed columns before the chosen CSV columns, in order. */
export const LEADING_COLUMNS = ['line', 'recipient', 'original_number'] as const;
/** Fixed columns after the chosen CSV columns, in order. */
export const TRAILING_COLUMNS = [
  'message_id',
  'status',
  'error_code',
  'error_message',
  'attempts',
  'request_id',
  'sent_at',
  'delivered_at',
  'failed_at',
  'device',
] as const;
/**
 * Columns after the trailing ones, only for campaigns that have them (issue 11): `media_file` and `media_sha256`
 * for campaigns with media, `variant` for campaigns with `variants`.
 */
const EXTRA_COLUMNS = ['media_file', 'media_sha256', 'variant'] as const;
/** One of `EXTRA_COLUMNS`. */
export type ExtraColumn = (typeof EXTRA_COLUMNS)[number];
const FIXED = new Set<string>([...LEADING_COLUMNS, ...TRAILING_COLUMNS, ...EXTRA_COLUMNS]);

/** One report row, format-independent. Times are ISO 8601 in UTC; absent values are null. */
export interface ReportRecord {
  /** 1-based line of the row in the recipient CSV. */
  line: number;
  /** The normalised number (country code, digits only), or null when the row's number is invalid. */
  recipient: string | null;
  /** The phone column exactly as written in the CSV. */
  original_number: string;
  /** The chosen CSV columns of the row, by header name. */
  fields: Record<string, string>;
  /** The message UUID RK Connect returned. */
  message_id: string | null;
  /** See `REPORT_STATUSES`. */
  status: string;
  error_code: string | null;
  error_message: string | null;
  /** Send attempts made (0 for rows never sent). */
  attempts: number;
  /** The idempotency key sent as X-REQUEST-ID. */
  request_id: string | null;
  /** First attempt. */
  sent_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
  /** The device (`X-DEVICE-CODE`) the message went through; null when never sent. */
  device: string | null;
  /** The row's media file, relative to the campaign folder (campaigns with media). */
  media_file?: string | null;
  /** SHA-256 of that file when the row was planned: the bytes sent. */
  media_sha256?: string | null;
  /** The variant the row was rendered with (campaigns with `variants`). */
  variant?: string | null;
}

/** A report that cannot be made as asked (unknown column, unknown campaign): bad input. */
export class ReportError extends Error {
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ReportError';
  }
}

/** The CSV columns a report shows, and their header names in the CSV report. */
export interface ColumnPlan {
  /** CSV column names (keys of `ReportRow.fields`), in report order. */
  fields: string[];
  /** Header of each in the CSV report: the name itself, or `csv_<name>` when it equals a fixed column's name. */
  headers: string[];
  /** The phone column of the recipient CSV, when known or recognisable. */
  phoneColumn: string | undefined;
  /** `EXTRA_COLUMNS` this campaign has, in that order. */
  extra: ExtraColumn[];
}

/**
 * Decides which CSV columns a report shows. `chosen` (the campaign's `report.columns`) wins and must exist in the
 * CSV; otherwise every column of the CSV except the phone column, whose text is already in `original_number`.
 * The column list comes from the first row, since every row of a plan comes from the same header.
 */
export function planColumns(
  firstRow: ReportRow | undefined,
  chosen: readonly string[] | undefined,
  phoneColumn: string | undefined,
  /** Whether the campaign has media / variants (from the campaign file); by default, whether the first row has them. */
  has: { media?: boolean | undefined; variants?: boolean | undefined } = {},
): ColumnPlan {
  const available = firstRow ? Object.keys(firstRow.fields) : [];
  const phone = phoneColumn ?? (firstRow ? available.find((k) => firstRow.fields[k] === firstRow.rawPhone) : undefined);
  let fields: string[];
  if (chosen && chosen.length > 0) {
    const missing = firstRow ? chosen.filter((c) => !available.includes(c)) : [];
    if (missing.length > 0) {
      throw new ReportError(
        `report.columns names ${missing.length > 1 ? 'columns' : 'a column'} the recipient CSV does not have: ${missing.map((m) => `"${m}"`).join(', ')}. ` +
          `The CSV has: ${available.map((a) => `"${a}"`).join(', ')}.`,
        'Fix report.columns in the campaign file (names are case-sensitive), or remove it to include every column.',
      );
    }
    fields = [...chosen];
  } else {
    fields = available.filter((k) => k !== phone);
  }
  const extra: ExtraColumn[] = [];
  if (has.media ?? (firstRow?.mediaFile != null)) extra.push('media_file', 'media_sha256');
  if (has.variants ?? (firstRow?.variant != null)) extra.push('variant');
  return { fields, headers: fields.map((f) => (FIXED.has(f) ? `csv_${f}` : f)), phoneColumn: phone, extra };
}

/** Milliseconds since the epoch as ISO 8601 UTC (`2026-12-05T02:00:00.000Z`), or null. */
export function isoFromMs(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A time as the API wrote it (e.g. `2026-03-02T12:00:00+07:00`) in the report's form, ISO 8601 UTC; kept verbatim
 * if it cannot be read as a date, so nothing the API said is lost.
 */
export function isoFromApi(text: string | null): string | null {
  if (text === null || text.trim() === '') return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : new Date(ms).toISOString();
}

/** Text that came from the API, cleaned again for a report (defence in depth: the client cleans it first). */
const apiText = (value: string | null, maxLength: number): string | null => (value === null ? null : safeText(value, maxLength));

/**
 * Builds the format-independent record of one row. Error messages are redacted against `secrets`; every value that
 * came from the API is plain, bounded text (no control characters or escape sequences).
 */
export function toRecord(
  row: ReportRow,
  fields: readonly string[],
  secrets: readonly string[] = [],
  extra: readonly ExtraColumn[] = [],
): ReportRecord {
  const chosen: Record<string, string> = {};
  for (const f of fields) chosen[f] = row.fields[f] ?? '';
  const record: ReportRecord = {
    line: row.line,
    recipient: row.phone,
    original_number: row.rawPhone,
    fields: chosen,
    message_id: apiText(row.uuid, 128),
    status: reportStatus(row),
    error_code: apiText(row.errorCode, 64),
    error_message: row.errorMessage === null ? null : safeText(redact(row.errorMessage, secrets), 1000),
    attempts: row.attempts,
    request_id: row.requestId,
    sent_at: isoFromMs(row.sentAt),
    delivered_at: apiText(isoFromApi(row.deliveredAt), 64),
    failed_at: apiText(isoFromApi(row.failedAt), 64),
    device: row.device ?? null,
  };
  for (const column of extra) {
    if (column === 'media_file') record.media_file = row.mediaFile ?? null;
    else if (column === 'media_sha256') record.media_sha256 = row.mediaSha256 ?? null;
    else record.variant = row.variant ?? null;
  }
  return record;
}

/**
 * Reads the first row of a stream without losing it: returns it and an iterable of every row, the first
 * included. Lets a writer decide its header before it writes anything.
 */
export async function peekFirst<T>(rows: AsyncIterable<T>): Promise<{ first: T | undefined; all: AsyncIterable<T> }> {
  const iterator = rows[Symbol.asyncIterator]();
  const head = await iterator.next();
  const first = head.done ? undefined : head.value;
  async function* all(): AsyncGenerator<T> {
    if (head.done) return;
    try {
      yield head.value;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }
  return { first, all: all() };
}
