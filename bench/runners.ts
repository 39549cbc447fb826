/**
 * `BENCH_ONLY=runners`: three runners sharing one project through one PostgreSQL database. Three `run` children,
 * each on a campaign of its own of the same project, against one emulator with 0.3-1.5 s latency whose API limit
 * equals the rate (600/min); a little over two API windows, so the sliding window matters. Target: the project
 * gets >= 97% of its rate between them, and the API never answers 429.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../src/emulator/index.js';
import { writeInlineCampaign } from '../test/helpers/campaign.js';
import { withSchema } from '../test/helpers/pg-test.js';
import { startPostgres } from '../test/helpers/postgres.js';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

export async function benchRunners(ratePerMinute = 600, windows = 2.2): Promise<BenchRow[]> {
  const runners = 3;
  const perCampaign = Math.round((ratePerMinute * windows) / runners);
  const project = { name: 'shared', apiKey: 'bench_shared_key', apiSecret: 'bench_shared_secret', devices: ['RK-DEMO'], monthlyQuota: 1e6, ratePerMinute };
  const server = process.env.RK_TEST_PG_URL ? undefined : await startPostgres({ fast: false });
  const url = withSchema(process.env.RK_TEST_PG_URL ?? server!.url, `bench_runners_${process.pid}`);
  const emulator = await startEmulator({ port: 0, projects: [project], faults: { seed: 7, latencyMs: [300, 1500], paths: ['send'] } });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-runners-'));
    const ids = Array.from({ length: runners }, (_, i) => `shared-${i}`);
    ids.forEach((id, i) => writeInlineCampaign(dir, { id, recipients: perCampaign, prefix: `80${i}`, rate: ratePerMinute }));
    const env = { PATH: process.env.PATH, CI: 'true', RK_BASE_URL: emulator.url, RK_API_KEY: project.apiKey, RK_API_SECRET: project.apiSecret, RK_MONTHLY_QUOTA: '1000000' };
    const codes = await Promise.all(
      ids.map(
        (id) =>
          new Promise<number | null>((resolve) => {
            const child = spawn(process.execPath, [CLI, 'run', join('campaigns', `${id}.yaml`), '--db', url, '--quiet', '--no-sweep'], { cwd: dir, env, stdio: 'ignore' });
            child.on('close', resolve);
          }),
      ),
    );
    const t = emulator.messages().map((m) => m.createdAt).sort((a, b) => a - b);
    const achieved = t.length < 2 ? 0 : ((t.length - 1) * 60_000) / (t.at(-1)! - t[0]!);
    const stats = emulator.stats();
    return [
      {
        name: `3 runners, one project @${ratePerMinute}/min, PostgreSQL`,
        value: `${achieved.toFixed(1)}/min = ${((achieved / ratePerMinute) * 100).toFixed(1)}%, max ${stats.maxSendsInAnyWindow[project.apiKey] ?? 0} in any 60 s, 429s: ${stats.rateLimited}`,
        target: '>= 97%, zero 429',
        note: `${t.length} msgs (${runners} x ${perCampaign}), 0.3-1.5 s latency, exits ${codes.join('/')}`,
      },
    ];
  } finally {
    await emulator.close();
    await server?.stop();
  }
}
