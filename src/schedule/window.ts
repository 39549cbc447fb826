import { DateTime } from 'luxon';
import { formatClock, WEEKDAY_SHORT, type Schedule, type SendWindow } from './schema.js';

/** Where `now` stands relative to a window: inside one (`open`), or before the next one. */
export interface WindowState {
  open: boolean;
  /** Start of the current opening (open) or of the next one (closed). */
  opensAt: number;
  /** End of that opening (exclusive). */
  closesAt: number;
}

/** Local wall-clock time `minutes` after midnight of `day` in its zone (1440 = next midnight); DST gaps move forward. */
function atMinutes(day: DateTime, minutes: number): DateTime {
  if (minutes >= 1440) return day.plus({ days: 1 }).startOf('day');
  return day.set({ hour: Math.floor(minutes / 60), minute: minutes % 60, second: 0, millisecond: 0 });
}

/**
 * The opening that contains `now`, or the next one, of `window` read in `zone` (default: the window's own zone).
 * Luxon does the zone arithmetic, so daylight-saving changes and midnight crossings are handled by the calendar,
 * not by offsets.
 */
export function windowAt(now: number, window: SendWindow, zone: string = window.timezone): WindowState {
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const crosses = window.toMinutes <= window.fromMinutes;
  // Yesterday's opening may still be running when the window crosses midnight; eight days cover a whole week.
  for (let offset = -1; offset <= 8; offset++) {
    const day = today.plus({ days: offset });
    if (!window.days.includes(day.weekday as SendWindow['days'][number])) continue;
    const opens = atMinutes(day, window.fromMinutes).toMillis();
    const closes = atMinutes(crosses ? day.plus({ days: 1 }) : day, window.toMinutes).toMillis();
    if (closes <= now || closes <= opens) continue;
    return { open: opens <= now, opensAt: opens, closesAt: closes };
  }
  // Unreachable with at least one day (the schema guarantees it); treat as never open.
  return { open: false, opensAt: Number.MAX_SAFE_INTEGER, closesAt: Number.MAX_SAFE_INTEGER };
}

/** Whether sending is allowed at `now` in `zone` (default: the window's zone). */
export function isOpen(now: number, window: SendWindow, zone?: string): boolean {
  return windowAt(now, window, zone).open;
}

/** `now` when the window is open, else the start of its next opening. */
export function nextOpening(now: number, window: SendWindow, zone?: string): number {
  const state = windowAt(now, window, zone);
  return state.open ? now : state.opensAt;
}

/**
 * When the first message is meant to leave: the first opening at or after `start_at` in the window's zone
 * (recipients' own zones are not considered), or `start_at` itself. Undefined without `start_at`.
 */
export function scheduledStart(schedule: Schedule): number | undefined {
  if (schedule.startAt === undefined) return undefined;
  if (!schedule.window || schedule.window.timezoneColumn !== undefined) return schedule.startAt;
  return nextOpening(schedule.startAt, schedule.window);
}

/**
 * When `count` messages at `ratePerMinute` will have been sent, starting at `now` (or `start_at` if later) and
 * sending only while the window is open (in the window's zone). Without a window it is simply
 * `start + count × 60000 / rate`. `end_at` is not applied: compare the result with it.
 *
 * @example 3,000 messages at 60/min with a daily 30-minute window take two days (1,800 + 1,200).
 */
export function etaWithWindow(count: number, ratePerMinute: number, schedule: Schedule | undefined, now: number): number {
  const spacing = 60_000 / Math.max(ratePerMinute, 1e-9);
  let t = Math.max(now, schedule?.startAt ?? now);
  let remaining = Math.max(0, Math.ceil(count));
  const window = schedule?.window;
  if (remaining === 0) return t;
  if (!window) return t + remaining * spacing;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const state = windowAt(t, window);
    if (state.opensAt === Number.MAX_SAFE_INTEGER) return Number.POSITIVE_INFINITY;
    const from = state.open ? t : state.opensAt;
    // Sends leave at from, from + spacing, …: every one that starts before the window closes.
    const fits = Math.max(0, Math.ceil((state.closesAt - from) / spacing));
    if (remaining <= fits) return from + remaining * spacing;
    remaining -= fits;
    t = state.closesAt;
  }
  return Number.POSITIVE_INFINITY;
}

/** `08:00–20:00 Asia/Jakarta, mon–sat` (or `every day`); `in each recipient's zone` with a timezone column. */
export function formatWindow(window: SendWindow): string {
  const days = formatDays(window.days);
  const hours = window.fromMinutes === 0 && window.toMinutes === 1440 ? 'all day' : `${formatClock(window.fromMinutes)}–${formatClock(window.toMinutes)}`;
  const crosses = window.toMinutes <= window.fromMinutes ? ' (crosses midnight)' : '';
  const zone =
    window.timezoneColumn !== undefined
      ? `in each recipient's zone (column ${window.timezoneColumn}; ${window.timezone} when empty)`
      : window.timezone;
  return `${hours}${crosses} ${zone}, ${days}`;
}

function formatDays(days: readonly number[]): string {
  if (days.length === 7) return 'every day';
  // Collapse runs of consecutive days: mon–fri, sat.
  const runs: string[] = [];
  let i = 0;
  while (i < days.length) {
    let j = i;
    while (j + 1 < days.length && days[j + 1] === days[j]! + 1) j++;
    runs.push(j - i >= 2 ? `${WEEKDAY_SHORT[days[i]!]}–${WEEKDAY_SHORT[days[j]!]}` : days.slice(i, j + 1).map((d) => WEEKDAY_SHORT[d]).join(', '));
    i = j + 1;
  }
  return runs.join(', ');
}

/** `Sat 5 Dec 2026 09:00 Asia/Jakarta (+07:00)`: an instant as a person in `zone` reads it. */
export function formatInstant(ms: number, zone: string = 'Asia/Jakarta'): string {
  const t = DateTime.fromMillis(ms, { zone });
  return `${t.toFormat('ccc d LLL yyyy HH:mm')} ${zone} (${t.toFormat('ZZ')})`;
}
