import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCampaign } from '../src/config/campaign.js';
import { ConfigFileError } from '../src/config/schema-errors.js';
import { ManualClock } from '../src/core/clock.js';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { runCampaign, type RunEvent } from '../src/pipeline/run.js';
import { prepareCampaign } from '../src/plan/planner.js';
import { RkClient } from '../src/rk/client.js';
import {
  createScheduleGate,
  describeSchedule,
  dueDecision,
  etaWithWindow,
  isOpen,
  latenessRefusal,
  MonthlyQuota,
  nextOpening,
  parseSchedule,
  parseScheduleDuration,
  quotaMonth,
  quotaSettingsFor,
  ScheduleRefusedError,
  windowAt,
  type Schedule,
} from '../src/schedule/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { writeCampaign } from './helpers/campaign.js';
import { tempDir } from './helpers/tmp.js';

const at = (iso: string): number => DateTime.fromISO(iso, { setZone: true }).toMillis();
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('schedule schema', () => {
  it('parses start_at with an offset, a named zone or a bracketed zone, and the window', () => {
    const s = parseSchedule({
      start_at: '2026-12-05T09:00 Asia/Jakarta',
      end_at: '2026-12-07T20:00:00+07:00',
      max_lateness: '2h',
      window: { timezone: 'asia/jakarta', days: ['mon-fri', 'Saturday'], from: '08:00', to: '20:00' },
    });
    expect(s.startAt).toBe(at('2026-12-05T09:00:00+07:00'));
    expect(s.endAt).toBe(at('2026-12-07T20:00:00+07:00'));
    expect(s.maxLatenessMs).toBe(2 * HOUR);
    expect(s.window).toEqual({ timezone: 'Asia/Jakarta', days: [1, 2, 3, 4, 5, 6], fromMinutes: 480, toMinutes: 1200, timezoneColumn: undefined });
    expect(parseSchedule({ start_at: '2026-12-05T09:00[Europe/London]' }).startAt).toBe(at('2026-12-05T09:00:00Z'));
    expect(parseSchedule({ start_at: '2026-12-05T02:00:00Z' }).startAt).toBe(at('2026-12-05T09:00:00+07:00'));
    // A window with only days is open all day on them.
    expect(parseSchedule({ window: { days: 'sat,sun' } }).window).toMatchObject({ days: [6, 7], fromMinutes: 0, toMinutes: 1440, timezone: 'Asia/Jakarta' });
    expect(parseScheduleDuration('1h30m')).toBe(90 * MIN);
    expect(parseScheduleDuration('PT45M')).toBe(45 * MIN);
    expect(() => parseScheduleDuration('soon')).toThrow(RangeError);
  });

  it('reports each problem through loadCampaign with the file, the key, what was expected and what was found', async () => {
    const dir = tempDir();
    const { path } = writeCampaign(dir, {
      valid: 1,
      extraYaml: [
        'schedule:',
        '  start_at: "2026-12-05T09:00"',
        '  end_at: "2026-12-04T09:00:00+07:00"',
        '  max_lateness: soon',
        '  window:',
        '    timezone: Asia/Jakartta',
        '    days: [mon, funday]',
        '    from: "08:00"',
        '    to: "25:00"',
        '    timezone_colum: tz',
      ].join('\n'),
    });
    const error = await loadCampaign(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigFileError);
    const text = (error as Error).message;
    expect(text).toMatch(/schedule\.start_at: expected an ISO 8601 time with an offset or a zone.*no offset or zone.*found "2026-12-05T09:00" \(line \d+\)/);
    expect(text).toMatch(/schedule\.max_lateness: expected a duration longer than zero.*found "soon"/);
    expect(text).toMatch(/schedule\.window\.timezone: expected an IANA time zone .*\(did you mean Asia\/Jakarta\?\), found "Asia\/Jakartta"/);
    expect(text).toMatch(/schedule\.window\.days\[1\]: expected a day name: mon, tue.*found "funday"/);
    expect(text).toMatch(/schedule\.window\.to: expected a local time HH:MM.*found "25:00"/);
    expect(text).toMatch(/schedule\.window\.timezone_colum: unknown key \(did you mean timezone_column\?\)/);
    for (const line of text.split('\n')) expect(line.startsWith(path)).toBe(true);
  });

  it('refuses from equal to to, end_at before start_at, and max_lateness without start_at', async () => {
    const dir = tempDir();
    const bad = async (schedule: string): Promise<string> => {
      const { path } = writeCampaign(dir, { valid: 1, extraYaml: `schedule:\n${schedule}` });
      return ((await loadCampaign(path).catch((e: unknown) => e)) as Error).message;
    };
    expect(await bad('  window: { from: "08:00", to: "08:00" }')).toMatch(
      /schedule\.window\.to: expected a closing time different from from \(08:00\).*found "08:00"/,
    );
    expect(await bad('  start_at: "2026-12-05T09:00:00+07:00"\n  end_at: "2026-12-05T08:00:00+07:00"')).toMatch(
      /schedule\.end_at: expected a time after start_at .*found "2026-12-05T08:00:00\+07:00"/,
    );
    expect(await bad('  max_lateness: 2h')).toMatch(/schedule\.max_lateness: expected max_lateness only together with start_at/);
    expect(await bad('  window: { from: "08:00" }')).toMatch(/schedule\.window\.to: expected both from and to/);
    expect(await bad('  start_at: "2026-12-05T09:00 Mars/Olympus"')).toMatch(/"Mars\/Olympus" is not an IANA time zone/);
  });
});

