import { parseDurationText } from '../core/duration.js';
import { DateTime, Duration, IANAZone } from 'luxon';
import { z } from 'zod';
import { didYouMean } from '../config/schema-errors.js';

/** ISO weekday as luxon numbers it: 1 = Monday … 7 = Sunday. */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** The zone windows use when the campaign names none: the provider's (and most recipients') time. */
export const DEFAULT_WINDOW_TIMEZONE = 'Asia/Jakarta';

/**
 * When sending is allowed, in local time of a zone. A window opens on each listed day at `fromMinutes` and closes
 * at `toMinutes` the same day, or the next day when `toMinutes <= fromMinutes` (it crosses midnight): with
 * `days: [fri]`, `from: 22:00`, `to: 02:00`, Friday 22:00 to Saturday 02:00 is open, Saturday 22:00 is not.
 */
export interface SendWindow {
  /** IANA zone the window is read in (canonical spelling). @default 'Asia/Jakarta' */
  timezone: string;
  /** Days a window opens on, ascending, without duplicates. @default every day */
  days: readonly Weekday[];
  /** Opening, minutes after local midnight (0–1439). @default 0 */
  fromMinutes: number;
  /** Closing, minutes after local midnight (1–1440; 1440 is the next midnight). @default 1440 */
  toMinutes: number;
  /** CSV column holding each recipient's own IANA zone; the window then applies in that zone. */
  timezoneColumn: string | undefined;
}

/** A campaign's parsed `schedule` key. Every time is in ms since the epoch. */
export interface Schedule {
  /** Nothing is sent before this. */
  startAt: number | undefined;
  /** The deadline: at it sending stops and unsent rows become `expired`. */
  endAt: number | undefined;
  /** A first run later than this after the scheduled start refuses to send. */
  maxLatenessMs: number | undefined;
  window: SendWindow | undefined;
}

const DAY_NAMES: Record<string, Weekday> = {
  mon: 1,
  monday: 1,
  tue: 2,
  tues: 2,
  tuesday: 2,
  wed: 3,
  wednesday: 3,
  thu: 4,
  thur: 4,
  thurs: 4,
  thursday: 4,
  fri: 5,
  friday: 5,
  sat: 6,
  saturday: 6,
  sun: 7,
  sunday: 7,
};

/** Short day names, by weekday number (index 0 unused). */
export const WEEKDAY_SHORT = ['', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;


/**
 * Parses `2h`, `90m`, `1h30m`, `1d`, `45s` (the campaign file's duration syntax) or an ISO 8601 duration
 * (`PT2H`) into milliseconds. Throws RangeError for anything else.
 */
export function parseScheduleDuration(text: string): number {
  const s = text.trim();
  if (/^P/i.test(s)) {
    const iso = Duration.fromISO(s.toUpperCase());
    // Months and years have no fixed length, so they are refused.
    if (iso.isValid && iso.years === 0 && iso.months === 0 && iso.quarters === 0) return Math.round(iso.as('milliseconds'));
  } else {
    const ms = parseDurationText(s);
    if (ms !== undefined) return ms;
  }
  throw new RangeError(`"${text}" is not a duration: expected e.g. 30m, 2h, 1h30m, 1d or PT2H`);
}

/** The canonical spelling of an IANA zone (`asia/jakarta` → `Asia/Jakarta`), or undefined when unknown. */
export function canonicalZone(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '' || !IANAZone.isValidZone(trimmed)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

let knownZones: readonly string[] | undefined;
function zoneSuggestion(name: string): string {
  knownZones ??= [...Intl.supportedValuesOf('timeZone'), 'UTC'];
  const guess = didYouMean(name.trim(), knownZones);
  return guess ? ` (did you mean ${guess}?)` : '';
}

/** Parses `HH:MM` (24-hour; `24:00` only when `allowEndOfDay`) into minutes after midnight. */
export function parseClock(text: string, allowEndOfDay: boolean): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const hours = Number(m[1]);
  const minutes = Number(m[2]);
  if (minutes > 59) return undefined;
  if (hours === 24 && minutes === 0 && allowEndOfDay) return 1440;
  if (hours > 23) return undefined;
  return hours * 60 + minutes;
}

/** Formats minutes after midnight as `HH:MM`. */
export function formatClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The result of reading a time with an offset or a zone. */
type ParsedInstant = { ok: true; ms: number } | { ok: false; problem: string };

const OFFSET_AT_END = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * Reads `2026-12-05T09:00:00+07:00`, `2026-12-05T09:00Z`, `2026-12-05T09:00 Asia/Jakarta` or
 * `2026-12-05T09:00[Asia/Jakarta]`. A time without an offset or a zone is refused: it would mean a different
 * instant on every server.
 */
export function parseInstant(text: string): ParsedInstant {
  const s = text.trim();
  const zoned = /^(.+?)(?:\s*\[([^\]]+)\]|\s+([A-Za-z][A-Za-z0-9_+\-]*(?:\/[A-Za-z0-9_+\-]+)*))$/.exec(s);
  let isoPart = s;
  let zone: string | undefined;
  if (zoned && /\d/.test(zoned[1]!.slice(-1)) && (zoned[2] !== undefined || zoned[3] !== 'Z')) {
    isoPart = zoned[1]!.trim();
    const named = (zoned[2] ?? zoned[3])!;
    zone = canonicalZone(named);
    if (zone === undefined) {
      return { ok: false, problem: `"${named}" is not an IANA time zone${zoneSuggestion(named)}` };
    }
  }
  const hasOffset = /T/i.test(isoPart) && OFFSET_AT_END.test(isoPart);
  if (zone === undefined && !hasOffset) {
    return { ok: false, problem: 'it has no offset or zone, so it would mean a different moment on every server' };
  }
  const parsed = zone !== undefined && !hasOffset ? DateTime.fromISO(isoPart, { zone }) : DateTime.fromISO(isoPart, { setZone: true });
  if (!parsed.isValid) return { ok: false, problem: `not a valid ISO 8601 date and time (${parsed.invalidExplanation ?? parsed.invalidReason})` };
  return { ok: true, ms: parsed.toMillis() };
}

