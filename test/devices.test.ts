import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCampaign } from '../src/config/campaign.js';
import { ManualClock } from '../src/core/clock.js';
import { exitCodeForSend } from '../src/core/exit-codes.js';
import { runCampaign, type RunEvent } from '../src/pipeline/run.js';
import { prepareCampaign } from '../src/plan/planner.js';
import { RkClient } from '../src/rk/client.js';
import { DEMO_PROJECT, startEmulator, type EmulatorMessage, type RunningEmulator } from '../src/emulator/index.js';
import { errorFromResponse } from '../src/rk/errors.js';
import { assignDevice } from '../src/send/devices.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ReportRow } from '../src/store/types.js';
import { writeCampaign } from './helpers/campaign.js';
import { cliEnv, demoEnv, runCli, startCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const DEVICES = ['RK-A', 'RK-B', 'RK-C'];
const WEIGHTED = DEVICES.map((code) => ({ code, weight: 1 }));

const emulators: RunningEmulator[] = [];
afterEach(async () => {
  for (const e of emulators.splice(0)) await e.close();
});

async function emulatorWith(options: Parameters<typeof startEmulator>[0] = {}): Promise<RunningEmulator> {
  const e = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, devices: DEVICES, ratePerMinute: 1_000_000, monthlyQuota: 1_000_000 }], ...options });
  emulators.push(e);
  return e;
}

function envFor(emu: RunningEmulator, extra: Record<string, string> = {}) {
  return demoEnv(emu.url, { RK_RETRY_BASE_MS: '50', ...extra });
}

/** A campaign through the three devices, with extra YAML lines. */
function threeDeviceCampaign(dir: string, valid: number, rate: number, extra = ''): { path: string; sendable: string[] } {
  const { path, sendable } = writeCampaign(dir, { valid, rate, extraYaml: extra });
  writeFileSync(path, readFileSync(path, 'utf8').replace('device: RK-DEMO', `device: [${DEVICES.join(', ')}]`));
  return { path, sendable: sendable.map((r) => r.expected!) };
}

/** Recipient -> device, asserting each recipient was created exactly once. */
function devicesByRecipient(messages: EmulatorMessage[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages) {
    expect(out.has(m.recipient), `${m.recipient} created twice`).toBe(false);
    out.set(m.recipient, m.device);
  }
  return out;
}

async function rowsOf(db: string): Promise<ReportRow[]> {
  const store = new SqliteStore(db);
  const rows: ReportRow[] = [];
  for await (const r of store.reportRows('test-campaign')) rows.push(r);
  await store.close();
  return rows;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function events(stdout: string): { type: string; [k: string]: unknown }[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string });
}

describe('device errors in the taxonomy', () => {
  it('classifies device answers by code (any status but 429/5xx), keeps unknown device codes verbatim, leaves QUOTA_EXCEEDED a quota error', () => {
    const cases: [number, string, string][] = [
      [404, 'DEVICE_NOT_FOUND', 'device'],
      [409, 'DEVICE_DISCONNECTED', 'device'],
      [403, 'DEVICE_RESTRICTED', 'device'],
      [422, 'INVALID_DEVICE', 'device'],
      [400, 'DEVICE_LOGGED_OUT', 'device'],
      [403, 'QUOTA_EXCEEDED', 'quota'],
      [404, 'MESSAGE_NOT_FOUND', 'not_found'],
      [503, 'DEVICE_NOT_FOUND', 'server'],
    ];
    for (const [status, code, kind] of cases) {
      const e = errorFromResponse(status, { code, message: 'x' }, null);
      expect([status, code, e.kind, e.code]).toEqual([status, code, kind, code]);
      expect(e.dropsDevice).toBe(kind === 'device');
      if (kind === 'device') expect([e.permanent, e.retryable, e.stopsRun]).toEqual([false, false, false]);
    }
  });

  it('assignment follows the weights and dropping a device moves only its own recipients', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `rq-${i}`);
    const weighted = [{ code: 'A', weight: 2 }, { code: 'B', weight: 1 }, { code: 'C', weight: 1 }];
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(assignDevice(id, weighted)!, (counts.get(assignDevice(id, weighted)!) ?? 0) + 1);
    expect(counts.get('A')! / 3000).toBeGreaterThan(0.45);
    expect(counts.get('A')! / 3000).toBeLessThan(0.55);
    for (const light of ['B', 'C']) {
      expect(counts.get(light)! / 3000).toBeGreaterThan(0.2);
      expect(counts.get(light)! / 3000).toBeLessThan(0.3);
    }
    const withoutB = weighted.filter((d) => d.code !== 'B');
    for (const id of ids) {
      const before = assignDevice(id, weighted)!;
      if (before !== 'B') expect(assignDevice(id, withoutB)).toBe(before);
    }
  });
});

