import type Handlebars from 'handlebars';
import { DateTime } from 'luxon';
import { groupIdInteger } from './grouping.js';

/**
 * The template helpers marketing needs, registered on a private Handlebars instance (never the global one).
 * Values come from CSV cells, so every helper takes strings and either returns text or throws `HelperValueError`,
 * which turns the row invalid with the helper and the variable named; a helper never crashes a run.
 *
 * | helper | example | output |
 * |---|---|---|
 * | `default` | `{{default nickname "Kak"}}` | the value, or the first non-empty fallback |
 * | `titleCase` | `{{titleCase name}}` | `budi SANTOSO` → `Budi Santoso` |
 * | `upper` / `lower` | `{{upper kota}}` | `BANDUNG` / `bandung` |
 * | `idr` | `{{idr amount}}` | `1250000` → `Rp 1.250.000` |
 * | `number` | `{{number qty}}`, `{{number score 1}}` | `1250` → `1.250`; optional max. decimals (default 2) |
 * | `date` | `{{date due "d MMMM yyyy"}}` | `2026-12-05` → `5 Desember 2026` (luxon tokens, locale id) |
 * | `pick` | `{{pick "Halo" "Hai" "Selamat siang"}}` | one of its arguments, chosen per recipient (see `pickIndex`) |
 *
 * Numbers are plain: digits with an optional `.` decimal point and sign (`1250000`, `-3.5`); `1.250.000` or
 * `1,250` are refused rather than guessed. Dates are ISO 8601 (`2026-12-05`, `2026-12-05T09:00:00+07:00`); a
 * time with an offset keeps that offset.
 */
export const HELPER_NAMES = ['default', 'titleCase', 'upper', 'lower', 'idr', 'number', 'date', 'pick'] as const;
/** One of the helpers above. */
export type HelperName = (typeof HELPER_NAMES)[number];

/** Block helpers allowed in templates (Handlebars built-ins). */
export const BLOCK_HELPERS = ['if', 'unless'] as const;

/** A value a helper cannot format. `argIndex` says which argument (0 = first) was at fault. */
export class HelperValueError extends Error {
  constructor(
    message: string,
    readonly argIndex = 0,
  ) {
    super(message);
    this.name = 'HelperValueError';
  }
}

/** Where a helper failed, as the renderer needs it to name the variable: the call's position in the template. */
export class HelperCallError extends Error {
  constructor(
    readonly helper: string,
    readonly problem: string,
    readonly argIndex: number,
    readonly loc: { line: number; column: number } | undefined,
  ) {
    super(`${helper}: ${problem}`);
    this.name = 'HelperCallError';
  }
}

/** The default `date` format: `5 Desember 2026`. */
export const DEFAULT_DATE_FORMAT = 'd MMMM yyyy';
const LOCALE = 'id-ID';
const PLAIN_NUMBER = /^[+-]?\d+(?:\.\d+)?$/;
const wholeNumbers = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const numberFormats = new Map<number, Intl.NumberFormat>();

function numberFormat(maxDecimals: number): Intl.NumberFormat {
  let format = numberFormats.get(maxDecimals);
  if (!format) {
    format = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: maxDecimals });
    numberFormats.set(maxDecimals, format);
  }
  return format;
}

/** Handlebars passes an options object as the last argument of every helper call. */
interface HelperOptions {
  loc?: { start: { line: number; column: number } };
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}

function parsePlainNumber(value: unknown, argIndex = 0): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  const s = text(value).trim();
  if (s === '') throw new HelperValueError('no value to format as a number', argIndex);
  if (!PLAIN_NUMBER.test(s)) {
    throw new HelperValueError(
      `${JSON.stringify(s)} is not a plain number (write digits with an optional . for decimals and no thousand separators, e.g. 1250000)`,
      argIndex,
    );
  }
  return Number(s);
}

