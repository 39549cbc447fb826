/**
 * The XLSX report: a workbook people open as a spreadsheet, written with exceljs's streaming writer so a
 * campaign of any size stays in flat memory. Sheet 1 is a summary in the report's language; sheet 2 has the CSV
 * report's columns, one row per input row. Format in docs/report-format.md.
 */
import { PassThrough } from 'node:stream';
import ExcelJS from 'exceljs';
import { IANAZone } from 'luxon';
import { reportTexts, statusMeaning, statusName, type ReportLang, type ReportTexts } from './i18n.js';
import { LEADING_COLUMNS, peekFirst, planColumns, toRecord, TRAILING_COLUMNS, type ColumnPlan, type ReportRecord } from './record.js';
import { requireCampaign, type ReportSource } from './source.js';
import { REPORT_STATUSES } from './status.js';
import { REPORT_SCHEMA_VERSION, summariseRows, type ReportSummary } from './summary.js';
import { requireTimeZone, zoneLabel } from './zone.js';

/** How the XLSX report is written. */
export interface XlsxFormat {
  /** IANA zone whose wall-clock time the date cells show (spreadsheets have no time zones). @default 'UTC' */
  timeZone?: string;
  /** Language of the summary sheet, the sheet names and the status names there. @default 'en' */
  lang?: ReportLang;
  /** Shown on the summary sheet. */
  version?: string;
}

/** Number format of every date cell. */
export const XLSX_DATE_FORMAT = 'yyyy-mm-dd hh:mm:ss';
const PERCENT_FORMAT = '0.0%';
/** Bytes the data sheet may have waiting for the compressor before the writer waits for it to catch up. */
const MAX_BACKLOG = 4 << 20;
/** Rows between two backpressure checks. */
const CHECK_EVERY = 256;

/**
 * The instant `ms` as a Date whose UTC fields are the wall-clock time in `zone`, to the second: exceljs writes a
 * Date as its UTC serial number, so the cell shows that zone's local time. A one-minute cache of the zone offset
 * keeps this cheap (offsets change only on whole minutes).
 */
export function wallClockDate(zone: string): (ms: number) => Date {
  const tz = IANAZone.create(zone);
  let cachedMinute = Number.NaN;
  let cachedOffsetMs = 0;
  return (ms) => {
    const minute = Math.floor(ms / 60_000);
    if (minute !== cachedMinute) {
      cachedMinute = minute;
      cachedOffsetMs = tz.offset(ms) * 60_000;
    }
    return new Date(Math.floor((ms + cachedOffsetMs) / 1000) * 1000);
  };
}

/**
 * A CSV value as a cell: a plain whole number (no sign, no leading zero, at most 11 digits, so a number the CSV
 * report also leaves unprotected: see `needsTextProtection`) becomes a number cell so amounts add up; anything
 * else, and the phone column always, is text.
 */
function fieldCell(value: string, isPhone: boolean): string | number {
  return !isPhone && /^(?:0|[1-9]\d{0,10})$/.test(value) ? Number(value) : value;
}

type CellValue = string | number | Date | null;

function rowCells(r: ReportRecord, plan: ColumnPlan, toDate: (ms: number) => Date): CellValue[] {
  const time = (iso: string | null): CellValue => {
    if (iso === null) return null;
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? iso : toDate(ms); // an API time that is not a date is kept as text, like the CSV
  };
  return [
    r.line,
    r.recipient,
    r.original_number,
    ...plan.fields.map((f) => fieldCell(r.fields[f] ?? '', f === plan.phoneColumn)),
    r.message_id,
    r.status,
    r.error_code,
    r.error_message,
    r.attempts,
    r.request_id,
    time(r.sent_at),
    time(r.delivered_at),
    time(r.failed_at),
    r.device,
    ...plan.extra.map((c) => r[c] ?? null),
  ];
}

/** The uncompressed-data sink exceljs pipes a worksheet into (archiver's entry stream), if it can be found. */
export interface Sink {
  /** Bytes written to it and not yet taken by the compressor. */
  backlog(): number;
  /** Bytes queued on its writable side (past its high-water mark, it emits `drain` once they are taken). */
  queued(): number;
  once(event: 'drain', listener: () => void): unknown;
}

/** A PassThrough of readable-stream 2 (archiver's): `_writableState` and `_readableState`, no `writableLength`. */
interface OldPassThrough {
  _writableState?: { length?: unknown };
  _readableState?: { length?: unknown };
  once?: unknown;
}

