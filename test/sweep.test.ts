import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ManualClock, systemClock, type Clock } from '../src/core/clock.js';
import { EXIT } from '../src/core/exit-codes.js';
import { DEMO_PROJECT, startEmulator, type EmulatorOptions, type RunningEmulator } from '../src/emulator/index.js';
import { RkClient } from '../src/rk/client.js';
import type { MessageStatus, RkApi } from '../src/rk/types.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ReportRow } from '../src/store/types.js';
import { queueRateFor, sendSlotGate, sweepCampaign, type SweepEvent, type SweepOptions } from '../src/sweep/index.js';
import { acceptWithBogusUuid, seedCampaign, sendPlanned, type SeedRow } from './fixtures/report/seed.js';
import { captureIo } from './helpers/capture.js';
import { tempDir } from './helpers/tmp.js';

const START = Date.UTC(2026, 11, 5, 2, 0, 0);
const FAST_PROJECT = { ...DEMO_PROJECT, ratePerMinute: 1_000_000, monthlyQuota: 10_000_000 };

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
});

async function emulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emu = await startEmulator({ port: 0, projects: [FAST_PROJECT], ...options });
  open.push(emu);
  return emu;
}

function client(emu: RunningEmulator, now: () => number = Date.now, secret = DEMO_PROJECT.apiSecret): RkClient {
  const c = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: secret, baseUrl: emu.url, now });
  open.push(c);
  return c;
}

function store(): SqliteStore {
  const s = new SqliteStore(join(tempDir('rkb-sweep-'), 'state.db'));
  open.push(s);
  return s;
}

function phones(n: number, from = 0): SeedRow[] {
  return Array.from({ length: n }, (_, i) => {
    const phone = `628120000${String(from + i).padStart(4, '0')}`;
    return { rawPhone: `0${phone.slice(2)}`, phone, fields: { name: `Person ${from + i}` } };
  });
}

async function rows(s: SqliteStore, campaignId = 'c1'): Promise<ReportRow[]> {
  const out: ReportRow[] = [];
  for await (const r of s.reportRows(campaignId)) out.push(r);
  return out;
}

/** A campaign whose rows were really sent to the emulator. */
async function sentCampaign(s: SqliteStore, api: RkApi, clock: Clock, seedRows: SeedRow[]) {
  await seedCampaign(s, seedRows, { id: 'c1', now: clock.now() });
  return sendPlanned(s, api, 'c1', clock);
}

const base = (extra: Partial<SweepOptions> = {}): SweepOptions => ({
  campaignId: 'c1',
  concurrency: 8,
  ratePerMinute: 60_000,
  retryBackoff: { baseMs: 5, maxMs: 20 },
  ...extra,
});

describe('queueRateFor', () => {
  it('spreads a per-minute rate over short intervals', () => {
    expect(queueRateFor(120)).toEqual({ intervalCap: 2, interval: 1000 });
    expect(queueRateFor(30)).toEqual({ intervalCap: 1, interval: 2000 });
    expect(queueRateFor(6000)).toEqual({ intervalCap: 100, interval: 1000 });
  });
});

