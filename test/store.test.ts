import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/schema.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { TransitionError, type PlanRowInput } from '../src/store/types.js';
import { tempDir } from './helpers/tmp.js';

const FP = { csv: 'a', template: 'b', config: 'c', suppress: 'd', media: '' };

function row(line: number, phone: string | null, extra: Partial<PlanRowInput> = {}): PlanRowInput {
  return {
    line,
    rawPhone: phone ?? 'bad',
    phone,
    fields: { phone: phone ?? 'bad', name: `n${line}` },
    state: phone ? 'planned' : 'invalid',
    text: phone ? `hello ${line}` : null,
    payload: phone ? { line } : null,
    requestId: phone ? `rq-${phone}` : null,
    reason: phone ? null : 'not a valid number',
    ...extra,
  };
}

async function planned(store: SqliteStore, rows: PlanRowInput[], mode: 'fresh' | 'replan' = 'fresh') {
  await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p1', sourcePath: '/x.yaml', now: 1 });
  const gen = await store.beginPlan('c1', mode, 1);
  const result = await store.insertPlanBatch('c1', gen, rows, 1);
  const { skipped } = await store.completePlan('c1', gen, FP, 1);
  return { ...result, skipped };
}

describe('SqliteStore', () => {
  it('creates the database file with mode 0600 and migrates it', async () => {
    const dir = tempDir();
    const store = new SqliteStore(join(dir, 'sub', 'state.db'));
    expect(statSync(join(dir, 'sub', 'state.db')).mode & 0o777).toBe(0o600);
    await store.close();
    // Reopening an up-to-date database is a no-op.
    const again = new SqliteStore(join(dir, 'sub', 'state.db'));
    expect(await again.listCampaigns()).toEqual([]);
    await again.close();
  });

  it('migration 6 counts the messages a database already holds, and the counts follow every change after it', async () => {
    const path = join(tempDir(), 'state.db');
    // A database as the previous release left it (schema 5), with a sent campaign and a planned one.
    const old = new Database(path);
    for (const migration of MIGRATIONS.slice(0, 5)) old.exec(migration);
    old.pragma('user_version = 5');
    const insertCampaign = old.prepare("INSERT INTO campaigns (id, name, project_id, source_path, plan_generation, plan_complete, created_at, updated_at) VALUES (?, ?, 'p1', '/x.yaml', 1, 1, 1, 1)");
    insertCampaign.run('sent', 'Sent');
    insertCampaign.run('new', 'New');
    const insertMessage = old.prepare("INSERT INTO messages (campaign_id, generation, line, raw_phone, phone, fields, state, request_id, api_status, updated_at) VALUES (?, 1, ?, ?, ?, '{}', ?, ?, ?, 1)");
    const states = ['accepted', 'accepted', 'accepted', 'rejected', 'unknown', 'planned', 'invalid'];
    states.forEach((state, i) =>
      insertMessage.run('sent', i + 2, `+6281${i}`, state === 'invalid' ? null : `+6281${i}`, state, state === 'invalid' ? null : `rq-${i}`, i === 0 ? 'read' : null),
    );
    for (let i = 0; i < 4; i++) insertMessage.run('new', i + 2, `+6282${i}`, `+6282${i}`, 'planned', `rq-new-${i}`, null);
    old.close();

    const store = new SqliteStore(path);
    try {
      const sent = await store.counts('sent');
      expect(sent.total).toBe(7);
      expect(sent.byState).toMatchObject({ accepted: 3, rejected: 1, unknown: 1, planned: 1, invalid: 1, sending: 0, failed_to_send: 0 });
      expect(sent.byApiStatus).toEqual({ read: 1, queued: 2 });
      expect((await store.counts('new')).byState.planned).toBe(4);
      // Changes after the migration move the counts: a send, a replan that removes rows, a fresh plan.
      const [first] = await store.nextPlanned('new', 1e12, 1);
      await store.markSending(first!.id, 2);
      expect((await store.counts('new')).byState).toMatchObject({ planned: 3, sending: 1 });
      const gen = await store.beginPlan('new', 'replan', 3);
      await store.insertPlanBatch('new', gen, [row(9, '+628299')], 3);
      await store.completePlan('new', gen, FP, 3);
      const afterReplan = (await store.counts('new')).byState;
      expect(afterReplan).toMatchObject({ planned: 1, sending: 0, skipped: 4 });
    } finally {
      await store.close();
    }
    const raw = new Database(path, { readonly: true });
    const counted = raw.prepare("SELECT state, COUNT(*) AS n FROM messages WHERE campaign_id = 'new' GROUP BY state ORDER BY state").all();
    raw.close();
    expect(counted).toEqual([{ state: 'planned', n: 1 }, { state: 'skipped', n: 4 }]);
  });

  it('plans rows, deduplicating by request id with the first row winning', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    const r = await planned(store, [row(2, '6281'), row(3, null), row(4, '6281'), row(5, '6282')]);
    expect(r).toMatchObject({ planned: 2, duplicate: 1, invalid: 1 });
    const rows = [];
    for await (const x of store.reportRows('c1')) rows.push(x);
    expect(rows.map((x) => [x.line, x.state])).toEqual([
      [2, 'planned'],
      [3, 'invalid'],
      [4, 'duplicate'],
      [5, 'planned'],
    ]);
    expect(rows[2]!.errorMessage).toBe('same number as line 2');
    await store.close();
  });

  it('guards every transition: a row cannot be sent twice or go back after acceptance', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    await planned(store, [row(2, '6281')]);
    const [msg] = await store.nextPlanned('c1', 10, 10);
    expect(await store.markSending(msg!.id, 10)).toBe(1);
    await expect(store.markSending(msg!.id, 11)).rejects.toBeInstanceOf(TransitionError);
    await store.markAccepted(msg!.id, 'uuid-1', 'queued', 12);
    await expect(store.markRetry(msg!.id, { code: 'X', message: 'x' }, 0, 13, { countAttempt: true, uncertain: true })).rejects.toBeInstanceOf(TransitionError);
    await expect(store.markAccepted(msg!.id, 'uuid-2', 'queued', 13)).rejects.toBeInstanceOf(TransitionError);
    expect((await store.counts('c1')).byState.accepted).toBe(1);
    expect(await store.nextPlanned('c1', 100, 10)).toEqual([]);
    await store.close();
  });

  it('recovers in-flight rows: recent ones are resent, old uncertain ones become unknown', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    await planned(store, [row(2, '6281'), row(3, '6282'), row(4, '6283')]);
    const [a, b, c] = await store.nextPlanned('c1', 0, 10);
    await store.markSending(a!.id, 1_000); // crashed long ago
    await store.markSending(b!.id, 95_000); // crashed recently
    await store.markSending(c!.id, 1_000);
    await store.markRetry(c!.id, { code: 'ECONNRESET', message: 'reset' }, 2_000, 1_500, { countAttempt: true, uncertain: true }); // uncertain retry, old
    const r = await store.recoverInFlight('c1', 100_000, 10_000);
    expect(r).toEqual({ requeued: 1, unknown: 2 });
    const next = await store.nextPlanned('c1', 100_000, 10);
    expect(next.map((m) => m.line)).toEqual([3]);
    expect(next[0]!.attempts).toBe(1);
    expect(await store.requeueUnknown('c1', 100_001)).toBe(2);
    await store.close();
  });

  it('a 429 retry does not count as an attempt', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    await planned(store, [row(2, '6281')]);
    const [m] = await store.nextPlanned('c1', 0, 1);
    await store.markSending(m!.id, 1);
    await store.markRetry(m!.id, { code: 'RATE_LIMITED', message: '429' }, 5, 1, { countAttempt: false, uncertain: false });
    expect(await store.nextPlanned('c1', 4, 1)).toEqual([]);
    expect((await store.nextPlanned('c1', 5, 1))[0]!.attempts).toBe(0);
    await store.close();
  });

  it('replan re-renders planned rows, keeps accepted ones and skips removed ones', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    await planned(store, [row(2, '6281'), row(3, '6282'), row(4, '6283')]);
    const [a] = await store.nextPlanned('c1', 0, 1);
    await store.markSending(a!.id, 1);
    await store.markAccepted(a!.id, 'u1', 'queued', 2);
    const r = await planned(
      store,
      [row(2, '6281', { text: 'new 1' }), row(3, '6282', { text: 'new 2' }), row(4, '6284', { text: 'new 4' })],
      'replan',
    );
    expect(r).toMatchObject({ planned: 2, kept: 1, skipped: 1 });
    const rows = [];
    for await (const x of store.reportRows('c1')) rows.push(x);
    expect(rows.map((x) => [x.line, x.phone, x.state])).toEqual([
      [2, '6281', 'accepted'],
      [3, '6282', 'planned'],
      [4, '6284', 'planned'],
      [4, '6283', 'skipped'],
    ]);
    const next = await store.nextPlanned('c1', 10, 10);
    expect(next.map((m) => m.text)).toEqual(['new 2', 'new 4']);
    await store.close();
  });

  it('send slots never allow more than the rate live in a 60 s window, across store instances', async () => {
    const path = join(tempDir(), 's.db');
    const s1 = new SqliteStore(path);
    const s2 = new SqliteStore(path);
    const slots: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await (i % 2 ? s2 : s1).reserveSendSlot('p', 1000 + i * 100, 3, 100);
      expect('slot' in r).toBe(true);
      if ('slot' in r) slots.push(r.slot);
    }
    // Spacing is enforced...
    expect(await s1.reserveSendSlot('p', 1250, 10, 100)).toEqual({ retryAt: 1300 });
    // ...and the window: all 3 in flight, so poll.
    const full = await s2.reserveSendSlot('p', 5000, 3, 100);
    expect('retryAt' in full && full.retryAt <= 5050).toBe(true);
    for (const [i, slot] of slots.entries()) await s1.releaseSendSlot(slot, 2000 + i);
    const waiting = await s1.reserveSendSlot('p', 5000, 3, 100);
    expect(waiting).toEqual({ retryAt: 2000 + 60_000 + 1 });
    expect('slot' in (await s2.reserveSendSlot('p', 62_001, 3, 100))).toBe(true);
    await s1.close();
    await s2.close();
  });

  it('leases: a live holder is respected, a stale one is taken over', async () => {
    const store = new SqliteStore(join(tempDir(), 's.db'));
    await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p', sourcePath: '/x', now: 0 });
    const me = { campaignId: 'c1', owner: 'a', pid: 1, host: 'h' };
    expect(await store.acquireLease(me, 0, 30_000)).toEqual({ acquired: true });
    const other = await store.acquireLease({ ...me, owner: 'b', pid: 2 }, 10_000, 30_000);
    expect(other).toMatchObject({ acquired: false, holder: { owner: 'a', pid: 1 } });
    expect(await store.heartbeat('c1', 'a', 20_000)).toBe(true);
    expect((await store.acquireLease({ ...me, owner: 'b' }, 49_000, 30_000)).acquired).toBe(false);
    expect((await store.acquireLease({ ...me, owner: 'b' }, 51_000, 30_000)).acquired).toBe(true);
    expect(await store.heartbeat('c1', 'a', 52_000)).toBe(false);
    await store.close();
  });
});