/**
 * exceljs's streaming worksheet pushes each 64 KiB of XML into the zip without waiting for the compressor, so a
 * fast producer would pile the whole sheet up in memory. This finds the stream it writes into (exceljs 4
 * internals: `worksheet.stream.pipes[0]`), whose buffered length is the backlog; `test/report-xlsx.test.ts` fails
 * if an exceljs upgrade moves it.
 */
export function worksheetSink(sheet: ExcelJS.Worksheet): Sink | undefined {
  const internal = sheet as unknown as { stream?: { pipes?: unknown[] } };
  const stream = internal.stream?.pipes?.[0] as OldPassThrough | undefined;
  const writable = stream?._writableState;
  const readable = stream?._readableState;
  if (!stream || typeof writable?.length !== 'number' || typeof readable?.length !== 'number' || typeof stream.once !== 'function') return undefined;
  const once = stream.once as (event: string, listener: () => void) => unknown;
  const queued = (): number => writable.length as number;
  return { queued, backlog: () => queued() + (readable.length as number), once: (event, listener) => once.call(stream, event, listener) };
}

/** Waits until the sheet's backlog is below the limit, yielding to the event loop at least once. */
async function catchUp(sink: Sink | undefined): Promise<void> {
  if (sink && sink.queued() > MAX_BACKLOG) {
    await new Promise<void>((resolve) => sink.once('drain', resolve));
  } else {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Sheet 1: what the campaign did, in the report's language, with real numbers and dates. */
function writeSummary(
  sheet: ExcelJS.Worksheet,
  summary: ReportSummary,
  t: ReportTexts,
  at: { toDate: (ms: number) => Date; zone: string; generatedAt: number; version: string | undefined },
): void {
  const date = (iso: string | null): Date | null => (iso === null ? null : at.toDate(Date.parse(iso)));
  const add = (values: CellValue[], style?: { bold?: boolean; formats?: Record<number, string>; size?: number }): void => {
    const row = sheet.addRow(values.map(textCell));
    if (style?.bold || style?.size) row.font = { bold: style.bold ?? false, ...(style.size ? { size: style.size } : {}) };
    for (const [column, format] of Object.entries(style?.formats ?? {})) row.getCell(Number(column)).numFmt = format;
    row.commit();
  };
  const dateRow = (label: string, value: Date | null): void => add([label, value], { formats: { 2: XLSX_DATE_FORMAT } });
  const g = summary.groups;
  const tm = summary.timings;

  add([summary.campaign.name], { bold: true, size: 14 });
  add([t.campaignId, summary.campaign.id]);
  dateRow(t.generated, at.toDate(at.generatedAt));
  add([t.timeZone, zoneLabel(at.zone)]);
  dateRow(t.planned, date(tm.planned_at));
  dateRow(t.firstSend, date(tm.first_send_at));
  dateRow(t.lastSend, date(tm.last_send_at));
  dateRow(t.statusesChecked.charAt(0).toUpperCase() + t.statusesChecked.slice(1), date(tm.statuses_checked_at));
  add([]);
  add([t.rows, summary.rows], { bold: true });
  add([t.accepted, summary.accepted]);
  add([t.groupNames.delivered, g.delivered]);
  add([t.deliveryRate, summary.delivery_rate], { formats: { 2: PERCENT_FORMAT } });
  add([t.groupNames.failed, g.failed]);
  add([t.groupNames.in_progress, g.in_progress]);
  add([t.groupNames.not_sent, g.not_sent]);
  add([t.sendRatePerMinute, tm.achieved_rate_per_minute]);
  add([]);

  add([t.status, t.statusCode, t.rows, t.share, t.meaning], { bold: true });
  const known = REPORT_STATUSES as readonly string[];
  const statuses = [...known, ...Object.keys(summary.totals).filter((s) => !known.includes(s)).sort()];
  for (const s of statuses) {
    const count = summary.totals[s] ?? 0;
    add([statusName(t, s), s, count, summary.rows > 0 ? count / summary.rows : 0, statusMeaning(t, s)], { formats: { 4: PERCENT_FORMAT } });
  }
  add([]);

  add([t.topFailureReasons], { bold: true });
  if (summary.top_failure_reasons.length === 0) add([t.noFailures]);
  else {
    add([t.reason, t.errorCode, t.status, t.rows, t.shareOfRows, t.exampleLine], { bold: true });
    for (const r of summary.top_failure_reasons) {
      const reason = r.reason === 'other reasons' && r.error_code === null ? t.otherReasons : r.reason;
      add([reason, r.error_code, statusName(t, r.status), r.count, r.share, r.example_line], { formats: { 5: PERCENT_FORMAT } });
    }
  }
  add([]);
  add([t.rowsSheetNote]);
  add([`rk-broadcast${at.version ? ` ${at.version}` : ''} · ${t.footer(REPORT_SCHEMA_VERSION)}`]);
  sheet.commit();
}

/** Column widths of the data sheet, by header. */
function widthOf(header: string): number {
  if (header === 'line' || header === 'attempts') return 8;
  if (header === 'message_id' || header === 'request_id') return 38;
  if (header === 'error_message') return 48;
  if (header.endsWith('_at')) return 20;
  return Math.min(40, Math.max(12, header.length + 4));
}

/**
 * The XLSX report, streamed: the zip's bytes are yielded as the rows are read from the store, with backpressure
 * all the way from the file to the row loop. Two passes over the store: totals (for the summary sheet, which
 * comes first), then the rows. Text cells are always text (inline strings, never formulas), so a name such as
 * `=HYPERLINK(…)` needs no neutralising here; phone numbers and ids keep every digit, times are date cells.
 */
export async function* xlsxReport(source: ReportSource, format: XlsxFormat = {}): AsyncGenerator<Buffer> {
  const campaign = await requireCampaign(source);
  const zone = requireTimeZone(format.timeZone ?? 'UTC');
  const t = reportTexts(format.lang ?? 'en');
  const toDate = wallClockDate(zone);
  const generatedAt = source.generatedAt ?? Date.now();
  const summary = await summariseRows(campaign, source.store.reportRows(source.campaignId), { displayName: source.name, secrets: source.secrets ?? [] });
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, source.columns, source.phoneColumn, source);
  const headers = [...LEADING_COLUMNS, ...plan.headers, ...TRAILING_COLUMNS, ...plan.extra];

  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useSharedStrings: false, useStyles: true });
  workbook.creator = 'rk-broadcast';
  workbook.created = new Date(generatedAt);
  workbook.modified = workbook.created;
  let stopped = false;

  const produce = async (): Promise<void> => {
    const summarySheet = workbook.addWorksheet(t.summarySheet, { views: [{ showGridLines: false }] });
    summarySheet.columns = [{ width: 34 }, { width: 26 }, { width: 12 }, { width: 10 }, { width: 90 }, { width: 10 }];
    // Committed before the data sheet starts: the zip takes entries one after another.
    writeSummary(summarySheet, summary, t, { toDate, zone, generatedAt, version: format.version });

    const sheet = workbook.addWorksheet(t.rowsSheet, { views: [{ state: 'frozen', ySplit: 1 }] });
    const dateColumns = new Set(['sent_at', 'delivered_at', 'failed_at']);
    // One style object per kind of column, shared by every cell: exceljs caches a style's id by object identity,
    // so a fresh object per cell (its default) would be looked up by rendering it as XML, cell after cell.
    const plain: Partial<ExcelJS.Style> = {};
    const dated: Partial<ExcelJS.Style> = { numFmt: XLSX_DATE_FORMAT };
    const styles = headers.map((h) => (dateColumns.has(h) ? dated : plain));
    sheet.columns = headers.map((h, i) => ({ width: widthOf(h), style: styles[i]! }));
    const header = sheet.addRow(headers.map(textCell));
    header.font = { bold: true };
    header.commit();
    const sink = worksheetSink(sheet);
    let rows = 0;
    for await (const row of all) {
      if (stopped) return;
      const added = sheet.addRow(rowCells(toRecord(row, plan.fields, source.secrets, plan.extra), plan, toDate).map(textCell));
      added.eachCell({ includeEmpty: true }, (cell, column) => {
        cell.style = styles[column - 1] ?? plain;
      });
      added.commit();
      if (++rows % CHECK_EVERY === 0) await catchUp(sink);
    }
    sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: rows + 1, column: headers.length } };
    sheet.commit();
    await workbook.commit();
  };

  // The zip ends `out` when the workbook is committed; a failure ends it with the error.
  const producing = produce().catch((error: unknown) => {
    out.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  try {
    for await (const chunk of out) yield chunk as Buffer;
    await producing;
  } finally {
    stopped = true;
    if (!out.destroyed) out.destroy();
  }
}

/**
 * A string as an inline string cell (`t="inlineStr"`, the spec's type for literal text), not exceljs's default
 * for streamed strings, `t="str"`, which the spec defines as a formula's cached result.
 */
function textCell(value: CellValue): CellValue | { richText: { text: string }[] } {
  return typeof value === 'string' ? { richText: [{ text: value }] } : value;
}
