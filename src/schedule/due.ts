import type { CampaignRecords } from '../core/campaign-records.js';
import type { CampaignRecord } from '../store/types.js';
import type { PendingZones } from './ports.js';
import type { Schedule } from './schema.js';
import { formatInstant, formatWindow, windowAt } from './window.js';

/** What the database knows of a campaign, for deciding whether it is due. */
export interface DueInput {
  schedule: Schedule | undefined;
  /** The stored record; undefined when the campaign never ran. */
  record: CampaignRecord | undefined;
  /** Rows still to send (`planned` + `sending`); undefined when never planned. */
  pending: number | undefined;
  /** Distinct zones of the rows still to send (null: the window's zone), for per-recipient windows. */
  pendingZones?: readonly (string | null)[];
  now: number;
}

/** Whether `due` should run a campaign now, and if not, why and when to look again. */
export type DueDecision =
  | {
      due: true;
      /** `send`: started, inside its window, not finished. `expire`: past `end_at` with rows to expire. */
      action: 'send' | 'expire';
      reason: string;
    }
  | {
      due: false;
      why: 'unscheduled' | 'finished' | 'not-started' | 'outside-window' | 'ended';
      reason: string;
      /** When it becomes due (start or next opening), if known. */
      nextAt: number | null;
    };

/**
 * Decides whether a campaign is due: it has a `schedule`, has started, is inside its window (for per-recipient
 * windows: some remaining recipient's), and is neither finished nor expired. A campaign past `end_at` that still
 * has rows to send is due once more, to expire them under its run lock. Campaigns without a schedule are never
 * due: `due` only sends what was scheduled on purpose.
 */
export function dueDecision(input: DueInput): DueDecision {
  const { schedule, record, pending, now } = input;
  if (!schedule) {
    return { due: false, why: 'unscheduled', reason: 'no schedule key: `due` only runs scheduled campaigns (use `rk-broadcast run`)', nextAt: null };
  }
  const zone = schedule.window?.timezone ?? 'Asia/Jakarta';
  const planned = record?.planComplete === true && pending !== undefined;
  if (planned && pending === 0 && record?.finishedAt !== null && record?.finishedAt !== undefined) {
    return { due: false, why: 'finished', reason: `finished ${formatInstant(record.finishedAt, zone)}`, nextAt: null };
  }
  if (schedule.endAt !== undefined && now >= schedule.endAt) {
    if (planned && pending === 0) {
      return { due: false, why: 'ended', reason: `ended at ${formatInstant(schedule.endAt, zone)}`, nextAt: null };
    }
    return { due: true, action: 'expire', reason: `end_at ${formatInstant(schedule.endAt, zone)} passed: the rest expires` };
  }
  if (schedule.startAt !== undefined && now < schedule.startAt) {
    return { due: false, why: 'not-started', reason: `starts ${formatInstant(schedule.startAt, zone)}`, nextAt: schedule.startAt };
  }
  const window = schedule.window;
  if (window && window.timezoneColumn === undefined) {
    const state = windowAt(now, window);
    if (!state.open) {
      return { due: false, why: 'outside-window', reason: `outside the send window (${formatWindow(window)}); opens ${formatInstant(state.opensAt, zone)}`, nextAt: state.opensAt };
    }
  } else if (window && planned && input.pendingZones !== undefined && input.pendingZones.length > 0) {
    let next = Number.POSITIVE_INFINITY;
    for (const z of input.pendingZones) {
      const state = windowAt(now, window, z ?? window.timezone);
      if (state.open) return { due: true, action: 'send', reason: `inside the send window of recipients in ${z ?? window.timezone}` };
      next = Math.min(next, state.opensAt);
    }
    return {
      due: false,
      why: 'outside-window',
      reason: `outside the send window of every remaining recipient (${formatWindow(window)}); next opens ${formatInstant(next, zone)}`,
      nextAt: Number.isFinite(next) ? next : null,
    };
  }
  return { due: true, action: 'send', reason: schedule.startAt !== undefined ? 'started and inside its window' : 'inside its window' };
}

/** Reads what the database knows of a campaign (record, rows still to send, their zones) and decides with `dueDecision`. */
export async function decideDue(
  store: Pick<CampaignRecords, 'getCampaign' | 'counts'> & PendingZones,
  campaign: { id: string; schedule: Schedule | undefined }, now: number): Promise<DueDecision> {
  const record = await store.getCampaign(campaign.id);
  let pending: number | undefined;
  let pendingZones: (string | null)[] | undefined;
  if (record?.planComplete) {
    const counts = await store.counts(campaign.id);
    pending = counts.byState.planned + counts.byState.sending;
    if (campaign.schedule?.window?.timezoneColumn !== undefined) pendingZones = await store.pendingTimezones(campaign.id);
  }
  return dueDecision({ schedule: campaign.schedule, record, pending, ...(pendingZones ? { pendingZones } : {}), now });
}
