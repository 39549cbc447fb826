import { stringify, type Options as StringifyOptions } from 'csv-stringify/sync';
import { LEADING_COLUMNS, peekFirst, planColumns, toRecord, TRAILING_COLUMNS, type ColumnPlan, type ReportRecord } from './record.js';
import { stringifyReportRows } from './csv-fast.js';
import { requireCampaign, type ReportSource } from './source.js';
import { neutraliseFormula, spreadsheetCell } from './spreadsheet.js';
import { RETRY_STATUSES, reportStatus } from './status.js';

/** How a CSV report is written. */
export interface CsvFormat {
  /** Field delimiter; `;` suits spreadsheets in locales whose decimal separator is a comma. @default ',' */
  delimiter?: ',' | ';';
  /** Start with a UTF-8 byte order mark, so Excel on Windows reads accents and non-Latin names right. @default false */
  bom?: boolean;
  /**
   * Write phone numbers and long or zero-led digit strings as `="…"` so spreadsheets keep them as text
   * (see `needsTextProtection`). Off gives plain values for programs. Formula neutralisation is always on.
   * @default true
   */
  protectNumbers?: boolean;
}

/** Rows per csv-stringify call: big enough to amortise it, small enough to keep memory flat. */
const BATCH = 1000;

function stringifyOptions(format: CsvFormat): StringifyOptions {
  // CRLF as RFC 4180 says; every reader (and rk-broadcast's own) takes it.
  return { delimiter: format.delimiter ?? ',', record_delimiter: 'windows', quoted_match: /^\s|\s$/ };
}

/** The cells of one record, in header order. */
function reportCells(r: ReportRecord, plan: ColumnPlan, protectNumbers: boolean): string[] {
  const text = (v: string | null): string => (v === null ? '' : neutraliseFormula(v));
  return [
    String(r.line),
    spreadsheetCell(r.recipient, { isPhone: true, protectNumbers }),
    spreadsheetCell(r.original_number, { isPhone: true, protectNumbers }),
    ...plan.fields.map((f) => spreadsheetCell(r.fields[f] ?? '', { isPhone: f === plan.phoneColumn, protectNumbers })),
    text(r.message_id),
    text(r.status),
    text(r.error_code),
    text(r.error_message),
    String(r.attempts),
    text(r.request_id),
    text(r.sent_at),
    text(r.delivered_at),
    text(r.failed_at),
    text(r.device),
    ...plan.extra.map((c) => text(r[c] ?? null)),
  ];
}

/**
 * The CSV report, streamed from the store in chunks (never the whole campaign in memory): one row per input
 * row in CSV order with the fixed columns `line, recipient, original_number`, the chosen CSV columns, then
 * `message_id, status, error_code, error_message, attempts, request_id, sent_at, delivered_at, failed_at, device`.
 */
export async function* csvReport(source: ReportSource, format: CsvFormat = {}): AsyncGenerator<string> {
  await requireCampaign(source);
  const options = stringifyOptions(format);
  const protectNumbers = format.protectNumbers ?? true;
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, source.columns, source.phoneColumn, source);
  const header = [...LEADING_COLUMNS, ...plan.headers.map(neutraliseFormula), ...TRAILING_COLUMNS, ...plan.extra];
  yield (format.bom ? '\uFEFF' : '') + stringify([header], options);
  const delimiter = format.delimiter ?? ',';
  let batch: string[][] = [];
  for await (const row of all) {
    batch.push(reportCells(toRecord(row, plan.fields, source.secrets, plan.extra), plan, protectNumbers));
    if (batch.length >= BATCH) {
      yield stringifyReportRows(batch, delimiter);
      batch = [];
    }
  }
  if (batch.length > 0) yield stringifyReportRows(batch, delimiter);
}

/** What `failedOnlyCsv` wrote. */
export interface FailedOnlyStats {
  /** Rows written (not counting the header). */
  rows: number;
  /** The phone column of the header, or undefined when the campaign has no rows. */
  phoneColumn: string | undefined;
}

/**
 * The rows worth sending again (`RETRY_STATUSES`), as a recipient CSV: the original header and columns in their
 * order, so the file works directly as `recipients.file` of a follow-up campaign. The phone column holds the
 * normalised number (`6281234567890`), which reads back as exactly the number that was tried; every other cell
 * is formula-neutralised like the report. `stats` is filled in as rows are written.
 */
export async function* failedOnlyCsv(source: ReportSource, format: CsvFormat = {}, stats?: FailedOnlyStats): AsyncGenerator<string> {
  await requireCampaign(source);
  const options = stringifyOptions(format);
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, undefined, source.phoneColumn);
  const phoneColumn = plan.phoneColumn ?? 'phone';
  const columns = first ? Object.keys(first.fields) : [phoneColumn];
  if (!columns.includes(phoneColumn)) columns.unshift(phoneColumn);
  if (stats) stats.phoneColumn = first ? phoneColumn : undefined;
  yield (format.bom ? '\uFEFF' : '') + stringify([columns.map(neutraliseFormula)], options);
  let batch: string[][] = [];
  for await (const row of all) {
    if (row.phone === null || !RETRY_STATUSES.includes(reportStatus(row))) continue;
    batch.push(columns.map((c) => (c === phoneColumn ? row.phone! : neutraliseFormula(row.fields[c] ?? ''))));
    if (stats) stats.rows++;
    if (batch.length >= BATCH) {
      yield stringify(batch, options);
      batch = [];
    }
  }
  if (batch.length > 0) yield stringify(batch, options);
}
