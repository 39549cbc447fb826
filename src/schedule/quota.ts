import { DateTime } from 'luxon';
import { ConfigError, type Env } from '../config/env.js';
import type { Clock } from '../core/clock.js';
import type { QuotaLedger } from './ports.js';
import { canonicalZone } from './schema.js';

/** The provider's quota month follows its own time zone (Jakarta, UTC+07:00). */
export const DEFAULT_QUOTA_TIMEZONE = 'Asia/Jakarta';
/** The API's documented default (Starter tier: 3k messages per month). */
export const DEFAULT_MONTHLY_QUOTA = 3000;

/** How the local quota pre-flight counts. */
export interface QuotaSettings {
  /** Messages the project may have accepted per calendar month. @default 3000 */
  monthlyQuota: number;
  /** IANA zone whose calendar months the provider counts in. @default 'Asia/Jakarta' */
  timezone: string;
  /** Where the number came from, for messages: `monthly_quota`, `RK_MONTHLY_QUOTA` or `default`. */
  source: 'monthly_quota' | 'RK_MONTHLY_QUOTA' | 'default';
}

/**
 * The quota settings of a campaign: its `monthly_quota`, else `RK_MONTHLY_QUOTA`, else 3,000; months in
 * `RK_QUOTA_TIMEZONE`, else Asia/Jakarta. Throws ConfigError on a malformed variable. `env` is passed in by the CLI.
 */
export function quotaSettingsFor(env: Env, campaign: { monthlyQuota: number | undefined }): QuotaSettings {
  const zoneText = env.RK_QUOTA_TIMEZONE?.trim();
  const timezone = zoneText ? canonicalZone(zoneText) : DEFAULT_QUOTA_TIMEZONE;
  if (timezone === undefined) {
    throw new ConfigError(
      `RK_QUOTA_TIMEZONE: expected an IANA time zone such as Asia/Jakarta, found "${zoneText}".`,
      'Set it to the provider\'s time zone (Asia/Jakarta for RK Connect) or remove it.',
    );
  }
  if (campaign.monthlyQuota !== undefined) return { monthlyQuota: campaign.monthlyQuota, timezone, source: 'monthly_quota' };
  const envText = env.RK_MONTHLY_QUOTA?.trim();
  if (envText) {
    const n = Number(envText);
    if (!Number.isInteger(n) || n < 0) {
      throw new ConfigError(
        `RK_MONTHLY_QUOTA: expected a whole number of messages per month, e.g. 3000, found "${envText}".`,
        'Set it to the monthly quota of the project (see your RK Connect plan), or remove it for the default 3,000.',
      );
    }
    return { monthlyQuota: n, timezone, source: 'RK_MONTHLY_QUOTA' };
  }
  return { monthlyQuota: DEFAULT_MONTHLY_QUOTA, timezone, source: 'default' };
}

/** A project's use of its monthly quota, as this database knows it. */
export interface QuotaUsage {
  /** `YYYY-MM` in the quota's zone. */
  month: string;
  /** Start of that month, ms since the epoch. */
  monthStart: number;
  /** When the next month starts (the quota resets). */
  resetsAt: number;
  /** Messages of the project accepted this month. */
  used: number;
  quota: number;
  /** `quota - used`, never negative. */
  remaining: number;
  timezone: string;
}

/** The pre-flight answer: does a campaign's pending count fit in what is left? */
export interface QuotaCheck extends QuotaUsage {
  /** Messages this campaign still has to send. */
  pending: number;
  fits: boolean;
}

/** The last month computed per zone: every reserve asks, and luxon's zone arithmetic costs ~2 ms a call. */
const monthCache = new Map<string, { month: string; start: number; end: number }>();

/** The calendar month containing `now` in `zone`. */
export function quotaMonth(now: number, zone: string): { month: string; start: number; end: number } {
  const cached = monthCache.get(zone);
  if (cached && now >= cached.start && now < cached.end) return { ...cached };
  const start = DateTime.fromMillis(now, { zone }).startOf('month');
  const computed = { month: start.toFormat('yyyy-MM'), start: start.toMillis(), end: start.plus({ months: 1 }).toMillis() };
  monthCache.set(zone, computed);
  return { ...computed };
}

/** Reservations of one project shared by every campaign of it in this process. */
export interface QuotaReservations {
  /** Sends allowed and not yet settled. */
  reserved: number;
  /** The store's count, re-read at most every `refreshMs`, and what this process had accepted since. */
  cache?: { used: number; monthStart: number; readAt: number; createdSince: number };
}

/** How long a read of the store's monthly count is reused before asking again (it is a COUNT over the month). */
const REFRESH_MS = 1_000;

/**
 * The local monthly quota of one project: a pre-flight check and the send stage's budget. Each send reserves one
 * message before it leaves and releases it when settled; the used count is read from the store each time, so
 * messages accepted by other campaigns and processes on the same database count too. The API's 403 stays the
 * last line of defence for sends this database cannot see (another tool on the same project).
 */
export class MonthlyQuota {
  constructor(
    private readonly store: QuotaLedger,
    private readonly clock: Clock,
    readonly projectId: string,
    readonly settings: QuotaSettings,
    /** Pass the same object to every campaign of the project run by this process. */
    private readonly reservations: QuotaReservations = { reserved: 0 },
  ) {}

  /** What the project used this month (in the quota's zone). */
  async usage(): Promise<QuotaUsage> {
    const now = this.clock.now();
    const { month, start, end } = quotaMonth(now, this.settings.timezone);
    const used = await this.store.acceptedSince(this.projectId, start);
    return {
      month,
      monthStart: start,
      resetsAt: end,
      used,
      quota: this.settings.monthlyQuota,
      remaining: Math.max(0, this.settings.monthlyQuota - used),
      timezone: this.settings.timezone,
    };
  }

  /** The pre-flight: whether `pending` more messages fit this month. */
  async check(pending: number): Promise<QuotaCheck> {
    const usage = await this.usage();
    return { ...usage, pending, fits: pending <= usage.remaining };
  }

  /** Reserves one message; false when it would go over the quota (the run then stops with `quota`). */
  async reserve(): Promise<boolean> {
    // Count the reservation first, so concurrent callers (other campaigns of this project) see each other.
    this.reservations.reserved++;
    const used = await this.usedNow();
    if (used + this.reservations.reserved > this.settings.monthlyQuota) {
      this.reservations.reserved--;
      return false;
    }
    return true;
  }

  /**
   * The reserved send is settled: `created` when the API accepted it (it now counts as used), false when it did
   * not leave or failed.
   */
  release(created = false): void {
    this.reservations.reserved = Math.max(0, this.reservations.reserved - 1);
    if (created && this.reservations.cache) this.reservations.cache.createdSince++;
  }

  /**
   * Messages of the project accepted this month: the store's count, re-read at most once a second (and at a new
   * month), plus what this process had accepted since the read. Other processes' sends count from the next read.
   */
  private async usedNow(): Promise<number> {
    const now = this.clock.now();
    const { start } = quotaMonth(now, this.settings.timezone);
    const cache = this.reservations.cache;
    if (cache && cache.monthStart === start && now - cache.readAt < REFRESH_MS && now >= cache.readAt) {
      return cache.used + cache.createdSince;
    }
    const used = await this.store.acceptedSince(this.projectId, start);
    this.reservations.cache = { used, monthStart: start, readAt: now, createdSince: 0 };
    return used;
  }
}
