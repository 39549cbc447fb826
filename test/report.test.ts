import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ManualClock } from '../src/core/clock.js';
import { EXIT } from '../src/core/exit-codes.js';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { readRecipientRows } from '../src/ingest/csv.js';
import { normalisePhone } from '../src/ingest/phone.js';
import {
  csvReport,
  failedOnlyCsv,
  generalReason,
  htmlReport,
  jsonReport,
  JsonReportSchema,
  needsTextProtection,
  reportJsonSchema,
  neutraliseFormula,
  type FailedOnlyStats,
  type JsonReportHead,
  type ReportRecord,
  type ReportSource,
} from '../src/report/index.js';
import { RkClient } from '../src/rk/client.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sweepCampaign } from '../src/sweep/index.js';
import { acceptWithBogusUuid, seedCampaign, sendPlanned, type SeedRow } from './fixtures/report/seed.js';
import { collect, captureIo } from './helpers/capture.js';
import { tempDir } from './helpers/tmp.js';

const START = Date.UTC(2026, 11, 5, 2, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const BOGUS = '00000000-0000-4000-8000-00000000dead';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
});


function csvRecords(text: string, delimiter = ','): Record<string, string>[] {
  return parse(text, { columns: true, delimiter, bom: true }) as Record<string, string>[];
}

/** Rows of the lifecycle campaign: one of every outcome. */
const LIFECYCLE_ROWS: SeedRow[] = [
  { rawPhone: '+62 812-0000-0000', phone: '6281200000000', fields: { name: 'Budi', city: 'Bandung' } }, // 2 delivered
  { rawPhone: '081200000001', phone: '6281200000001', fields: { name: 'Siti', city: 'Jakarta' } }, // 3 failed
  { rawPhone: '0812', phone: null, fields: { name: 'Agus', city: 'Medan' }, reason: 'not a valid ID phone number: "0812" (too short)' }, // 4 invalid
  { rawPhone: '6281200000000', phone: '6281200000000', fields: { name: 'Budi again', city: 'Bandung' } }, // 5 duplicate
  { rawPhone: '6281200000005', phone: '6281200000005', fields: { name: 'Rina', city: 'Solo' }, state: 'suppressed' }, // 6 suppressed
  { rawPhone: '6281200000007', phone: '6281200000007', fields: { name: 'Joko', city: 'Malang' } }, // 7 accepted, then 404: unknown
  { rawPhone: '6281200000008', phone: '6281200000008', fields: { name: 'Dewi', city: 'Bogor' } }, // 8 never sent: pending
  { rawPhone: '1234567', phone: '1234567', fields: { name: 'Putri', city: 'Depok' } }, // 9 rejected by the API (422)
];

interface Fixture {
  store: SqliteStore;
  emu: RunningEmulator;
  source: ReportSource;
  uuids: Map<string, string>;
}

/** Sends the lifecycle campaign to the emulator and sweeps it until final, on a clock that moves by itself. */
async function lifecycleCampaign(rows: SeedRow[] = LIFECYCLE_ROWS, name = 'December reminder'): Promise<Fixture> {
  const clock = new ManualClock(START, true);
  const emu = await startEmulator({
    port: 0,
    projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }],
    now: () => clock.now(),
    lifecycle: { queuedToSentMs: 1000, sentToDeliveredMs: 2000, failRecipients: ['6281200000001', '6281200000011'], failureMessage: 'Recipient is not on WhatsApp' },
  });
  open.push(emu);
  const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, now: () => clock.now() });
  open.push(api);
  const store = new SqliteStore(join(tempDir('rkb-report-'), 'state.db'));
  open.push(store);
  await seedCampaign(store, rows, { id: 'c1', name, now: START - 60_000 });
  await acceptWithBogusUuid(store, 'c1', 7, BOGUS, START);
  await sendPlanned(store, api, 'c1', clock, { skipLines: [8], spacingMs: 1000 });
  const outcome = await sweepCampaign({ api, store, clock, emit: () => undefined }, { campaignId: 'c1', untilFinal: true, ratePerMinute: 60_000, pollBackoff: { initialMs: 5000 } });
  expect(outcome.reason).toBe('final');
  const uuids = new Map(emu.messages().map((m) => [m.recipient, m.id]));
  return { store, emu, uuids, source: { store, campaignId: 'c1', phoneColumn: 'phone', generatedAt: START + 3_600_000 } };
}