describe('sweepCampaign against the emulator lifecycle', () => {
  it('one pass records what the API says now and leaves non-final messages pending', async () => {
    const clock = new ManualClock(START);
    const emu = await emulator({ now: () => clock.now(), lifecycle: { queuedToSentMs: 1000, sentToDeliveredMs: 2000 } });
    const api = client(emu, () => clock.now());
    const s = store();
    await sentCampaign(s, api, clock, phones(5));
    clock.advance(1500); // every message is `sent` now, none final

    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign({ api, store: s, clock, emit: (e) => events.push(e) }, base());

    expect(outcome).toMatchObject({ reason: 'pass', passes: 1, checked: 5, changed: 5, pending: 5, errors: 0 });
    expect(outcome.byStatus).toEqual({ sent: 5 });
    expect((await rows(s)).map((r) => [r.apiStatus, r.lastCheckedAt])).toEqual(Array(5).fill(['sent', START + 1500]));
    expect(events[0]).toMatchObject({ type: 'sweep-started', pending: 5 });
    expect(events.at(-1)).toEqual({ type: 'sweep-stopped', reason: 'pass', pending: 5 });
  });

  it('untilFinal repeats passes with growing pauses until every message is delivered or failed', async () => {
    const clock = new ManualClock(START, true); // sleeps move the clock: the emulator's lifecycle runs instantly
    const failing = '6281200000002';
    const emu = await emulator({
      now: () => clock.now(),
      lifecycle: { queuedToSentMs: 4000, sentToDeliveredMs: 8000, failRecipients: [failing], failureMessage: 'Recipient is not on WhatsApp' },
    });
    const api = client(emu, () => clock.now());
    const s = store();
    await sentCampaign(s, api, clock, phones(4));

    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign(
      { api, store: s, clock, emit: (e) => events.push(e) },
      base({ untilFinal: true, pollBackoff: { initialMs: 3000, factor: 2, maxMs: 60_000 } }),
    );

    expect(outcome.reason).toBe('final');
    expect(outcome.pending).toBe(0);
    expect(outcome.byStatus).toEqual({ delivered: 3, failed: 1 });
    // Pass 1 at +0 (queued), pass 2 at +3 s (queued), pass 3 at +9 s (sent), pass 4 at +21 s (final).
    const waits = events.filter((e): e is Extract<SweepEvent, { type: 'sweep-waiting' }> => e.type === 'sweep-waiting');
    expect(waits.map((w) => w.nextPassAt - START)).toEqual([3000, 9000, 21_000]);
    expect(outcome.passes).toBe(4);

    const created = new Map(emu.messages().map((m) => [m.recipient, m.createdAt]));
    for (const r of await rows(s)) {
      const finalAt = created.get(r.phone!)! + 12_000;
      const iso = new Date(finalAt + 7 * 3600_000).toISOString().slice(0, 19) + '+07:00';
      if (r.phone === failing) {
        expect(r).toMatchObject({ apiStatus: 'failed', failedAt: iso, deliveredAt: null, errorMessage: 'Recipient is not on WhatsApp', errorCode: 'FAILED' });
      } else {
        expect(r).toMatchObject({ apiStatus: 'delivered', deliveredAt: iso, failedAt: null, errorMessage: null });
      }
    }
  });

  it('stops at the timeout with what is still pending, saying so', async () => {
    const clock = new ManualClock(START, true);
    const emu = await emulator({ now: () => clock.now(), lifecycle: { queuedToSentMs: 1000, sentToDeliveredMs: 3_600_000 } });
    const api = client(emu, () => clock.now());
    const s = store();
    await sentCampaign(s, api, clock, phones(3));

    const outcome = await sweepCampaign(
      { api, store: s, clock, emit: () => undefined },
      base({ untilFinal: true, timeoutMs: 60_000, pollBackoff: { initialMs: 10_000, factor: 2 } }),
    );
    expect(outcome.reason).toBe('timeout');
    expect(outcome.pending).toBe(3);
    expect(outcome.byStatus).toEqual({ sent: 3 });
    // Passes at +0, +10 s and +30 s; the next would start at +70 s, after the deadline, so it returns at once.
    expect(outcome.passes).toBe(3);
    expect(clock.now() - START).toBe(30_000);
  });

  it('records a UUID the API does not know (404) as unknown and goes on', async () => {
    const clock = new ManualClock(START, true);
    const emu = await emulator({ now: () => clock.now(), lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const api = client(emu, () => clock.now());
    const s = store();
    await seedCampaign(s, phones(3), { id: 'c1', now: START });
    await acceptWithBogusUuid(s, 'c1', 3, '00000000-0000-4000-8000-000000000000', START);
    await sendPlanned(s, api, 'c1', clock);

    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign({ api, store: s, clock, emit: (e) => events.push(e) }, base({ untilFinal: true }));
    expect(outcome).toMatchObject({ reason: 'final', notFound: 1, pending: 0, byStatus: { delivered: 2, unknown: 1 } });
    const bogus = (await rows(s)).find((r) => r.line === 3)!;
    expect(bogus.apiStatus).toBe('unknown');
    expect(bogus.errorCode).toBe('UNKNOWN');
    expect(bogus.errorMessage).toMatch(/does not know this message \(404 MESSAGE_NOT_FOUND\)/);
    expect(events).toContainEqual({ type: 'status-not-found', messageId: expect.any(Number), uuid: '00000000-0000-4000-8000-000000000000' });
    // `unknown` is final: a second sweep asks nothing.
    const before = emu.stats().requests;
    const again = await sweepCampaign({ api, store: s, clock, emit: () => undefined }, base());
    expect(again).toMatchObject({ reason: 'final', checked: 0 });
    expect(emu.stats().requests).toBe(before);
  });

  it('retries 5xx with backoff and still ends with the right statuses', async () => {
    const clock = new ManualClock(START, true);
    const emu = await emulator({ now: () => clock.now(), lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0, failRecipients: ['6281200000001'] } });
    const api = client(emu, () => clock.now());
    const s = store();
    await sentCampaign(s, api, clock, phones(12));
    emu.setFaults({ seed: 3, serverErrorRate: 0.4, paths: ['status'] });

    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign({ api, store: s, clock, emit: (e) => events.push(e) }, base({ untilFinal: true, maxAttempts: 2 }));
    expect(emu.stats().injected.serverError).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'status-retry' && e.error.code === 'SERVER_ERROR')).toBe(true);
    expect(outcome).toMatchObject({ reason: 'final', pending: 0, byStatus: { delivered: 11, failed: 1 } });
    expect((await rows(s)).filter((r) => r.apiStatus === 'failed').map((r) => r.phone)).toEqual(['6281200000001']);
  });

  it('leaves messages pending for the next pass when 5xx outlast the retries', async () => {
    const clock = new ManualClock(START, true);
    const emu = await emulator({ now: () => clock.now(), lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const api = client(emu, () => clock.now());
    const s = store();
    await sentCampaign(s, api, clock, phones(3));
    emu.setFaults({ serverErrorRate: 1, paths: ['status'] });

    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign({ api, store: s, clock, emit: (e) => events.push(e) }, base({ maxAttempts: 3 }));
    expect(outcome).toMatchObject({ reason: 'pass', errors: 3, checked: 0, pending: 3 });
    expect(emu.stats().injected.serverError).toBe(9); // 3 messages x 3 attempts, then left alone
    expect(events.filter((e) => e.type === 'status-error')).toHaveLength(3);
    expect((await rows(s)).every((r) => r.apiStatus === 'queued' && r.lastCheckedAt === null)).toBe(true);

    emu.setFaults({});
    const next = await sweepCampaign({ api, store: s, clock, emit: () => undefined }, base());
    expect(next).toMatchObject({ reason: 'final', checked: 3, byStatus: { delivered: 3 } });
  });

  it('an interrupted sweep keeps what it recorded, and the next sweep finishes the rest', async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 }, faults: { latencyMs: [60, 60], paths: ['status'] } });
    const api = client(emu);
    const s = store();
    await sentCampaign(s, api, systemClock, phones(20));

    const stop = new AbortController();
    const events: SweepEvent[] = [];
    const outcome = await sweepCampaign(
      {
        api,
        store: s,
        clock: systemClock,
        emit: (e) => {
          events.push(e);
          if (e.type === 'sweep-progress' && e.progress.checked >= 4) stop.abort();
        },
      },
      base({ concurrency: 2, stopSignal: stop.signal }),
    );
    expect(outcome.reason).toBe('interrupted');
    expect(outcome.checked).toBeGreaterThanOrEqual(4);
    expect(outcome.checked).toBeLessThan(20);
    expect(outcome.pending).toBe(20 - outcome.checked);
    expect((await rows(s)).filter((r) => r.apiStatus === 'delivered')).toHaveLength(outcome.checked);
    expect(events.at(-1)).toMatchObject({ type: 'sweep-stopped', reason: 'interrupted' });

    const resumed = await sweepCampaign({ api, store: s, clock: systemClock, emit: () => undefined }, base());
    expect(resumed).toMatchObject({ reason: 'final', checked: 20 - outcome.checked, pending: 0, byStatus: { delivered: 20 } });
  });

  it('stops at once on 401 with the API code, recording nothing', async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const s = store();
    await sentCampaign(s, client(emu), systemClock, phones(6));
    const badApi = client(emu, Date.now, 'not-the-secret');

    const outcome = await sweepCampaign({ api: badApi, store: s, clock: systemClock, emit: () => undefined }, base({ concurrency: 1, untilFinal: true }));
    expect(outcome.reason).toBe('auth');
    expect(outcome.error).toMatchObject({ kind: 'auth', code: 'INVALID_SIGNATURE' });
    expect(outcome.checked).toBe(0);
    expect(outcome.pending).toBe(6);
    expect(emu.stats().authRejected).toBe(1);
  });

  it('keeps to its own rate and counts every call through the shared gate', async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const real = client(emu);
    const s = store();
    await sentCampaign(s, real, systemClock, phones(60));
    const callTimes: number[] = [];
    // The real client, with the time of each call noted (not a mock: every call goes to the emulator).
    const timed: RkApi = {
      send: (r, o) => real.send(r, o),
      status: (uuid, o): Promise<MessageStatus> => {
        callTimes.push(performance.now());
        return real.status(uuid, o);
      },
    };
    let gated = 0;
    let released = 0;
    const outcome = await sweepCampaign(
      { api: timed, store: s, clock: systemClock, emit: () => undefined },
      base({
        concurrency: 8,
        ratePerMinute: 1200, // 20 per second
        sharedGate: async () => {
          gated++;
          return () => {
            released++;
          };
        },
      }),
    );
    expect(outcome).toMatchObject({ reason: 'final', checked: 60 });
    expect([gated, released]).toEqual([60, 60]);
    // p-queue admits 20 per second; on a busy machine (the suite runs four files at once) late timer ticks can
    // bunch a few calls together, but never anywhere near the 60 an unthrottled sweep would make in one second.
    const maxInAnySecond = Math.max(...callTimes.map((t) => callTimes.filter((u) => u >= t && u < t + 1000).length));
    expect(maxInAnySecond).toBeLessThanOrEqual(30);
    expect(callTimes.at(-1)! - callTimes[0]!).toBeGreaterThanOrEqual(1800); // 60 calls at 20/s: 3 windows
  });
});

