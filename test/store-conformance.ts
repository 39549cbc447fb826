/**
 * The one conformance suite of the `Store` port: every implementation must pass it unchanged. SqliteStore is the
 * reference (test/store-conformance.sqlite.test.ts); PostgresStore runs it too (store-conformance.postgres.test.ts).
 *
 * `describeStore` covers the campaign records, planning and replanning, suppression, every guarded transition and
 * its refusal, crash recovery, the send queue, leases, reports, counts, the quota ledger and races between two
 * store instances on one database. `describeRateWindow` covers the project's shared send window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEADLINE_PASSED_CODE,
  MAY_HAVE_BEEN_SENT_NOTE,
  REMOVED_FROM_PLAN,
  SUPPRESSED_AFTER_PLAN,
  SUPPRESSED_AT_PLAN,
  UNCERTAIN_AFTER_CRASH,
} from '../src/core/reasons.js';
import { fencedStore } from '../src/store/fence.js';
import type { Store } from '../src/store/port.js';
import { LeaseLostError, TransitionError, type MessageState, type PlanRowInput, type ReportRow } from '../src/store/types.js';

/** A fresh, empty database: its store, and a way to open another store instance (own connection) on it. */
export interface StoreUnderTest {
  store: Store;
  /** Another instance on the same database, as a second process would have. */
  another(): Promise<Store>;
  /** Removes the database (after every store on it is closed). */
  cleanup?(): Promise<void>;
}

/** Makes a fresh database for one test. */
export type MakeStore = () => Promise<StoreUnderTest>;

const FP = { csv: 'a', template: 'b', config: 'c', suppress: 'd', media: '' };
const ERR = { code: 'E', message: 'boom' };