describe('CSV report after a real send and sweep', () => {
  it('has exactly the expected statuses, timestamps and error messages, row by row in CSV order', async () => {
    const { source, uuids } = await lifecycleCampaign();
    const text = await collect(csvReport(source));
    const lines = text.split('\r\n');
    expect(lines[0]).toBe(
      'line,recipient,original_number,name,city,message_id,status,error_code,error_message,attempts,request_id,sent_at,delivered_at,failed_at,device',
    );
    const records = csvRecords(text);
    expect(records.map((r) => [r.line, r.status])).toEqual([
      ['2', 'delivered'],
      ['3', 'failed'],
      ['4', 'invalid'],
      ['5', 'duplicate'],
      ['6', 'suppressed'],
      ['7', 'unknown'],
      ['8', 'pending'],
      ['9', 'rejected'],
    ]);
    // Line 2 was sent first (START), line 3 a second later, line 9 two seconds later; the emulator delivers 3 s after creation.
    expect(records[0]).toEqual({
      line: '2',
      recipient: '="6281200000000"',
      original_number: '="+62 812-0000-0000"',
      name: 'Budi',
      city: 'Bandung',
      message_id: uuids.get('6281200000000'),
      status: 'delivered',
      error_code: '',
      error_message: '',
      attempts: '1',
      request_id: 'rq-c1-6281200000000',
      sent_at: iso(START),
      delivered_at: iso(START + 3000),
      failed_at: '',
      device: '', // seeded through the store, not sent by the sender
    });
    expect(records[1]).toMatchObject({
      recipient: '="6281200000001"',
      original_number: '="081200000001"',
      message_id: uuids.get('6281200000001'),
      status: 'failed',
      error_code: 'FAILED',
      error_message: 'Recipient is not on WhatsApp',
      sent_at: iso(START + 1000),
      delivered_at: '',
      failed_at: iso(START + 4000),
    });
    expect(records[2]).toMatchObject({
      recipient: '',
      original_number: '="0812"',
      status: 'invalid',
      error_code: 'INVALID',
      error_message: 'not a valid ID phone number: "0812" (too short)',
      attempts: '0',
      message_id: '',
      request_id: '',
      sent_at: '',
    });
    expect(records[3]).toMatchObject({ status: 'duplicate', error_code: 'DUPLICATE', error_message: 'same number as line 2', message_id: '' });
    expect(records[4]).toMatchObject({ status: 'suppressed', error_code: 'SUPPRESSED', error_message: 'number is on a suppression list' });
    expect(records[5]).toMatchObject({ status: 'unknown', error_code: 'UNKNOWN', message_id: BOGUS, attempts: '1', sent_at: iso(START) });
    expect(records[5]!.error_message).toMatch(/^RK Connect does not know this message \(404 MESSAGE_NOT_FOUND\)/);
    expect(records[6]).toMatchObject({ status: 'pending', attempts: '0', message_id: '', request_id: 'rq-c1-6281200000008', sent_at: '' });
    expect(records[7]).toMatchObject({ status: 'rejected', error_code: 'VALIDATION_ERROR', attempts: '1', sent_at: iso(START + 2000), message_id: '' });
    expect(records[7]!.error_message).toMatch(/^RK Connect rejected the message \(422 VALIDATION_ERROR\): The recipient field must be 8-15 digits/);
  });

  it('writes a BOM and semicolons when asked, and plain numbers with protectNumbers off', async () => {
    const { source } = await lifecycleCampaign();
    const text = await collect(csvReport(source, { bom: true, delimiter: ';', protectNumbers: false }));
    expect(text.startsWith('\uFEFFline;recipient;original_number;name;city;message_id;status;')).toBe(true);
    const records = csvRecords(text, ';');
    expect(records[0]).toMatchObject({ recipient: '6281200000000', original_number: "'+62 812-0000-0000" });
    expect(records).toHaveLength(8);
  });

  it('includes only the campaign\'s report.columns, in their order, and refuses a column the CSV lacks', async () => {
    const { source } = await lifecycleCampaign();
    const text = await collect(csvReport({ ...source, columns: ['city', 'phone'] }));
    expect(text.split('\r\n')[0]).toBe(
      'line,recipient,original_number,city,phone,message_id,status,error_code,error_message,attempts,request_id,sent_at,delivered_at,failed_at,device',
    );
    // The phone column stays text in a spreadsheet too.
    expect(csvRecords(text)[0]).toMatchObject({ city: 'Bandung', phone: '="+62 812-0000-0000"' });
    await expect(collect(csvReport({ ...source, columns: ['nama'] }))).rejects.toThrow(/report.columns names a column the recipient CSV does not have: "nama"/);
  });
});

