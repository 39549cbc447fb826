import { existsSync } from 'node:fs';
import { extname, relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { Campaign } from '../../config/campaign.js';
import { EXIT } from '../../core/exit-codes.js';
import { packageVersion } from '../../core/version.js';
import { REPORT_FORMATS, REPORT_LANGS, type ReportFormat, type ReportLang } from '../../report/formats.js';
import { RETRY_STATUSES } from '../../report/status.js';
import type { FailedOnlyStats, ReportSource } from '../../report/index.js';
import type { Store } from '../../store/port.js';
import { defineCommand } from '../command.js';
import { withDbFlag } from '../flags.js';
import { InputError } from '../input-error.js';
import { errLine, type CliIo } from '../io.js';
import { installStopSignals } from '../signals.js';

/** Flags of `rk-broadcast report`. */
interface ReportArgs {
  campaign: string;
  format?: ReportFormat;
  out?: string;
  failedOnly?: boolean;
  bom?: boolean;
  delimiter?: string;
  rawNumbers?: boolean;
  timezone?: string;
  maxRows?: number;
  lang?: ReportLang;
  db?: string;
  quiet?: boolean;
}

/** The format asked for, else the one `--out`'s extension names, else CSV. */
function chooseFormat(args: ReportArgs): ReportFormat {
  if (args.format) return args.format;
  const ext = args.out ? extname(args.out).toLowerCase().slice(1) : '';
  if (ext === 'htm') return 'html';
  return (REPORT_FORMATS as readonly string[]).includes(ext) ? (ext as ReportFormat) : 'csv';
}

function parseDelimiter(value: string | undefined): ',' | ';' {
  if (value === undefined || value === ',' || value === 'comma') return ',';
  if (value === ';' || value === 'semicolon') return ';';
  throw new InputError(`--delimiter must be "," or ";", found ${JSON.stringify(value)}.`, "Quote it for the shell: --delimiter ';'");
}

/**
 * What the report needs to know about the campaign: from its file, or (when the argument is not a file) from the
 * database alone by campaign id, so a report still works after the campaign's files moved.
 */
async function campaignFor(arg: string, io: CliIo, exists: (id: string) => Promise<boolean>): Promise<{ campaign?: Campaign; id: string }> {
  const path = resolve(io.cwd, arg);
  if (/\.(ya?ml|json)$/i.test(arg) || existsSync(path)) {
    const { loadCampaign } = await import('../../config/campaign.js');
    const campaign = await loadCampaign(path);
    return { campaign, id: campaign.id };
  }
  if (await exists(arg)) return { id: arg };
  throw new InputError(
    `No campaign file ${arg} (looked at ${path}), and no campaign with that id in the database.`,
    'Name the campaign file, e.g. rk-broadcast report campaigns/promo.yaml --format html --out report.html',
  );
}

/** Turns a failure to write `--out` into bad input that names the file. */
function outputError(error: unknown, out: string, isStoreError: (e: unknown) => boolean): unknown {
  if (isStoreError(error)) return error; // reading the database failed, not writing the file
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && ['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EROFS', 'ENOSPC'].includes(code)) {
    return new InputError(
      `Cannot write the report to ${out} (${code}).`,
      code === 'ENOSPC' ? 'The disk is full: free some space, or choose an --out path on another disk.' : 'Choose another --out path, one you can write to.',
    );
  }
  return error;
}

