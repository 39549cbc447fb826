#!/usr/bin/env node
// `npm run demo`: the whole job on the embedded default. Starts the bundled RK Connect emulator on a free loopback
// port, runs campaigns/demo.yaml against it at a fast rate, sweeps delivery statuses until final and writes the
// delivery reports. Everything it writes goes to .rk-broadcast/demo/ (a fresh state database each time).
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
// The CLI as `bin/rk-broadcast.js` runs it (the bundle); the emulator from dist/.
import { main } from '../dist/bundle/main.js';
import { DEMO_PROJECT, startEmulator } from '../dist/emulator/index.js';

const cwd = process.cwd();
const outDir = join(cwd, '.rk-broadcast', 'demo');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const db = join(outDir, 'state.db');

// A realistic API: 50-400 ms latency, a few 5xx and lost responses (so retries and idempotency show), messages
// delivered a couple of seconds after sending, and one recipient who is not on WhatsApp.
const emulator = await startEmulator({
  port: 0,
  lifecycle: { queuedToSentMs: 800, sentToDeliveredMs: 1500, failRecipients: ['6287811223344', '6285644332211'], failureMessage: 'Recipient is not on WhatsApp' },
  faults: { seed: 2026, latencyMs: [50, 400], serverErrorRate: 0.05, resetAfterRate: 0.05, paths: ['send'] },
});
process.stderr.write(`RK Connect emulator listening on ${emulator.url} (demo project ${DEMO_PROJECT.apiKey}, device ${DEMO_PROJECT.devices[0]})\n\n`);

const io = {
  cwd,
  env: {
    PATH: process.env.PATH,
    NO_COLOR: process.env.NO_COLOR,
    CI: process.env.CI,
    RK_BASE_URL: emulator.url,
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
  },
};

let code = 0;
try {
  const step = async (title, argv) => {
    process.stderr.write(`\n$ rk-broadcast ${argv.join(' ')}\n`);
    const c = await main(argv, io);
    if (c !== 0) throw Object.assign(new Error(`${title} exited with ${c}`), { exitCode: c });
  };
  await step('validate', ['validate', 'campaigns/demo.yaml', '--previews', '1']);
  await step('run', ['run', 'campaigns/demo.yaml', '--db', db, '--rate', '600', '--no-sweep']);
  await step('sweep', ['sweep', 'campaigns/demo.yaml', '--db', db, '--until-final', '--timeout', '60s']);
  await step('report', ['report', 'campaigns/demo.yaml', '--db', db, '--format', 'html', '--out', join(outDir, 'report.html')]);
  await step('report', ['report', 'campaigns/demo.yaml', '--db', db, '--format', 'csv', '--out', join(outDir, 'report.csv')]);
  await step('report', ['report', 'campaigns/demo.yaml', '--db', db, '--format', 'json', '--out', join(outDir, 'report.json')]);
  const stats = emulator.stats();
  process.stderr.write(
    `\nDemo finished. The emulator created ${stats.created} messages (${stats.replays} idempotent replays after lost responses, ` +
      `${stats.injected.serverError} injected 5xx, ${stats.rateLimited} rate-limited).\n` +
      `Reports: ${relative(cwd, join(outDir, 'report.html'))} (open it in a browser), report.csv, report.json\n`,
  );
} catch (error) {
  code = error.exitCode ?? 1;
  process.stderr.write(`\nDemo stopped: ${error.message}\n`);
} finally {
  await emulator.close();
}
process.exitCode = code;
