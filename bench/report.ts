/**
 * Report generation time and peak memory for 100,000 and 1,000,000 rows: the real CLI (`rk-broadcast report`)
 * under /usr/bin/time, for CSV (streamed), JSON, HTML and XLSX. Flat memory between the two sizes shows the CSV
 * and the XLSX are streamed, not built in memory. Rows are seeded straight through the Store port in big batches; one in five is
 * accepted with a delivery status, one in fifty is invalid. `BENCH_QUICK=1` uses 10,000 and 100,000 rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/store/sqlite.js';
import type { PlanRowInput } from '../src/store/types.js';
import { csvParseSeconds, generateCsv, median } from './baseline.js';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));
const CITIES = ['Bandung', 'Jakarta', 'Surabaya', 'Yogyakarta', 'Semarang', 'Medan', 'Makassar'];

/** Plans `count` rows in batches of 20,000 and gives every fifth an accepted message with a final status. */
export async function seed(store: SqliteStore, id: string, count: number): Promise<void> {
  const t0 = Date.UTC(2026, 11, 5, 2, 0, 0);
  await store.ensureCampaign({ id, name: `bench ${count}`, projectId: 'p-bench', sourcePath: '/bench.yaml', now: t0 });
  const generation = await store.beginPlan(id, 'fresh', t0);
  for (let start = 0; start < count; start += 20_000) {
    const rows: PlanRowInput[] = [];
    for (let i = start; i < Math.min(count, start + 20_000); i++) {
      const phone = `62816${String(i).padStart(8, '0')}`;
      const invalid = i % 50 === 7;
      rows.push({
        line: i + 2,
        rawPhone: invalid ? '0812' : `0${phone.slice(2)}`,
        phone: invalid ? null : phone,
        fields: { phone: invalid ? '0812' : `0${phone.slice(2)}`, name: `Pelanggan ${i}`, city: CITIES[i % CITIES.length]!, amount: String((i % 500) * 1000) },
        state: invalid ? 'invalid' : 'planned',
        text: invalid ? null : `Halo Pelanggan ${i}`,
        payload: null,
        requestId: invalid ? null : `rkb-${phone}`,
        reason: invalid ? 'not a valid ID phone number: "0812" (too short)' : null,
      });
    }
    await store.insertPlanBatch(id, generation, rows, t0);
  }
  await store.completePlan(id, generation, { csv: '', template: '', config: '', suppress: '', media: '' }, t0);
  const sendable = await store.nextPlanned(id, t0, count);
  for (let n = 0; n < sendable.length; n += 5) {
    const msg = sendable[n]!;
    const at = t0 + n * 10;
    await store.markSending(msg.id, at);
    await store.markAccepted(msg.id, `5f0c${String(n).padStart(8, '0')}-8a1e-4c2b-9d3f-000000000000`, 'queued', at);
    const failed = n % 35 === 0;
    const final = new Date(at + 4000).toISOString();
    await store.recordStatus(msg.id, {
      apiStatus: failed ? 'failed' : 'delivered',
      deliveredAt: failed ? null : final,
      failedAt: failed ? final : null,
      errorMessage: failed ? 'Recipient is not on WhatsApp' : null,
      checkedAt: at + 60_000,
    });
  }
}

/** Runs `rk-broadcast report` under /usr/bin/time: wall seconds, peak RSS and the output's size. */
function reportOnce(dir: string, id: string, format: 'csv' | 'json' | 'html' | 'xlsx'): Promise<{ seconds: number; maxRssMb: number; bytes: number }> {
  const out = join(dir, `${id}.${format}`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M', process.execPath, CLI, 'report', id, '--db', join(dir, 'state.db'), '--format', format, '--out', out, '--quiet'], {
      cwd: dir,
      env: { PATH: process.env.PATH, CI: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /BENCH ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`report failed (${code}): ${stderr}`));
      resolve({ seconds: Number(m[1]), maxRssMb: Number(m[2]) / 1024, bytes: statSync(out).size });
    });
  });
}

/**
 * Report time and peak memory for each size and format. The CSV report runs `runs` times, each right after
 * csv-parse alone on a recipient file of as many rows (the baseline of the issue's <= 5x), medians reported.
 * `BENCH_REPORT_FORMATS=csv,json` picks formats (the XLSX of 1M rows alone takes minutes).
 */
