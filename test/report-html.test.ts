/**
 * The HTML report in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core; `.ci/run` installs
 * it): it renders without console errors, loads nothing, and the numbers on the page are the JSON report's.
 * Skipped, saying so, only where no Chromium binary exists, and never in CI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import { DEMO_PROJECT, startEmulator } from '../src/emulator/index.js';
import { htmlReport, jsonReport, reportTexts, statusName, writeReportFile, type JsonReportHead, type ReportRecord } from '../src/report/index.js';
import { RkClient } from '../src/rk/client.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sweepCampaign } from '../src/sweep/index.js';
import { acceptWithBogusUuid, seedCampaign, sendPlanned, type SeedRow } from './fixtures/report/seed.js';
import { findChromium, openPage, type BrowserPage } from './helpers/browser.js';
import { collect } from './helpers/capture.js';
import { englishLeftovers } from './helpers/report-lang.js';
import { tempDir } from './helpers/tmp.js';

const CHROMIUM = findChromium(process.env.CHROMIUM_BIN);
if (!CHROMIUM) {
  if (process.env.CI === 'true') throw new Error('report-html.test.ts: no Chromium binary in CI; .ci/run installs Debian\'s chromium.');
  console.warn('report-html.test.ts: no Chromium binary found (apt-get install chromium, or set CHROMIUM_BIN); the browser tests are skipped.');
}
const START = Date.UTC(2026, 11, 5, 2, 0, 0);

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
});


/** 40 rows sent to the emulator (some failing), swept until final, plus hostile names and rows never sent. */
async function campaign(): Promise<{ store: SqliteStore; dir: string }> {
  const clock = new ManualClock(START, true);
  const failing = ['6281300000003', '6281300000011', '6281300000017', '6281300000029'];
  const emu = await startEmulator({
    port: 0,
    projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }],
    now: () => clock.now(),
    lifecycle: { queuedToSentMs: 2000, sentToDeliveredMs: 4000, failRecipients: failing, failureMessage: 'Recipient is not on WhatsApp' },
  });
  open.push(emu);
  const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, now: () => clock.now() });
  open.push(api);
  const dir = tempDir('rkb-html-');
  const store = new SqliteStore(join(dir, 'state.db'));
  open.push(store);
  const rows: SeedRow[] = Array.from({ length: 40 }, (_, i) => {
    const phone = `62813000000${String(i).padStart(2, '0')}`;
    return { rawPhone: `0${phone.slice(2)}`, phone, fields: { name: `Person ${i}`, city: i % 2 ? 'Bandung' : 'Jakarta' } };
  });
  rows[3]!.fields = { name: '<script>window.__pwned = 1</script>', city: '<img src=x onerror="window.__pwned=2">' };
  rows[11]!.fields = { name: '=HYPERLINK("http://x","y")', city: 'Medan' };
  rows.push({ rawPhone: '0812', phone: null, fields: { name: 'Bad number', city: 'Solo' }, reason: 'not a valid ID phone number: "0812" (too short)' });
  rows.push({ rawPhone: '6281300000000', phone: '6281300000000', fields: { name: 'Same again', city: 'Solo' } });
  rows.push({ rawPhone: '6281300000099', phone: '6281300000099', fields: { name: 'Opted out', city: 'Solo' }, state: 'suppressed' });
  rows.push({ rawPhone: '6281300000098', phone: '6281300000098', fields: { name: 'Later', city: 'Solo' } });
  rows.push({ rawPhone: '6281300000097', phone: '6281300000097', fields: { name: 'Lost', city: 'Solo' } });
  await seedCampaign(store, rows, { id: 'promo', name: 'Promo <Desember> & "Natal"', now: START - 60_000 });
  await acceptWithBogusUuid(store, 'promo', 46, '00000000-0000-4000-8000-00000000beef', START);
  await sendPlanned(store, api, 'promo', clock, { skipLines: [45], spacingMs: 1500 });
  const outcome = await sweepCampaign({ api, store, clock, emit: () => undefined }, { campaignId: 'promo', untilFinal: true, ratePerMinute: 60_000 });
  expect(outcome.reason).toBe('final');
  return { store, dir };
}

