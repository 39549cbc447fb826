/**
 * Resume to the first send on a planned 1,000,000-row campaign: the real CLI (`run`) against the bundled
 * emulator, timed from the spawn of the process to the first `POST /send` the emulator records. A first run
 * plans the campaign (and is stopped after its first send); each timed run then resumes it. Printed next to a
 * bare `node -e 0` start measured right before each run. The target: <= 0.5 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { bareNodeMs, generateCsv, median } from './baseline.js';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

/** Starts `run`, waits for the emulator's next message, stops the process; milliseconds from spawn to that send. */
async function untilFirstSend(emulator: RunningEmulator, dir: string, campaign: string, key: { apiKey: string; apiSecret: string }): Promise<number> {
  const before = emulator.messages().length;
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(process.execPath, [CLI, 'run', campaign, '--db', join(dir, 'state.db'), '--quiet', '--no-sweep'], {
    cwd: dir,
    env: { PATH: process.env.PATH, CI: 'true', RK_BASE_URL: emulator.url, RK_API_KEY: key.apiKey, RK_API_SECRET: key.apiSecret, RK_MONTHLY_QUOTA: '100000000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  let exited: number | null | undefined;
  void closed.then((code) => (exited = code));
  const ms = await new Promise<number>((resolve, reject) => {
    const poll = setInterval(() => {
      if (emulator.messages().length > before) {
        clearInterval(poll);
        resolve(Number(process.hrtime.bigint() - started) / 1e6);
      } else if (exited !== undefined) {
        clearInterval(poll);
        reject(new Error(`run exited (${exited}) before sending: ${stderr}`));
      }
    }, 1);
  });
  child.kill('SIGTERM');
  await closed;
  return ms;
}

/** Resume-to-first-send on a planned campaign of `size` rows, `runs` times (median). */
export async function benchResume(size = process.env.BENCH_QUICK === '1' ? 100_000 : 1_000_000, runs = 3): Promise<BenchRow[]> {
  const project = { name: 'bench-resume', apiKey: 'bench_resume_key', apiSecret: 'bench_resume_secret', devices: ['RK-DEMO'], monthlyQuota: 1e8, ratePerMinute: 100_000 };
  const emulator = await startEmulator({ port: 0, projects: [project] });
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-resume-'));
  try {
    mkdirSync(join(dir, 'campaigns'));
    await generateCsv(join(dir, 'campaigns', 'big.csv'), size);
    const campaign = join(dir, 'campaigns', 'big.yaml');
    writeFileSync(
      campaign,
      ['id: bench-resume', 'device: RK-DEMO', 'recipients: { file: big.csv }', 'message: "Halo {{name}} dari {{city}}, tagihan {{idr amount}}"', 'rate_per_minute: 6000'].join('\n') + '\n',
    );
    // A recipient list is exported well before it is run: a file written in the last 3 s gets no trusted stat
    // (see src/plan/csv-stat.ts), and every resume would hash it again.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const planMs = await untilFirstSend(emulator, dir, campaign, project); // plans, then sends
    const resumes: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      bare.push(await bareNodeMs());
      resumes.push(await untilFirstSend(emulator, dir, campaign, project));
    }
    const ms = median(resumes);
    return [
      {
        name: `resume to first send, ${size.toLocaleString('en-US')} planned rows`,
        value: `${(ms / 1000).toFixed(2)} s = ${(ms / median(bare)).toFixed(1)}x bare node (${median(bare).toFixed(0)} ms) (runs: ${resumes.map((r) => (r / 1000).toFixed(2) + ' s').join(', ')}; the planning run took ${(planMs / 1000).toFixed(1)} s to its first send)`,
        target: '<= 0.5 s',
        note: `real CLI \`run\` against the emulator, spawn to the first POST /send it records; median of ${runs}`,
      },
    ];
  } finally {
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