describe('several devices, end to end (real CLI, emulator over loopback)', () => {
  it('assigns each recipient one device by its request id: the same across a SIGKILL and in another database', async () => {
    const emu = await emulatorWith({ faults: { seed: 5, latencyMs: [1, 10], paths: ['send'] } });
    const dir = tempDir();
    const { path, sendable } = threeDeviceCampaign(dir, 150, 3000, 'health: off');
    const db = join(dir, 'one.db');
    const child = startCli(['run', path, '--db', db, '--json', '--no-sweep'], { cwd: dir, env: envFor(emu) });
    const started = Date.now();
    while (emu.messages().length < 50 && child.exitCode === null && Date.now() - started < 20_000) await sleep(2);
    child.kill('SIGKILL');
    await child.result;
    expect(emu.messages().length).toBeLessThan(150);
    const resumed = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emu) });
    expect(resumed.code, resumed.stderr).toBe(0);
    const first = devicesByRecipient(emu.messages());
    expect([...first.keys()].sort()).toEqual([...sendable].sort());
    // The device is the weighted rendezvous choice for the message's request id, nothing else.
    for (const m of emu.messages()) expect(m.device).toBe(assignDevice(m.requestId!, WEIGHTED));
    for (const d of DEVICES) expect([...first.values()].filter((v) => v === d).length).toBeGreaterThan(25);
    // The report names the device of every row.
    const rows = await rowsOf(db);
    for (const r of rows.filter((x) => x.state === 'accepted')) expect(r.device).toBe(first.get(r.phone!));

    // Another database, another emulator: the same recipients go through the same devices.
    const other = await emulatorWith();
    const again = await runCli(['run', path, '--db', join(dir, 'two.db'), '--no-sweep'], { cwd: dir, env: envFor(other) });
    expect(again.code, again.stderr).toBe(0);
    expect(devicesByRecipient(other.messages())).toEqual(first);
  }, 120_000);

  it('a device that starts answering "device not found" halfway leaves the rotation; its recipients finish on the others, each exactly once', async () => {
    // RK-B creates 10 messages, then answers 404 DEVICE_NOT_FOUND; some answers are lost after creation, so a
    // message RK-B did create may be resent through another device with the same request id.
    const emu = await emulatorWith({
      deviceFaults: { 'RK-B': { fault: 'not_found', afterMessages: 10 } },
      faults: { seed: 9, resetAfterRate: 0.1, paths: ['send'] },
    });
    const dir = tempDir();
    const { path, sendable } = threeDeviceCampaign(dir, 90, 6000, 'health: off\nmax_attempts: 20');
    const db = join(dir, 's.db');
    const r = await runCli(['run', path, '--db', db, '--json', '--no-sweep'], { cwd: dir, env: envFor(emu) });
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    const byRecipient = devicesByRecipient(emu.messages());
    expect([...byRecipient.keys()].sort()).toEqual([...sendable].sort());
    expect(emu.messages().filter((m) => m.device === 'RK-B')).toHaveLength(10);
    const dropped = events(r.stdout).filter((e) => e.type === 'device-dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ device: 'RK-B', error: { kind: 'device', code: 'DEVICE_NOT_FOUND' }, remaining: ['RK-A', 'RK-C'] });
    // Recipients of RK-B not created through it went to their second choice; nobody else moved.
    for (const m of emu.messages()) {
      if (m.device === 'RK-B') continue;
      const first = assignDevice(m.requestId!, WEIGHTED);
      expect(m.device).toBe(first === 'RK-B' ? assignDevice(m.requestId!, WEIGHTED.filter((d) => d.code !== 'RK-B')) : first);
    }
    const rows = await rowsOf(db);
    expect(rows.filter((x) => x.state === 'accepted')).toHaveLength(90);
    for (const row of rows) expect(row.device).toBe(byRecipient.get(row.phone!));
    // Reports: a device column, and the HTML report's sends and outcomes per device (in both languages).
    const csv = await runCli(['report', path, '--db', db, '--format', 'csv', '--raw-numbers'], { cwd: dir, env: envFor(emu) });
    const [header, ...lines] = csv.stdout.trim().split(/\r?\n/);
    const deviceAt = header!.split(',').indexOf('device');
    expect(deviceAt).toBeGreaterThan(0);
    expect(lines.map((l) => l.split(',')[deviceAt]).filter((d) => d === 'RK-B')).toHaveLength(10);
    for (const lang of ['en', 'id']) {
      const html = await runCli(['report', path, '--db', db, '--format', 'html', '--lang', lang], { cwd: dir, env: envFor(emu) });
      expect(html.stdout).toContain(lang === 'en' ? 'Sends and outcomes per device' : 'Pengiriman dan hasil per perangkat');
      for (const d of DEVICES) expect(html.stdout).toContain(`<tr data-device="${d}">`);
    }
  }, 60_000);

  it('with every device gone, stops with exit 13 and keeps state; the next run (devices back) sends each message once', async () => {
    const emu = await emulatorWith({
      deviceFaults: Object.fromEntries(DEVICES.map((d) => [d, { fault: 'disconnected' as const, afterMessages: 3 }])),
    });
    const dir = tempDir();
    const { path } = threeDeviceCampaign(dir, 30, 6000, 'health: off');
    const db = join(dir, 's.db');
    const r = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emu) });
    expect(r.code, r.stderr + r.stdout).toBe(13);
    expect(r.stdout + r.stderr).toMatch(/No device is left to send through: every device of the campaign left the rotation \(RK-.: DEVICE_DISCONNECTED/);
    expect(emu.messages()).toHaveLength(9);
    expect((await rowsOf(db)).filter((x) => x.state === 'planned')).toHaveLength(21);
    emu.setDeviceFaults({});
    const again = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emu) });
    expect(again.code, again.stderr).toBe(0);
    expect(devicesByRecipient(emu.messages()).size).toBe(30);
  }, 60_000);
});

