/**
 * Baselines measured in the same run as the figure they divide (the machine is shared, so absolute times drift):
 * a bare `node -e 0` start, and csv-parse alone on the same recipient file. Run as a script
 * (`node baseline.js FILE`) it parses FILE with csv-parse, as the ingest stage configures it, and prints seconds.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';

const SELF = fileURLToPath(import.meta.url);

/** The median of some numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Writes a recipient CSV of `rows` rows (mixed number styles, a few invalid and duplicate rows) with a stream:
 * `phone,name,city,amount`, ~48 MB for a million rows.
 */
export async function generateCsv(path: string, rows: number): Promise<void> {
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

/**
 * Seconds csv-parse alone takes to stream `file` into records (options as src/ingest/csv.ts sets them), in a
 * fresh child process; the process start is not counted, which makes every ratio against it a little stricter.
 */
export function csvParseSeconds(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /^CSV ([\d.]+) (\d+)/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`csv-parse baseline failed (${code}): ${out}`));
      resolve(Number(m[1]));
    });
  });
}

/** Wall milliseconds of a bare `node -e 0`. */
export function bareNodeMs(): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
  });
}

if (process.argv[1] === SELF && process.argv[2]) {
  const started = process.hrtime.bigint();
  let records = 0;
  const parser = createReadStream(process.argv[2]).pipe(
    parse({ bom: true, relax_column_count: true, relax_quotes: true, trim: true }),
  );
  for await (const _record of parser) records++;
  process.stdout.write(`CSV ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(3)} ${records}\n`);
}
