import type { Campaign } from '../config/campaign.js';
import { formatDuration } from '../core/duration.js';
import { pacedRatePerMinute, protectedEtaAt, protectionLines } from '../send/eta.js';
import type { QuotaUsage } from './quota.js';
import { DEFAULT_WINDOW_TIMEZONE, type Schedule } from './schema.js';
import { etaWithWindow, formatInstant, formatWindow, scheduledStart } from './window.js';

/** What `validate` (and `status`) show about a campaign's schedule, as fields and as printable lines. */
export interface ScheduleDescription {
  /** When sending starts: `start_at`, or now when there is none. */
  startsAt: number;
  /** The first window opening at or after the start (what lateness is measured from). */
  firstSendAt: number;
  window: string | null;
  endAt: number | null;
  /** When the last message should leave, accounting for the window. */
  etaAt: number;
  /** `etaAt - startsAt`: how long the sending takes, waits for the window included. */
  durationMs: number;
  /** False when the ETA falls after `end_at`: the rest would expire. */
  finishesBeforeEnd: boolean;
  quota: { used: number; quota: number; remaining: number; month: string; fits: boolean } | null;
  /** Human lines, e.g. `Window: 08:00–20:00 Asia/Jakarta, mon–sat`. */
  lines: string[];
}

/**
 * Describes when a campaign with `sendableCount` messages will be sent: start, window, deadline, ETA with the
 * window, lateness limit, and (given the project's usage) whether it fits in the monthly quota. Pure: pass `now`.
 */
export function describeSchedule(
  campaign: { schedule: Schedule | undefined; ratePerMinute: number } & Partial<Pick<Campaign, 'device' | 'devices' | 'pacing' | 'limits'>>,
  sendableCount: number,
  now: number,
  quota?: QuotaUsage,
): ScheduleDescription {
  const schedule = campaign.schedule;
  const zone = schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE;
  const startsAt = Math.max(now, schedule?.startAt ?? now);
  const firstSendAt = schedule ? Math.max(now, scheduledStart(schedule) ?? now) : now;
  // Issue 12: pacing slows the pace, daily caps spread it over days.
  const protectedCampaign = { device: '', ...campaign };
  const rate = Math.round(pacedRatePerMinute(protectedCampaign) * 10) / 10;
  const etaAt = campaign.pacing || campaign.limits ? protectedEtaAt(sendableCount, protectedCampaign, now) : etaWithWindow(sendableCount, campaign.ratePerMinute, schedule, now);
  const endAt = schedule?.endAt ?? null;
  const lines: string[] = [];
  if (!schedule) {
    lines.push('Schedule: none (sends as soon as it is run).');
  } else {
    if (schedule.startAt !== undefined) {
      lines.push(
        `Start: ${formatInstant(schedule.startAt, zone)}` +
          (schedule.startAt > now ? ` (in ${formatDuration(schedule.startAt - now)})` : ' (already passed)'),
      );
    }
    if (schedule.window) lines.push(`Window: ${formatWindow(schedule.window)}`);
    if (endAt !== null) lines.push(`End: ${formatInstant(endAt, zone)}${endAt <= now ? ' (already passed: the rest would expire at once)' : ''}`);
    if (schedule.maxLatenessMs !== undefined) {
      lines.push(`Max lateness: ${formatDuration(schedule.maxLatenessMs)} (a first run later than that after the start refuses to send)`);
    }
  }
  lines.push(...protectionLines(protectedCampaign));
  const finishesBeforeEnd = endAt === null || etaAt <= endAt;
  if (sendableCount > 0) {
    const span = etaAt - startsAt;
    lines.push(
      `ETA: last message ${Number.isFinite(etaAt) ? formatInstant(etaAt, zone) : 'never (the window never opens)'}` +
        (Number.isFinite(span) ? `, ${formatDuration(span)} after the start` : '') +
        (schedule?.window ? ` at ${rate}/min inside the window` : ` at ${rate}/min`) +
        (campaign.limits ? ' within the daily caps' : '') +
        (schedule?.window?.timezoneColumn !== undefined ? " (estimated in the window's zone; recipients' zones shift it)" : '') +
        '.',
    );
    if (!finishesBeforeEnd) lines.push('Warning: it does not finish before end_at; what is not sent by then expires.');
  }
  let quotaFit: ScheduleDescription['quota'] = null;
  if (quota && startsAt >= quota.resetsAt) {
    // It starts in a later quota month: what was used this month does not count against it.
    const fits = sendableCount <= quota.quota;
    quotaFit = { used: 0, quota: quota.quota, remaining: quota.quota, month: 'later', fits };
    lines.push(
      `Quota: it starts after the current month (${quota.month}, ${quota.timezone}) ends; ${sendableCount.toLocaleString('en-US')} message(s) ` +
        (fits ? `fit in a monthly quota of ${quota.quota.toLocaleString('en-US')}.` : `do NOT fit in a monthly quota of ${quota.quota.toLocaleString('en-US')}.`),
    );
  } else if (quota) {
    const fits = sendableCount <= quota.remaining;
    quotaFit = { used: quota.used, quota: quota.quota, remaining: quota.remaining, month: quota.month, fits };
    lines.push(
      `Quota ${quota.month} (${quota.timezone}): ${quota.used.toLocaleString('en-US')} of ${quota.quota.toLocaleString('en-US')} used, ` +
        `${quota.remaining.toLocaleString('en-US')} left: ` +
        (fits
          ? `the ${sendableCount.toLocaleString('en-US')} message(s) fit.`
          : `the ${sendableCount.toLocaleString('en-US')} message(s) do NOT fit; the run stops cleanly after ${quota.remaining.toLocaleString('en-US')} (exit 4) and resumes after the quota resets (${formatInstant(quota.resetsAt, quota.timezone)}) or is raised.`),
    );
  }
  return {
    startsAt,
    firstSendAt,
    window: schedule?.window ? formatWindow(schedule.window) : null,
    endAt,
    etaAt,
    durationMs: etaAt - startsAt,
    finishesBeforeEnd,
    quota: quotaFit,
    lines,
  };
}
