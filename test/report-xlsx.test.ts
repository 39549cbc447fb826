/**
 * The XLSX report opened in a real spreadsheet program: LibreOffice Calc, headless (Debian's
 * `libreoffice-calc-nogui`; `.ci/run` installs it), saves each sheet as CSV, and every row, number, phone number,
 * id and time must come back as the JSON report of the same campaign has it. Also read back with exceljs's own
 * reader for what a CSV cannot show (sheet order, frozen header, filter, cell types). Skipped, saying so, only
 * where no LibreOffice exists and not in CI.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import ExcelJS from 'exceljs';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ManualClock } from '../src/core/clock.js';
import { EXIT } from '../src/core/exit-codes.js';
import { DEMO_PROJECT, startEmulator } from '../src/emulator/index.js';
import {
  LEADING_COLUMNS,
  REPORT_STATUSES,
  reportTexts,
  statusName,
  TRAILING_COLUMNS,
  wallClockDate,
  xlsxReport,
  type JsonReportHead,
  type ReportRecord,
} from '../src/report/index.js';
import { worksheetSink } from '../src/report/xlsx.js';
import { RkClient } from '../src/rk/client.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sweepCampaign } from '../src/sweep/index.js';
import { acceptWithBogusUuid, seedCampaign, sendPlanned, type SeedRow } from './fixtures/report/seed.js';
import { captureIo } from './helpers/capture.js';
import { englishLeftovers } from './helpers/report-lang.js';
import { findSoffice, workbooksAsCsv, type SheetCell } from './helpers/soffice.js';

const SOFFICE = findSoffice();
if (!SOFFICE) {
  if (process.env.CI === 'true') throw new Error('report-xlsx.test.ts: no soffice in CI; .ci/run installs Debian\'s libreoffice-calc-nogui.');
  console.warn('report-xlsx.test.ts: no LibreOffice (soffice) found (apt-get install libreoffice-calc-nogui, or set SOFFICE_BIN); the spreadsheet tests are skipped.');
}

const START = Date.UTC(2026, 11, 5, 2, 0, 0);
const ZONE = 'Asia/Jakarta';

/** Values a spreadsheet likes to damage, in the `note` column (not a phone column). */
const NOTES = [
  '=HYPERLINK("http://x","y")',
  '+62 812 3456',
  '@handle',
  '-12',
  '3.5',
  ' Budi ',
  'Ünïcödé 中文 ✓',
  'line one\nline two',
  '_x0041_',
  '1e5',
  'TRUE',
  '2026-12-05',
  '00123',
  '',
];

/** Rows sent to the emulator (some failing), swept until final, plus rows never sent. */
function rows(): SeedRow[] {
  const list: SeedRow[] = Array.from({ length: 28 }, (_, i) => {
    const phone = `62813000000${String(i).padStart(2, '0')}`;
    const rawPhone = i % 3 === 0 ? `+62 813-0000-00${String(i).padStart(2, '0')}` : i % 3 === 1 ? `0${phone.slice(2)}` : phone;
    return {
      rawPhone,
      phone,
      fields: {
        name: `Orang ${i}`,
        customer_id: i % 2 ? `000${i}` : `1234567890123456${i % 10}`,
        amount: String(150_000 + i * 1000),
        note: NOTES[i % NOTES.length]!,
      },
    };
  });
  list.push({ rawPhone: '0812', phone: null, fields: { name: 'Nomor salah', customer_id: '7', amount: '0', note: '' }, reason: 'not a valid ID phone number: "0812" (too short)' });
  list.push({ rawPhone: '6281300000000', phone: '6281300000000', fields: { name: 'Dobel', customer_id: '8', amount: '1', note: '' } });
  list.push({ rawPhone: '6281300000099', phone: '6281300000099', fields: { name: 'Berhenti', customer_id: '9', amount: '2', note: '' }, state: 'suppressed' });
  list.push({ rawPhone: '6281300000098', phone: '6281300000098', fields: { name: 'Nanti', customer_id: '10', amount: '3', note: '' } });
  list.push({ rawPhone: '6281300000097', phone: '6281300000097', fields: { name: 'Hilang', customer_id: '11', amount: '4', note: '' } });
  return list;
}

interface Built {
  dir: string;
  db: string;
  json: JsonReportHead & { rows: ReportRecord[] };
  en: string;
  id: string;
  sheets: Map<string, Map<string, SheetCell[][]>>;
}

let built: Built | undefined;
const closers: { close(): Promise<void> }[] = [];

