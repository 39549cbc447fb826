import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCampaign } from '../src/config/campaign.js';
import { systemClock } from '../src/core/clock.js';
import { ensurePlan, prepareCampaign } from '../src/plan/planner.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { BenchRow } from './types.js';

/** Bytes on disk of the database, its write-ahead log and its shared-memory file. */
function diskUse(db: string): { total: number; wal: number } {
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  const wal = size(`${db}-wal`);
  return { total: size(db) + wal + size(`${db}-shm`), wal };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * Peak disk use of a campaign of `messages` recipients: planned through the real planner (with its bulk-write
 * phase), then every store call the sender makes per message (slot, `sending`, `accepted` + UUID, slot release)
 * with no API in between, so the write-ahead log grows as fast as it can. Sizes of db + -wal + -shm are sampled
 * during planning and every 100 sends.
 */
export async function benchDisk(messages = 100_000): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-bench-disk-'));
  mkdirSync(join(dir, 'campaigns'));
  const csv = createWriteStream(join(dir, 'campaigns', 'disk.csv'));
  csv.write('phone,nama\n');
  for (let i = 0; i < messages; i++) {
    if (!csv.write(`+62811${String(i).padStart(8, '0')},Pelanggan ${i}\n`)) await once(csv, 'drain');
  }
  csv.end();
  await once(csv, 'finish');
  writeFileSync(join(dir, 'campaigns', 'disk.yaml'), 'id: disk\ndevice: RK-DEMO\nrecipients:\n  file: disk.csv\nmessage: "Halo {{nama}}"\nrate_per_minute: 6000\n');
  const db = join(dir, 'state.db');
  const store = new SqliteStore(db);
  const peak = { plan: 0, planWal: 0, send: 0, sendWal: 0 };
  const sample = (phase: 'plan' | 'send') => {
    const u = diskUse(db);
    if (phase === 'plan') {
      peak.plan = Math.max(peak.plan, u.total);
      peak.planWal = Math.max(peak.planWal, u.wal);
    } else {
      peak.send = Math.max(peak.send, u.total);
      peak.sendWal = Math.max(peak.sendWal, u.wal);
    }
  };
  const sampler = setInterval(() => sample('plan'), 20);
  const started = Date.now();
  const prepared = await prepareCampaign(await loadCampaign(join(dir, 'campaigns', 'disk.yaml')));
  await ensurePlan({ store, clock: systemClock, emit: () => undefined }, prepared, { projectId: 'p', replan: false });
  clearInterval(sampler);
  sample('plan');
  const planSeconds = (Date.now() - started) / 1000;
  const dbAfterPlan = diskUse(db).total - diskUse(db).wal;

  let now = Date.now();
  let sent = 0;
  const sendStarted = Date.now();
  for (;;) {
    const batch = await store.nextPlanned('disk', now, 500);
    if (batch.length === 0) break;
    for (const m of batch) {
      now += 60; // 1,000/min of simulated time: the rate window holds 1,000 slots, as at a real 1,000/min
      const r = await store.reserveSendSlot('p', now, 1_000_000, 0);
      if (!('slot' in r)) throw new Error('no slot');
      await store.markSending(m.id, now);
      await store.releaseSendSlot(r.slot, now);
      await store.markAccepted(m.id, `00000000-0000-4000-8000-${String(m.id).padStart(12, '0')}`, 'queued', now);
      if (++sent % 100 === 0) sample('send');
    }
  }
  sample('send');
  const sendSeconds = (Date.now() - sendStarted) / 1000;
  const walAtEnd = diskUse(db).wal;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const n = messages.toLocaleString('en-US');
  return [
    { name: `disk: plan ${n} rows`, value: `peak ${mb(peak.plan)} (WAL ${mb(peak.planWal)}); db ${mb(dbAfterPlan)} after`, note: `${planSeconds.toFixed(1)} s; sampled every 20 ms` },
    {
      name: `disk: send ${n} messages (store calls only)`,
      value: `peak ${mb(peak.send)} (WAL peak **${mb(peak.sendWal)}**, ${mb(walAtEnd)} at the end)`,
      note: `${sendSeconds.toFixed(1)} s; slot + sending + accepted + release per message, no API; sampled every 100 sends`,
    },
  ];
}
