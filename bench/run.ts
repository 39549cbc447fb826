/**
 * `npm run bench`: runs every benchmark and prints one table. Figures go to bench/RESULTS.md and issue notes,
 * never into timed tests. `BENCH_ONLY=rate,plan,startup` picks some; `BENCH_QUICK=1` uses smaller sizes.
 */
import { benchCheckpoint } from './checkpoint.js';
import { benchPlan } from './plan.js';
import { benchRate } from './rate.js';
import { benchStartup } from './startup.js';
import type { BenchRow } from './types.js';

type Bench = { key: string; run: () => Promise<BenchRow[]> };

const quick = process.env.BENCH_QUICK === '1';
const benches: Bench[] = [
  { key: 'checkpoint', run: () => benchCheckpoint(quick ? 1_000 : 5_000) },
  { key: 'plan', run: () => benchPlan(quick ? [10_000, 100_000] : [100_000, 1_000_000]) },
  { key: 'rate', run: async () => [...(await benchRate(600, quick ? 1.2 : 2.2)), ...(quick ? [] : await benchRate(60, 2.2))] },
  { key: 'startup', run: () => benchStartup(quick ? 7 : 21) },
];
// Benchmarks owned by other modules register here when present.
for (const extra of ['./sweep.js', './report.js', './disk.js', './pg.js', './media.js', './runners.js', './resume.js']) {
  try {
    const mod = (await import(extra)) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) {
      if (name.startsWith('bench') && typeof fn === 'function') {
        benches.push({ key: name.replace(/^bench/, '').toLowerCase(), run: fn as () => Promise<BenchRow[]> });
      }
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
}

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim().toLowerCase());
const rows: BenchRow[] = [];
for (const bench of benches) {
  if (only && !only.includes(bench.key)) continue;
  process.stderr.write(`running ${bench.key} ...\n`);
  const started = Date.now();
  rows.push(...(await bench.run()));
  process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

const header = ['benchmark', 'result', 'target', 'how'];
const table = [header, header.map(() => '---'), ...rows.map((r) => [r.name, r.value, r.target ?? '', r.note ?? ''])];
process.stdout.write(table.map((cells) => `| ${cells.join(' | ')} |`).join('\n') + '\n');
process.stdout.write(`\nnode ${process.version}, ${(await import('node:os')).cpus().length} cores, ${new Date().toISOString()}\n`);