async function build(): Promise<Built> {
  const clock = new ManualClock(START, true);
  const failing = ['6281300000004', '6281300000011'];
  const emu = await startEmulator({
    port: 0,
    projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }],
    now: () => clock.now(),
    lifecycle: { queuedToSentMs: 2000, sentToDeliveredMs: 4000, failRecipients: failing, failureMessage: 'Recipient is not on WhatsApp' },
  });
  closers.push(emu);
  const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, now: () => clock.now() });
  closers.push(api);
  const dir = mkdtempSync(join(tmpdir(), 'rkb-xlsx-'));
  const db = join(dir, 'state.db');
  const store = new SqliteStore(db);
  await seedCampaign(store, rows(), { id: 'promo', name: 'Promo Desember', now: START - 60_000 });
  await acceptWithBogusUuid(store, 'promo', 34, '00000000-0000-4000-8000-00000000beef', START);
  await sendPlanned(store, api, 'promo', clock, { skipLines: [33], spacingMs: 1750 });
  const outcome = await sweepCampaign({ api, store, clock, emit: () => undefined }, { campaignId: 'promo', untilFinal: true, ratePerMinute: 60_000 });
  expect(outcome.reason).toBe('final');
  await store.close();

  const cli = async (args: string[]): Promise<string> => {
    const t = captureIo({}, dir);
    const code = await main(['report', 'promo', '--db', db, '--quiet', ...args], t.io);
    expect(code, t.err()).toBe(EXIT.ok);
    return t.out();
  };
  const json = JSON.parse(await cli(['--format', 'json'])) as Built['json'];
  await cli(['--out', 'promo-en.xlsx', '--timezone', ZONE]); // the format from the extension
  await cli(['--format', 'xlsx', '--out', 'promo-id.xlsx', '--timezone', ZONE, '--lang', 'id']);
  const en = join(dir, 'promo-en.xlsx');
  const id = join(dir, 'promo-id.xlsx');
  const sheets = SOFFICE ? await workbooksAsCsv(SOFFICE, [en, id]) : new Map();
  return { dir, db, json, en, id, sheets };
}

beforeAll(async () => {
  built = await build();
}, 240_000);
afterAll(async () => {
  while (closers.length > 0) await closers.pop()!.close();
  if (built) rmSync(built.dir, { recursive: true, force: true });
});

const b = (): Built => built!;
const wall = (iso: string | null): string => (iso === null ? '' : DateTime.fromISO(iso, { zone: ZONE }).toFormat('yyyy-LL-dd HH:mm:ss'));
const text = (cells: SheetCell[]): string[] => cells.map((c) => c.text);