describe('windows (pure, luxon)', () => {
  const nightly = parseSchedule({ window: { timezone: 'Asia/Jakarta', days: ['fri'], from: '22:00', to: '02:00' } }).window!;

  it('opens on the listed day and runs past midnight into the next', () => {
    expect(isOpen(at('2026-03-06T21:59:00+07:00'), nightly)).toBe(false); // Friday before
    expect(isOpen(at('2026-03-06T22:00:00+07:00'), nightly)).toBe(true);
    expect(isOpen(at('2026-03-07T01:59:00+07:00'), nightly)).toBe(true); // Saturday morning: Friday's window
    expect(isOpen(at('2026-03-07T02:00:00+07:00'), nightly)).toBe(false);
    expect(isOpen(at('2026-03-07T22:30:00+07:00'), nightly)).toBe(false); // Saturday night: no window
    expect(nextOpening(at('2026-03-07T02:00:00+07:00'), nightly)).toBe(at('2026-03-13T22:00:00+07:00'));
    expect(windowAt(at('2026-03-07T01:00:00+07:00'), nightly)).toEqual({
      open: true,
      opensAt: at('2026-03-06T22:00:00+07:00'),
      closesAt: at('2026-03-07T02:00:00+07:00'),
    });
    // The same window read in another zone (a recipient's).
    expect(isOpen(at('2026-03-06T19:30:00+07:00'), nightly, 'Asia/Tokyo')).toBe(false); // 21:30 in Tokyo
    expect(isOpen(at('2026-03-06T22:30:00+07:00'), nightly, 'Asia/Tokyo')).toBe(true); // Saturday 00:30 in Tokyo
    expect(nextOpening(at('2026-03-06T22:30:00+07:00'), nightly, 'America/New_York')).toBe(at('2026-03-06T22:00:00-05:00'));
  });

  it('follows daylight saving by the calendar, not by a fixed offset', () => {
    const morning = parseSchedule({ window: { timezone: 'Europe/London', from: '09:00', to: '10:00' } }).window!;
    // London switches to BST on 29 March 2026: 09:00 local is 09:00Z before and 08:00Z after.
    expect(nextOpening(at('2026-03-28T00:00:00Z'), morning)).toBe(at('2026-03-28T09:00:00Z'));
    expect(nextOpening(at('2026-03-30T00:00:00Z'), morning)).toBe(at('2026-03-30T08:00:00Z'));
  });

  it('computes an ETA that accounts for the window', () => {
    const start = at('2026-12-07T08:00:00+07:00'); // a Monday
    const daily = (from: string, to: string): Schedule =>
      parseSchedule({ start_at: '2026-12-07T08:00:00+07:00', window: { timezone: 'Asia/Jakarta', from, to } });
    // 3,000 at 60/min without a window: 50 minutes.
    expect(etaWithWindow(3000, 60, undefined, start)).toBe(start + 50 * MIN);
    // Inside a 2-hour window they still fit in one day (2 h × 60/min = 7,200 > 3,000).
    expect(etaWithWindow(3000, 60, daily('08:00', '10:00'), start)).toBe(start + 50 * MIN);
    // A 30-minute window holds 1,800 a day: the rest (1,200) goes the next day, 20 minutes in. Two days.
    expect(etaWithWindow(3000, 60, daily('08:00', '08:30'), start)).toBe(at('2026-12-08T08:20:00+07:00'));
    // At 10/min in a 2-hour window: 1,200 a day, so 3,000 takes three days.
    expect(etaWithWindow(3000, 10, daily('08:00', '10:00'), start)).toBe(at('2026-12-09T09:00:00+07:00'));
    // Starting before start_at counts from start_at; a window crossing midnight keeps its hours together.
    // 5,400 at 60/min in 23:30-00:30: 3,600 the first night, 1,800 the next, ending at 00:00 on the 9th.
    expect(etaWithWindow(5400, 60, daily('23:30', '00:30'), at('2026-12-06T00:00:00+07:00'))).toBe(at('2026-12-09T00:00:00+07:00'));
    const d = describeSchedule({ schedule: daily('08:00', '08:30'), ratePerMinute: 60 }, 3000, at('2026-12-01T08:00:00+07:00'));
    expect(d.etaAt).toBe(at('2026-12-08T08:20:00+07:00'));
    expect(d.durationMs).toBe(at('2026-12-08T08:20:00+07:00') - start);
    expect(d.lines.join('\n')).toMatch(/Window: 08:00–08:30 Asia\/Jakarta, every day\n.*ETA: last message Tue 8 Dec 2026 08:20 Asia\/Jakarta \(\+07:00\), 1d after the start/);
  });

  it('gates a campaign: before start, outside the window, past the deadline', () => {
    const s = parseSchedule({
      start_at: '2026-12-05T09:00:00+07:00',
      end_at: '2026-12-06T20:00:00+07:00',
      window: { days: ['sat'], from: '08:00', to: '20:00' },
    });
    const gate = createScheduleGate(s);
    expect(gate.recipient).toBeUndefined();
    expect(gate.campaign(at('2026-12-05T08:30:00+07:00'))).toMatchObject({ open: false, reopensAt: s.startAt, reason: expect.stringMatching(/^not started yet/) });
    expect(gate.campaign(at('2026-12-05T09:00:00+07:00'))).toEqual({ open: true });
    // Saturday 20:00: the next Saturday opening is after end_at, so it is over.
    expect(gate.campaign(at('2026-12-05T20:00:00+07:00'))).toMatchObject({ open: false, reopensAt: null });
    expect(gate.campaign(at('2026-12-06T20:00:00+07:00'))).toMatchObject({ open: false, reopensAt: null, reason: expect.stringMatching(/end_at/) });
    const weekly = createScheduleGate(parseSchedule({ window: { days: ['sat'], from: '08:00', to: '20:00' } }));
    expect(weekly.campaign(at('2026-12-05T20:00:00+07:00'))).toMatchObject({ open: false, reopensAt: at('2026-12-12T08:00:00+07:00') });
  });

  it('refuses a first run later than max_lateness, measured from the first opening', () => {
    const s = parseSchedule({ start_at: '2026-12-05T09:00:00+07:00', max_lateness: '2h', window: { from: '10:00', to: '20:00' } });
    // The window opens at 10:00, so 11:59 is 1h59m late, not 2h59m.
    expect(latenessRefusal(s, null, at('2026-12-05T11:59:00+07:00'))).toBeNull();
    const refusal = latenessRefusal(s, null, at('2026-12-05T14:00:00+07:00'));
    expect(refusal).toMatch(/Refusing to start: the campaign was due at Sat 5 Dec 2026 10:00 .* 4h late, more than max_lateness \(2h\), and nothing has been sent yet\./);
    // Once something was sent, a later run is a resume, never refused.
    expect(latenessRefusal(s, at('2026-12-05T10:00:00+07:00'), at('2026-12-06T14:00:00+07:00'))).toBeNull();
  });

  it('decides what is due', () => {
    const s = parseSchedule({ start_at: '2026-12-05T09:00:00+07:00', end_at: '2026-12-06T20:00:00+07:00', window: { from: '08:00', to: '20:00' } });
    const now = at('2026-12-05T10:00:00+07:00');
    expect(dueDecision({ schedule: undefined, record: undefined, pending: undefined, now })).toMatchObject({ due: false, why: 'unscheduled' });
    expect(dueDecision({ schedule: s, record: undefined, pending: undefined, now: at('2026-12-05T08:00:00+07:00') })).toMatchObject({ due: false, why: 'not-started', nextAt: s.startAt });
    expect(dueDecision({ schedule: s, record: undefined, pending: undefined, now })).toMatchObject({ due: true, action: 'send' });
    expect(dueDecision({ schedule: s, record: undefined, pending: undefined, now: at('2026-12-05T21:00:00+07:00') })).toMatchObject({
      due: false,
      why: 'outside-window',
      nextAt: at('2026-12-06T08:00:00+07:00'),
    });
    expect(dueDecision({ schedule: s, record: undefined, pending: undefined, now: at('2026-12-07T00:00:00+07:00') })).toMatchObject({ due: true, action: 'expire' });
  });
});

