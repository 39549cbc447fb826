import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type Durability } from '../src/store/sqlite.js';
import type { Store } from '../src/store/port.js';
import type { OutgoingMessage, PlanRowInput } from '../src/store/types.js';
import type { BenchRow } from './types.js';

/** Plans `messages` sendable rows into campaign `id` of project `projectId`; returns them, ready to send. */
export async function planBenchMessages(store: Store, id: string, projectId: string, messages: number): Promise<OutgoingMessage[]> {
  await store.ensureCampaign({ id, name: id, projectId, sourcePath: `/${id}.yaml`, now: 0 });
  const gen = await store.beginPlan(id, 'fresh', 0);
  const plan: PlanRowInput[] = Array.from({ length: messages }, (_, i) => ({
    line: i + 2,
    rawPhone: `0812${i}`,
    phone: `62812${String(i).padStart(8, '0')}`,
    fields: { phone: `0812${i}`, name: `n${i}` },
    state: 'planned' as const,
    text: `Halo n${i}`,
    payload: null,
    requestId: `rq-${i}`,
    reason: null,
  }));
  await store.insertPlanBatch(id, gen, plan, 0);
  await store.completePlan(id, gen, { csv: '', template: '', config: '', suppress: '', media: '' }, 0);
  return store.nextPlanned(id, 1, messages);
}

/**
 * The cost of the checkpoint protocol per send: `markSending` (committed before the request) plus
 * `markAccepted` (the UUID, committed with `accepted`), two transactions, measured for both durability settings.
 */
export async function benchCheckpoint(messages = 5_000): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const durability of ['normal', 'full'] as Durability[]) {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rkb-bench-cp-')), 'state.db'), { durability });
    const todo = await planBenchMessages(store, 'c', 'p', messages);
    const start = process.hrtime.bigint();
    for (const m of todo) {
      await store.markSending(m.id, 2);
      await store.markAccepted(m.id, `uuid-${m.id}`, 'queued', 3);
    }
    const micros = Number(process.hrtime.bigint() - start) / 1000 / todo.length;
    await store.close();
    rows.push({
      name: `checkpoint per send (${durability === 'normal' ? 'WAL, synchronous=NORMAL' : 'WAL, synchronous=FULL'})`,
      value: `${micros.toFixed(1)} µs`,
      note: durability === 'normal' ? 'default: survives process crashes; see RESULTS.md for why power loss is covered by idempotency' : 'fsync per commit (RK_DB_DURABILITY=full)',
    });
  }
  return rows;
}
