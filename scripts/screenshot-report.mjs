#!/usr/bin/env node
// Renders an HTML delivery report in headless Chromium (puppeteer-core, a dev dependency) and writes a PNG (and
// optionally a PDF) for developers to look at. Needs `npm run build` first and a Chromium binary (Debian:
// apt-get install chromium).
//
//   node scripts/screenshot-report.mjs                      # a sample campaign -> screenshots/sample-report.{html,png}
//   node scripts/screenshot-report.mjs --lang id            # the sample in Indonesian -> screenshots/sample-report-id.*
//   node scripts/screenshot-report.mjs report.html          # an existing report -> screenshots/report.png
//   node scripts/screenshot-report.mjs report.html --out x.png --pdf --width 1024
//   node scripts/screenshot-report.mjs --print              # the page as its print style sheet lays it out
//
// CHROMIUM_BIN picks the browser binary.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { htmlReport, writeReportFile } from '../dist/report/index.js';
import { SqliteStore } from '../dist/store/sqlite.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    pdf: { type: 'boolean', default: false },
    print: { type: 'boolean', default: false },
    width: { type: 'string', default: '1280' },
    timezone: { type: 'string', default: 'Asia/Jakarta' },
    lang: { type: 'string', default: 'en' },
  },
});

// The same browser and flags as test/helpers/browser.ts.
const CANDIDATES = [process.env.CHROMIUM_BIN, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars'];
const binary = CANDIDATES.find((p) => p && existsSync(p));
if (!['en', 'id'].includes(values.lang)) {
  console.error(`--lang must be en or id, found ${JSON.stringify(values.lang)}.`);
  process.exit(2);
}
if (!binary) {
  console.error('No Chromium found. Install it (Debian: apt-get install chromium) or set CHROMIUM_BIN.');
  process.exit(2);
}

const NAMES = [
  'Budi Santoso', 'Siti Nurhaliza', 'Agus Pratama', 'Dewi Lestari', 'Rina Wulandari', 'Andi Wijaya', 'Putri Ayu',
  'Joko Susilo', 'Sri Wahyuni', 'Bambang Hartono', 'Fitri Handayani', 'Hendra Gunawan', 'Wahyu Saputra', 'Nur Aini',
  'Rudi Hermawan', 'Yuni Kartika', 'Dian Permata', 'Eko Prasetyo', 'Lestari Ningsih', 'Fajar Nugroho', 'Intan Sari',
  'Teguh Wibowo', 'Ayu Kusuma', 'Rizky Ramadhan',
];
const CITIES = ['Bandung', 'Jakarta', 'Surabaya', 'Yogyakarta', 'Semarang', 'Medan', 'Makassar', 'Malang', 'Denpasar'];

/** A believable campaign of 240 rows: mostly delivered, some failures of each kind, a few still on their way. */
async function sampleReport(dir) {
  const store = new SqliteStore(join(dir, 'state.db'));
  const id = 'tagihan-2026-12';
  const start = Date.UTC(2026, 11, 5, 2, 0, 0); // 09:00 in Jakarta
  await store.ensureCampaign({ id, name: 'Pengingat tagihan Desember', projectId: 'p-sample', sourcePath: '/campaigns/tagihan.yaml', now: start - 600_000 });
  const generation = await store.beginPlan(id, 'fresh', start - 600_000);
  const rows = [];
  for (let i = 0; i < 240; i++) {
    const national = `0812${String(30000000 + i * 7919).slice(0, 8)}`;
    const phone = `62${national.slice(1)}`;
    let name = NAMES[i % NAMES.length];
    if (i === 17) name = '<script>alert("hi")</script>';
    if (i === 31) name = '=HYPERLINK("http://example.com","klik")';
    const invalid = i % 47 === 13;
    const suppressed = i % 61 === 5;
    const duplicateOf = i % 53 === 40 ? rows[3] : undefined;
    const fields = { phone: duplicateOf ? duplicateOf.rawPhone : national, nama: name, kota: CITIES[i % CITIES.length], total: String(150000 + (i * 37000) % 2000000) };
    rows.push({
      line: i + 2,
      rawPhone: fields.phone,
      phone: invalid ? null : duplicateOf ? duplicateOf.phone : phone,
      fields,
      state: invalid ? 'invalid' : suppressed ? 'suppressed' : 'planned',
      text: `Halo ${name}`,
      payload: null,
      requestId: invalid || suppressed ? null : `rkb-${duplicateOf ? duplicateOf.phone : phone}`,
      reason: invalid ? `not a valid ID phone number: "${national.slice(0, 6)}" (too short)` : suppressed ? 'number is on a suppression list' : null,
    });
  }
  await store.insertPlanBatch(id, generation, rows, start - 600_000);
  await store.completePlan(id, generation, { csv: 'a', template: 'b', config: 'c', suppress: 'd', media: '' }, start - 540_000);
  const planned = await store.nextPlanned(id, start, 1000);
  const iso = (ms) => new Date(ms + 7 * 3600_000).toISOString().slice(0, 19) + '+07:00';
  for (const [n, msg] of planned.entries()) {
    const at = start + n * 1000 + (n > 150 ? 600_000 : 0); // a pause mid-campaign (a send window)
    await store.markSending(msg.id, at);
    if (n % 41 === 7) {
      await store.markRejected(msg.id, { code: 'INVALID_RECIPIENT', message: 'RK Connect rejected the message (422 INVALID_RECIPIENT): The recipient is not a WhatsApp number.' }, at + 300);
      continue;
    }
    if (n % 89 === 11) {
      await store.markFailedToSend(msg.id, { code: 'SERVER_ERROR', message: 'RK Connect had a server error (503 SERVER_ERROR): Service temporarily unavailable.' }, at + 300);
      continue;
    }
    await store.markAccepted(msg.id, `5f0c${String(n).padStart(4, '0')}-8a1e-4c2b-9d3f-${String(100000000000 + n * 7).slice(0, 12)}`, 'queued', at + 250);
    const final = at + 4000 + (n % 9) * 1500;
    if (n >= planned.length - 6) {
      await store.recordStatus(msg.id, { apiStatus: 'sent', deliveredAt: null, failedAt: null, errorMessage: null, checkedAt: start + 900_000 });
    } else if (n % 17 === 3 || n % 29 === 8) {
      await store.recordStatus(msg.id, { apiStatus: 'failed', deliveredAt: null, failedAt: iso(final), errorMessage: n % 2 ? 'Recipient is not on WhatsApp' : 'Message expired before delivery', checkedAt: start + 900_000 });
    } else {
      await store.recordStatus(msg.id, { apiStatus: n % 3 === 0 ? 'read' : 'delivered', deliveredAt: iso(final), failedAt: null, errorMessage: null, checkedAt: start + 900_000 });
    }
  }
  const file = resolve(`screenshots/sample-report${values.lang === 'en' ? '' : `-${values.lang}`}.html`);
  await writeReportFile(
    htmlReport({ store, campaignId: id, columns: ['nama', 'kota', 'total'], phoneColumn: 'phone', generatedAt: start + 905_000 }, { timeZone: values.timezone, lang: values.lang }),
    file,
  );
  await store.close();
  return file;
}

const scratch = mkdtempSync(join(tmpdir(), 'rkb-screenshot-'));
try {
  const html = positionals[0] ? resolve(positionals[0]) : await sampleReport(scratch);
  const png = resolve(values.out ?? join('screenshots', `${basename(html, extname(html))}.png`));
  mkdirSync(resolve(png, '..'), { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: binary,
    headless: true,
    args: CHROMIUM_ARGS,
    userDataDir: join(scratch, 'profile'),
    defaultViewport: { width: Number(values.width), height: 900, deviceScaleFactor: 1 },
  });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (m) => (m.type() === 'error' ? problems.push(`console: ${m.text()}`) : undefined));
    page.on('pageerror', (e) => problems.push(`exception: ${e}`));
    page.on('requestfailed', (r) => problems.push(`request: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    if (values.print) await page.emulateMediaType('print');
    writeFileSync(png, await page.screenshot({ fullPage: true }));
    console.error(`Wrote ${png}`);
    if (values.pdf) {
      const pdf = png.replace(/\.png$/i, '') + '.pdf';
      writeFileSync(pdf, await page.pdf({ printBackground: true, preferCSSPageSize: true }));
      console.error(`Wrote ${pdf}`);
    }
    for (const problem of problems) console.error(`page ${problem}`);
    if (problems.length > 0) process.exitCode = 1;
  } finally {
    await browser.close();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
