import { DateTime } from 'luxon';
import type { DeviceLedger } from './ports.js';

/** `limits: { per_device_per_day, warm_up }`. */
export interface CapsOptions {
  /** Messages per device per local day once warmed up; undefined: no cap after the warm-up. */
  perDevicePerDay: number | undefined;
  /** Caps of a device's first days in this database (day 1, day 2, ...). */
  warmUp: readonly number[];
  /** IANA zone whose days count (the schedule's). @default 'Asia/Jakarta' */
  timezone: string;
}

/** The count limit used when no cap applies (fits PostgreSQL's integer). */
const UNCAPPED = 2_000_000_000;

/** The local day (`YYYY-MM-DD`) of an instant in a zone. */
export function localDay(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toISODate()!;
}

/** The next local midnight after `ms` in `zone`, in ms since the epoch. */
export function nextLocalMidnight(ms: number, zone: string): number {
  return DateTime.fromMillis(ms, { zone }).startOf('day').plus({ days: 1 }).toMillis();
}

/** Whole local days from `fromDay` to `toDay` (both `YYYY-MM-DD`). */
function daysBetween(fromDay: string, toDay: string): number {
  return Math.round(DateTime.fromISO(toDay, { zone: 'UTC' }).diff(DateTime.fromISO(fromDay, { zone: 'UTC' }), 'days').days);
}

/**
 * The cap of a device on a local day: `warm_up[n]` on the n-th day (0-based) since the first day this database
 * counted a send through the device (today is day 0 for a device never used), then `per_device_per_day`.
 * Infinity when neither applies.
 */
export function capFor(options: Pick<CapsOptions, 'perDevicePerDay' | 'warmUp'>, firstDay: string | null, day: string): number {
  const index = firstDay === null ? 0 : Math.max(0, daysBetween(firstDay, day));
  if (index < options.warmUp.length) return options.warmUp[index]!;
  return options.perDevicePerDay ?? Infinity;
}

/**
 * Daily caps per device, counted in the state database across every campaign (`Store.reserveDeviceDay`). A send
 * reserves one count before it leaves and gives it back when the message was not created, like the monthly budget.
 */
export class DailyCaps {
  constructor(
    private readonly store: Pick<DeviceLedger, 'deviceDay' | 'reserveDeviceDay' | 'releaseDeviceDay'>,
    readonly options: CapsOptions,
  ) {}

  /** Counts one send through `device` today; undefined when its cap is reached, else the day to release it on. */
  async reserve(device: string, now: number): Promise<string | undefined> {
    const day = localDay(now, this.options.timezone);
    const { firstDay } = await this.store.deviceDay(device, day);
    const cap = capFor(this.options, firstDay, day);
    // Counted even without a cap (after the warm-up), so every device's days stay known.
    return (await this.store.reserveDeviceDay(device, day, Math.min(cap, UNCAPPED))) ? day : undefined;
  }

  /** Gives back a reservation whose message was not created. */
  async release(device: string, day: string): Promise<void> {
    await this.store.releaseDeviceDay(device, day);
  }

  /** The local day of `now` (`YYYY-MM-DD`). */
  today(now: number): string {
    return localDay(now, this.options.timezone);
  }

  /** When the next local day begins. */
  nextDayAt(now: number): number {
    return nextLocalMidnight(now, this.options.timezone);
  }
}
