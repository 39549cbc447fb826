import { campaignDevices, type Campaign } from '../config/campaign.js';
import type { Clock } from '../core/clock.js';
import type { RkApi } from '../rk/types.js';
import { DEFAULT_WINDOW_TIMEZONE } from '../schedule/schema.js';
import type { StatusLedger } from '../sweep/ports.js';
import type { DeviceLedger } from './ports.js';
import { DailyCaps } from './caps.js';
import type { WeightedDevice } from './devices.js';
import { HealthMonitor, type HealthEvent } from './health.js';
import type { PacingOptions } from './pacing.js';

/** The sender options that protect the sending number (issue 12), as a campaign file asks for them. */
export interface Protection {
  devices: WeightedDevice[];
  pacing?: PacingOptions;
  caps?: DailyCaps;
  health?: HealthMonitor;
}

/**
 * Devices, pacing, daily caps (counted in the schedule's zone, by default Asia/Jakarta) and the delivery-health
 * breaker (unless the campaign says `health: off` or the run `ignoreHealth`) for one run of `campaign`.
 */
export function protectionFor(
  deps: { api: RkApi; store: DeviceLedger & Pick<StatusLedger, 'recordStatus'>; clock: Clock; emit: (event: HealthEvent) => void },
  campaign: Campaign,
  options: { ignoreHealth?: boolean; healthTuning?: { checkEveryMs?: number; ratePerMinute?: number } },
): Protection {
  const out: Protection = { devices: campaignDevices(campaign) };
  if (campaign.pacing) out.pacing = campaign.pacing;
  const limits = campaign.limits;
  if (limits && (limits.perDevicePerDay !== undefined || limits.warmUp.length > 0)) {
    out.caps = new DailyCaps(deps.store, {
      perDevicePerDay: limits.perDevicePerDay,
      warmUp: limits.warmUp,
      timezone: campaign.schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE,
    });
  }
  if (campaign.health && !options.ignoreHealth) {
    out.health = new HealthMonitor(deps, { ...campaign.health, ...options.healthTuning });
  }
  return out;
}