export async function benchReport(
  sizes: number[] = process.env.BENCH_QUICK === '1' ? [10_000, 100_000] : [100_000, 1_000_000],
  runs = 3,
): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-report-'));
  const rows: BenchRow[] = [];
  const formats = (process.env.BENCH_REPORT_FORMATS?.split(',').map((f) => f.trim()) ?? ['csv', 'json', 'html', 'xlsx']).filter(
    (f): f is 'csv' | 'json' | 'html' | 'xlsx' => ['csv', 'json', 'html', 'xlsx'].includes(f),
  );
  try {
    const store = new SqliteStore(join(dir, 'state.db'));
    for (const size of sizes) await seed(store, `bench-${size}`, size);
    await store.close();
    const csvRss: number[] = [];
    const xlsxRss: number[] = [];
    for (const size of sizes) {
      const recipients = join(dir, `recipients-${size}.csv`);
      await generateCsv(recipients, size);
      for (const format of formats) {
        if (format === 'csv') {
          const times: number[] = [];
          const parses: number[] = [];
          const ratios: number[] = [];
          const peaks: number[] = [];
          let bytes = 0;
          for (let i = 0; i < runs; i++) {
            const parse = await csvParseSeconds(recipients);
            const r = await reportOnce(dir, `bench-${size}`, format);
            parses.push(parse);
            times.push(r.seconds);
            ratios.push(r.seconds / parse);
            peaks.push(r.maxRssMb);
            bytes = r.bytes;
          }
          csvRss.push(median(peaks));
          const seconds = median(times);
          rows.push({
            name: `report csv ${size.toLocaleString('en-US')} rows`,
            value:
              `${seconds.toFixed(1)} s = **${median(ratios).toFixed(1)}x** csv-parse alone (${median(parses).toFixed(1)} s); ` +
              `${Math.round(size / Math.max(seconds, 0.01)).toLocaleString('en-US')} rows/s, peak RSS ${median(peaks).toFixed(0)} MiB, ` +
              `${(bytes / 1_048_576).toFixed(0)} MiB written` +
              (runs > 1 ? ` (runs: ${ratios.map((x) => x.toFixed(1) + 'x').join(', ')})` : ''),
            ...(size === 1_000_000 ? { target: '<= 5x csv-parse' } : {}),
            note: `real CLI, streamed from SQLite through the report's CSV writer (csv-stringify's output, src/report/csv-fast.ts) to a 0600 file; /usr/bin/time; median of ${runs}, each after its own csv-parse baseline`,
          });
          continue;
        }
        const r = await reportOnce(dir, `bench-${size}`, format);
        if (format === 'xlsx') xlsxRss.push(r.maxRssMb);
        rows.push({
          name: `report ${format} ${size.toLocaleString('en-US')} rows`,
          value: `${r.seconds.toFixed(1)} s (${Math.round(size / Math.max(r.seconds, 0.01)).toLocaleString('en-US')} rows/s), peak RSS ${r.maxRssMb.toFixed(0)} MiB, ${(r.bytes / 1_048_576).toFixed(0)} MiB written`,
          note:
            format === 'json'
              ? 'two streamed passes: totals, then one row per line'
              : format === 'html'
                ? 'two passes: totals and charts, then the first 5,000 not-delivered rows'
                : 'two passes: totals (summary sheet), then rows through exceljs\'s streaming writer, inline strings',
        });
      }
    }
    if (csvRss.length === 2) {
      rows.push({ name: `report csv memory ratio ${sizes[1]!.toLocaleString('en-US')} / ${sizes[0]!.toLocaleString('en-US')}`, value: `${(csvRss[1]! / csvRss[0]!).toFixed(2)}x`, target: '~1x (streamed)' });
    }
    if (xlsxRss.length === 2) {
      rows.push({ name: `report xlsx memory ratio ${sizes[1]!.toLocaleString('en-US')} / ${sizes[0]!.toLocaleString('en-US')}`, value: `${(xlsxRss[1]! / xlsxRss[0]!).toFixed(2)}x`, target: '~1x (streamed)' });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