describe('pacing like a person', () => {
  it('the gaps between two sends of one device lie within [min_gap, max_gap] and vary', async () => {
    const emu = await emulatorWith();
    const dir = tempDir();
    const { path } = threeDeviceCampaign(dir, 45, 6000, 'health: off\npacing: { min_gap: 50ms, max_gap: 150ms }');
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: envFor(emu) });
    expect(r.code, r.stderr).toBe(0);
    const gaps: number[] = [];
    for (const d of DEVICES) {
      const times = emu.messages().filter((m) => m.device === d).map((m) => m.createdAt).sort((a, b) => a - b);
      expect(times.length).toBeGreaterThan(5);
      for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
    }
    // The gap counts from the answer to the previous send, so the emulator (stamping arrivals) sees at least
    // min_gap; at most max_gap plus the two requests' latency (loopback, a loaded machine: allow 100 ms).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(150 + 100);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    expect(sd).toBeGreaterThan(15); // uniform on [50, 150]: about 29
    expect(new Set(gaps.map((g) => Math.round(g / 10))).size).toBeGreaterThan(5);
  }, 60_000);
});

describe('the delivery-health breaker', () => {
  const HEALTH_ENV = { RK_HEALTH_CHECK_MS: '100', RK_HEALTH_RATE: '6000' };

  it('with two thirds of the numbers failing, stops before half the list with exit 14 and a message saying what it saw; the next run resumes exactly once', async () => {
    const dir = tempDir();
    const { path, sendable } = threeDeviceCampaign(dir, 90, 600, 'health: { window: 12, max_failed: 50% }');
    const failing = sendable.filter((_, i) => i % 3 !== 0);
    const emu = await emulatorWith({ lifecycle: { queuedToSentMs: 20, sentToDeliveredMs: 20, failRecipients: failing } });
    const db = join(dir, 's.db');
    const r = await runCli(['run', path, '--db', db, '--json', '--no-sweep'], { cwd: dir, env: envFor(emu, HEALTH_ENV) });
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(14);
    expect(emu.messages().length).toBeLessThan(45);
    const tripped = events(r.stdout).find((e) => e.type === 'health-tripped') as { message: string; sample: { observed: number; failed: number } } | undefined;
    expect(tripped?.sample.observed).toBe(12);
    expect(tripped?.sample.failed).toBeGreaterThan(6);
    expect(tripped?.message).toMatch(/^\d+ of the last 12 messages failed \(Recipient is not on WhatsApp ×\d+\)/);
    expect(r.stdout).toContain('--ignore-health');
    expect(events(r.stdout).some((e) => e.type === 'health-sample')).toBe(true);
    // State kept: nothing lost, nothing doubled; --ignore-health sends the rest once.
    const rows = await rowsOf(db);
    expect(rows.filter((x) => x.state === 'accepted')).toHaveLength(emu.messages().length);
    const html = await runCli(['report', path, '--db', db, '--format', 'html'], { cwd: dir, env: envFor(emu) });
    expect(html.stdout).toContain('data-stopped="health"');
    // What the breaker saw is kept with the stop: the report and `status` show it after the run has ended.
    const seen = tripped!.message.split(' (')[0]!;
    expect(html.stdout).toMatch(new RegExp(`data-observed>${seen}`));
    const status = await runCli(['status', path, '--db', db], { cwd: dir, env: envFor(emu) });
    expect(status.stdout).toContain(`stopped-health: the delivery-health breaker stopped it (${seen}`);
    const again = await runCli(['run', path, '--db', db, '--no-sweep', '--ignore-health'], { cwd: dir, env: envFor(emu, HEALTH_ENV) });
    expect(again.code, again.stderr).toBe(0);
    expect(devicesByRecipient(emu.messages()).size).toBe(90);
  }, 60_000);

  it('with 5% failing, never stops (and the breaker did look)', async () => {
    const dir = tempDir();
    const { path, sendable } = threeDeviceCampaign(dir, 100, 1200);
    const failing = sendable.filter((_, i) => i % 20 === 7);
    const emu = await emulatorWith({ lifecycle: { queuedToSentMs: 20, sentToDeliveredMs: 20, failRecipients: failing } });
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--json', '--no-sweep'], { cwd: dir, env: envFor(emu, HEALTH_ENV) });
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    expect(emu.messages()).toHaveLength(100);
    const samples = events(r.stdout).filter((e) => e.type === 'health-sample') as unknown as { sample: { observed: number } }[];
    expect(samples.length).toBeGreaterThan(3);
    expect(Math.max(...samples.map((s) => s.sample.observed))).toBe(20);
    expect(events(r.stdout).some((e) => e.type === 'health-tripped')).toBe(false);
  }, 60_000);
});