describe('JSON report', () => {
  it('follows the documented schema with totals, timings, delivery rate, failure reasons and rows', async () => {
    const { source, uuids } = await lifecycleCampaign();
    const report = JSON.parse(await collect(jsonReport(source))) as JsonReportHead & { rows: ReportRecord[] };
    expect(JsonReportSchema.safeParse(report).error).toBeUndefined(); // exactly the documented shape, nothing more
    expect(report.schema_version).toBe(1);
    expect(report.generated_at).toBe(iso(START + 3_600_000));
    expect(report.campaign).toEqual({ id: 'c1', name: 'December reminder' });
    expect(report.timings).toEqual({
      planned_at: iso(START - 60_000),
      first_send_at: iso(START),
      last_send_at: iso(START + 2000),
      duration_ms: 2000,
      achieved_rate_per_minute: 60, // 3 accepted, evenly spread over 2 s
      statuses_checked_at: iso(START + 8000),
    });
    expect(report.rows_total).toBe(8);
    expect(report.accepted).toBe(3);
    expect(report.delivered).toBe(1);
    expect(report.delivery_rate).toBe(0.3333);
    expect(report.totals).toEqual({
      delivered: 1,
      read: 0,
      sent: 0,
      queued: 0,
      pending: 1,
      failed: 1,
      rejected: 1,
      failed_to_send: 0,
      unknown: 1,
      invalid: 1,
      duplicate: 1,
      suppressed: 1,
      skipped: 0,
      expired: 0,
    });
    expect(report.top_failure_reasons.map((r) => [r.status, r.error_code, r.reason, r.count, r.example_line])).toEqual([
      ['failed', 'FAILED', 'Recipient is not on WhatsApp', 1, 3],
      ['invalid', 'INVALID', 'not a valid ID phone number: "…" (too short)', 1, 4],
      ['duplicate', 'DUPLICATE', 'same number as line …', 1, 5],
      ['suppressed', 'SUPPRESSED', 'number is on a suppression list', 1, 6],
      ['unknown', 'UNKNOWN', expect.stringMatching(/^RK Connect does not know this message/), 1, 7],
      ['rejected', 'VALIDATION_ERROR', expect.stringMatching(/^RK Connect rejected the message \(422 VALIDATION_ERROR\)/), 1, 9],
    ]);
    expect(report.columns).toEqual(['name', 'city']);
    expect(report.rows).toHaveLength(8);
    expect(report.rows[0]).toEqual({
      line: 2,
      recipient: '6281200000000',
      original_number: '+62 812-0000-0000',
      fields: { name: 'Budi', city: 'Bandung' },
      message_id: uuids.get('6281200000000'),
      status: 'delivered',
      error_code: null,
      error_message: null,
      attempts: 1,
      request_id: 'rq-c1-6281200000000',
      sent_at: iso(START),
      delivered_at: iso(START + 3000),
      failed_at: null,
      device: null,
    });
    expect(report.rows[1]).toMatchObject({ status: 'failed', failed_at: iso(START + 4000), error_message: 'Recipient is not on WhatsApp' });
    const buckets = report.sends_over_time.buckets;
    expect(buckets.reduce((n, b) => n + b.delivered + b.failed + b.in_progress, 0)).toBe(4); // lines 2, 3, 7 and 9 were sent
  });

  it('is documented with the JSON Schema the code defines', () => {
    const doc = readFileSync(new URL('../docs/report-format.md', import.meta.url), 'utf8');
    const block = /<!-- json-schema:start -->\n```json\n([\s\S]*?)```\n<!-- json-schema:end -->/.exec(doc);
    expect(block, 'docs/report-format.md has the JSON Schema block').not.toBeNull();
    expect(JSON.parse(block![1]!)).toEqual(reportJsonSchema());
  });

  it('is valid JSON for a campaign without rows', async () => {
    const store = new SqliteStore(join(tempDir('rkb-report-'), 'state.db'));
    open.push(store);
    await seedCampaign(store, [], { id: 'empty', now: START });
    const report = JSON.parse(await collect(jsonReport({ store, campaignId: 'empty' }))) as JsonReportHead & { rows: unknown[] };
    expect(report).toMatchObject({ rows_total: 0, delivery_rate: null, rows: [] });
    expect(JsonReportSchema.safeParse(report).error).toBeUndefined();
    expect(report.timings.achieved_rate_per_minute).toBeNull();
  });
});

