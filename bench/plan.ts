import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { csvParseSeconds, generateCsv, median } from './baseline.js';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

/** Runs the real CLI's planning (`run --dry-run`) under /usr/bin/time for wall time and peak RSS. */
export async function planOnce(dir: string, campaign: string, db = join(dir, 'state.db')): Promise<{ seconds: number; maxRssMb: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M', process.execPath, CLI, 'run', campaign, '--dry-run', '--db', db, '--quiet'], {
      cwd: dir,
      env: { PATH: process.env.PATH, CI: 'true', RK_API_KEY: 'bench', RK_API_SECRET: 'bench-secret', RK_BASE_URL: 'http://127.0.0.1:9/api/v1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const m = /BENCH ([\d.]+) (\d+)/.exec(stderr);
      if (!m) return reject(new Error(`no timing in: ${stderr}`));
      resolve({ seconds: Number(m[1]), maxRssMb: Number(m[2]) / 1024, stderr });
    });
  });
}

/**
 * Planning throughput and peak memory for each size, as a ratio to csv-parse alone on the same file, measured
 * right before each plan (`runs` interleaved pairs; medians). The target at 1M rows: <= 8x.
 */
export async function benchPlan(sizes: number[] = [100_000, 1_000_000], runs = 3): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const rss: number[] = [];
  for (const size of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-plan-'));
    mkdirSync(join(dir, 'campaigns'));
    const csv = join(dir, 'campaigns', 'big.csv');
    await generateCsv(csv, size);
    writeFileSync(
      join(dir, 'campaigns', 'big.yaml'),
      ['id: bench-plan', 'device: RK-DEMO', 'recipients: { file: big.csv }', 'message: "Halo {{name}} dari {{city}}, tagihan {{idr amount}}"', 'payload: { who: "{{name}}" }'].join('\n'),
    );
    const plans: number[] = [];
    const parses: number[] = [];
    const ratios: number[] = [];
    const peaks: number[] = [];
    for (let i = 0; i < runs; i++) {
      const parse = await csvParseSeconds(csv);
      rmSync(join(dir, 'state.db'), { force: true });
      for (const suffix of ['-wal', '-shm']) rmSync(join(dir, `state.db${suffix}`), { force: true });
      const r = await planOnce(dir, join(dir, 'campaigns', 'big.yaml'));
      parses.push(parse);
      plans.push(r.seconds);
      ratios.push(r.seconds / parse);
      peaks.push(r.maxRssMb);
    }
    rss.push(median(peaks));
    const seconds = median(plans);
    rows.push({
      name: `plan ${size.toLocaleString('en-US')} rows`,
      value:
        `${seconds.toFixed(1)} s = **${median(ratios).toFixed(1)}x** csv-parse alone (${median(parses).toFixed(1)} s); ` +
        `${Math.round(size / seconds).toLocaleString('en-US')} rows/s, peak RSS ${median(peaks).toFixed(0)} MiB` +
        (runs > 1 ? ` (runs: ${ratios.map((x) => x.toFixed(1) + 'x').join(', ')})` : ''),
      ...(size === 1_000_000 ? { target: '<= 8x csv-parse' } : {}),
      note: `real CLI \`run --dry-run\` under /usr/bin/time; median of ${runs}, each after its own csv-parse baseline`,
    });
    rmSync(dir, { recursive: true, force: true });
  }
  if (rss.length === 2) {
    rows.push({ name: 'plan memory ratio 1M / 100k', value: `${(rss[1]! / rss[0]!).toFixed(2)}x`, target: '<= 1.5x' });
  }
  return rows;
}