/** `rk-broadcast report CAMPAIGN`: the delivery report as CSV, JSON, HTML or XLSX, or the rows to send again. */
export const reportCommand = defineCommand<ReportArgs>({
  command: 'report <campaign>',
  describe: 'Write the delivery report (csv, json, html or xlsx), or the rows to retry with --failed-only',
  builder: (y: Argv) =>
    withDbFlag(
      y
        .positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign file (YAML or JSON), or a campaign id in the database' })
        .option('format', { choices: REPORT_FORMATS, describe: 'Report format (default: from --out\'s extension, else csv)' })
        .option('out', { alias: 'o', type: 'string', describe: 'Write to this file (mode 0600) instead of stdout' })
        .option('failed-only', {
          type: 'boolean',
          default: false,
          describe: `Only the rows worth sending again (${RETRY_STATUSES.join(', ')}), as a recipient CSV for a follow-up campaign`,
        })
        .option('bom', { type: 'boolean', default: false, describe: 'Start the CSV with a UTF-8 byte order mark (Excel on Windows)' })
        .option('delimiter', { type: 'string', describe: 'CSV delimiter: "," (default) or ";" (spreadsheets in comma-decimal locales)' })
        .option('raw-numbers', { type: 'boolean', default: false, describe: 'CSV: write phone numbers plain instead of ="…" (for programs, not spreadsheets)' })
        .option('timezone', { type: 'string', default: 'UTC', describe: 'HTML, XLSX: time zone to show times in, e.g. Asia/Jakarta (CSV and JSON use UTC)' })
        .option('max-rows', { type: 'number', default: 5000, describe: 'HTML: most not-delivered rows listed in the table' })
        .option('lang', { choices: REPORT_LANGS, describe: 'HTML, XLSX: language of headings and status names, en or id (default: report.lang, else en)' }),
    )
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No summary on stderr' })
      .check((a) => {
        const maxRows = a['max-rows'] as number | undefined;
        if (maxRows !== undefined && (!Number.isInteger(maxRows) || maxRows < 0)) throw new Error(`--max-rows must be a whole number, found ${String(maxRows)}`);
        if (a['failed-only'] && a.format !== undefined && a.format !== 'csv') throw new Error('--failed-only writes a CSV; leave out --format or use --format csv');
        return true;
      })
      .example('$0 report campaigns/promo.yaml --format html --out promo.html', 'A page to open, share and print')
      .example('$0 report campaigns/promo.yaml --format csv --bom --delimiter ";" > promo.csv', 'For Excel in a comma-decimal locale')
      .example('$0 report campaigns/promo.yaml --failed-only --out retry.csv', 'Recipients for a follow-up campaign'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ redact }, report, { secretsOf }, { describeDb, openStoreForReading }, { describeFailure, printFailure }, { formatTotals }, { isStoreError }] = await Promise.all([
      import('../../config/env.js'),
      import('../../report/index.js'),
      import('../campaign.js'),
      import('../context.js'),
      import('../failure.js'),
      import('../run-view.js'),
      import('../../store/errors.js'),
    ]);
    const { chooseReportLang, csvReport, failedOnlyCsv, htmlReport, jsonReport, ReportError, writeChunks, writeReportFile, xlsxReport } = report;
    let secrets = secretsOf(io);
    let store: Store;
    try {
      // Read-only: a report never changes the database, so it works on a read-only disk or another user's file.
      const opened = await openStoreForReading(args.db, io);
      if (!opened) {
        // Nothing was ever written there; there is nothing to report from it.
        printFailure(
          io,
          'report',
          describeFailure(new InputError(`No state database at ${describeDb(args.db, io)}: no campaign was run with it.`, 'Point --db (or RK_BROADCAST_DB) at the database the campaign was run with.')),
          { json: false, secrets },
        );
        return EXIT.invalidInput;
      }
      store = opened;
    } catch (error) {
      const failure = describeFailure(error);
      printFailure(io, 'report', failure, { json: false, secrets });
      return failure.exitCode;
    }
    try {
      const format: ReportFormat = args.failedOnly ? 'csv' : chooseFormat(args);
      const delimiter = parseDelimiter(args.delimiter);
      if (args.out === undefined && format === 'html' && io.stdout.isTTY) {
        throw new InputError('An HTML report is a file to open in a browser, not something to print on a terminal.', 'Add --out report.html (or redirect: > report.html).');
      }
      if (args.out === undefined && format === 'xlsx' && io.stdout.isTTY) {
        throw new InputError('An XLSX report is a file to open in a spreadsheet, not something to print on a terminal.', 'Add --out report.xlsx (or redirect: > report.xlsx).');
      }
      const { campaign, id } = await campaignFor(args.campaign, io, async (candidate) => (await store.getCampaign(candidate)) !== undefined);
      secrets = secretsOf(io, campaign);
      const lang = chooseReportLang(args.lang, campaign?.report.lang);
      const source: ReportSource = {
        store,
        campaignId: id,
        name: campaign?.name,
        columns: campaign?.report.columns,
        phoneColumn: campaign?.recipients.phoneColumn,
        // Issue 11: media and variant columns, known from the campaign file (else recognised from the rows).
        media: campaign ? campaign.type !== 'text' : undefined,
        variants: campaign ? campaign.variants !== undefined : undefined,
        secrets,
      };
      const stats: FailedOnlyStats = { rows: 0, phoneColumn: undefined };
      const chunks = args.failedOnly
        ? failedOnlyCsv(source, { delimiter, bom: args.bom === true }, stats)
        : format === 'csv'
          ? csvReport(source, { delimiter, bom: args.bom === true, protectNumbers: args.rawNumbers !== true })
          : format === 'json'
            ? jsonReport(source)
            : format === 'xlsx'
              ? xlsxReport(source, { timeZone: args.timezone ?? 'UTC', lang, version: packageVersion() })
              : htmlReport(source, { timeZone: args.timezone ?? 'UTC', maxRows: args.maxRows ?? 5000, version: packageVersion(), lang });

      const out = args.out === undefined ? undefined : resolve(io.cwd, args.out);
      if (out === undefined) {
        try {
          await writeChunks(chunks, io.stdout);
        } catch (error) {
          // The reader went away (`| head`): not a failure of the report.
          if ((error as { code?: unknown }).code !== 'EPIPE') throw error;
        }
      } else {
        // SIGINT/SIGTERM while writing stops it and removes the temporary file instead of leaving it behind.
        const signals = installStopSignals(() => undefined);
        try {
          await writeReportFile(chunks, out, { signal: signals.stop.signal }).catch((error: unknown) => {
            if (signals.stop.signal.aborted) return;
            throw outputError(error, args.out!, isStoreError);
          });
        } finally {
          signals.dispose();
        }
        if (signals.stop.signal.aborted) {
          errLine(io, `rk-broadcast report: stopped by ${signals.received ?? 'a signal'}; ${args.out} was not written (nothing half-written is left behind).`);
          return EXIT.interrupted;
        }
      }

      if (!args.quiet) {
        const where = out === undefined ? 'stdout' : relative(io.cwd, out) || out;
        const counts = await store.counts(id);
        if (args.failedOnly) {
          errLine(io, `Wrote ${stats.rows} row(s) to retry (${RETRY_STATUSES.join(', ')}) to ${where}.`);
          if (stats.rows > 0) {
            errLine(
              io,
              `Use it as recipients.file of a follow-up campaign (phone_column: ${stats.phoneColumn ?? 'phone'}); it keeps the original columns, and the phone column holds the normalised number.`,
            );
          }
        } else {
          errLine(io, redact(`${format.toUpperCase()} report of ${campaign?.name ?? id}: ${counts.total} row(s) · ${formatTotals(counts)} → ${where}`, secrets));
        }
      }
      return EXIT.ok;
    } catch (caught) {
      const error = caught instanceof ReportError ? new InputError(caught.message, caught.hint) : caught;
      const failure = describeFailure(error);
      printFailure(io, 'report', failure, { json: false, secrets });
      return failure.exitCode;
    } finally {
      await store.close();
    }
  },
});