describe('daily caps and warm-up', () => {
  /** Runs a two-device campaign with caps in-process on a fake clock that jumps over every wait. */
  async function capped(clock: ManualClock, recipients: number, noWait = false) {
    const emu = await emulatorWith({ now: () => clock.now() });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: recipients, rate: 6000, extraYaml: 'limits: { per_device_per_day: 10, warm_up: [3, 5] }' });
    writeFileSync(path, readFileSync(path, 'utf8').replace('device: RK-DEMO', 'device: [RK-A, RK-B]'));
    const campaign = await loadCampaign(path);
    const prepared = await prepareCampaign(campaign, {});
    const store = new SqliteStore(join(dir, 's.db'));
    const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, now: () => clock.now() });
    const seen: RunEvent[] = [];
    try {
      const result = await runCampaign({ store, api, clock, emit: (e) => seen.push(e) }, prepared, { projectId: 'caps', concurrency: 1, ...(noWait ? { noWait: true } : {}) });
      return { result, emu, seen, store: null };
    } finally {
      await store.close();
      await api.close();
    }
  }

  const day = (ms: number) => DateTime.fromMillis(ms, { zone: 'Asia/Jakarta' }).toISODate()!;

  it('over a fake-clock week: never over the cap of any device on any day (3, 5, then 10), and ends on the expected day', async () => {
    const clock = new ManualClock(DateTime.fromISO('2026-03-02T09:00:00', { zone: 'Asia/Jakarta' }).toMillis(), true);
    const { result, emu, seen } = await capped(clock, 60);
    expect(result.send?.reason).toBe('done');
    const perDeviceDay = new Map<string, number>();
    for (const m of emu.messages()) perDeviceDay.set(`${m.device} ${day(m.createdAt)}`, (perDeviceDay.get(`${m.device} ${day(m.createdAt)}`) ?? 0) + 1);
    expect(Object.fromEntries([...perDeviceDay].sort())).toEqual({
      'RK-A 2026-03-02': 3, 'RK-B 2026-03-02': 3,
      'RK-A 2026-03-03': 5, 'RK-B 2026-03-03': 5,
      'RK-A 2026-03-04': 10, 'RK-B 2026-03-04': 10,
      'RK-A 2026-03-05': 10, 'RK-B 2026-03-05': 10,
      ...Object.fromEntries([...perDeviceDay].filter(([k]) => k.endsWith('2026-03-06'))),
    });
    const lastDay = [...perDeviceDay.entries()].filter(([k]) => k.endsWith('2026-03-06'));
    expect(lastDay.reduce((a, [, n]) => a + n, 0)).toBe(4);
    expect(devicesByRecipient(emu.messages()).size).toBe(60);
    expect(day(clock.now())).toBe('2026-03-06');
    const waits = seen.filter((e) => e.type === 'waiting') as { reason: string }[];
    expect(waits).toHaveLength(4);
    expect(waits[0]!.reason).toMatch(/^daily caps reached on every device \(RK-A, RK-B\)/);
  }, 60_000);

  it('with no wait, stops at once when every device is capped: the "not due" exit code and a message saying the caps were reached', async () => {
    const clock = new ManualClock(DateTime.fromISO('2026-03-02T09:00:00', { zone: 'Asia/Jakarta' }).toMillis(), true);
    const { result, emu } = await capped(clock, 20, true);
    expect(result.send?.reason).toBe('caps');
    expect(exitCodeForSend('caps', 0)).toBe(7);
    expect(result.send?.error?.message).toContain('daily caps were reached on every device');
    expect(result.send?.reopensAt).toBe(DateTime.fromISO('2026-03-03T00:00:00', { zone: 'Asia/Jakarta' }).toMillis());
    expect(emu.messages()).toHaveLength(6);
    expect(result.counts.byState.planned).toBe(14);
  }, 60_000);
  it('a row already attempted keeps its own device when that one is capped: it waits for the next day instead of moving', async () => {
    const clock = new ManualClock(DateTime.fromISO('2026-03-02T09:00:00', { zone: 'Asia/Jakarta' }).toMillis(), true);
    const emu = await emulatorWith({ now: () => clock.now() });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 8, rate: 6000, extraYaml: 'limits: { per_device_per_day: 3 }' });
    writeFileSync(path, readFileSync(path, 'utf8').replace('device: RK-DEMO', 'device: [RK-A, RK-B]'));
    const campaign = await loadCampaign(path);
    const prepared = await prepareCampaign(campaign, {});
    const store = new SqliteStore(join(dir, 's.db'));
    const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, now: () => clock.now() });
    try {
      const deps = { store, api, clock, emit: () => undefined };
      await runCampaign(deps, prepared, { projectId: 'caps', dryRun: true });
      // The first row's earlier attempt may have reached the API (a timeout) through its own device, which is now
      // at today's cap; the other device still has room.
      const [first] = await store.nextPlanned(campaign.id, clock.now(), 1);
      const own = assignDevice(first!.requestId, [{ code: 'RK-A', weight: 1 }, { code: 'RK-B', weight: 1 }])!;
      const other = own === 'RK-A' ? 'RK-B' : 'RK-A';
      await store.markSending(first!.id, clock.now());
      await store.markRetry(first!.id, { code: 'NETWORK', message: 'timeout' }, 0, clock.now(), { countAttempt: true, uncertain: true });
      for (let i = 0; i < 3; i++) expect(await store.reserveDeviceDay(own, '2026-03-02', 3)).toBe(true);
      const result = await runCampaign(deps, prepared, { projectId: 'caps', concurrency: 1, noWait: true });
      expect(result.send?.reason).toBe('caps');
      // Never-sent rows of the capped device moved to the other one; the attempted row did not.
      expect(emu.messages().map((m) => m.device)).toEqual([other, other, other]);
      expect(emu.messages().map((m) => m.recipient)).not.toContain(first!.phone);
      expect((await store.nextPlanned(campaign.id, clock.now(), 100)).map((m) => m.id)).toContain(first!.id);
    } finally {
      await store.close();
      await api.close();
    }
  }, 60_000);
});

