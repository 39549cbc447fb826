import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

/** Writes a recipient CSV of `rows` rows (mixed number styles, a few invalid and duplicate rows) with a stream. */
async function generateCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('phone,name,city,amount\n');
  for (let i = 0; i < rows; i++) {
    const national = `8${String(1_100_000_000 + (i % 50_000 === 7 ? i - 1 : i)).padStart(10, '0')}`;
    const phone = i % 1000 === 3 ? '0812' : i % 2 === 0 ? `0${national}` : `+62 ${national}`;
    const line = `${phone},"Pelanggan ${i}",Kota ${i % 37},${(i % 500) * 1000}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Runs the real CLI's planning (`run --dry-run`) under /usr/bin/time for wall time and peak RSS. */
async function planOnce(dir: string, campaign: string): Promise<{ seconds: number; maxRssMb: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M', process.execPath, CLI, 'run', campaign, '--dry-run', '--db', join(dir, 'state.db'), '--quiet'], {
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

/** Planning throughput and peak memory for 100,000 and 1,000,000 generated rows. */
export async function benchPlan(sizes: number[] = [100_000, 1_000_000]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const rss: number[] = [];
  for (const size of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-plan-'));
    mkdirSync(join(dir, 'campaigns'));
    await generateCsv(join(dir, 'campaigns', 'big.csv'), size);
    writeFileSync(
      join(dir, 'campaigns', 'big.yaml'),
      ['id: bench-plan', 'device: RK-DEMO', 'recipients: { file: big.csv }', 'message: "Halo {{name}} dari {{city}}, tagihan {{idr amount}}"', 'payload: { who: "{{name}}" }'].join('\n'),
    );
    const r = await planOnce(dir, join(dir, 'campaigns', 'big.yaml'));
    rss.push(r.maxRssMb);
    rows.push({
      name: `plan ${size.toLocaleString('en-US')} rows`,
      value: `${r.seconds.toFixed(1)} s (${Math.round(size / r.seconds).toLocaleString('en-US')} rows/s), peak RSS ${r.maxRssMb.toFixed(0)} MiB`,
      ...(size === 1_000_000 ? { target: '<= 30 s' } : {}),
      note: 'real CLI `run --dry-run`: stream, normalise, render, write to SQLite; /usr/bin/time',
    });
  }
  if (rss.length === 2) {
    rows.push({ name: 'plan memory ratio 1M / 100k', value: `${(rss[1]! / rss[0]!).toFixed(2)}x`, target: '<= 1.5x' });
  }
  return rows;
}