describe('formula injection and escaping', () => {
  const hostile: SeedRow[] = [
    { rawPhone: '6281200000011', phone: '6281200000011', fields: { name: '=HYPERLINK("http://x","y")', note: '+SUM(1,2)' } },
    { rawPhone: '6281200000012', phone: '6281200000012', fields: { name: '<script>alert(1)</script>', note: '@cmd' } },
    { rawPhone: '6281200000013', phone: '6281200000013', fields: { name: '-2+3', note: '-42' } },
    { rawPhone: '6281200000014', phone: '6281200000014', fields: { name: '\tTabbed', note: '\u{FF1D}1+1' } },
    { rawPhone: '6281200000015', phone: '6281200000015', fields: { name: 'Sri "Yu" Wahyuni, S.E.', note: '0012345' } },
  ];

  it('neutralises formula cells in the CSV report (exact cell text) and keeps other values intact', async () => {
    const store = new SqliteStore(join(tempDir('rkb-report-'), 'state.db'));
    open.push(store);
    await seedCampaign(store, hostile, { id: 'c1', now: START });
    const text = await collect(csvReport({ store, campaignId: 'c1' }));
    const records = csvRecords(text);
    expect(records.map((r) => [r.name, r.note])).toEqual([
      [`'=HYPERLINK("http://x","y")`, "'+SUM(1,2)"],
      ['<script>alert(1)</script>', "'@cmd"],
      ["'-2+3", '-42'], // a plain negative number is not a formula
      ["'\tTabbed", "'\u{FF1D}1+1"],
      ['Sri "Yu" Wahyuni, S.E.', '="0012345"'], // a leading zero survives as text
    ]);
    // The raw bytes, as a spreadsheet reads them.
    expect(text).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
  });

  it('escapes every value in the HTML report', async () => {
    const store = new SqliteStore(join(tempDir('rkb-report-'), 'state.db'));
    open.push(store);
    await seedCampaign(store, hostile, { id: 'c1', name: 'Promo <b>bold</b> & "quotes"', now: START });
    const html = await collect(htmlReport({ store, campaignId: 'c1' }));
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)');
    expect(html).toContain('<title>Promo &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quotes&quot; · delivery report</title>');
    expect(html).toContain('Sri &quot;Yu&quot; Wahyuni, S.E.');
    // One script element only: the page's own, allowed by hash in its Content-Security-Policy.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-[^']+'; script-src 'sha256-[^']+'/);
    expect(html).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
  });

  it('spreadsheet helpers follow the documented rules', () => {
    expect(neutraliseFormula('=1+1')).toBe("'=1+1");
    expect(neutraliseFormula('\r=1')).toBe("'\r=1");
    expect(neutraliseFormula('-12.5')).toBe('-12.5');
    expect(neutraliseFormula('Budi')).toBe('Budi');
    expect(needsTextProtection('6281234567890', true)).toBe(true);
    expect(needsTextProtection('+62 812-3456-7890', true)).toBe(true);
    expect(needsTextProtection('abc', true)).toBe(false);
    expect(needsTextProtection('1250000', false)).toBe(false); // an amount stays a number
    expect(needsTextProtection('123456789012', false)).toBe(true); // 12 digits: scientific notation in Excel
    expect(needsTextProtection('2026-12-05', false)).toBe(false);
    expect(generalReason('not a valid ID phone number: "0812" (too short)')).toBe('not a valid ID phone number: "…" (too short)');
    expect(generalReason('same number as line 12')).toBe('same number as line …');
  });
});

describe('--failed-only', () => {
  it('writes the rows to retry as a recipient CSV that reads back with the original header and numbers', async () => {
    const { source } = await lifecycleCampaign();
    const dir = tempDir('rkb-report-');
    const stats: FailedOnlyStats = { rows: 0, phoneColumn: undefined };
    const text = await collect(failedOnlyCsv(source, { bom: true, delimiter: ';' }, stats));
    expect(stats).toEqual({ rows: 3, phoneColumn: 'phone' });
    expect(text.startsWith('\uFEFFphone;name;city\r\n')).toBe(true);
    const file = join(dir, 'retry.csv');
    writeFileSync(file, text);

    // Read back with rk-broadcast's own recipient reader, as a follow-up campaign would.
    const reread = [];
    for await (const row of readRecipientRows({ file, phoneColumn: 'phone' })) reread.push(row);
    expect(reread.map((r) => (r.ok ? [r.line, r.rawPhone, r.fields.name, r.fields.city] : r.error))).toEqual([
      [2, '6281200000001', 'Siti', 'Jakarta'], // failed
      [3, '6281200000007', 'Joko', 'Malang'], // unknown
      [4, '1234567', 'Putri', 'Depok'], // rejected
    ]);
    expect(normalisePhone('6281200000001', 'ID')).toEqual({ ok: true, phone: '6281200000001' });
    expect(normalisePhone('6281200000007', 'ID')).toEqual({ ok: true, phone: '6281200000007' });
  });
});

