// Peak RSS of one `rk-broadcast run` sending a large document to N recipients, against an in-process emulator
// (so only the CLI's memory is measured). Linux, needs /usr/bin/time and a built dist/ (npm run build).
//   node scripts/measure-media-rss.mjs [recipients=20] [documentMB=18]
// The emulator refuses bodies over 20 MB, so keep the document below that.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const recipients = Number(process.argv[2] ?? 20);
const documentMb = Number(process.argv[3] ?? 18);
const { startEmulator, DEMO_PROJECT } = await import(join(root, 'dist/emulator/index.js'));
const emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000, monthlyQuota: 100_000 }] });
const dir = mkdtempSync(join(tmpdir(), 'rkb-rss-'));
try {
  const document = Buffer.alloc(Math.round(documentMb * 1024 * 1024), 0x20);
  readFileSync(join(root, 'test/fixtures/media/invoice.pdf')).copy(document); // a real PDF header
  writeFileSync(join(dir, 'doc.pdf'), document);
  const rows = Array.from({ length: recipients }, (_, i) => `+62812${String(i).padStart(7, '0')},X`);
  writeFileSync(join(dir, 'r.csv'), ['phone,nama', ...rows].join('\n') + '\n');
  writeFileSync(join(dir, 'c.yaml'), 'id: rss\ndevice: RK-DEMO\nrecipients:\n  file: r.csv\nmessage: "Halo {{nama}}"\ntype: document\nmedia: doc.pdf\nrate_per_minute: 6000\n');
  const env = { PATH: process.env.PATH, CI: 'true', RK_BASE_URL: emulator.url, RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: DEMO_PROJECT.apiSecret, RK_MONTHLY_QUOTA: '100000' };
  const args = ['-f', '%M', process.execPath, join(root, 'bin/rk-broadcast.js'), 'run', join(dir, 'c.yaml'), '--db', join(dir, 's.db'), '--no-sweep'];
  const stderr = await new Promise((resolve, reject) =>
    execFile('/usr/bin/time', args, { env }, (error, _stdout, err) => (error ? reject(new Error(err)) : resolve(err))),
  );
  const peakKb = Number(stderr.trim().split('\n').at(-1));
  console.log(JSON.stringify({ recipients, documentMb, accepted: emulator.messages().length, peakRssMb: Math.round(peakKb / 1024) }));
} finally {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
}