describe('HTML report in headless Chromium', () => {
  it.skipIf(!CHROMIUM)('renders without console errors, loads nothing, and shows the numbers of the JSON report', async () => {
    const { store, dir } = await campaign();
    const source = { store, campaignId: 'promo', phoneColumn: 'phone', generatedAt: START + 3_600_000 };
    const json = JSON.parse(await collect(jsonReport(source))) as JsonReportHead & { rows: ReportRecord[] };
    const file = join(dir, 'report.html');
    await writeReportFile(htmlReport(source, { timeZone: 'Asia/Jakarta' }), file);

    const page: BrowserPage = await openPage(pathToFileURL(file).href, { binary: CHROMIUM });
    open.push(page);
    expect(page.problems).toEqual([]);
    expect(page.requests).toEqual([pathToFileURL(file).href]); // no external assets
    expect(await page.evaluate('window.__pwned')).toBeUndefined(); // hostile names stayed text
    expect(await page.evaluate('document.querySelectorAll("script").length')).toBe(1);
    expect(await page.evaluate('document.title')).toBe('Promo <Desember> & "Natal" · delivery report');
    expect(await page.evaluate('document.querySelector("h1").textContent')).toBe('Promo <Desember> & "Natal"');

    const metrics = await page.evaluate<Record<string, string>>(
      'Object.fromEntries([...document.querySelectorAll("[data-metric]")].map(e => [e.dataset.metric, e.dataset.value]))',
    );
    const t = json.totals;
    expect(Number(metrics.rows)).toBe(json.rows_total);
    expect(Number(metrics.delivered)).toBe(json.delivered);
    expect(Number(metrics.failed)).toBe(t.failed! + t.rejected! + t.failed_to_send! + t.unknown!);
    expect(Number(metrics.not_sent)).toBe(t.invalid! + t.duplicate! + t.suppressed! + t.skipped! + t.expired!);
    expect(Number(metrics.in_progress)).toBe(t.pending! + t.queued! + t.sent!);
    expect(Number(metrics.delivery_rate)).toBe(json.delivery_rate);
    expect(Number(metrics.achieved_rate_per_minute)).toBe(json.timings.achieved_rate_per_minute);
    // The visible numbers are the same as the data attributes.
    expect(await page.evaluate('document.querySelector(".card.delivered .value").textContent')).toBe(String(json.delivered));

    const legend = await page.evaluate<Record<string, number>>(
      'Object.fromEntries([...document.querySelectorAll(".legend tr[data-status]")].map(e => [e.dataset.status, Number(e.dataset.count)]))',
    );
    expect(legend).toEqual(Object.fromEntries(Object.entries(json.totals).filter(([, n]) => n > 0)));
    expect(json.totals).toMatchObject({ delivered: 36, failed: 4, invalid: 1, duplicate: 1, suppressed: 1, pending: 1, unknown: 1 });

    const reasons = await page.evaluate<number[]>('[...document.querySelectorAll("[data-reason-count]")].map(e => Number(e.dataset.reasonCount))');
    expect(reasons).toEqual(json.top_failure_reasons.map((r) => r.count));

    // The table lists exactly the rows that were not delivered, in CSV order.
    const notDelivered = json.rows.filter((r) => r.status !== 'delivered' && r.status !== 'read');
    const tableLines = await page.evaluate<number[]>('[...document.querySelectorAll("#rows tbody tr")].map(e => Number(e.dataset.line))');
    expect(tableLines).toEqual(notDelivered.map((r) => r.line));
    expect(await page.evaluate('document.querySelector("#rows").textContent.includes("<script>window.__pwned = 1</script>")')).toBe(true);

    // The timeline's bars add up to the rows that were sent.
    const barTotal = await page.evaluate<number>('[...document.querySelectorAll("[data-bucket-total]")].reduce((n, e) => n + Number(e.dataset.bucketTotal), 0)');
    expect(barTotal).toBe(json.rows.filter((r) => r.sent_at !== null).length);

    // The search box filters the table.
    const shown = await page.evaluate<number>(
      '(() => { const q = document.getElementById("q"); q.value = "hyperlink"; q.dispatchEvent(new Event("input")); return [...document.querySelectorAll("#rows tbody tr")].filter(r => !r.hidden).length; })()',
    );
    expect(shown).toBe(1);
    expect(await page.evaluate('document.getElementById("shown").textContent')).toBe('1');
    const failedOnly = await page.evaluate<number>(
      '(() => { const q = document.getElementById("q"); q.value = ""; q.dispatchEvent(new Event("input")); const s = document.getElementById("status-filter"); s.value = "failed"; s.dispatchEvent(new Event("change")); return [...document.querySelectorAll("#rows tbody tr")].filter(r => !r.hidden).length; })()',
    );
    expect(failedOnly).toBe(json.totals.failed);

    // It prints: a PDF comes out, and the search controls are not on paper.
    await page.page.emulateMediaType('print');
    expect(await page.evaluate('getComputedStyle(document.querySelector(".controls")).display')).toBe('none');
    const pdf = Buffer.from(await page.page.pdf({ printBackground: true, preferCSSPageSize: true }));
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(page.problems).toEqual([]);
  });

  it.skipIf(!CHROMIUM)('speaks Indonesian with --lang id: headings, status names and their meanings, no English left', async () => {
    const { store, dir } = await campaign();
    const source = { store, campaignId: 'promo', phoneColumn: 'phone', generatedAt: START + 3_600_000 };
    const json = JSON.parse(await collect(jsonReport(source))) as JsonReportHead & { rows: ReportRecord[] };
    const id = reportTexts('id');
    const pages: Record<'en' | 'id', BrowserPage> = {} as Record<'en' | 'id', BrowserPage>;
    for (const lang of ['en', 'id'] as const) {
      const file = join(dir, `report-${lang}.html`);
      await writeReportFile(htmlReport(source, { timeZone: 'Asia/Jakarta', lang }), file);
      pages[lang] = await openPage(pathToFileURL(file).href, { binary: CHROMIUM });
      open.push(pages[lang]);
    }
    const page = pages.id;
    expect(page.problems).toEqual([]);
    expect(await page.evaluate('document.documentElement.lang')).toBe('id');
    expect(await page.evaluate('document.title')).toBe('Promo <Desember> & "Natal" · laporan pengiriman');
    expect(await page.evaluate('[...document.querySelectorAll("h2")].map(h => h.firstChild.textContent.trim())')).toEqual([
      id.statusBreakdown,
      id.topFailureReasons,
      id.sendsOverTime,
      id.notDelivered,
      id.glossaryHeading,
    ]);
    // Status names are Indonesian; the data the page filters on stays the status values.
    const legend = await page.evaluate<[string, string][]>('[...document.querySelectorAll(".legend tr[data-status]")].map(e => [e.dataset.status, e.cells[0].textContent])');
    expect(legend.length).toBeGreaterThan(5);
    for (const [status, shown] of legend) expect(shown).toBe(statusName(id, status));
    expect(legend.map(([s]) => s)).toContain('failed');
    expect(await page.evaluate('document.querySelector(".legend tr[data-status=failed] td").textContent')).toBe('gagal');
    const glossary = await page.evaluate<string[]>('[...document.querySelectorAll("dl.glossary dd")].map(e => e.textContent)');
    expect(glossary).toContain(id.statusMeanings.failed);
    // The same numbers as in English, written the Indonesian way.
    expect(Number(await page.evaluate('document.querySelector("[data-metric=rows]").dataset.value'))).toBe(json.rows_total);
    expect(await page.evaluate('document.querySelector(".card.delivered .note").textContent')).toBe(
      id.cardDeliveredNote(new Intl.NumberFormat('id', { style: 'percent', minimumFractionDigits: 1 }).format(json.delivery_rate!)),
    );
    const failedOnly = await page.evaluate<number>(
      '(() => { const s = document.getElementById("status-filter"); s.value = "failed"; s.dispatchEvent(new Event("change")); return [...document.querySelectorAll("#rows tbody tr")].filter(r => !r.hidden).length; })()',
    );
    expect(failedOnly).toBe(json.totals.failed);

    // Everything a person reads, tooltips and labels included, minus the campaign's own data (the rows, the
    // reasons the API gave, the campaign name): no English text that the Indonesian texts translate.
    const readable = (p: BrowserPage) =>
      p.evaluate<string>(`(() => {
        const body = document.body.cloneNode(true);
        body.querySelectorAll('#rows tbody, td.reason, h1, script').forEach((e) => e.remove());
        const labels = [...body.querySelectorAll('[aria-label],[placeholder]')].map((e) => (e.getAttribute('aria-label') || '') + ' ' + (e.getAttribute('placeholder') || ''));
        return [document.title, body.textContent, ...labels].join('\\n');
      })()`);
    expect(englishLeftovers(await readable(page))).toEqual([]);
    expect(englishLeftovers(await readable(pages.en)).length).toBeGreaterThan(30); // the check sees English where there is some
  });

  it.skipIf(!CHROMIUM)('caps an enormous table with a note, and the page still matches the JSON', async () => {
    const dir = tempDir('rkb-html-');
    const store = new SqliteStore(join(dir, 'state.db'));
    open.push(store);
    const rows: SeedRow[] = Array.from({ length: 300 }, (_, i) => ({ rawPhone: `62814${String(i).padStart(8, '0')}`, phone: `62814${String(i).padStart(8, '0')}`, fields: { n: String(i) } }));
    await seedCampaign(store, rows, { id: 'big', now: START });
    const file = join(dir, 'big.html');
    writeFileSync(file, await collect(htmlReport({ store, campaignId: 'big' }, { maxRows: 100 })));
    const page = await openPage(pathToFileURL(file).href, { binary: CHROMIUM });
    open.push(page);
    expect(page.problems).toEqual([]);
    expect(await page.evaluate('document.querySelectorAll("#rows tbody tr").length')).toBe(100);
    expect(await page.evaluate('document.querySelector("[data-capped]").textContent')).toMatch(/Showing the first 100 of 300 rows/);
    expect(await page.evaluate('document.querySelector("[data-metric=in_progress]").dataset.value')).toBe('300');
  });
});