/** Title case for names: every word's first letter upper case, the rest lower case (`budi SANTOSO` → `Budi Santoso`). */
export function titleCase(value: string): string {
  return value.toLocaleLowerCase(LOCALE).replace(/(^|[\s\-/(])(\p{L})/gu, (_m, sep: string, letter: string) => sep + letter.toLocaleUpperCase(LOCALE));
}

/** Formats rupiah: `Rp 1.250.000` (no decimals; rupiah has no coins in use). */
export function formatIdr(value: unknown): string {
  const n = parsePlainNumber(value);
  return 'Rp ' + (groupIdInteger(n) ?? wholeNumbers.format(n));
}

/** Formats a number the Indonesian way: `1.250`, `3,5`. */
export function formatNumber(value: unknown, maxDecimals = 2): string {
  return numberFormat(maxDecimals).format(parsePlainNumber(value));
}

// luxon parsing and formatting costs ~10 µs; campaigns repeat few dates (due dates, event days), so results are
// cached per (value, format), bounded so a column of unique timestamps cannot grow it without limit.
const dateCache = new Map<string, string>();
const DATE_CACHE_LIMIT = 10_000;

/** Formats an ISO date with luxon tokens in Indonesian: `5 Desember 2026`. */
export function formatDate(value: unknown, format: string = DEFAULT_DATE_FORMAT): string {
  const s = text(value).trim();
  if (s === '') throw new HelperValueError('no date to format');
  const key = format + '\u0000' + s;
  const cached = dateCache.get(key);
  if (cached !== undefined) return cached;
  const formatted = formatDateUncached(s, format);
  if (dateCache.size >= DATE_CACHE_LIMIT) dateCache.clear();
  dateCache.set(key, formatted);
  return formatted;
}

function formatDateUncached(s: string, format: string): string {
  // Date-only values are read in UTC and printed in UTC, so the machine's zone never shifts the day; values with
  // an offset keep it.
  const date = DateTime.fromISO(s, { zone: 'utc', setZone: true, locale: 'id' });
  if (!date.isValid) {
    throw new HelperValueError(`${JSON.stringify(s)} is not an ISO date (expected yyyy-mm-dd, e.g. 2026-12-05)`);
  }
  return date.toFormat(format);
}

type HelperImpl = (args: unknown[]) => string;

const IMPLEMENTATIONS: Record<HelperName, HelperImpl> = {
  default: (args) => {
    for (const arg of args) {
      const s = text(arg).trim();
      if (s !== '') return s;
    }
    throw new HelperValueError(args.length > 1 ? 'the value and every fallback are empty' : 'no value and no fallback');
  },
  titleCase: ([value]) => titleCase(text(value)),
  upper: ([value]) => text(value).toLocaleUpperCase(LOCALE),
  lower: ([value]) => text(value).toLocaleLowerCase(LOCALE),
  idr: ([value]) => formatIdr(value),
  number: ([value, decimals]) => {
    if (decimals === undefined) return formatNumber(value);
    const n = parsePlainNumber(decimals, 1);
    if (!Number.isInteger(n) || n < 0 || n > 10) throw new HelperValueError('decimals must be a whole number from 0 to 10', 1);
    return formatNumber(value, n);
  },
  date: ([value, format]) => formatDate(value, format === undefined ? DEFAULT_DATE_FORMAT : text(format)),
  // Replaced at registration: `pick` also needs its call position (see registerMessageHelpers).
  pick: (args) => text(args[0]),
};

/**
 * The seed of the row being rendered: its request id. Rendering is synchronous, so the renderer sets it right
 * before it calls the template and every `pick` of that render reads it (see `withPickSeed`).
 */
let pickSeed = '';

/** Runs `render` with `seed` as the seed of every `pick` in it. */
export function withPickSeed<T>(seed: string, render: () => T): T {
  const previous = pickSeed;
  pickSeed = seed;
  try {
    return render();
  } finally {
    pickSeed = previous;
  }
}

/**
 * Which of `choices` choices a `pick` makes: a pure function of the row's seed (its request id, itself a function
 * of the campaign id and the number) and the call's position, so a resend after a crash, a replan, or the same
 * campaign run against another database writes the same text, while several `pick`s in one template choose
 * independently. FNV-1a, then a final avalanche so neighbouring positions do not correlate.
 */
export function pickIndex(seed: string, line: number, column: number, choices: number): number {
  let h = 0x811c9dc5;
  const key = `${seed}\n${line}:${column}`;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % choices;
}

/**
 * Registers the helpers on `hb` (a `Handlebars.create()` instance) and removes `log`, which would print.
 * Each helper reports failures as `HelperCallError` carrying the call's template position.
 */
export function registerMessageHelpers(hb: typeof Handlebars): void {
  hb.unregisterHelper('log');
  for (const name of HELPER_NAMES) {
    const impl = IMPLEMENTATIONS[name];
    hb.registerHelper(name, function (this: unknown, ...argsAndOptions: unknown[]): string {
      const options = argsAndOptions[argsAndOptions.length - 1] as HelperOptions;
      const args = argsAndOptions.slice(0, -1);
      try {
        if (name === 'pick') {
          const at = options.loc?.start ?? { line: 0, column: 0 };
          return text(args[pickIndex(pickSeed, at.line, at.column, args.length)]);
        }
        return impl(args);
      } catch (err) {
        const loc = options.loc?.start;
        if (err instanceof HelperValueError) throw new HelperCallError(name, err.message, err.argIndex, loc);
        throw new HelperCallError(name, err instanceof Error ? err.message : String(err), 0, loc);
      }
    });
  }
}