describe('XLSX report in LibreOffice Calc', () => {
  it.skipIf(!SOFFICE)('gives back every row and column of the JSON report: text as text, numbers as numbers, times as the wall time', () => {
    const { json, en, sheets } = b();
    const rowsSheet = sheets.get(en)!.get('Rows')!;
    const columns = json.columns;
    expect(text(rowsSheet[0]!)).toEqual([...LEADING_COLUMNS, ...columns, ...TRAILING_COLUMNS]); // the CSV report's header
    expect(rowsSheet[0]!.every((c) => c.isText)).toBe(true);
    const data = rowsSheet.slice(1).filter((r) => r.some((c) => c.text !== ''));
    expect(data.length).toBe(json.rows.length);
    expect(json.rows.length).toBe(33);

    const asText = (cell: SheetCell | undefined, value: string | null, where: string): void => {
      expect(cell?.text, where).toBe(value ?? '');
      if (value !== null && value !== '') expect(cell?.isText, `${where} is a text cell`).toBe(true);
    };
    const asNumber = (cell: SheetCell | undefined, value: number, where: string): void => {
      expect(cell?.text, where).toBe(String(value));
      expect(cell?.isText, `${where} is a number cell`).toBe(false);
    };
    const asTime = (cell: SheetCell | undefined, iso: string | null, where: string): void => {
      expect(cell?.text, where).toBe(wall(iso));
      if (iso !== null) expect(cell?.isText, `${where} is a date cell`).toBe(false);
    };
    json.rows.forEach((r, i) => {
      const cells = data[i]!;
      const at = (c: string): string => `line ${r.line}, ${c}`;
      let k = 0;
      asNumber(cells[k++], r.line, at('line'));
      asText(cells[k++], r.recipient, at('recipient'));
      asText(cells[k++], r.original_number, at('original_number'));
      for (const c of columns) {
        const value = r.fields[c]!;
        // The documented rule: a plain whole number (no sign, no leading zero, at most 11 digits) is a number.
        if (/^(?:0|[1-9]\d{0,10})$/.test(value)) asNumber(cells[k++], Number(value), at(c));
        else asText(cells[k++], value, at(c));
      }
      asText(cells[k++], r.message_id, at('message_id'));
      asText(cells[k++], r.status, at('status'));
      asText(cells[k++], r.error_code, at('error_code'));
      asText(cells[k++], r.error_message, at('error_message'));
      asNumber(cells[k++], r.attempts, at('attempts'));
      asText(cells[k++], r.request_id, at('request_id'));
      asTime(cells[k++], r.sent_at, at('sent_at'));
      asTime(cells[k++], r.delivered_at, at('delivered_at'));
      asTime(cells[k++], r.failed_at, at('failed_at'));
    });

    // What a spreadsheet would damage came back as written.
    const values = new Set(data.flatMap((cells) => text(cells)));
    for (const note of NOTES.filter(Boolean)) expect(values.has(note), note).toBe(true);
    expect(values.has('+62 813-0000-0000')).toBe(true);
    expect(values.has('081300000001')).toBe(true);
    expect(values.has('12345678901234560')).toBe(true);
    expect(values.has('0001')).toBe(true);
    expect(data.filter((cells) => cells[LEADING_COLUMNS.length + columns.indexOf('amount')]!.isText)).toEqual([]); // amounts add up
    expect(json.totals).toMatchObject({ delivered: 26, failed: 2, invalid: 1, duplicate: 1, suppressed: 1, pending: 1, unknown: 1 });
  });

  it.skipIf(!SOFFICE)('has a summary sheet first with the totals of the JSON report, in English and in Indonesian', () => {
    const { json, en, id, sheets } = b();
    for (const [file, lang] of [[en, 'en'], [id, 'id']] as const) {
      const t = reportTexts(lang);
      const book = sheets.get(file)!;
      expect([...book.keys()].sort()).toEqual([t.rowsSheet, t.summarySheet].sort());
      const summary = book.get(t.summarySheet)!;
      const byLabel = new Map(summary.map((cells) => [cells[0]?.text ?? '', cells.slice(1)]));
      expect(summary[0]![0]!.text).toBe('Promo Desember');
      expect(byLabel.get(t.campaignId)![0]!.text).toBe('promo');
      expect(byLabel.get(t.rows)![0]).toEqual({ text: String(json.rows_total), isText: false });
      expect(byLabel.get(t.accepted)![0]!.text).toBe(String(json.accepted));
      expect(byLabel.get(t.groupNames.delivered)![0]!.text).toBe(String(json.delivered));
      const rate = new Intl.NumberFormat('en-US', { style: 'percent', minimumFractionDigits: 1 }).format(json.delivery_rate!);
      expect(byLabel.get(t.deliveryRate)![0]!.text).toBe(rate);
      expect(byLabel.get(t.firstSend)![0]).toEqual({ text: wall(json.timings.first_send_at), isText: false });
      expect(byLabel.get(t.lastSend)![0]!.text).toBe(wall(json.timings.last_send_at));

      // One line per status: its name in the language, its value as in the Rows sheet, the count of the JSON.
      const header = summary.findIndex((cells) => cells[0]?.text === t.status && cells[1]?.text === t.statusCode);
      expect(header).toBeGreaterThan(0);
      const statusLines = summary.slice(header + 1, header + 1 + REPORT_STATUSES.length);
      expect(statusLines.map((cells) => cells[1]!.text)).toEqual([...REPORT_STATUSES]);
      for (const cells of statusLines) {
        const status = cells[1]!.text;
        expect(cells[0]!.text).toBe(statusName(t, status));
        expect(cells[2]).toEqual({ text: String(json.totals[status]), isText: false });
        expect(cells[4]!.text).toBe(t.statusMeanings[status as keyof typeof t.statusMeanings]);
      }
      const reasons = summary.findIndex((cells) => cells[0]?.text === t.reason);
      expect(summary.slice(reasons + 1, reasons + 1 + json.top_failure_reasons.length).map((cells) => Number(cells[3]!.text))).toEqual(
        json.top_failure_reasons.map((r) => r.count),
      );
    }
    // The Indonesian workbook has no English left in what it translates. Left out: the campaign's own data (its
    // name, id, the API's error messages in the reasons table) and the status values, which are keys by design.
    const human = (file: string, lang: 'en' | 'id'): string => {
      const t = reportTexts(lang);
      const summary = sheets.get(file)!.get(t.summarySheet)!;
      const statusHeader = summary.findIndex((cells) => cells[0]?.text === t.status && cells[1]?.text === t.statusCode);
      const reasonHeader = summary.findIndex((cells) => cells[0]?.text === t.reason);
      return summary
        .map((cells, i) => {
          if (i === 0 || (i > reasonHeader && i <= reasonHeader + json.top_failure_reasons.length)) return '';
          if (cells[0]?.text === t.campaignId) return cells[0].text;
          if (i > statusHeader && i <= statusHeader + REPORT_STATUSES.length) return text(cells.filter((_, c) => c !== 1)).join(' | ');
          return text(cells).join(' | ');
        })
        .join('\n');
    };
    expect(human(id, 'id')).toMatch(/Diterima RK Connect/);
    expect(human(id, 'id')).toMatch(/gagal dikirim \| 0 \| 0\.0% \| Semua percobaan gagal/);
    expect(englishLeftovers(human(id, 'id'))).toEqual([]);
    expect(englishLeftovers(human(en, 'en')).length).toBeGreaterThan(30); // the check can see English
  });
});

