/**
 * Delivery reports: rows from the store as CSV, JSON, a self-contained HTML page or an XLSX workbook, all
 * streamed. The formats are documented in docs/report-format.md.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export { csvReport, failedOnlyCsv, type CsvFormat, type FailedOnlyStats } from './csv.js';
export { htmlReport, HTML_CONTENT_SECURITY_POLICY, type HtmlFormat } from './html.js';
export { chooseReportLang, humanDuration, REPORT_LANGS, reportTexts, STATUS_MEANINGS, statusMeaning, statusName, type ReportLang, type ReportTexts } from './i18n.js';
export { jsonReport, jsonHead, type JsonReportHead } from './json.js';
export { ReportError, planColumns, toRecord, isoFromApi, isoFromMs, LEADING_COLUMNS, TRAILING_COLUMNS, type ColumnPlan, type ReportRecord } from './record.js';
export { requireCampaign, type ReportSource } from './source.js';
export { asSpreadsheetText, neutraliseFormula, needsTextProtection, spreadsheetCell } from './spreadsheet.js';
export { DELIVERED_STATUSES, REPORT_STATUSES, RETRY_STATUSES, inDisplayOrder, reportStatus, statusGroup, statusTotals, type ReportStatus, type StatusGroup } from './status.js';
export { REPORT_SCHEMA_VERSION, summariseRows, generalReason, type FailureReason, type ReportSummary, type TimeBucket } from './summary.js';
export { wallClockDate, xlsxReport, XLSX_DATE_FORMAT, type XlsxFormat } from './xlsx.js';

export { REPORT_FORMATS, type ReportFormat } from './formats.js';

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
 * file beside it (`.NAME.PID.RANDOM.tmp`), then renamed over the target, so a reader never sees half a report and
 * a failed run leaves the old file in place. Creates missing directories. The temporary file is removed on any
 * failure, on `signal`, and at process exit; one left by a process that was killed (SIGKILL) is removed by the
 * next report to the same path.
 */
export async function writeReportFile(chunks: ReportChunks, path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await removeStaleTemporaries(path).catch(() => undefined);
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const removeAtExit = (): void => rmSync(temporary, { force: true });
  process.once('exit', removeAtExit);
  try {
    // A 1 MiB buffer lets the next chunk be built while the last one is written (16 KiB would serialise them).
    const file = createWriteStream(temporary, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    await (options.signal ? pipeline(Readable.from(chunks), file, { signal: options.signal }) : pipeline(Readable.from(chunks), file));
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  } finally {
    process.off('exit', removeAtExit);
  }
}

/** An earlier version's temporary name: `NAME.<12 hex>.tmp`, without a pid. */
const LEGACY_TEMPORARY_AGE_MS = 60_000;

/**
 * Removes temporary files that an earlier report to `path` left behind: this tool's name pattern for this very
 * file, whose process is gone (or, for an earlier version's name without a pid, that nobody wrote to for a
 * minute). Never touches any other file. Returns the names removed.
 */
export async function removeStaleTemporaries(path: string, now: number = Date.now()): Promise<string[]> {
  const dir = dirname(path);
  const name = escapeRegExp(basename(path));
  const current = new RegExp(`^\\.${name}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`);
  const legacy = new RegExp(`^${name}\\.[0-9a-f]{12}\\.tmp$`);
  const removed: string[] = [];
  for (const entry of await readdir(dir)) {
    const pid = current.exec(entry)?.[1];
    let stale = pid !== undefined && !processAlive(Number(pid));
    if (!stale && legacy.test(entry)) {
      const info = await stat(join(dir, entry)).catch(() => undefined);
      stale = info !== undefined && info.isFile() && now - info.mtimeMs > LEGACY_TEMPORARY_AGE_MS;
    }
    if (!stale) continue;
    await rm(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a process with this pid exists on this machine (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export { JsonReportSchema, ReportRowSchema, reportJsonSchema } from './schema.js';
