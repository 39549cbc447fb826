/**
 * Issue 11: planning with a per-row media path (`media: "invoices/{{customer_id}}.pdf"`), every file present and
 * distinct, against the same campaign as a text message. Each row's file is realpath'd, stat'ed, sniffed and
 * hashed once. `BENCH_ONLY=media`; `BENCH_MEDIA_ROWS` sets the size (default 100,000).
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planOnce } from './plan.js';
import type { BenchRow } from './types.js';

const PDF = fileURLToPath(new URL('../../test/fixtures/media/invoice.pdf', import.meta.url));

async function generate(dir: string, rows: number): Promise<void> {
  const pdf = readFileSync(PDF);
  mkdirSync(join(dir, 'invoices'), { recursive: true });
  const out = createWriteStream(join(dir, 'r.csv'));
  out.write('phone,customer_id,name\n');
  for (let i = 0; i < rows; i++) {
    const id = `C${String(i).padStart(6, '0')}`;
    writeFileSync(join(dir, 'invoices', `${id}.pdf`), Buffer.concat([pdf, Buffer.from(`%customer ${id}\n`)]));
    if (!out.write(`+62 8${String(1_100_000_000 + i).padStart(10, '0')},${id},"Pelanggan ${i}"\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}


/** Planning time and peak RSS with and without a per-row media file. */
export async function benchMedia(rows = Number(process.env.BENCH_MEDIA_ROWS ?? 100_000)): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-media-'));
  try {
    await generate(dir, rows);
    const base = ['id: bench-media', 'device: RK-DEMO', 'recipients: { file: r.csv }', 'message: "Halo {{name}}, tagihan terlampir"'];
    writeFileSync(join(dir, 'text.yaml'), base.join('\n') + '\n');
    writeFileSync(join(dir, 'media.yaml'), [...base, 'type: document', 'media: "invoices/{{customer_id}}.pdf"'].join('\n') + '\n');
    const text = await planOnce(dir, join(dir, 'text.yaml'), join(dir, 'text.db'));
    const media = await planOnce(dir, join(dir, 'media.yaml'), join(dir, 'media.db'));
    const n = rows.toLocaleString('en-US');
    const fmt = (r: { seconds: number; maxRssMb: number }) =>
      `${r.seconds.toFixed(1)} s (${Math.round(rows / r.seconds).toLocaleString('en-US')} rows/s), peak RSS ${r.maxRssMb.toFixed(0)} MiB`;
    return [
      { name: `plan ${n} rows, a media file per row`, value: fmt(media), note: 'real CLI `run --dry-run`; each row: realpath, stat, sniff, SHA-256 of its own ~350-byte PDF; /usr/bin/time' },
      { name: `plan ${n} rows, same campaign as text`, value: fmt(text), note: 'baseline for the row above' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