describe('ETA with pacing and caps (validate, status)', () => {
  it('validate shows the devices, the pacing, the caps and an ETA at the paced rate within the caps', async () => {
    const dir = tempDir();
    const { path } = threeDeviceCampaign(dir, 60, 60, 'pacing: { min_gap: 3s, max_gap: 9s }\nlimits: { per_device_per_day: 10, warm_up: [3, 5] }');
    const r = await runCli(['validate', path], { cwd: dir, env: cliEnv({}) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Devices: RK-A, RK-B, RK-C; each recipient always goes through the same one.');
    expect(r.stdout).toContain('Estimated duration at 30/min');
    expect(r.stdout).toMatch(/Pacing: 3s–9s between two sends of one device \(about 30\/min over 3 devices/);
    expect(r.stdout).toContain('warm-up 3, 5 on a device\'s first days, then 10 per device per day.');
    expect(r.stdout).toMatch(/ETA: last message .* at 30\/min within the daily caps\./);
  });

  it('pacing slows the pace to the devices\' mean gap (the rate stays the ceiling); caps spread it over days', async () => {
    const { describeSchedule } = await import('../src/schedule/describe.js');
    const now = DateTime.fromISO('2026-03-02T09:00:00', { zone: 'Asia/Jakarta' }).toMillis();
    const base = { schedule: undefined, ratePerMinute: 60, device: 'RK-A', devices: [{ code: 'RK-A', weight: 1 }, { code: 'RK-B', weight: 1 }] };
    // Two devices, gaps of 3-9 s (mean 6 s): 20/min, not 60/min; 600 messages take 30 minutes.
    const paced = describeSchedule({ ...base, pacing: { minGapMs: 3000, maxGapMs: 9000 } }, 600, now);
    expect(paced.durationMs).toBe(30 * 60_000);
    expect(paced.lines.join('\n')).toMatch(/Pacing: 3s–9s between two sends of one device \(about 20\/min over 2 devices/);
    expect(paced.lines.join('\n')).toContain('at 20/min');
    // Without pacing the rate decides: 10 minutes.
    expect(describeSchedule(base, 600, now).durationMs).toBe(10 * 60_000);
    // Caps 3, 5, then 10 per device: 6 + 10 + 20 + 20 = 56 in four days; the 60th leaves on the fifth (2026-03-06).
    const capped = describeSchedule({ ...base, ratePerMinute: 6000, limits: { perDevicePerDay: 10, warmUp: [3, 5] } }, 60, now);
    expect(DateTime.fromMillis(capped.etaAt, { zone: 'Asia/Jakarta' }).toISODate()).toBe('2026-03-06');
    expect(capped.lines.join('\n')).toContain('Daily caps (Asia/Jakarta days, every campaign of this database): warm-up 3, 5 on a device\'s first days, then 10 per device per day.');
  });
});