describe('monthly quota', () => {
  it('quotaMonth stays right across month boundaries and zones once it has cached a month', () => {
    const march = quotaMonth(at('2026-03-15T12:00:00Z'), 'Asia/Jakarta');
    expect(march).toMatchObject({ month: '2026-03', start: at('2026-03-01T00:00:00+07:00'), end: at('2026-04-01T00:00:00+07:00') });
    // The last millisecond of March in Jakarta, then the first of April, then March again.
    expect(quotaMonth(at('2026-03-31T23:59:59.999+07:00'), 'Asia/Jakarta').month).toBe('2026-03');
    expect(quotaMonth(at('2026-04-01T00:00:00+07:00'), 'Asia/Jakarta')).toMatchObject({ month: '2026-04', end: at('2026-05-01T00:00:00+07:00') });
    expect(quotaMonth(at('2026-03-31T18:00:00Z'), 'Asia/Jakarta').month).toBe('2026-04');
    expect(quotaMonth(at('2026-03-31T18:00:00Z'), 'UTC').month).toBe('2026-03');
    expect(quotaMonth(at('2026-02-10T00:00:00Z'), 'Asia/Jakarta').month).toBe('2026-02');
    // A caller changing the answer does not change the next one.
    const mutable = quotaMonth(at('2026-02-10T00:00:00Z'), 'Asia/Jakarta');
    mutable.start = 0;
    expect(quotaMonth(at('2026-02-11T00:00:00Z'), 'Asia/Jakarta').start).toBe(at('2026-02-01T00:00:00+07:00'));
  });

  it('counts accepted messages per calendar month in the provider zone, and reserves exactly up to the quota', async () => {
    const store = new SqliteStore(join(tempDir(), 'q.db'));
    const clock = new ManualClock(at('2026-03-31T18:30:00Z')); // 1 April 01:30 in Jakarta
    expect(quotaMonth(clock.now(), 'Asia/Jakarta')).toMatchObject({ month: '2026-04', start: at('2026-04-01T00:00:00+07:00') });
    expect(quotaMonth(clock.now(), 'UTC').month).toBe('2026-03');
    await store.ensureCampaign({ id: 'c', name: 'c', projectId: 'p', sourcePath: '/c.yaml', now: 0 });
    const gen = await store.beginPlan('c', 'fresh', 0);
    const rows = Array.from({ length: 4 }, (_, i) => ({
      line: i + 2, rawPhone: `62812${i}`, phone: `62812${i}`, fields: {}, state: 'planned' as const, text: 'x', payload: null, requestId: `r${i}`, reason: null,
    }));
    await store.insertPlanBatch('c', gen, rows, 0);
    await store.completePlan('c', gen, { csv: '', template: '', config: '', suppress: '', media: '' }, 0);
    const msgs = await store.nextPlanned('c', 0, 10);
    // One accepted on 31 March 23:00 Jakarta (March), two on 1 April 00:30 Jakarta (April).
    for (const [i, when] of [at('2026-03-31T23:00:00+07:00'), at('2026-04-01T00:30:00+07:00'), at('2026-04-01T00:31:00+07:00')].entries()) {
      await store.markSending(msgs[i]!.id, when);
      await store.markAccepted(msgs[i]!.id, `u${i}`, 'queued', when);
    }
    const quota = new MonthlyQuota(store, clock, 'p', { monthlyQuota: 4, timezone: 'Asia/Jakarta', source: 'monthly_quota' });
    expect(await quota.check(3)).toMatchObject({ month: '2026-04', used: 2, remaining: 2, fits: false });
    const shared = { reserved: 0 };
    const a = new MonthlyQuota(store, clock, 'p', { monthlyQuota: 4, timezone: 'Asia/Jakarta', source: 'default' }, shared);
    const b = new MonthlyQuota(store, clock, 'p', { monthlyQuota: 4, timezone: 'Asia/Jakarta', source: 'default' }, shared);
    // Two campaigns of the project reserving at the same time get two slots between them, not two each.
    const granted = await Promise.all([a.reserve(), b.reserve(), a.reserve(), b.reserve()]);
    expect(granted.filter(Boolean)).toHaveLength(2);
    a.release();
    expect(await b.reserve()).toBe(true);
    // Sends this process saw accepted count at once, even before the store's count is read again (once a second).
    a.release(true);
    b.release(true);
    expect(shared.reserved).toBe(0);
    expect(await a.reserve()).toBe(false); // 2 in the store + 2 just accepted = 4
    clock.advance(1_000); // re-read: the store still says 2 (these test sends never reached it)
    expect(await a.reserve()).toBe(true);
    await store.close();
  });

  it('takes the quota from the campaign, else RK_MONTHLY_QUOTA, else 3,000, and the zone from RK_QUOTA_TIMEZONE', () => {
    expect(quotaSettingsFor({}, { monthlyQuota: undefined })).toEqual({ monthlyQuota: 3000, timezone: 'Asia/Jakarta', source: 'default' });
    expect(quotaSettingsFor({ RK_MONTHLY_QUOTA: '10000', RK_QUOTA_TIMEZONE: 'utc' }, { monthlyQuota: undefined })).toEqual({
      monthlyQuota: 10000,
      timezone: 'UTC',
      source: 'RK_MONTHLY_QUOTA',
    });
    expect(quotaSettingsFor({ RK_MONTHLY_QUOTA: '10000' }, { monthlyQuota: 50 }).monthlyQuota).toBe(50);
    expect(() => quotaSettingsFor({ RK_MONTHLY_QUOTA: 'lots' }, { monthlyQuota: undefined })).toThrow(/RK_MONTHLY_QUOTA: expected a whole number/);
    expect(() => quotaSettingsFor({ RK_QUOTA_TIMEZONE: 'Jakarta' }, { monthlyQuota: undefined })).toThrow(/RK_QUOTA_TIMEZONE: expected an IANA time zone/);
  });
});