/** A CSV row: sendable when it has a number, invalid otherwise. */
export function row(line: number, phone: string | null, extra: Partial<PlanRowInput> = {}): PlanRowInput {
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

/** A row whose number is on a suppression list at planning. */
function suppressedRow(line: number, phone: string): PlanRowInput {
  return row(line, phone, { state: 'suppressed', text: null, payload: null, requestId: null, reason: SUPPRESSED_AT_PLAN.message });
}

async function plan(store: Store, rows: PlanRowInput[], mode: 'fresh' | 'replan' = 'fresh', id = 'c1', projectId = 'p1', now = 1) {
  await store.ensureCampaign({ id, name: id.toUpperCase(), projectId, sourcePath: `/${id}.yaml`, now });
  const gen = await store.beginPlan(id, mode, now);
  const result = await store.insertPlanBatch(id, gen, rows, now);
  const { skipped } = await store.completePlan(id, gen, FP, now);
  return { ...result, skipped, gen };
}

async function report(store: Store, id = 'c1'): Promise<ReportRow[]> {
  const rows: ReportRow[] = [];
  for await (const r of store.reportRows(id)) rows.push(r);
  return rows;
}

async function byPhone(store: Store, id = 'c1'): Promise<Map<string, ReportRow>> {
  return new Map((await report(store, id)).filter((r) => r.phone !== null && r.state !== 'duplicate').map((r) => [r.phone!, r]));
}

/** The message ids of the planned rows, by number. */
async function ids(store: Store, id = 'c1', now = 1e12): Promise<Map<string, number>> {
  return new Map((await store.nextPlanned(id, now, 100_000)).map((m) => [m.phone, m.id]));
}

/** Opens stores for one test and closes them (and the database) after it. */
function harness(make: MakeStore) {
  let opened: { sut: StoreUnderTest; stores: Store[] }[] = [];
  afterEach(async () => {
    for (const { sut, stores } of opened) {
      for (const s of stores) await s.close();
      await sut.cleanup?.();
    }
    opened = [];
  });
  return async (): Promise<{ store: Store; another: () => Promise<Store> }> => {
    const sut = await make();
    const entry = { sut, stores: [sut.store] };
    opened.push(entry);
    return {
      store: sut.store,
      another: async () => {
        const s = await sut.another();
        entry.stores.push(s);
        return s;
      },
    };
  };
}

/** The conformance suite of `Store` (everything but the rate window). */
export function describeStore(name: string, make: MakeStore): void {
  describe(`Store conformance: ${name}`, () => {
    const open = harness(make);

    describe('campaign records', () => {
      it('ensureCampaign creates a record once and returns it; getCampaign and listCampaigns read it', async () => {
        const { store } = await open();
        expect(await store.getCampaign('c1')).toBeUndefined();
        const a = await store.ensureCampaign({ id: 'c1', name: 'One', projectId: 'p1', sourcePath: '/one.yaml', now: 10 });
        expect(a).toEqual({
          id: 'c1', name: 'One', projectId: 'p1', sourcePath: '/one.yaml', fingerprint: null, planGeneration: 0, planComplete: false,
          plannedAt: null, firstSendAt: null, lastSendAt: null, finishedAt: null, lastStop: null, lastStopDetail: null, updatedAt: 10,
        });
        const again = await store.ensureCampaign({ id: 'c1', name: 'Other', projectId: 'p9', sourcePath: '/x.yaml', now: 20 });
        expect(again).toEqual(a);
        await store.ensureCampaign({ id: 'c2', name: 'Two', projectId: 'p1', sourcePath: '/two.yaml', now: 30 });
        expect((await store.listCampaigns()).map((c) => c.id)).toEqual(['c2', 'c1']);
        await store.updateCampaign('c1', { lastStop: 'done' }, 40);
        expect((await store.listCampaigns()).map((c) => c.id)).toEqual(['c1', 'c2']);
      });

      it('updateCampaign changes only the keys given; lastStop and finishedAt can be cleared', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'One', projectId: 'p1', sourcePath: '/one.yaml', now: 1 });
        await store.updateCampaign('c1', { name: 'Renamed', lastStop: 'quota', finishedAt: 5 }, 6);
        expect(await store.getCampaign('c1')).toMatchObject({ name: 'Renamed', sourcePath: '/one.yaml', projectId: 'p1', lastStop: 'quota', finishedAt: 5, updatedAt: 6 });
        await store.updateCampaign('c1', { sourcePath: '/moved.yaml', projectId: 'p2' }, 7);
        expect(await store.getCampaign('c1')).toMatchObject({ name: 'Renamed', sourcePath: '/moved.yaml', projectId: 'p2', lastStop: 'quota', finishedAt: 5 });
        await store.updateCampaign('c1', { lastStop: null, finishedAt: null }, 8);
        expect(await store.getCampaign('c1')).toMatchObject({ lastStop: null, finishedAt: null, updatedAt: 8 });
        // A stop's detail goes with it: kept while other keys change, replaced (or cleared) by the next stop.
        await store.updateCampaign('c1', { lastStop: 'health', lastStopDetail: '14 of the last 20 messages failed' }, 9);
        await store.updateCampaign('c1', { name: 'Again' }, 10);
        expect(await store.getCampaign('c1')).toMatchObject({ lastStop: 'health', lastStopDetail: '14 of the last 20 messages failed' });
        await store.updateCampaign('c1', { lastStop: 'done' }, 11);
        expect(await store.getCampaign('c1')).toMatchObject({ lastStop: 'done', lastStopDetail: null });
      });
    });

    describe('plan', () => {
      it('plans rows in one batch and across batches, the first row of a number winning; invalid and suppressed rows kept with their reason', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p1', sourcePath: '/c.yaml', now: 1 });
        const gen = await store.beginPlan('c1', 'fresh', 1);
        expect(gen).toBe(1);
        const first = await store.insertPlanBatch('c1', gen, [row(2, '6281'), row(3, null), row(4, '6281'), row(5, '6282'), suppressedRow(6, '6289')], 2);
        expect(first).toEqual({ planned: 2, duplicate: 1, invalid: 1, suppressed: 1, kept: 0 });
        const second = await store.insertPlanBatch('c1', gen, [row(7, '6282'), row(8, '6283', { timezone: 'Asia/Makassar' }), row(9, '6283')], 3);
        expect(second).toEqual({ planned: 1, duplicate: 2, invalid: 0, suppressed: 0, kept: 0 });
        expect((await store.getCampaign('c1'))!.planComplete).toBe(false);
        expect(await store.completePlan('c1', gen, FP, 4)).toEqual({ skipped: 0 });
        expect(await store.getCampaign('c1')).toMatchObject({ planComplete: true, fingerprint: FP, plannedAt: 4, planGeneration: 1 });
        const rows = await report(store);
        expect(rows.map((r) => [r.line, r.state, r.errorCode, r.errorMessage])).toEqual([
          [2, 'planned', null, null],
          [3, 'invalid', 'INVALID', 'not a valid number'],
          [4, 'duplicate', 'DUPLICATE', 'same number as line 2'],
          [5, 'planned', null, null],
          [6, 'suppressed', SUPPRESSED_AT_PLAN.code, SUPPRESSED_AT_PLAN.message],
          [7, 'duplicate', 'DUPLICATE', 'same number as line 5'],
          [8, 'planned', null, null],
          [9, 'duplicate', 'DUPLICATE', 'same number as line 8'],
        ]);
        expect(rows[0]).toMatchObject({ rawPhone: '6281', phone: '6281', fields: { phone: '6281', name: 'n2' }, requestId: 'rq-6281', attempts: 0, uuid: null, apiStatus: null, sentAt: null });
        expect(rows[1]).toMatchObject({ phone: null, requestId: null });
        const next = await store.nextPlanned('c1', 10, 10);
        expect(next).toEqual([
          { id: expect.any(Number), line: 2, phone: '6281', text: 'hello 2', payload: { line: 2 }, requestId: 'rq-6281', attempts: 0, timezone: null },
          { id: expect.any(Number), line: 5, phone: '6282', text: 'hello 5', payload: { line: 5 }, requestId: 'rq-6282', attempts: 0, timezone: null },
          { id: expect.any(Number), line: 8, phone: '6283', text: 'hello 8', payload: { line: 8 }, requestId: 'rq-6283', attempts: 0, timezone: 'Asia/Makassar' },
        ]);
        expect(await store.pendingTimezones('c1')).toEqual(expect.arrayContaining([null, 'Asia/Makassar']));
      });

      it('pre-encoded fields and payload win over the objects; a row without a request id or reason is an invalid row', async () => {
        const { store } = await open();
        await plan(store, [
          row(2, '6281', { fieldsJson: '{"phone":"0812","z":"1","a":"2"}', payloadJson: '{"pre":true}' }),
          row(3, '6282', { payload: null }),
          row(4, '6283', { requestId: null }),
          row(5, null, { reason: null }),
        ]);
        const rows = await report(store);
        expect(Object.keys(rows[0]!.fields)).toEqual(['phone', 'z', 'a']);
        expect(rows.map((r) => [r.line, r.state, r.errorMessage])).toEqual([
          [2, 'planned', null],
          [3, 'planned', null],
          [4, 'invalid', 'invalid row'],
          [5, 'invalid', 'invalid row'],
        ]);
        const next = await store.nextPlanned('c1', 10, 10);
        expect(next.map((m) => m.payload)).toEqual([{ pre: true }, null]);
      });

      it('a fresh plan after a crash mid-plan starts over; a completePlan of an older generation is refused', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p1', sourcePath: '/c.yaml', now: 1 });
        const g1 = await store.beginPlan('c1', 'fresh', 1);
        await store.insertPlanBatch('c1', g1, [row(2, '6281'), row(3, '6282')], 1);
        // Crash: the plan never completed. The next run plans from scratch.
        const g2 = await store.beginPlan('c1', 'fresh', 2);
        expect(g2).toBe(g1 + 1);
        expect((await store.counts('c1')).total).toBe(0);
        await store.insertPlanBatch('c1', g2, [row(2, '6281')], 2);
        await expect(store.completePlan('c1', g1, FP, 3)).rejects.toThrow(/changed under us/);
        expect((await store.getCampaign('c1'))!.planComplete).toBe(false);
        await store.completePlan('c1', g2, FP, 3);
        expect((await report(store)).map((r) => r.line)).toEqual([2]);
        await expect(store.beginPlan('nope', 'fresh', 1)).rejects.toThrow(/not in the database/);
      });

      it('replan re-renders planned rows, keeps sent ones as they were, drops never-sent invalid/duplicate rows and skips removed ones', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283'), row(5, null), row(6, '6281')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 10);
        await store.markAccepted(m.get('6281')!, 'u1', 'queued', 11);
        const r = await plan(store, [row(2, '6281', { text: 'new 1' }), row(3, '6282', { text: 'new 2' }), row(4, '6284', { text: 'new 4' })], 'replan', 'c1', 'p1', 20);
        expect(r).toMatchObject({ planned: 2, kept: 1, skipped: 1, duplicate: 0, invalid: 0, gen: 2 });
        const rows = await report(store);
        expect(rows.map((x) => [x.line, x.phone, x.state])).toEqual([
          [2, '6281', 'accepted'],
          [3, '6282', 'planned'],
          [4, '6284', 'planned'],
          [4, '6283', 'skipped'],
        ]);
        // A row removed before any attempt: skipped, with no note that it may have been sent.
        expect(rows[3]).toMatchObject({ errorCode: REMOVED_FROM_PLAN.code, errorMessage: REMOVED_FROM_PLAN.message });
        const next = await store.nextPlanned('c1', 30, 10);
        expect(next.map((x) => x.text)).toEqual(['new 2', 'new 4']);
        expect(rows[0]).toMatchObject({ uuid: 'u1', acceptedAt: 11, sentAt: 10 });
        // The accepted row keeps what was sent.
        expect(await store.nextPlanned('c1', 30, 10)).not.toContainEqual(expect.objectContaining({ phone: '6281' }));
      });

      it('replan: rows a crash left sending, unknown, failed_to_send or uncertain, no longer in the plan, are skipped or suppressed with the may-have-been-sent note, and nothing brings them back', async () => {
        const { store } = await open();
        const numbers = ['6281', '6282', '6283', '6284', '6285', '6286', '6287', '6288'];
        await plan(store, numbers.map((p, i) => row(i + 2, p)));
        const m = await ids(store);
        // 6281: accepted. 6282: sending (crash). 6283: unknown. 6284: failed_to_send, never uncertain.
        // 6285: planned, never tried. 6286: planned after an uncertain retry. 6287: sending, then suppressed.
        // 6288: failed_to_send after an uncertain attempt, then suppressed.
        await store.markSending(m.get('6281')!, 100);
        await store.markAccepted(m.get('6281')!, 'u1', 'queued', 101);
        await store.markSending(m.get('6283')!, 100);
        await store.recoverInFlight('c1', 1_000_000, 1000); // 6283 -> unknown
        await store.markSending(m.get('6282')!, 2_000_000);
        await store.markSending(m.get('6284')!, 2_000_000);
        await store.markFailedToSend(m.get('6284')!, ERR, 2_000_001);
        await store.markSending(m.get('6286')!, 2_000_000);
        await store.markRetry(m.get('6286')!, ERR, 0, 2_000_001, { countAttempt: true, uncertain: true });
        await store.markSending(m.get('6287')!, 2_000_000);
        await store.markSending(m.get('6288')!, 2_000_000);
        await store.markRetry(m.get('6288')!, ERR, 0, 2_000_001, { countAttempt: true, uncertain: true });
        await store.markSending(m.get('6288')!, 2_000_002);
        await store.markFailedToSend(m.get('6288')!, ERR, 2_000_003);
        expect((await byPhone(store)).get('6283')!.state).toBe('unknown');

        // The replan keeps 6281 only (and a new number), and suppresses 6287 and 6288.
        const r = await plan(store, [row(2, '6281'), suppressedRow(8, '6287'), suppressedRow(9, '6288'), row(10, '6290')], 'replan', 'c1', 'p1', 3_000_000);
        expect(r).toMatchObject({ planned: 1, kept: 1, suppressed: 2, skipped: 5 });
        const after = await byPhone(store);
        const removedNoted = REMOVED_FROM_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE;
        expect(after.get('6281')).toMatchObject({ state: 'accepted', uuid: 'u1' });
        expect(after.get('6282')).toMatchObject({ state: 'skipped', errorCode: REMOVED_FROM_PLAN.code, errorMessage: removedNoted });
        expect(after.get('6283')).toMatchObject({ state: 'skipped', errorCode: REMOVED_FROM_PLAN.code, errorMessage: removedNoted });
        expect(after.get('6284')).toMatchObject({ state: 'skipped', errorCode: REMOVED_FROM_PLAN.code, errorMessage: REMOVED_FROM_PLAN.message });
        expect(after.get('6285')).toMatchObject({ state: 'skipped', errorCode: REMOVED_FROM_PLAN.code, errorMessage: REMOVED_FROM_PLAN.message });
        expect(after.get('6286')).toMatchObject({ state: 'skipped', errorCode: REMOVED_FROM_PLAN.code, errorMessage: removedNoted });
        const suppressedNoted = SUPPRESSED_AT_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE;
        // Suppressed in place: the row keeps its history (attempts, request id) and takes the new line.
        expect(after.get('6287')).toMatchObject({ state: 'suppressed', line: 8, errorCode: SUPPRESSED_AT_PLAN.code, errorMessage: suppressedNoted, attempts: 1, requestId: 'rq-6287' });
        expect(after.get('6288')).toMatchObject({ state: 'suppressed', line: 9, errorCode: SUPPRESSED_AT_PLAN.code, errorMessage: suppressedNoted, attempts: 2 });
        expect(after.get('6290')).toMatchObject({ state: 'planned' });

        // Neither crash recovery nor --resend-unknown / --retry-failed sends any of them.
        expect(await store.recoverInFlight('c1', 3_000_001, 10)).toEqual({ requeued: 0, unknown: 0 });
        expect(await store.requeueUnknown('c1', 3_000_002)).toBe(0);
        expect(await store.requeueFailed('c1', 3_000_003)).toBe(0);
        expect((await store.nextPlanned('c1', 1e12, 100)).map((x) => x.phone)).toEqual(['6290']);
        expect(await store.suppressedNumbers('c1')).toEqual(new Set(['6287', '6288']));
      });

      it('a row a crash left sending that a replan removes and a later replan adds back is still uncertain: recovery past the window makes it unknown, never a blind resend', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 1000); // crash: left sending, never recovered
        await plan(store, [row(3, '6282')], 'replan', 'c1', 'p1', 2000);
        expect((await byPhone(store)).get('6281')).toMatchObject({ state: 'skipped' });
        await plan(store, [row(2, '6281'), row(3, '6282')], 'replan', 'c1', 'p1', 3000);
        expect((await byPhone(store)).get('6281')).toMatchObject({ state: 'planned', attempts: 1 });
        // Far outside the idempotency window: the old attempt may have created the message.
        expect(await store.recoverInFlight('c1', 10_000_000, 60_000)).toEqual({ requeued: 0, unknown: 1 });
        expect((await byPhone(store)).get('6281')).toMatchObject({ state: 'unknown' });
        expect((await store.nextPlanned('c1', 1e12, 10)).map((x) => x.phone)).toEqual(['6282']);
      });

      it('a number a replan removed after an uncertain attempt and a later replan adds back is planned again, and recovery still knows the old attempt', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 1000);
        await store.recoverInFlight('c1', 1001, 60_000); // recent: planned again, uncertain
        await plan(store, [row(3, '6282')], 'replan', 'c1', 'p1', 2000);
        expect((await byPhone(store)).get('6281')).toMatchObject({ state: 'skipped', errorMessage: REMOVED_FROM_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE });
        const back = await plan(store, [row(2, '6281', { text: 'again' }), row(3, '6282')], 'replan', 'c1', 'p1', 3000);
        expect(back).toMatchObject({ planned: 2, skipped: 0 });
        const again = (await byPhone(store)).get('6281')!;
        expect(again).toMatchObject({ state: 'planned', errorCode: null, errorMessage: null, attempts: 1, sentAt: 1000 });
        expect((await store.nextPlanned('c1', 1e12, 10)).find((x) => x.phone === '6281')!.text).toBe('again');
        // Its first attempt is older than the idempotency window: recovery makes it unknown, not a blind resend.
        expect(await store.recoverInFlight('c1', 100_000, 10_000)).toEqual({ requeued: 0, unknown: 1 });
        expect((await byPhone(store)).get('6281')!.state).toBe('unknown');
      });

      it('setPlanFingerprint replaces the fingerprint of a complete plan only', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p1', sourcePath: '/c.yaml', now: 1 });
        const gen = await store.beginPlan('c1', 'fresh', 1);
        await store.setPlanFingerprint('c1', { ...FP, suppress: 'x' }, 2);
        expect((await store.getCampaign('c1'))!.fingerprint).toBeNull();
        await store.completePlan('c1', gen, FP, 3);
        await store.setPlanFingerprint('c1', { ...FP, suppress: 'new' }, 4);
        expect((await store.getCampaign('c1'))!.fingerprint).toEqual({ ...FP, suppress: 'new' });
      });
    });

    describe('suppression applied without a replan', () => {
      it('suppresses planned, unknown and failed_to_send rows of the numbers; sending ones only when asked; never accepted ones', async () => {
        const { store } = await open();
        const numbers = ['6281', '6282', '6283', '6284', '6285', '6286', '6287'];
        await plan(store, numbers.map((p, i) => row(i + 2, p)));
        const m = await ids(store);
        await store.markSending(m.get('6282')!, 10); // stays sending
        await store.markSending(m.get('6283')!, 10);
        await store.recoverInFlight('c1', 1_000_000, 1000); // 6282, 6283 -> unknown
        await store.markSending(m.get('6284')!, 2_000_000);
        await store.markFailedToSend(m.get('6284')!, ERR, 2_000_001);
        await store.markSending(m.get('6285')!, 2_000_000);
        await store.markAccepted(m.get('6285')!, 'u5', 'queued', 2_000_001);
        await store.markSending(m.get('6286')!, 2_000_000); // in flight during the run
        const during = await store.applySuppression('c1', ['6281', '6283', '6284', '6285', '6286', '6299', '6281'], SUPPRESSED_AFTER_PLAN, 2_000_010, { inFlightToo: false });
        expect(during).toBe(3);
        let rows = await byPhone(store);
        expect(rows.get('6281')).toMatchObject({ state: 'suppressed', errorCode: SUPPRESSED_AFTER_PLAN.code, errorMessage: SUPPRESSED_AFTER_PLAN.message });
        expect(rows.get('6283')).toMatchObject({ state: 'suppressed', errorMessage: SUPPRESSED_AFTER_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE });
        expect(rows.get('6284')).toMatchObject({ state: 'suppressed', errorMessage: SUPPRESSED_AFTER_PLAN.message });
        expect(rows.get('6285')!.state).toBe('accepted');
        expect(rows.get('6286')!.state).toBe('sending');
        // At the start of a run (before crash recovery), a row left sending is suppressed too.
        const atStart = await store.applySuppression('c1', new Set(['6286', '6282']), SUPPRESSED_AFTER_PLAN, 2_000_020, { inFlightToo: true });
        expect(atStart).toBe(2);
        rows = await byPhone(store);
        expect(rows.get('6286')).toMatchObject({ state: 'suppressed', errorMessage: SUPPRESSED_AFTER_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE });
        expect(rows.get('6282')).toMatchObject({ state: 'suppressed', errorMessage: SUPPRESSED_AFTER_PLAN.message + MAY_HAVE_BEEN_SENT_NOTE });
        expect(await store.applySuppression('c1', [], SUPPRESSED_AFTER_PLAN, 2_000_030, { inFlightToo: true })).toBe(0);
        expect(await store.suppressedNumbers('c1')).toEqual(new Set(['6281', '6282', '6283', '6284', '6286']));
        expect((await store.nextPlanned('c1', 1e12, 10)).map((x) => x.phone)).toEqual(['6287']);
        expect(await store.requeueUnknown('c1', 2_000_040)).toBe(0);
        expect(await store.requeueFailed('c1', 2_000_040)).toBe(0);
      });
    });

    describe('guarded transitions', () => {
      /** A row in each state the send path can reach, by number. */
      async function everyState(store: Store) {
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283'), row(5, '6284'), row(6, '6285')]);
        const m = await ids(store);
        const planned = m.get('6281')!;
        const sending = m.get('6282')!;
        const accepted = m.get('6283')!;
        const rejected = m.get('6284')!;
        const failed = m.get('6285')!;
        for (const id of [sending, accepted, rejected, failed]) await store.markSending(id, 10);
        await store.markAccepted(accepted, 'u3', 'queued', 11);
        await store.markRejected(rejected, { code: 'INVALID_RECIPIENT', message: 'no' }, 11);
        await store.markFailedToSend(failed, ERR, 11);
        return { planned, sending, accepted, rejected, failed, missing: 999_999 };
      }

      type Attempt = { name: string; from: MessageState; to: MessageState; run: (s: Store, id: number) => Promise<unknown> };
      const attempts: Attempt[] = [
        { name: 'markSending', from: 'planned', to: 'sending', run: (s, id) => s.markSending(id, 20) },
        { name: 'markAccepted', from: 'sending', to: 'accepted', run: (s, id) => s.markAccepted(id, 'u', 'queued', 20) },
        { name: 'markRetry', from: 'sending', to: 'planned', run: (s, id) => s.markRetry(id, ERR, 30, 20, { countAttempt: true, uncertain: false }) },
        { name: 'markRejected', from: 'sending', to: 'rejected', run: (s, id) => s.markRejected(id, ERR, 20) },
        { name: 'markFailedToSend', from: 'sending', to: 'failed_to_send', run: (s, id) => s.markFailedToSend(id, ERR, 20) },
        {
          name: 'recordStatus',
          from: 'accepted',
          to: 'accepted',
          run: (s, id) => s.recordStatus(id, { apiStatus: 'delivered', deliveredAt: '2026-01-01T00:00:00Z', failedAt: null, errorMessage: null, checkedAt: 20 }),
        },
      ];
      for (const a of attempts) {
        it(`${a.name} moves a ${a.from} row to ${a.to} and refuses every other state with a TransitionError`, async () => {
          const { store } = await open();
          const rows = await everyState(store);
          const stateOf: Record<string, number> = { planned: rows.planned, sending: rows.sending, accepted: rows.accepted, rejected: rows.rejected, failed_to_send: rows.failed, missing: rows.missing };
          for (const [state, id] of Object.entries(stateOf)) {
            if (state === a.from) continue;
            const error = await a.run(store, id).then(() => undefined, (e: unknown) => e);
            expect(error, `${a.name} on a ${state} row`).toBeInstanceOf(TransitionError);
            expect(error).toMatchObject({ messageId: id, from: a.from, to: a.to });
          }
          const before = await store.counts('c1');
          await a.run(store, stateOf[a.from]!);
          const after = await store.counts('c1');
          if (a.from !== a.to) {
            expect(after.byState[a.from]).toBe(before.byState[a.from] - 1);
            expect(after.byState[a.to]).toBe(before.byState[a.to] + 1);
          }
          // The same transition again is refused: the row has moved on (recordStatus may repeat: it stays accepted).
          if (a.from !== a.to) await expect(a.run(store, stateOf[a.from]!)).rejects.toBeInstanceOf(TransitionError);
        });
      }

      it('markSending counts attempts and stamps the campaign; a retry that did not reach the API refunds it; uncertain sticks', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281')]);
        const [m] = await store.nextPlanned('c1', 0, 1);
        expect(await store.markSending(m!.id, 100)).toBe(1);
        expect(await store.getCampaign('c1')).toMatchObject({ firstSendAt: 100, lastSendAt: 100 });
        await store.markRetry(m!.id, { code: 'RATE_LIMITED', message: '429' }, 500, 101, { countAttempt: false, uncertain: false });
        expect(await store.nextPlanned('c1', 499, 1)).toEqual([]);
        expect(await store.nextPlannedAt('c1')).toBe(500);
        expect((await store.nextPlanned('c1', 500, 1))[0]!.attempts).toBe(0);
        expect(await store.markSending(m!.id, 600)).toBe(1);
        expect(await store.getCampaign('c1')).toMatchObject({ firstSendAt: 100, lastSendAt: 600 });
        await store.markRetry(m!.id, { code: 'ECONNRESET', message: 'reset' }, 700, 601, { countAttempt: true, uncertain: true });
        expect(await store.markSending(m!.id, 700)).toBe(2);
        await store.markRetry(m!.id, { code: 'HTTP_500', message: '500' }, 800, 701, { countAttempt: true, uncertain: false });
        expect((await report(store))[0]).toMatchObject({ state: 'planned', attempts: 2, errorCode: 'HTTP_500', errorMessage: '500', sentAt: 100 });
        // Still uncertain from the reset: an old attempt becomes unknown at recovery.
        expect(await store.recoverInFlight('c1', 1_000_000, 1000)).toEqual({ requeued: 0, unknown: 1 });
        expect(await store.nextPlannedAt('c1')).toBeNull();
      });

      it('markAccepted stores the UUID and clears the last error; recordStatus records what the sweep learned', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283')]);
        const m = await ids(store);
        for (const p of ['6281', '6282', '6283']) {
          await store.markSending(m.get(p)!, 10);
          if (p === '6281') {
            await store.markRetry(m.get(p)!, ERR, 0, 11, { countAttempt: true, uncertain: true });
            await store.markSending(m.get(p)!, 12);
          }
          await store.markAccepted(m.get(p)!, `uuid-${p}`, 'queued', 13);
        }
        expect((await byPhone(store)).get('6281')).toMatchObject({ state: 'accepted', uuid: 'uuid-6281', apiStatus: 'queued', errorCode: null, errorMessage: null, acceptedAt: 13 });
        await store.recordStatus(m.get('6281')!, { apiStatus: 'delivered', deliveredAt: '2026-12-05T09:00:00Z', failedAt: null, errorMessage: null, checkedAt: 20 });
        await store.recordStatus(m.get('6281')!, { apiStatus: 'read', deliveredAt: null, failedAt: null, errorMessage: null, checkedAt: 21 });
        await store.recordStatus(m.get('6282')!, { apiStatus: 'failed', deliveredAt: null, failedAt: '2026-12-05T09:01:00Z', errorMessage: 'number not on WhatsApp', checkedAt: 22 });
        const rows = await byPhone(store);
        expect(rows.get('6281')).toMatchObject({ apiStatus: 'read', deliveredAt: '2026-12-05T09:00:00Z', lastCheckedAt: 21, errorCode: null });
        expect(rows.get('6282')).toMatchObject({ apiStatus: 'failed', failedAt: '2026-12-05T09:01:00Z', errorCode: 'FAILED', errorMessage: 'number not on WhatsApp' });
        // Sweep: accepted rows whose status is not final, in id order, paged after an id.
        const targets = await store.sweepTargets('c1', ['read', 'failed'], 10, 0);
        expect(targets).toEqual([{ id: m.get('6283')!, uuid: 'uuid-6283', apiStatus: 'queued', checks: 0 }]);
        const all = await store.sweepTargets('c1', [], 10, 0);
        expect(all.map((t) => t.id)).toEqual([...m.values()].sort((a, b) => a - b));
        expect(all.find((t) => t.id === m.get('6281'))!.checks).toBe(2);
        expect(await store.sweepTargets('c1', [], 1, all[0]!.id)).toEqual([all[1]]);
        expect((await store.counts('c1')).byApiStatus).toEqual({ read: 1, failed: 1, queued: 1 });
      });

      it('expirePlanned turns only planned rows into expired, with the deadline code and the given reason', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 10);
        expect(await store.expirePlanned('c1', 'end_at passed', 20)).toBe(2);
        const rows = await byPhone(store);
        expect(rows.get('6282')).toMatchObject({ state: 'expired', errorCode: DEADLINE_PASSED_CODE, errorMessage: 'end_at passed' });
        expect(rows.get('6281')!.state).toBe('sending');
        expect(await store.expirePlanned('c1', 'again', 21)).toBe(0);
      });
    });

    describe('crash recovery and the send queue', () => {
      it('recoverInFlight: sending rows within the window are resent (uncertain), older ones and old uncertain retries become unknown', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283'), row(5, '6284'), row(6, '6285'), row(7, '6286')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 1_000); // crashed long ago
        await store.markSending(m.get('6282')!, 95_000); // crashed recently
        await store.markSending(m.get('6283')!, 1_000);
        await store.markRetry(m.get('6283')!, ERR, 2_000, 1_500, { countAttempt: true, uncertain: true }); // old uncertain retry
        await store.markSending(m.get('6284')!, 95_000);
        await store.markRetry(m.get('6284')!, ERR, 0, 95_001, { countAttempt: true, uncertain: true }); // recent uncertain retry
        await store.markSending(m.get('6285')!, 90_000); // exactly at the cutoff: not older than the window
        const r = await store.recoverInFlight('c1', 100_000, 10_000);
        expect(r).toEqual({ requeued: 2, unknown: 2 });
        const rows = await byPhone(store);
        for (const p of ['6281', '6283']) {
          expect(rows.get(p)).toMatchObject({ state: 'unknown', errorCode: UNCERTAIN_AFTER_CRASH.code, errorMessage: UNCERTAIN_AFTER_CRASH.message });
        }
        expect((await store.nextPlanned('c1', 100_000, 10)).map((x) => [x.phone, x.attempts])).toEqual([
          ['6282', 1],
          ['6284', 1],
          ['6285', 1],
          ['6286', 0],
        ]);
        // Requeued rows are uncertain now: a later recovery past the window makes them unknown.
        expect(await store.recoverInFlight('c1', 10_000_000, 10_000)).toEqual({ requeued: 0, unknown: 3 });
        // --resend-unknown: unknown rows without a UUID go back to planned.
        expect(await store.requeueUnknown('c1', 10_000_001)).toBe(5);
        expect((await store.nextPlanned('c1', 10_000_001, 10)).length).toBe(6);
      });

      it('requeueFailed puts failed_to_send rows back with their attempts reset', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 10);
        await store.markFailedToSend(m.get('6281')!, ERR, 11);
        expect(await store.requeueFailed('c1', 12)).toBe(1);
        expect((await store.nextPlanned('c1', 12, 10)).map((x) => [x.phone, x.attempts])).toEqual([
          ['6281', 0],
          ['6282', 0],
        ]);
        expect(await store.requeueFailed('c1', 13)).toBe(0);
      });

      it('nextPlanned: due planned rows in CSV order, at most `limit`, skipping excluded ids', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p1', sourcePath: '/c.yaml', now: 1 });
        const gen = await store.beginPlan('c1', 'fresh', 1);
        // Written out of line order, in two batches.
        await store.insertPlanBatch('c1', gen, [row(9, '6289'), row(3, '6283')], 1);
        await store.insertPlanBatch('c1', gen, [row(5, '6285'), row(2, '6282'), row(7, '6287')], 1);
        await store.completePlan('c1', gen, FP, 1);
        const all = await store.nextPlanned('c1', 10, 100);
        expect(all.map((x) => x.line)).toEqual([2, 3, 5, 7, 9]);
        expect((await store.nextPlanned('c1', 10, 2)).map((x) => x.line)).toEqual([2, 3]);
        const exclude = new Set([all[0]!.id, all[2]!.id]);
        expect((await store.nextPlanned('c1', 10, 2, exclude)).map((x) => x.line)).toEqual([3, 7]);
        expect((await store.nextPlanned('c1', 10, 10, exclude)).map((x) => x.line)).toEqual([3, 7, 9]);
        await store.markSending(all[1]!.id, 11);
        await store.markRetry(all[1]!.id, ERR, 50, 12, { countAttempt: true, uncertain: false });
        expect((await store.nextPlanned('c1', 49, 10)).map((x) => x.line)).toEqual([2, 5, 7, 9]);
        expect((await store.nextPlanned('c1', 50, 10)).map((x) => x.line)).toEqual([2, 3, 5, 7, 9]);
        expect(await store.nextPlanned('other', 50, 10)).toEqual([]);
      });
    });

    describe('leases', () => {
      it('take, refuse a live holder, heartbeat, take over a stale one, release only by the owner', async () => {
        const { store } = await open();
        await store.ensureCampaign({ id: 'c1', name: 'C', projectId: 'p', sourcePath: '/x', now: 0 });
        const me = { campaignId: 'c1', owner: 'a', pid: 1, host: 'h1' };
        expect(await store.getLease('c1')).toBeUndefined();
        expect(await store.acquireLease(me, 0, 30_000)).toEqual({ acquired: true });
        expect(await store.getLease('c1')).toEqual({ ...me, acquiredAt: 0, heartbeatAt: 0 });
        const other = { campaignId: 'c1', owner: 'b', pid: 2, host: 'h2' };
        expect(await store.acquireLease(other, 10_000, 30_000)).toEqual({ acquired: false, holder: { ...me, acquiredAt: 0, heartbeatAt: 0 } });
        expect(await store.heartbeat('c1', 'a', 20_000)).toBe(true);
        expect(await store.heartbeat('c1', 'b', 20_000)).toBe(false);
        expect((await store.acquireLease(other, 49_999, 30_000)).acquired).toBe(false);
        // The holder itself may take it again (a renewed start).
        expect(await store.acquireLease(me, 30_000, 30_000)).toEqual({ acquired: true });
        expect(await store.getLease('c1')).toEqual({ ...me, acquiredAt: 30_000, heartbeatAt: 30_000 });
        // Stale: no heartbeat for staleMs.
        expect(await store.acquireLease(other, 60_000, 30_000)).toEqual({ acquired: true });
        expect(await store.getLease('c1')).toEqual({ ...other, acquiredAt: 60_000, heartbeatAt: 60_000 });
        expect(await store.heartbeat('c1', 'a', 60_001)).toBe(false);
        await store.releaseLease('c1', 'a'); // not the holder: nothing happens
        expect((await store.getLease('c1'))!.owner).toBe('b');
        await store.releaseLease('c1', 'b');
        expect(await store.getLease('c1')).toBeUndefined();
        expect(await store.acquireLease(me, 60_002, 30_000)).toEqual({ acquired: true });
      });
    });

    describe('reports, counts, quota', () => {
      it('reportRows: the current plan in CSV order first, then rows a replan left behind, across many pages', async () => {
        const { store } = await open();
        const first: PlanRowInput[] = [];
        for (let i = 0; i < 2500; i++) first.push(row(i + 2, `62${String(100000 + i)}`));
        await plan(store, first);
        // Send the first 3 so a replan keeps them; then replan without rows 2..11 and with lines shifted by one.
        const m = await store.nextPlanned('c1', 10, 3);
        for (const x of m) {
          await store.markSending(x.id, 10);
          await store.markAccepted(x.id, `u${x.id}`, 'queued', 11);
        }
        const second = first.slice(10).map((r) => ({ ...r, line: r.line + 1 }));
        await plan(store, [...second, row(1, '6299'), ...first.slice(0, 3).map((r) => ({ ...r, line: r.line + 2600 }))], 'replan');
        const rows = await report(store);
        expect(rows.length).toBe(2500 + 1);
        const current = rows.slice(0, 2494);
        expect(current[0]!.line).toBe(1);
        for (let i = 1; i < current.length; i++) expect(current[i]!.line).toBeGreaterThan(current[i - 1]!.line);
        expect(current.slice(-3).map((r) => r.state)).toEqual(['accepted', 'accepted', 'accepted']);
        const behind = rows.slice(2494);
        expect(behind.map((r) => [r.line, r.state])).toEqual([5, 6, 7, 8, 9, 10, 11].map((l) => [l, 'skipped']));
        expect(await report(store, 'nope')).toEqual([]);
      });

      it('counts every state (zero included) and accepted rows by API status', async () => {
        const { store } = await open();
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, null), row(5, '6281'), suppressedRow(6, '6283')]);
        const m = await ids(store);
        await store.markSending(m.get('6281')!, 10);
        await store.markAccepted(m.get('6281')!, 'u', 'queued', 11);
        const c = await store.counts('c1');
        expect(c).toEqual({
          total: 5,
          byState: { planned: 1, sending: 0, accepted: 1, rejected: 0, failed_to_send: 0, unknown: 0, invalid: 1, duplicate: 1, suppressed: 1, skipped: 0, expired: 0 },
          byApiStatus: { queued: 1 },
        });
        expect((await store.counts('nope')).total).toBe(0);
      });

      it('acceptedSince counts a project\'s accepted messages since a moment (a quota month), over all its campaigns', async () => {
        const { store } = await open();
        const nov = Date.UTC(2026, 10, 15);
        const dec = Date.UTC(2026, 11, 1);
        await plan(store, [row(2, '6281'), row(3, '6282'), row(4, '6283')], 'fresh', 'a', 'p1');
        await plan(store, [row(2, '6281'), row(3, '6282')], 'fresh', 'b', 'p1');
        await plan(store, [row(2, '6281')], 'fresh', 'c', 'p2');
        const accept = async (campaign: string, phone: string, at: number) => {
          const id = (await ids(store, campaign)).get(phone)!;
          await store.markSending(id, at - 1);
          await store.markAccepted(id, `u-${campaign}-${phone}`, 'queued', at);
        };
        await accept('a', '6281', nov);
        await accept('a', '6282', dec);
        await accept('b', '6281', dec + 1000);
        await accept('c', '6281', dec + 2000);
        const bId = (await ids(store, 'b')).get('6282')!;
        await store.markSending(bId, dec + 5);
        await store.markRejected(bId, ERR, dec + 6);
        expect(await store.acceptedSince('p1', dec)).toBe(2);
        expect(await store.acceptedSince('p1', nov)).toBe(3);
        expect(await store.acceptedSince('p1', dec + 1001)).toBe(0);
        expect(await store.acceptedSince('p2', dec)).toBe(1);
        expect(await store.acceptedSince('p3', 0)).toBe(0);
      });
    });

    describe('races between two store instances on one database', () => {
      it('two instances sending the same rows at once: each row is taken exactly once', async () => {
        const { store, another } = await open();
        const other = await another();
        await plan(store, Array.from({ length: 40 }, (_, i) => row(i + 2, `62${String(1000 + i)}`)));
        const todo = await store.nextPlanned('c1', 10, 100);
        const outcomes = await Promise.all(
          todo.map((m) => Promise.allSettled([store.markSending(m.id, 20), other.markSending(m.id, 20)])),
        );
        for (const pair of outcomes) {
          expect(pair.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
          const lost = pair.find((o) => o.status === 'rejected') as PromiseRejectedResult;
          expect(lost.reason).toBeInstanceOf(TransitionError);
        }
        expect((await other.counts('c1')).byState.sending).toBe(40);
        // Answer vs. retry of one in-flight row at once: one wins, the other finds it moved.
        const settled = await Promise.all(
          todo.map((m) =>
            Promise.allSettled([store.markAccepted(m.id, `u${m.id}`, 'queued', 30), other.markRetry(m.id, ERR, 0, 30, { countAttempt: true, uncertain: true })]),
          ),
        );
        for (const pair of settled) expect(pair.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const c = await store.counts('c1');
        expect(c.byState.accepted + c.byState.planned).toBe(40);
      });

      it('two instances taking one lease at once: exactly one gets it', async () => {
        const { store, another } = await open();
        const other = await another();
        for (let i = 0; i < 10; i++) {
          const id = `c${i}`;
          await store.ensureCampaign({ id, name: id, projectId: 'p', sourcePath: '/x', now: 0 });
          const results = await Promise.all([
            store.acquireLease({ campaignId: id, owner: 'a', pid: 1, host: 'h' }, 100, 30_000),
            other.acquireLease({ campaignId: id, owner: 'b', pid: 2, host: 'h' }, 100, 30_000),
          ]);
          expect(results.filter((r) => r.acquired)).toHaveLength(1);
          const holder = (await store.getLease(id))!.owner;
          const loser = results.find((r) => !r.acquired) as { acquired: false; holder: { owner: string } };
          expect(loser.holder.owner).toBe(holder);
        }
      });
    });

    describe('per-row media file, hash and variant (issue 11)', () => {
      it('are kept with each sendable row, handed to the sender, reported, and replaced by a replan only for rows not sent', async () => {
        const { store } = await open();
        const media = (line: number, sha: string, variant: string) => ({ mediaFile: `invoices/C${line}.pdf`, mediaSha256: sha, variant });
        await plan(store, [row(2, '6281', media(2, 'aa', 'A')), row(3, '6282', media(3, 'bb', 'B')), row(4, null)]);
        const out = await store.nextPlanned('c1', 1e12, 10);
        expect(out.map((m) => [m.phone, m.mediaFile, m.mediaSha256])).toEqual([
          ['6281', 'invoices/C2.pdf', 'aa'],
          ['6282', 'invoices/C3.pdf', 'bb'],
        ]);
        let rows = await report(store);
        expect(rows.map((r) => [r.line, r.mediaFile ?? null, r.mediaSha256 ?? null, r.variant ?? null])).toEqual([
          [2, 'invoices/C2.pdf', 'aa', 'A'],
          [3, 'invoices/C3.pdf', 'bb', 'B'],
          [4, null, null, null],
        ]);
        // The first row is sent; a replan with new hashes changes only the row still planned.
        const first = out.find((m) => m.phone === '6281')!;
        await store.markSending(first.id, 5);
        await store.markAccepted(first.id, 'u-1', 'queued', 6);
        await plan(store, [row(2, '6281', media(2, 'cc', 'B')), row(3, '6282', media(3, 'dd', 'A'))], 'replan', 'c1', 'p1', 7);
        rows = await report(store);
        expect(rows.map((r) => [r.line, r.mediaSha256 ?? null, r.variant ?? null])).toEqual([
          [2, 'aa', 'A'],
          [3, 'dd', 'A'],
        ]);
        expect((await store.nextPlanned('c1', 1e12, 10)).map((m) => m.mediaSha256)).toEqual(['dd']);
      });
    });

    describe('devices and daily caps (issue 12)', () => {
      it('setMessageDevice records the device a row went through; reports show it', async () => {
        const { store } = await open();
        await plan(store, [row(1, '6281100000001'), row(2, '6281100000002')]);
        const id = (await ids(store)).get('6281100000001')!;
        await store.setMessageDevice(id, 'RK-B');
        const rows = await byPhone(store);
        expect(rows.get('6281100000001')!.device).toBe('RK-B');
        expect(rows.get('6281100000002')!.device ?? null).toBeNull();
        // The sending transition records the device it leaves through, in the same statement; null keeps it.
        const second = (await ids(store)).get('6281100000002')!;
        await store.markSending(second, 5, 'RK-C');
        await store.markSending(id, 5, null);
        const after = await byPhone(store);
        expect([after.get('6281100000001')!.device, after.get('6281100000002')!.device]).toEqual(['RK-B', 'RK-C']);
      });

      it('reserveDeviceDay counts up to the cap per device and day, release gives one back, deviceDay reads counts and the first day', async () => {
        const { store } = await open();
        expect(await store.deviceDay('RK-A', '2026-12-01')).toEqual({ sent: 0, firstDay: null });
        const got = [];
        for (let i = 0; i < 5; i++) got.push(await store.reserveDeviceDay('RK-A', '2026-12-01', 3));
        expect(got).toEqual([true, true, true, false, false]);
        expect(await store.reserveDeviceDay('RK-B', '2026-12-01', 3)).toBe(true);
        expect(await store.reserveDeviceDay('RK-A', '2026-12-02', 3)).toBe(true);
        await store.releaseDeviceDay('RK-A', '2026-12-01');
        expect(await store.deviceDay('RK-A', '2026-12-01')).toEqual({ sent: 2, firstDay: '2026-12-01' });
        expect(await store.deviceDay('RK-A', '2026-12-03')).toEqual({ sent: 0, firstDay: '2026-12-01' });
        expect(await store.reserveDeviceDay('RK-C', '2026-12-01', 0)).toBe(false);
        expect(await store.deviceDay('RK-C', '2026-12-01')).toEqual({ sent: 0, firstDay: null });
      });

      it('concurrent reservations from two instances never go over the cap', async () => {
        const { store, another } = await open();
        const other = await another();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).reserveDeviceDay('RK-A', '2026-12-01', 7)));
        expect(results.filter(Boolean)).toHaveLength(7);
        expect((await other.deviceDay('RK-A', '2026-12-01')).sent).toBe(7);
      });
    });

    describe('fencing: send-path transitions hold only while the lease is held', () => {
      const A = { campaignId: 'c1', owner: 'runner-a' };
      const B = { campaignId: 'c1', owner: 'runner-b' };
      const take = (s: Store, owner: string, now: number, staleMs = 30_000) =>
        s.acquireLease({ campaignId: 'c1', owner, pid: 1, host: 'h' }, now, staleMs);

      it('the holder moves its rows; after a takeover every transition of the old holder is refused and changes nothing', async () => {
        const { store } = await open();
        await plan(store, [row(1, '6281'), row(2, '6282'), row(3, '6283'), row(4, '6284'), row(5, '6285')]);
        const id = await ids(store);
        expect((await take(store, A.owner, 100)).acquired).toBe(true);
        expect(await store.markSending(id.get('6281')!, 110, null, A)).toBe(1);
        await store.markAccepted(id.get('6281')!, 'u1', 'queued', 111, A);
        for (const phone of ['6282', '6283', '6284']) await store.markSending(id.get(phone)!, 112, null, A);
        // Runner A froze: its lease went stale and B took the campaign over.
        expect((await take(store, B.owner, 100_000)).acquired).toBe(true);
        const before = await report(store);
        const refusals = [
          store.markSending(id.get('6285')!, 100_001, null, A),
          store.markAccepted(id.get('6282')!, 'u2', 'queued', 100_001, A),
          store.markRetry(id.get('6283')!, ERR, 0, 100_001, { countAttempt: true, uncertain: true }, A),
          store.markRejected(id.get('6284')!, ERR, 100_001, A),
          store.markFailedToSend(id.get('6284')!, ERR, 100_001, A),
        ];
        for (const r of await Promise.allSettled(refusals)) {
          expect(r.status).toBe('rejected');
          expect((r as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError);
        }
        expect(await report(store)).toEqual(before);
        // The new holder carries on; a wrong campaign in the fence is refused too.
        await store.markAccepted(id.get('6282')!, 'u2', 'queued', 100_002, B);
        await expect(store.markSending(id.get('6285')!, 100_003, null, { campaignId: 'other', owner: B.owner })).rejects.toBeInstanceOf(LeaseLostError);
        expect(await store.markSending(id.get('6285')!, 100_003, null, B)).toBe(1);
        // A row in another state with the lease held is still a TransitionError.
        await expect(store.markAccepted(id.get('6281')!, 'u9', 'queued', 100_004, B)).rejects.toBeInstanceOf(TransitionError);
        // Released: nobody holds it, so nobody may move rows under a fence.
        await store.releaseLease('c1', B.owner);
        await expect(store.markRejected(id.get('6285')!, ERR, 100_005, B)).rejects.toBeInstanceOf(LeaseLostError);
        // Unfenced calls (tools, tests) are unchanged.
        await store.markRejected(id.get('6285')!, ERR, 100_006);
      });

      it('fencedStore passes the fence to every send-path transition and leaves the rest alone', async () => {
        const { store } = await open();
        await plan(store, [row(1, '6281'), row(2, '6282')]);
        const id = await ids(store);
        await take(store, A.owner, 100);
        const view = fencedStore(store, A);
        await view.markSending(id.get('6281')!, 110);
        expect((await view.getCampaign('c1'))!.id).toBe('c1');
        await take(store, B.owner, 100_000);
        await expect(view.markAccepted(id.get('6281')!, 'u', 'queued', 100_001)).rejects.toBeInstanceOf(LeaseLostError);
        await expect(view.markSending(id.get('6282')!, 100_001)).rejects.toBeInstanceOf(LeaseLostError);
        await expect(view.markRetry(id.get('6281')!, ERR, 100_002, 100_001, { countAttempt: true, uncertain: true })).rejects.toBeInstanceOf(LeaseLostError);
        await expect(view.markRejected(id.get('6281')!, ERR, 100_001)).rejects.toBeInstanceOf(LeaseLostError);
        await expect(view.markFailedToSend(id.get('6281')!, ERR, 100_001)).rejects.toBeInstanceOf(LeaseLostError);
        const after = await byPhone(store);
        expect(after.get('6281')!.state).toBe('sending');
        expect(after.get('6282')!.state).toBe('planned');
      });

      it('a transition racing a takeover from another connection: either it lands before the takeover or it is refused', async () => {
        const { store, another } = await open();
        const other = await another();
        const rows = Array.from({ length: 20 }, (_, i) => row(i + 1, `628${i}`));
        await plan(store, rows);
        const id = await ids(store);
        for (let i = 0; i < 20; i++) {
          const owner = `old-${i}`;
          await store.releaseLease('c1', `new-${i - 1}`);
          await take(store, owner, i * 100_000);
          const [sent, takeover] = await Promise.allSettled([
            store.markSending(id.get(`628${i}`)!, i * 100_000 + 1, null, { campaignId: 'c1', owner }),
            other.acquireLease({ campaignId: 'c1', owner: `new-${i}`, pid: 2, host: 'h2' }, i * 100_000 + 50_000, 30_000),
          ]);
          expect(takeover).toMatchObject({ status: 'fulfilled', value: { acquired: true } });
          const state = (await byPhone(store)).get(`628${i}`)!.state;
          if (sent.status === 'fulfilled') expect(state).toBe('sending');
          else {
            expect(sent.reason).toBeInstanceOf(LeaseLostError);
            expect(state).toBe('planned');
          }
        }
      });

      it('two connections racing the same fenced transition: exactly one wins', async () => {
        const { store, another } = await open();
        const other = await another();
        await plan(store, Array.from({ length: 10 }, (_, i) => row(i + 1, `628${i}`)));
        const id = await ids(store);
        await take(store, A.owner, 100);
        for (let i = 0; i < 10; i++) {
          const results = await Promise.allSettled([
            store.markSending(id.get(`628${i}`)!, 200 + i, null, A),
            other.markSending(id.get(`628${i}`)!, 200 + i, null, A),
          ]);
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(TransitionError);
        }
        expect((await store.counts('c1')).byState.sending).toBe(10);
      });
    });
  });
}

