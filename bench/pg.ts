/**
 * `BENCH_ONLY=pg`: the PostgreSQL store against the SQLite one, on this machine's loopback.
 *
 * - Planning N generated rows (default 1,000,000; `BENCH_QUICK=1` or `BENCH_PG_ROWS=100000` for fewer) through the
 *   real planner (`ensurePlan`: CSV stream, worker thread, batches of 5,000) into each store; wall time, and the
 *   time spent inside the store's calls.
 * - Per-send overhead of the send path's store calls, one message at a time: reserveSendSlot + markSending +
 *   markAccepted + releaseSendSlot (the checkpoint plus the rate window), p50 and p99, on a virtual clock at
 *   600/min so the window holds what it holds in a real run.
 *
 * The server is `RK_TEST_PG_URL` if set, else a throwaway one (test/helpers/postgres.ts) with PostgreSQL's default
 * durability (fsync and synchronous_commit on), as deployed. SQLite runs with its default (WAL, synchronous=NORMAL).
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCampaign } from '../src/config/campaign.js';
import { systemClock } from '../src/core/clock.js';
import { ensurePlan, prepareCampaign } from '../src/plan/planner.js';
import { PostgresStore } from '../src/store/postgres.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/port.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { planBenchMessages } from './checkpoint.js';
import type { BenchRow } from './types.js';

/** The same recipient file as bench/plan.ts: mixed number styles, a few invalid and duplicate rows. */
async function generateCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('phone,name,city,amount\n');
  for (let i = 0; i < rows; i++) {
    const national = `8${String(1_100_000_000 + (i % 50_000 === 7 ? i - 1 : i)).padStart(10, '0')}`;
    const phone = i % 1000 === 3 ? '0812' : i % 2 === 0 ? `0${national}` : `+62 ${national}`;
    if (!out.write(`${phone},"Pelanggan ${i}",Kota ${i % 37},${(i % 500) * 1000}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Wraps a store so the time spent inside its plan-writing calls is added up. */
function timed(store: Store): { store: Store; ms: () => number } {
  let total = 0;
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function' || !['beginPlan', 'insertPlanBatch', 'completePlan'].includes(String(key))) {
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          total += performance.now() - started;
        }
      };
    },
  });
  return { store: wrapped, ms: () => total };
}

async function planInto(store: Store, campaignPath: string): Promise<{ seconds: number; storeSeconds: number; planned: number }> {
  const campaign = await loadCampaign(campaignPath);
  const prepared = await prepareCampaign(campaign);
  const t = timed(store);
  const started = performance.now();
  const summary = await ensurePlan({ store: t.store, clock: systemClock, emit: () => undefined }, prepared, { projectId: 'bench', replan: false });
  return { seconds: (performance.now() - started) / 1000, storeSeconds: t.ms() / 1000, planned: summary?.planned ?? 0 };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Per-send cost of the store calls of one send, in µs: p50 and p99 over `messages` sends. */
async function sendOverhead(store: Store, messages: number): Promise<{ p50: number; p99: number; mean: number }> {
  const todo = await planBenchMessages(store, 'send', 'bench-send', messages);
  const micros: number[] = [];
  // A virtual clock at 600/min: a slot every 100 ms, each answered 50 ms later, so the window holds ~600 slots
  // (the limit is set above that: this measures the cost of a granted slot, not the waiting for one).
  let now = 1_000_000;
  for (const m of todo) {
    const started = process.hrtime.bigint();
    const r = await store.reserveSendSlot('bench-send', now, 1000, 100);
    if (!('slot' in r)) throw new Error(`no slot at ${now}: retry at ${r.retryAt}`);
    await store.markSending(m.id, now);
    await store.markAccepted(m.id, `uuid-${m.id}`, 'queued', now + 50);
    await store.releaseSendSlot(r.slot, now + 50);
    micros.push(Number(process.hrtime.bigint() - started) / 1000);
    now += 100;
  }
  const mean = micros.reduce((a, b) => a + b, 0) / micros.length;
  micros.sort((a, b) => a - b);
  return { p50: percentile(micros, 50), p99: percentile(micros, 99), mean };
}

/** The PostgreSQL benchmarks; see the module comment. */
export async function benchPg(): Promise<BenchRow[]> {
  const quick = process.env.BENCH_QUICK === '1';
  const rowsWanted = Number(process.env.BENCH_PG_ROWS ?? (quick ? 100_000 : 1_000_000));
  const sends = quick ? 1_000 : 5_000;
  const server = process.env.RK_TEST_PG_URL ? undefined : await startPostgres({ fast: false });
  const baseUrl = process.env.RK_TEST_PG_URL ?? server!.url;
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-pg-'));
  const rows: BenchRow[] = [];
  try {
    mkdirSync(join(dir, 'campaigns'));
    await generateCsv(join(dir, 'campaigns', 'big.csv'), rowsWanted);
    const campaignPath = join(dir, 'campaigns', 'big.yaml');
    writeFileSync(
      campaignPath,
      ['id: bench-plan', 'device: RK-DEMO', 'recipients: { file: big.csv }', 'message: "Halo {{name}} dari {{city}}, tagihan {{idr amount}}"', 'payload: { who: "{{name}}" }'].join('\n'),
    );
    const schema = `bench_${process.pid}`;
    const url = `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}schema=${schema}`;

    const sqlite = new SqliteStore(join(dir, 'state.db'));
    const s = await planInto(sqlite, campaignPath);
    const sqliteSend = await sendOverhead(sqlite, sends);
    await sqlite.close();

    const pg = await PostgresStore.open(url);
    const p = await planInto(pg, campaignPath);
    const pgSend = await sendOverhead(pg, sends);
    await pg.close();
    if (!server) {
      // A server we did not start: leave nothing behind in it.
      const { default: pgDriver } = await import('pg');
      const admin = new pgDriver.Client({ connectionString: baseUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }

    const n = rowsWanted.toLocaleString('en-US');
    rows.push(
      {
        name: `plan ${n} rows: SQLite`,
        value: `${s.seconds.toFixed(1)} s (${s.storeSeconds.toFixed(1)} s in the store), ${s.planned.toLocaleString('en-US')} planned`,
        note: 'in-process ensurePlan (CSV stream, worker thread, 5,000-row batches); WAL, synchronous=NORMAL',
      },
      {
        name: `plan ${n} rows: PostgreSQL`,
        value: `${p.seconds.toFixed(1)} s (${p.storeSeconds.toFixed(1)} s in the store), ${p.planned.toLocaleString('en-US')} planned`,
        target: `<= 2x SQLite (${(p.seconds / s.seconds).toFixed(2)}x wall, ${(p.storeSeconds / s.storeSeconds).toFixed(2)}x in the store)`,
        note: 'same planner; multi-row upsert over unnest() arrays per batch; loopback, fsync and synchronous_commit on',
      },
      {
        name: 'per send, reserve + sending + accepted + release: SQLite',
        value: `p50 ${sqliteSend.p50.toFixed(0)} µs, p99 ${sqliteSend.p99.toFixed(0)} µs (mean ${sqliteSend.mean.toFixed(0)})`,
        note: `${sends.toLocaleString('en-US')} sends one at a time, 600/min on a virtual clock`,
      },
      {
        name: 'per send, reserve + sending + accepted + release: PostgreSQL',
        value: `p50 ${pgSend.p50.toFixed(0)} µs, p99 ${pgSend.p99.toFixed(0)} µs (mean ${pgSend.mean.toFixed(0)})`,
        note: 'four commits (the rate window is one transaction under the project\'s advisory lock); loopback',
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server?.stop();
  }
  return rows;
}
