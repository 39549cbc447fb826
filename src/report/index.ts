/**
 * Delivery reports: rows from the store as CSV, JSON, a self-contained HTML page or an XLSX workbook, all
 * streamed. The formats are documented in docs/report-format.md.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export { csvReport, failedOnlyCsv, type CsvFormat, type FailedOnlyStats } from './csv.js';
export { htmlReport, HTML_CONTENT_SECURITY_POLICY, type HtmlFormat } from './html.js';
export { chooseReportLang, humanDuration, REPORT_LANGS, reportTexts, STATUS_MEANINGS, statusMeaning, statusName, type ReportLang, type ReportTexts } from './i18n.js';
export { jsonReport, jsonHead, type JsonReportHead } from './json.js';
export { ReportError, planColumns, toRecord, isoFromApi, isoFromMs, LEADING_COLUMNS, TRAILING_COLUMNS, type ColumnPlan, type ReportRecord } from './record.js';
export { requireCampaign, type ReportSource } from './source.js';
export { asSpreadsheetText, neutraliseFormula, needsTextProtection, spreadsheetCell } from './spreadsheet.js';
export { DELIVERED_STATUSES, REPORT_STATUSES, RETRY_STATUSES, reportStatus, statusGroup, type ReportStatus, type StatusGroup } from './status.js';
export { REPORT_SCHEMA_VERSION, summariseRows, generalReason, type FailureReason, type ReportSummary, type TimeBucket } from './summary.js';
export { wallClockDate, xlsxReport, XLSX_DATE_FORMAT, type XlsxFormat } from './xlsx.js';

/** The report formats. */
export const REPORT_FORMATS = ['csv', 'json', 'html', 'xlsx'] as const;
/** One of the report formats. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A report's chunks: text (CSV, JSON, HTML) or bytes (XLSX). */
export type ReportChunks = AsyncIterable<string> | AsyncIterable<Uint8Array>;

/**
 * Writes a report's chunks to a stream with backpressure, leaving the stream open (it may be stdout).
 * Rejects if the stream fails (e.g. EPIPE when the reader went away).
 */
export async function writeChunks(chunks: ReportChunks, out: NodeJS.WritableStream): Promise<void> {
  await pipeline(Readable.from(chunks), out, { end: false });
}

/**
 * Writes a report to `path` atomically with mode 0600 (reports hold phone numbers): into a private temporary
 * file beside it, then renamed over the target, so a reader never sees half a report and a failed run leaves the
 * old file in place. Creates missing directories.
 */
export async function writeReportFile(chunks: ReportChunks, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // A 1 MiB buffer lets the next chunk be built while the last one is written (16 KiB would serialise them).
    await pipeline(Readable.from(chunks), createWriteStream(temporary, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }));
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
export { JsonReportSchema, ReportRowSchema, reportJsonSchema } from './schema.js';
