// Issue 11: peak RSS of one `rk-broadcast run` sending each of N recipients its OWN document of M MB (every file
// distinct), against an in-process emulator (so only the CLI's memory is measured). Linux, needs /usr/bin/time and
// a built dist/ (npm run build). The files are sparse (a real PDF header, a per-customer line, then a hole), so no
// disk is spent on them; every byte is still read, hashed at plan time, read and hashed again, and uploaded.
//   node scripts/measure-per-row-media-rss.mjs [recipients=10000] [documentMB=1]
import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const recipients = Number(process.argv[2] ?? 10_000);
const documentMb = Number(process.argv[3] ?? 1);
const { startEmulator, DEMO_PROJECT } = await import(join(root, 'dist/emulator/index.js'));
const emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000, monthlyQuota: 1_000_000 }] });
const dir = mkdtempSync(join(tmpdir(), 'rkb-rss-rows-'));
try {
  const pdf = readFileSync(join(root, 'test/fixtures/media/invoice.pdf'));
  mkdirSync(join(dir, 'invoices'));
  const rows = [];
  for (let i = 0; i < recipients; i++) {
    const id = `C${String(i).padStart(6, '0')}`;
    const fd = openSync(join(dir, 'invoices', `${id}.pdf`), 'w');
    writeSync(fd, Buffer.concat([pdf, Buffer.from(`%customer ${id}\n`)]));
    ftruncateSync(fd, Math.round(documentMb * 1024 * 1024));
    closeSync(fd);
    rows.push(`+62812${String(i).padStart(7, '0')},${id}`);
  }
  writeFileSync(join(dir, 'r.csv'), ['phone,customer_id', ...rows].join('\n') + '\n');
  writeFileSync(
    join(dir, 'c.yaml'),
    'id: rss-rows\ndevice: RK-DEMO\nrecipients:\n  file: r.csv\nmessage: "Tagihan {{customer_id}}"\ntype: document\nmedia: "invoices/{{customer_id}}.pdf"\nrate_per_minute: 6000\n',
  );
  const env = { PATH: process.env.PATH, CI: 'true', RK_BASE_URL: emulator.url, RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: DEMO_PROJECT.apiSecret, RK_MONTHLY_QUOTA: '1000000' };
  const args = ['-f', '%e %M', process.execPath, join(root, 'bin/rk-broadcast.js'), 'run', join(dir, 'c.yaml'), '--db', join(dir, 's.db'), '--no-sweep', '--quiet'];
  const stderr = await new Promise((resolve, reject) =>
    execFile('/usr/bin/time', args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, err) => (error ? reject(new Error(err)) : resolve(err))),
  );
  const [seconds, peakKb] = stderr.trim().split('\n').at(-1).split(' ').map(Number);
  const messages = emulator.messages();
  const distinct = new Set(messages.map((m) => m.mediaSha256)).size;
  console.log(JSON.stringify({ recipients, documentMb, accepted: messages.length, distinctFiles: distinct, seconds, peakRssMb: Math.round(peakKb / 1024) }));
} finally {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
}