/** Recipients in several zones; the window is read in each one's own zone. */
const ZONED_RECIPIENTS: { phone: string; tz: string }[] = [
  { phone: '6281100000001', tz: 'Asia/Jakarta' },
  { phone: '6281100000002', tz: 'Asia/Tokyo' },
  { phone: '6281100000003', tz: 'Europe/London' },
  { phone: '6281100000004', tz: 'America/New_York' },
  { phone: '6281100000005', tz: 'America/Los_Angeles' },
  { phone: '6281100000006', tz: 'Australia/Sydney' },
  { phone: '6281100000007', tz: 'Pacific/Auckland' },
  { phone: '6281100000008', tz: '' }, // no zone: the window's own (Jakarta)
  { phone: '6281100000009', tz: 'Asia/Jakarta' },
];

describe('a week-long scheduled campaign on a fake clock, against the emulator', () => {
  let emulator: RunningEmulator | undefined;
  afterEach(async () => {
    await emulator?.close();
    emulator = undefined;
  });

  /** Writes a campaign with per-recipient zones and runs it in-process on `clock` against a real emulator. */
  async function setUp(clock: ManualClock, scheduleYaml: string) {
    emulator = await startEmulator({
      port: 0,
      now: () => clock.now(),
      projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000, monthlyQuota: 100_000 }],
    });
    const dir = tempDir();
    const csv = ['phone,name,tz', ...ZONED_RECIPIENTS.map((r, i) => `+${r.phone},Orang ${i},${r.tz}`), '+6281100000010,Salah,Mars/Olympus'].join('\n');
    writeFileSync(join(dir, 'people.csv'), csv + '\n');
    writeFileSync(
      join(dir, 'week.yaml'),
      ['id: week', 'device: RK-DEMO', 'recipients:', '  file: people.csv', 'message: "Halo {{name}}"', 'rate_per_minute: 6000', scheduleYaml].join('\n') + '\n',
    );
    const campaign = await loadCampaign(join(dir, 'week.yaml'));
    const prepared = await prepareCampaign(campaign, { timezoneColumn: campaign.schedule?.window?.timezoneColumn });
    const store = new SqliteStore(join(dir, 'state.db'));
    const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emulator.url, now: () => clock.now() });
    const events: RunEvent[] = [];
    const run = () =>
      runCampaign({ store, api, clock, emit: (e) => events.push(e) }, prepared, {
        projectId: 'week-project',
        schedule: campaign.schedule!,
        // One request at a time, so the fake clock only moves between requests (a send cannot straddle a closing).
        concurrency: 1,
      });
    return { campaign, store, api, events, run, emulator };
  }

  const WEEK = [
    'schedule:',
    '  start_at: "2026-02-28T00:30:00+07:00"', // Saturday 00:30 Jakarta: inside Friday's window there
    '  max_lateness: 2h',
    '  window:',
    '    timezone: Asia/Jakarta',
    '    days: [fri]',
    '    from: "22:00"',
    '    to: "02:00"',
    '    timezone_column: tz',
  ];

  it('sends nobody anything outside their own window, and finishes on the expected day', async () => {
    const clock = new ManualClock(at('2026-02-23T09:00:00+07:00'), true); // Monday before
    const { store, api, events, run, campaign } = await setUp(clock, [...WEEK, '  end_at: "2026-03-08T00:00:00+07:00"'].join('\n'));
    const result = await run();
    await api.close();

    expect(result.send?.reason).toBe('done');
    expect(result.counts.byState).toMatchObject({ accepted: ZONED_RECIPIENTS.length, invalid: 1, planned: 0, expired: 0 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'waiting', until: at('2026-02-28T00:30:00+07:00') }));

    const messages = emulator!.messages();
    expect(messages.map((m) => m.recipient).sort()).toEqual(ZONED_RECIPIENTS.map((r) => r.phone).sort());
    const window = campaign.schedule!.window!;
    for (const m of messages) {
      const zone = ZONED_RECIPIENTS.find((r) => r.phone === m.recipient)!.tz || 'Asia/Jakarta';
      // Independently of the code under test: Friday 22:00-24:00 or Saturday 00:00-02:00, local time.
      const local = DateTime.fromMillis(m.createdAt, { zone });
      const inWindow = (local.weekday === 5 && local.hour >= 22) || (local.weekday === 6 && local.hour < 2);
      expect({ recipient: m.recipient, zone, local: local.toISO(), inWindow }).toMatchObject({ inWindow: true });
      expect(isOpen(m.createdAt, window, zone)).toBe(true);
    }
    // Each zone got its message at its first opening after start_at (to the minute).
    const sentAt = (phone: string) => messages.find((m) => m.recipient === phone)!.createdAt;
    const expected: Record<string, string> = {
      '6281100000001': '2026-02-28T00:30:00+07:00', // Jakarta: open at start (after midnight)
      '6281100000008': '2026-02-28T00:30:00+07:00', // no zone: Jakarta
      '6281100000003': '2026-02-27T22:00:00+00:00', // London: Friday 22:00 local, after start_at
      '6281100000004': '2026-02-27T22:00:00-05:00', // New York
      '6281100000005': '2026-02-27T22:00:00-08:00', // Los Angeles
      '6281100000002': '2026-03-06T22:00:00+09:00', // Tokyo: 02:30 at start, closed: the next Friday
      '6281100000006': '2026-03-06T22:00:00+11:00', // Sydney (daylight time)
      '6281100000007': '2026-03-06T22:00:00+13:00', // Auckland (daylight time)
    };
    for (const [phone, when] of Object.entries(expected)) {
      const delayMs = sentAt(phone) - at(when);
      expect({ phone, late: delayMs >= 0 && delayMs < MIN }).toEqual({ phone, late: true });
    }
    // The last recipient (Tokyo) is served on Friday 6 March: the campaign finishes that day.
    const record = await store.getCampaign('week');
    expect(record?.finishedAt).toBeGreaterThanOrEqual(at('2026-03-06T22:00:00+09:00'));
    expect(DateTime.fromMillis(record!.finishedAt!, { zone: 'Asia/Jakarta' }).toISODate()).toBe('2026-03-06');
    await store.close();
  });

  it('end_at expires what its window could not reach, and a run after end_at refuses (exit 8) and expires the rest', async () => {
    const clock = new ManualClock(at('2026-02-27T12:00:00+07:00'), true);
    const { store, api, events, run } = await setUp(clock, [...WEEK, '  end_at: "2026-03-03T00:00:00+07:00"'].join('\n'));
    const result = await run();
    expect(result.send?.reason).toBe('deadline');
    // Tokyo, Sydney and Auckland open only on 6 March: after end_at.
    expect(result.expired).toBe(3);
    expect(result.counts.byState).toMatchObject({ accepted: 6, expired: 3, planned: 0 });
    expect(events).toContainEqual({ type: 'expired', count: 3, endAt: at('2026-03-03T00:00:00+07:00') });
    expect(emulator!.messages()).toHaveLength(6);
    const rows = [];
    for await (const r of store.reportRows('week')) rows.push(r);
    expect(rows.filter((r) => r.state === 'expired').map((r) => r.phone).sort()).toEqual(['6281100000002', '6281100000006', '6281100000007']);
    expect(rows.find((r) => r.state === 'expired')?.errorCode).toBe('DEADLINE_PASSED');
    // A run after end_at sends nothing and says why.
    clock.advance(HOUR);
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScheduleRefusedError);
    expect((error as ScheduleRefusedError).refusal).toBe('ended');
    expect(emulator!.messages()).toHaveLength(6);
    await api.close();
    await store.close();
  });

  it('max_lateness refuses a late first run and sends nothing', async () => {
    // Jakarta's first opening is start_at itself (00:30); at 03:00 that is 2h30m late.
    const clock = new ManualClock(at('2026-02-28T03:00:00+07:00'), true);
    const { store, api, run } = await setUp(clock, [...WEEK.filter((l) => !l.includes('timezone_column'))].join('\n'));
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScheduleRefusedError);
    expect((error as Error).message).toMatch(/Refusing to start: .* 2h 30m late, more than max_lateness \(2h\), and nothing has been sent yet/);
    expect(emulator!.messages()).toHaveLength(0);
    expect((await store.getCampaign('week'))?.lastStop).toBe('late');
    await api.close();
    await store.close();
  });
});
