import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmulator, type EmulatorMessage } from '../src/emulator/index.js';
import { RkClient } from '../src/rk/client.js';
import { isRkError } from '../src/rk/errors.js';
import { writeCampaign } from '../test/helpers/campaign.js';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

function achieved(messages: EmulatorMessage[]): number {
  const t = messages.map((m) => m.createdAt).sort((a, b) => a - b);
  return t.length < 2 ? 0 : ((t.length - 1) * 60_000) / (t.at(-1)! - t[0]!);
}

/**
 * Rate fidelity, side by side in one run against one emulator with 0.3-1.5 s latency: rk-broadcast (real CLI,
 * child process) and a naive sequential loop (send, then sleep 60/rate s), each on its own project whose API
 * limit equals the configured rate. Runs a little over two API windows so the sliding window matters.
 */
export async function benchRate(ratePerMinute: number, windows = 2.2): Promise<BenchRow[]> {
  const count = Math.round(ratePerMinute * windows);
  const tool = { name: 'bench-tool', apiKey: 'bench_tool_key', apiSecret: 'bench_tool_secret', devices: ['RK-DEMO'], monthlyQuota: 1e6, ratePerMinute };
  const naive = { name: 'bench-naive', apiKey: 'bench_naive_key', apiSecret: 'bench_naive_secret', devices: ['RK-DEMO'], monthlyQuota: 1e6, ratePerMinute };
  const emulator = await startEmulator({ port: 0, projects: [tool, naive], faults: { seed: 99, latencyMs: [300, 1500], paths: ['send'] } });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-rate-'));
    const { path } = writeCampaign(dir, { valid: count, rate: ratePerMinute, id: 'bench-rate' });
    const toolRun = new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'run', path, '--db', join(dir, 's.db'), '--quiet', '--no-sweep'], {
        cwd: dir,
        env: { PATH: process.env.PATH, CI: 'true', RK_BASE_URL: emulator.url, RK_API_KEY: tool.apiKey, RK_API_SECRET: tool.apiSecret, RK_MONTHLY_QUOTA: '1000000' },
        stdio: 'ignore',
      });
      child.on('close', resolve);
    });
    const client = new RkClient({ apiKey: naive.apiKey, apiSecret: naive.apiSecret, baseUrl: emulator.url });
    let naive429 = 0;
    const started = Date.now();
    const naiveRun = (async () => {
      // Same number of messages, or as many as fit while rk-broadcast is running, whichever comes first.
      for (let i = 0; i < count && Date.now() - started < (count / ratePerMinute) * 60_000 * 1.05; i++) {
        try {
          await client.send({ device: 'RK-DEMO', recipient: `62899${String(i).padStart(8, '0')}`, message: 'naive', requestId: `naive-${i}` });
        } catch (error) {
          if (isRkError(error) && error.kind === 'rate_limited') naive429++;
        }
        await new Promise((r) => setTimeout(r, 60_000 / ratePerMinute));
      }
    })();
    const [code] = await Promise.all([toolRun, naiveRun]);
    await client.close();
    const messages = emulator.messages();
    const toolMessages = messages.filter((m) => m.projectKey === tool.apiKey);
    const naiveMessages = messages.filter((m) => m.projectKey === naive.apiKey);
    const stats = emulator.stats();
    const toolRate = achieved(toolMessages);
    const naiveRate = achieved(naiveMessages);
    const windowNote = `${toolMessages.length} msgs over ${windows} windows, limit ${ratePerMinute}/min, exit ${code}`;
    return [
      {
        name: `rate @${ratePerMinute}/min: rk-broadcast`,
        value: `${toolRate.toFixed(1)}/min = ${((toolRate / ratePerMinute) * 100).toFixed(1)}%, max ${stats.maxSendsInAnyWindow[tool.apiKey] ?? 0} in any 60 s, 429s: ${stats.rateLimited - naive429}`,
        target: '>= 99%, zero 429',
        note: windowNote,
      },
      {
        name: `rate @${ratePerMinute}/min: naive loop`,
        value: `${naiveRate.toFixed(1)}/min = ${((naiveRate / ratePerMinute) * 100).toFixed(1)}%, 429s: ${naive429}`,
        note: `send, then sleep ${(60 / ratePerMinute).toFixed(2)} s; ${naiveMessages.length} msgs in the same time`,
      },
    ];
  } finally {
    await emulator.close();
  }
}
