import { campaignDevices, type Campaign } from '../config/campaign.js';
import { formatDuration } from '../core/duration.js';
import { DEFAULT_WINDOW_TIMEZONE } from '../schedule/schema.js';
import { etaWithWindow } from '../schedule/window.js';
import { capFor, localDay, nextLocalMidnight } from './caps.js';

/** What the ETA needs of a campaign. */
export type EtaCampaign = Pick<Campaign, 'ratePerMinute' | 'schedule' | 'device' | 'devices' | 'pacing' | 'limits'>;

/** A device's standing today, from the state database (`Store.deviceDay`); unknown devices count as new. */
export type DeviceUsage = Record<string, { sent: number; firstDay: string | null }>;

/**
 * The pace a campaign can keep: its rate, or with `pacing` the devices' mean gap shared across them, whichever is
 * slower (the rate stays the ceiling).
 */
export function pacedRatePerMinute(c: EtaCampaign): number {
  if (!c.pacing) return c.ratePerMinute;
  const meanGap = (c.pacing.minGapMs + c.pacing.maxGapMs) / 2;
  if (meanGap <= 0) return c.ratePerMinute;
  return Math.min(c.ratePerMinute, (60_000 * campaignDevices(c).length) / meanGap);
}

/**
 * When the last of `count` messages should leave: the send window at the paced rate (see `pacedRatePerMinute`) and,
 * with `limits`, day by day within the devices' daily caps (warm-up included; `usage` says what today already used).
 */
export function protectedEtaAt(count: number, c: EtaCampaign, now: number, usage: DeviceUsage = {}): number {
  const rate = pacedRatePerMinute(c);
  const limits = c.limits;
  if (!limits || (limits.perDevicePerDay === undefined && limits.warmUp.length === 0)) return etaWithWindow(count, rate, c.schedule, now);
  const zone = c.schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE;
  const devices = campaignDevices(c).map((d) => d.code);
  let remaining = Math.max(0, Math.ceil(count));
  let from = Math.max(now, c.schedule?.startAt ?? now);
  if (remaining === 0) return from;
  for (let k = 0; k < 3650; k++) {
    const day = localDay(from, zone);
    let capacity = 0;
    for (const d of devices) {
      const u = usage[d];
      const first = u?.firstDay ?? localDay(Math.max(now, c.schedule?.startAt ?? now), zone);
      const cap = capFor(limits, first, day);
      capacity += Math.max(0, (cap === Infinity ? remaining : cap) - (k === 0 && u ? u.sent : 0));
    }
    const n = Math.min(remaining, capacity);
    const at = n > 0 ? etaWithWindow(n, rate, c.schedule, from) : from;
    remaining -= n;
    if (remaining === 0) return at;
    if (!Number.isFinite(at)) return at;
    from = nextLocalMidnight(from, zone);
  }
  return Number.POSITIVE_INFINITY;
}

/** Lines for `validate` and `status`: the devices, the pacing and the caps, when a campaign has any of them. */
export function protectionLines(c: EtaCampaign): string[] {
  const lines: string[] = [];
  const devices = campaignDevices(c);
  if (devices.length > 1) {
    const weighted = devices.some((d) => d.weight !== 1);
    lines.push(`Devices: ${devices.map((d) => (weighted ? `${d.code} (weight ${d.weight})` : d.code)).join(', ')}; each recipient always goes through the same one.`);
  }
  if (c.pacing) {
    lines.push(
      `Pacing: ${formatDuration(c.pacing.minGapMs)}–${formatDuration(c.pacing.maxGapMs)} between two sends of one device ` +
        `(about ${Math.round(pacedRatePerMinute(c) * 10) / 10}/min over ${devices.length} device${devices.length === 1 ? '' : 's'}; the rate ${c.ratePerMinute}/min stays the ceiling).`,
    );
  }
  const limits = c.limits;
  if (limits && (limits.perDevicePerDay !== undefined || limits.warmUp.length > 0)) {
    const zone = c.schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE;
    lines.push(
      `Daily caps (${zone} days, every campaign of this database): ` +
        (limits.warmUp.length > 0 ? `warm-up ${limits.warmUp.join(', ')} on a device's first days, then ` : '') +
        (limits.perDevicePerDay !== undefined ? `${limits.perDevicePerDay} per device per day.` : 'no cap.'),
    );
  }
  return lines;
}