describe('sendSlotGate', () => {
  it("counts every status call as a send in the project's shared window", async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const api = client(emu);
    const s = store();
    await sentCampaign(s, api, systemClock, phones(5));
    const gate = sendSlotGate({ store: s, clock: systemClock, projectId: 'p-shared', ratePerMinute: 6000 });
    const outcome = await sweepCampaign({ api, store: s, clock: systemClock, emit: () => undefined }, base({ sharedGate: gate }));
    expect(outcome).toMatchObject({ reason: 'final', checked: 5 });
    // The 5 calls are live slots of the project now: a sender allowed 5 per minute must wait.
    expect(await s.reserveSendSlot('p-shared', Date.now(), 5, 0)).toHaveProperty('retryAt');
    expect(await s.reserveSendSlot('p-shared', Date.now(), 6, 0)).toHaveProperty('slot');
  });
});

describe('rk-broadcast sweep (CLI)', () => {
  function campaignFile(dir: string): string {
    writeFileSync(join(dir, 'people.csv'), 'phone,name\n6281200000000,A\n6281200000001,B\n');
    const file = join(dir, 'c1.yaml');
    writeFileSync(file, 'id: c1\nname: CLI sweep\ndevice: RK-DEMO\nrecipients:\n  file: people.csv\nmessage: "Hi {{name}}"\n');
    return file;
  }

  const io = captureIo;

  it('sweeps until final with NDJSON events and exits 0', async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0, failRecipients: ['6281200000001'] } });
    const dir = tempDir('rkb-sweep-cli-');
    const file = campaignFile(dir);
    const db = join(dir, 'state.db');
    const s = new SqliteStore(db);
    await sentCampaign(s, client(emu), systemClock, phones(2));
    await s.close();

    const t = io({ RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: DEMO_PROJECT.apiSecret, RK_BASE_URL: emu.url }, dir);
    const code = await main(['sweep', file, '--db', db, '--until-final', '--json'], t.io);
    expect(code).toBe(EXIT.ok);
    const events = t.out().trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string; byStatus?: unknown });
    expect(events[0]!.type).toBe('sweep-started');
    expect(events.at(-1)).toMatchObject({ type: 'sweep-summary', reason: 'final', byStatus: { delivered: 1, failed: 1 } });
  });

  it('refuses a timeout it cannot read (exit 2) before touching anything', async () => {
    const dir = tempDir('rkb-sweep-cli-');
    const file = campaignFile(dir);
    const t = io({ RK_API_KEY: 'k', RK_API_SECRET: 's3cret-value' }, dir);
    expect(await main(['sweep', file, '--timeout', 'soon', '--db', join(dir, 'state.db')], t.io)).toBe(EXIT.invalidInput);
    expect(t.err()).toMatch(/--timeout expects a duration such as 30m/);
  });

  it('exits 3 on bad credentials with the hint, and never prints the secret', async () => {
    const emu = await emulator({ lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0 } });
    const dir = tempDir('rkb-sweep-cli-');
    const file = campaignFile(dir);
    const db = join(dir, 'state.db');
    const s = new SqliteStore(db);
    await sentCampaign(s, client(emu), systemClock, phones(2));
    await s.close();

    const secret = 'wrong-secret-value-1234';
    const t = io({ RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: secret, RK_BASE_URL: emu.url }, dir);
    const code = await main(['sweep', file, '--db', db], t.io);
    expect(code).toBe(EXIT.auth);
    expect(t.err()).toMatch(/INVALID_SIGNATURE/);
    expect(t.err()).toMatch(/hint: Check RK_API_SECRET/);
    expect(t.err() + t.out()).not.toContain(secret);
  });
});
