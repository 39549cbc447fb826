/**
 * Sweep throughput: status checks of 20,000 accepted messages against the emulator with 50-200 ms of latency on
 * every status request, at a given concurrency and rate. The ceiling is whichever binds first: the configured
 * rate, or concurrency / mean latency.
 *
 * `BENCH_SWEEP_CONCURRENCY` (default 32) and `BENCH_SWEEP_RATE` (status calls per minute, default 12,000) pick the
 * configuration; `BENCH_QUICK=1` sweeps 2,000 messages.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { DEMO_PROJECT, startEmulator } from '../src/emulator/index.js';
import { RkClient } from '../src/rk/client.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { PlanRowInput } from '../src/store/types.js';
import { sweepCampaign } from '../src/sweep/index.js';
import type { BenchRow } from './types.js';

const LATENCY: [number, number] = [50, 200];

/** Plans `count` messages and sends them to the emulator (no latency yet), `parallel` at a time. */
async function acceptedCampaign(store: SqliteStore, api: RkClient, count: number, parallel = 32): Promise<void> {
  const now = Date.now();
  await store.ensureCampaign({ id: 'bench-sweep', name: 'bench', projectId: 'p-bench', sourcePath: '/bench.yaml', now });
  const generation = await store.beginPlan('bench-sweep', 'fresh', now);
  for (let start = 0; start < count; start += 10_000) {
    const rows: PlanRowInput[] = [];
    for (let i = start; i < Math.min(count, start + 10_000); i++) {
      const phone = `62815${String(i).padStart(8, '0')}`;
      rows.push({ line: i + 2, rawPhone: phone, phone, fields: { phone }, state: 'planned', text: 'Halo', payload: null, requestId: `rq-${phone}`, reason: null });
    }
    await store.insertPlanBatch('bench-sweep', generation, rows, now);
  }
  await store.completePlan('bench-sweep', generation, { csv: '', template: '', config: '', suppress: '', media: '' }, now);
  const queue = await store.nextPlanned('bench-sweep', Date.now(), count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < queue.length) {
        const msg = queue[next++]!;
        await store.markSending(msg.id, Date.now());
        const accepted = await api.send({ device: 'RK-DEMO', recipient: msg.phone, message: msg.text ?? '', requestId: msg.requestId });
        await store.markAccepted(msg.id, accepted.id, accepted.status, Date.now());
      }
    }),
  );
}

/** One sweep of `count` messages at `concurrency` and `ratePerMinute`, against 50-200 ms of status latency. */
export async function benchSweep(
  count = process.env.BENCH_QUICK === '1' ? 2_000 : 20_000,
  concurrency = Number(process.env.BENCH_SWEEP_CONCURRENCY ?? 32),
  ratePerMinute = Number(process.env.BENCH_SWEEP_RATE ?? 12_000),
): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-sweep-'));
  const emu = await startEmulator({
    port: 0,
    projects: [{ ...DEMO_PROJECT, ratePerMinute: 10_000_000, monthlyQuota: 10_000_000 }],
    lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0, failRate: 0.02 },
  });
  const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, connections: Math.max(16, concurrency) });
  const store = new SqliteStore(join(dir, 'state.db'));
  try {
    await acceptedCampaign(store, api, count);
    emu.setFaults({ seed: 7, latencyMs: LATENCY, paths: ['status'] });
    const started = performance.now();
    const outcome = await sweepCampaign(
      { api, store, clock: systemClock, emit: () => undefined },
      { campaignId: 'bench-sweep', concurrency, ratePerMinute },
    );
    const seconds = (performance.now() - started) / 1000;
    if (outcome.checked !== count) throw new Error(`sweep checked ${outcome.checked} of ${count} (${outcome.reason})`);
    const perSecond = count / seconds;
    const meanLatencyS = (LATENCY[0] + LATENCY[1]) / 2 / 1000;
    const ceiling = Math.min(ratePerMinute / 60, concurrency / meanLatencyS);
    return [
      {
        name: `sweep ${count.toLocaleString('en-US')} messages, concurrency ${concurrency}, rate ${ratePerMinute.toLocaleString('en-US')}/min`,
        value: `${seconds.toFixed(1)} s, ${perSecond.toFixed(1)} status/s = ${((perSecond / ceiling) * 100).toFixed(1)}% of the ${ceiling.toFixed(1)}/s ceiling`,
        target: 'close to the ceiling',
        note: `emulator status latency ${LATENCY[0]}-${LATENCY[1]} ms; ceiling = min(rate, concurrency / mean latency); each answer recorded in its own transaction`,
      },
    ];
  } finally {
    await api.close();
    await emu.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