describe('streaming', () => {
  it('yields the CSV in many chunks rather than one string', async () => {
    const store = new SqliteStore(join(tempDir('rkb-report-'), 'state.db'));
    open.push(store);
    const rows = Array.from({ length: 3500 }, (_, i) => ({ rawPhone: `62813${String(i).padStart(8, '0')}`, phone: `62813${String(i).padStart(8, '0')}`, fields: { n: String(i) } }));
    await seedCampaign(store, rows, { id: 'big', now: START });
    let chunks = 0;
    let dataLines = -1;
    for await (const chunk of csvReport({ store, campaignId: 'big' })) {
      chunks++;
      dataLines += chunk.split('\r\n').length - 1;
    }
    expect(dataLines).toBe(3500);
    expect(chunks).toBeGreaterThanOrEqual(4); // the header, then one chunk per 1,000 rows
  });
});

describe('rk-broadcast report (CLI)', () => {
  const io = (cwd: string) => captureIo({}, cwd);

  async function campaignOnDisk() {
    const fixture = await lifecycleCampaign();
    const dir = tempDir('rkb-report-cli-');
    writeFileSync(join(dir, 'people.csv'), 'phone,name,city\n6281200000000,Budi,Bandung\n');
    writeFileSync(
      join(dir, 'c1.yaml'),
      'id: c1\nname: December reminder\ndevice: RK-DEMO\nrecipients:\n  file: people.csv\nmessage: "Hi {{name}}"\nreport:\n  columns: [city]\n',
    );
    return { ...fixture, dir, db: fixture.store.path };
  }

  it('writes JSON to stdout and the summary to stderr', async () => {
    const { dir, db } = await campaignOnDisk();
    const t = io(dir);
    expect(await main(['report', 'c1.yaml', '--db', db, '--format', 'json'], t.io)).toBe(EXIT.ok);
    const report = JSON.parse(t.out()) as JsonReportHead & { rows: ReportRecord[] };
    expect(report.columns).toEqual(['city']);
    expect(report.rows[0]!.fields).toEqual({ city: 'Bandung' });
    expect(t.err()).toMatch(/JSON report of December reminder: 8 row\(s\) · delivered 1 · failed 1 · rejected 1 · unknown 1 · pending 1 · invalid 1 · duplicate 1 · suppressed 1 → stdout/);
  });

  it('writes files with mode 0600, picking the format from --out, and --failed-only', async () => {
    const { dir, db } = await campaignOnDisk();
    const t = io(dir);
    expect(await main(['report', 'c1.yaml', '--db', db, '--out', 'out/report.html'], t.io)).toBe(EXIT.ok);
    const html = readFileSync(join(dir, 'out/report.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(statSync(join(dir, 'out/report.html')).mode & 0o777).toBe(0o600);
    expect(t.out()).toBe('');

    expect(await main(['report', 'c1.yaml', '--db', db, '--failed-only', '--out', 'retry.csv'], t.io)).toBe(EXIT.ok);
    expect(readFileSync(join(dir, 'retry.csv'), 'utf8').split('\r\n').slice(0, 2)).toEqual(['phone,name,city', '6281200000001,Siti,Jakarta']);
    expect(statSync(join(dir, 'retry.csv')).mode & 0o777).toBe(0o600);
    expect(t.err()).toMatch(/Wrote 3 row\(s\) to retry/);
  });

  it('works from the campaign id alone, and exits 2 for an unknown campaign or database', async () => {
    const { dir, db } = await campaignOnDisk();
    const t = io(dir);
    expect(await main(['report', 'c1', '--db', db, '--format', 'csv', '--raw-numbers'], t.io)).toBe(EXIT.ok);
    expect(t.out().split('\r\n')[1]!.startsWith("2,6281200000000,'+62 812-0000-0000,Budi,Bandung,")).toBe(true);
    expect(await main(['report', 'nope', '--db', db], t.io)).toBe(EXIT.invalidInput);
    expect(t.err()).toMatch(/no campaign with that id in the database/);
    expect(await main(['report', 'c1', '--db', join(dir, 'missing.db')], t.io)).toBe(EXIT.invalidInput);
    expect(t.err()).toMatch(/No state database at/);
  });
});