describe('XLSX report structure (read back with exceljs)', () => {
  it('puts the summary first, freezes the header row, filters every row, and writes text, never formulas', async () => {
    const { en, id, json } = b();
    expect(statSync(en).mode & 0o777).toBe(0o600);
    expect(statSync(id).mode & 0o777).toBe(0o600);
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(en);
    expect(book.worksheets.map((w) => w.name)).toEqual(['Summary', 'Rows']);
    const sheet = book.getWorksheet('Rows')!;
    expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    const columns = LEADING_COLUMNS.length + json.columns.length + TRAILING_COLUMNS.length;
    expect(sheet.autoFilter).toBe(`A1:${sheet.getCell(json.rows.length + 1, columns).address}`);
    let strings = 0;
    sheet.eachRow((row) =>
      row.eachCell((cell) => {
        expect(cell.type, cell.address).not.toBe(ExcelJS.ValueType.Formula);
        if (cell.type === ExcelJS.ValueType.RichText || cell.type === ExcelJS.ValueType.String) strings++;
      }),
    );
    expect(strings).toBeGreaterThan(json.rows.length * 5);
    const hyperlink = json.rows.find((r) => r.fields.note === '=HYPERLINK("http://x","y")')!;
    const cell = sheet.getCell(hyperlink.line, LEADING_COLUMNS.length + json.columns.indexOf('note') + 1);
    expect(cell.text).toBe('=HYPERLINK("http://x","y")');
    expect(cell.type).toBe(ExcelJS.ValueType.RichText); // an inline string
    const sent = sheet.getCell(2, columns - 2);
    expect(sent.numFmt).toBe('yyyy-mm-dd hh:mm:ss');
    expect(sent.value).toBeInstanceOf(Date);
  });

  it('finds the zip entry stream it waits on, so the rows stay in flat memory', () => {
    // If an exceljs upgrade moves this internal, the writer would buffer a whole sheet: fail here instead.
    const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: new PassThrough(), useSharedStrings: false, useStyles: true });
    const sheet = workbook.addWorksheet('x');
    const sink = worksheetSink(sheet);
    expect(sink).toBeDefined();
    sheet.addRow([{ richText: [{ text: 'x'.repeat(70_000) }] }]).commit();
    expect(sink!.backlog()).toBeGreaterThan(60_000);
  });

  it('yields the workbook in many chunks as rows are read, not at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rkb-xlsx-'));
    const store = new SqliteStore(join(dir, 'state.db'));
    try {
      const many = Array.from({ length: 20_000 }, (_, i) => ({ rawPhone: `62813${String(i).padStart(8, '0')}`, phone: `62813${String(i).padStart(8, '0')}`, fields: { n: `row ${i} ${'x'.repeat(40)}` } }));
      await seedCampaign(store, many, { id: 'big', now: START });
      let chunks = 0;
      let bytes = 0;
      for await (const chunk of xlsxReport({ store, campaignId: 'big' })) {
        chunks++;
        bytes += chunk.length;
      }
      expect(chunks).toBeGreaterThan(10);
      expect(bytes).toBeGreaterThan(100_000);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows instants as the wall time of the zone, across a daylight-saving change, to the second', () => {
    const berlin = wallClockDate('Europe/Berlin');
    // 2026-03-29 01:59:59.900 UTC is 03:59:59 summer time; a second earlier, 00:59:59 UTC was 01:59:59 winter time.
    expect(berlin(Date.UTC(2026, 2, 29, 0, 59, 59, 900)).toISOString()).toBe('2026-03-29T01:59:59.000Z');
    expect(berlin(Date.UTC(2026, 2, 29, 1, 0, 0)).toISOString()).toBe('2026-03-29T03:00:00.000Z');
    expect(wallClockDate('Asia/Jakarta')(Date.UTC(2026, 11, 5, 2, 0, 0)).toISOString()).toBe('2026-12-05T09:00:00.000Z');
    expect(wallClockDate('UTC')(Date.UTC(2026, 11, 5, 2, 0, 0, 999)).toISOString()).toBe('2026-12-05T02:00:00.000Z');
  });

  it('refuses a time zone that does not exist, as bad input', async () => {
    const { db, dir } = b();
    const t = captureIo({}, dir);
    expect(await main(['report', 'promo', '--db', db, '--format', 'xlsx', '--out', 'x.xlsx', '--timezone', 'Asia/Atlantis'], t.io)).toBe(EXIT.invalidInput);
    expect(t.err()).toMatch(/"Asia\/Atlantis" is not an IANA time zone/);
  });
});