const INSTANT_EXPECTED =
  'expected an ISO 8601 time with an offset or a zone, e.g. 2026-12-05T09:00:00+07:00 or 2026-12-05T09:00 Asia/Jakarta';

const instantText = () =>
  z.string(INSTANT_EXPECTED).superRefine((value, ctx) => {
    const r = parseInstant(value);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `${INSTANT_EXPECTED}; ${r.problem}` });
  });

const zoneText = () =>
  z.string('expected an IANA time zone such as Asia/Jakarta').superRefine((value, ctx) => {
    if (canonicalZone(value) === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected an IANA time zone such as Asia/Jakarta or Europe/London${zoneSuggestion(value)}` });
    }
  });

const clockText = (allowEndOfDay: boolean) => {
  const expected = `expected a local time HH:MM (24-hour${allowEndOfDay ? ', up to 24:00' : ''}), e.g. ${allowEndOfDay ? '20:00' : '08:00'}`;
  return z.string(expected).refine((v) => parseClock(v, allowEndOfDay) !== undefined, expected);
};

const DAYS_EXPECTED = 'expected a list of days such as [mon, tue, wed, thu, fri] (ranges like mon-fri work too)';

/** Expands `mon`, `Friday`, `mon-fri` (wrapping: `fri-mon`) into weekday numbers; undefined for a bad name. */
function expandDay(item: string): Weekday[] | undefined {
  const parts = item.trim().toLowerCase().split(/\s*[-–]\s*/);
  if (parts.length === 1) {
    const d = DAY_NAMES[parts[0]!];
    return d === undefined ? undefined : [d];
  }
  if (parts.length !== 2) return undefined;
  const a = DAY_NAMES[parts[0]!];
  const b = DAY_NAMES[parts[1]!];
  if (a === undefined || b === undefined) return undefined;
  const out: Weekday[] = [];
  for (let d = a; ; d = ((d % 7) + 1) as Weekday) {
    out.push(d);
    if (d === b) break;
  }
  return out;
}

const daysList = () =>
  z
    .preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
      z.array(z.string(DAYS_EXPECTED), DAYS_EXPECTED).min(1, 'expected at least one day, e.g. [mon, tue, wed, thu, fri]'),
    )
    .superRefine((days, ctx) => {
      days.forEach((day, i) => {
        if (expandDay(day) === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            input: day,
            message: `expected a day name: mon, tue, wed, thu, fri, sat or sun (or a range such as mon-fri)${dayHint(day)}`,
          });
        }
      });
    });

function dayHint(day: string): string {
  const guess = didYouMean(day.trim().toLowerCase(), Object.keys(DAY_NAMES));
  return guess ? ` (did you mean ${guess}?)` : '';
}

const WindowShape = {
  timezone: zoneText().optional(),
  days: daysList().optional(),
  from: clockText(false).optional(),
  to: clockText(true).optional(),
  timezone_column: z
    .string('expected the header name of the CSV column holding each recipient\'s IANA time zone')
    .trim()
    .min(1, 'expected the header name of the CSV column holding each recipient\'s IANA time zone')
    .optional(),
};

const WindowSchema = z
  .strictObject(WindowShape, 'expected an object with timezone, days, from, to (and optionally timezone_column)')
  .superRefine((w, ctx) => {
    if ((w.from === undefined) !== (w.to === undefined)) {
      const missing = w.from === undefined ? 'from' : 'to';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        input: undefined,
        message: `expected both from and to (a window needs an opening and a closing time; leave both out for all day)`,
      });
      return;
    }
    if (w.from !== undefined && w.to !== undefined) {
      const from = parseClock(w.from, false);
      const to = parseClock(w.to, true);
      if (from !== undefined && to !== undefined && from === to) {
        ctx.addIssue({
          code: 'custom',
          path: ['to'],
          input: w.to,
          message: `expected a closing time different from from (${w.from}): a window from ${w.from} to ${w.to} is empty (for all day use from 00:00 to 24:00; a window may cross midnight, e.g. from 22:00 to 02:00)`,
        });
      }
    }
  });

const ScheduleShape = {
  start_at: instantText().optional(),
  end_at: instantText().optional(),
  max_lateness: z
    .string('expected a duration such as 30m or 2h')
    .refine((v) => {
      try {
        return parseScheduleDuration(v) > 0;
      } catch {
        return false;
      }
    }, 'expected a duration longer than zero, such as 30m, 2h or 1h30m')
    .optional(),
  window: WindowSchema.optional(),
};

/** Keys of `schedule` and `schedule.window`, for "did you mean" suggestions in campaign errors. */
export const SCHEDULE_KEYS: readonly string[] = Object.keys(ScheduleShape);
/** Keys of `schedule.window`. */
export const WINDOW_KEYS: readonly string[] = Object.keys(WindowShape);

/** The `schedule` key as written in a campaign file (snake_case), before it is turned into a `Schedule`. */
export type ScheduleFile = z.input<typeof ScheduleFileSchema>;

const ScheduleFileSchema = z
  .strictObject(ScheduleShape, 'expected an object (see the scheduling documentation)')
  .superRefine((s, ctx) => {
    const start = s.start_at === undefined ? undefined : parseInstant(s.start_at);
    const end = s.end_at === undefined ? undefined : parseInstant(s.end_at);
    if (start?.ok && end?.ok && end.ms <= start.ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['end_at'],
        input: s.end_at,
        message: `expected a time after start_at (${s.start_at}): the campaign would end before it starts`,
      });
    }
    if (s.max_lateness !== undefined && s.start_at === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_lateness'],
        input: s.max_lateness,
        message: 'expected max_lateness only together with start_at (lateness is measured from the scheduled start)',
      });
    }
  });

/**
 * The zod schema of a campaign's `schedule` key. Validates every sub-key (unknown zone, bad day names, `from`
 * equal to `to`, `end_at` before `start_at`, times without an offset or zone) with messages that start with
 * "expected", and turns the result into a `Schedule`.
 */
export const ScheduleSchema = ScheduleFileSchema.transform((s): Schedule => toSchedule(s));

function toSchedule(s: z.output<typeof ScheduleFileSchema>): Schedule {
  const instant = (text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const r = parseInstant(text);
    return r.ok ? r.ms : undefined;
  };
  let window: SendWindow | undefined;
  if (s.window !== undefined) {
    const days = new Set<Weekday>();
    for (const d of s.window.days ?? ['mon-sun']) for (const n of expandDay(d) ?? []) days.add(n);
    window = {
      timezone: canonicalZone(s.window.timezone ?? DEFAULT_WINDOW_TIMEZONE) ?? DEFAULT_WINDOW_TIMEZONE,
      days: [...days].sort((a, b) => a - b),
      fromMinutes: s.window.from === undefined ? 0 : parseClock(s.window.from, false)!,
      toMinutes: s.window.to === undefined ? 1440 : parseClock(s.window.to, true)!,
      timezoneColumn: s.window.timezone_column,
    };
  }
  return {
    startAt: instant(s.start_at),
    endAt: instant(s.end_at),
    maxLatenessMs: s.max_lateness === undefined ? undefined : parseScheduleDuration(s.max_lateness),
    window,
  };
}

/** Parses a `schedule` value outside campaign loading (tests, tools); throws the zod error on a bad value. */
export function parseSchedule(value: unknown): Schedule {
  return ScheduleSchema.parse(value);
}