/** The conformance suite of the rate window (`reserveSendSlot` / `releaseSendSlot`). */
export function describeRateWindow(name: string, make: MakeStore): void {
  describe(`Rate window conformance: ${name}`, () => {
    const open = harness(make);
    const slotOf = (r: { slot: number } | { retryAt: number }): number => {
      if (!('slot' in r)) throw new Error(`expected a slot, got retryAt ${r.retryAt}`);
      expect(typeof r.slot).toBe('number');
      return r.slot;
    };

    it('spaces slots on a grid: lateness is caught up by at most one spacing, idle time never allows a burst', async () => {
      const { store } = await open();
      slotOf(await store.reserveSendSlot('p', 1000, 100, 100)); // at 1000
      slotOf(await store.reserveSendSlot('p', 1100, 100, 100)); // at 1100
      expect(await store.reserveSendSlot('p', 1150, 100, 100)).toEqual({ retryAt: 1200 });
      // Woke 250 ms late: the slot is placed at 1350 (one spacing back), so the next is due at 1450, not 1550.
      slotOf(await store.reserveSendSlot('p', 1450, 100, 100));
      expect(await store.reserveSendSlot('p', 1400 + 49, 100, 100)).toEqual({ retryAt: 1450 });
      slotOf(await store.reserveSendSlot('p', 1450, 100, 100));
      expect(await store.reserveSendSlot('p', 1450, 100, 100)).toEqual({ retryAt: 1550 });
      // After a long idle time: one slot a spacing back, one now, then the grid again.
      slotOf(await store.reserveSendSlot('p', 50_000, 100, 100));
      slotOf(await store.reserveSendSlot('p', 50_000, 100, 100));
      expect(await store.reserveSendSlot('p', 50_000, 100, 100)).toEqual({ retryAt: 50_100 });
    });

    it('a slot counts from its reservation until 60 s after its answer', async () => {
      const { store } = await open();
      const a = slotOf(await store.reserveSendSlot('p', 1000, 2, 100));
      const b = slotOf(await store.reserveSendSlot('p', 1100, 2, 100));
      // Both in flight: the window is full whatever the time, and the answer may come any moment: poll soon.
      const full = await store.reserveSendSlot('p', 30_000, 2, 100);
      expect('retryAt' in full && full.retryAt > 30_000 && full.retryAt <= 30_050).toBe(true);
      await store.releaseSendSlot(a, 5_000);
      await store.releaseSendSlot(b, 7_000);
      await store.releaseSendSlot(b, 9_000); // a second release changes nothing
      expect(await store.reserveSendSlot('p', 30_000, 2, 100)).toEqual({ retryAt: 65_001 });
      expect(await store.reserveSendSlot('p', 64_999, 2, 100)).toEqual({ retryAt: 65_001 });
      // 60 s after a's answer it no longer counts; b still does.
      slotOf(await store.reserveSendSlot('p', 65_000, 2, 100));
      expect(await store.reserveSendSlot('p', 66_000, 2, 100)).toEqual({ retryAt: 67_001 });
      slotOf(await store.reserveSendSlot('p', 67_000, 2, 100));
    });

    it('a slot never answered counts as answered 120 s after its reservation, so for 180 s in all', async () => {
      const { store } = await open();
      slotOf(await store.reserveSendSlot('p', 1000, 1, 100));
      // Unanswered: the answer may come any moment, so poll soon...
      expect(await store.reserveSendSlot('p', 120_000, 1, 100)).toEqual({ retryAt: 120_050 });
      expect(await store.reserveSendSlot('p', 121_000, 1, 100)).toEqual({ retryAt: 121_050 });
      // ...but never past the moment it stops counting.
      expect(await store.reserveSendSlot('p', 180_999, 1, 100)).toEqual({ retryAt: 181_001 });
      slotOf(await store.reserveSendSlot('p', 181_000, 1, 100));
    });

    it('projects have windows of their own; a window is shared by every store instance on the database', async () => {
      const { store, another } = await open();
      const other = await another();
      slotOf(await store.reserveSendSlot('p1', 1000, 1, 100));
      slotOf(await other.reserveSendSlot('p2', 1000, 1, 100));
      const refused = await other.reserveSendSlot('p1', 2000, 1, 100);
      expect('retryAt' in refused).toBe(true);
    });

    it('never more than perMinute live slots, with random latency and two instances taking turns', async () => {
      const { store, another } = await open();
      const other = await another();
      const perMinute = 30;
      const spacing = 60_000 / perMinute;
      // A deterministic pseudo-random latency between 0.3 and 20 s.
      let seed = 7;
      const latency = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return 300 + (seed % 19_700);
      };
      const granted: { at: number; answeredAt: number }[] = [];
      let now = 0;
      while (now < 300_000) {
        const s = granted.length % 2 ? other : store;
        const r = await s.reserveSendSlot('p', now, perMinute, spacing);
        if ('slot' in r) {
          const answeredAt = now + latency();
          // Live at `now`: reserved and not yet 60 s past its answer (the new one included).
          const live = granted.filter((g) => g.answeredAt + 60_000 > now).length + 1;
          expect(live).toBeLessThanOrEqual(perMinute);
          granted.push({ at: now, answeredAt });
          await s.releaseSendSlot(r.slot, answeredAt);
          // Answers are released as they arrive; simulate by releasing with the future time now (counted the same).
        }
        now = 'slot' in r ? now + 1 : Math.max(now + 1, r.retryAt);
      }
      // And it does not starve either: the window is used.
      expect(granted.length).toBeGreaterThan(perMinute * 3);
    });

    it('concurrent reservations from two instances never hand out more than perMinute slots', async () => {
      const { store, another } = await open();
      const other = await another();
      const perMinute = 5;
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? other : store).reserveSendSlot('p', 10_000, perMinute, 0)),
      );
      expect(results.filter((r) => 'slot' in r)).toHaveLength(perMinute);
      // With a spacing, only one slot can be had at one instant.
      const spaced = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).reserveSendSlot('q', 10_000, perMinute, 100)));
      expect(spaced.filter((r) => 'slot' in r)).toHaveLength(1);
      const ids = results.filter((r): r is { slot: number } => 'slot' in r).map((r) => r.slot);
      expect(new Set(ids).size).toBe(perMinute);
    });
  });
}
