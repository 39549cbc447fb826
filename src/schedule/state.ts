import type { CampaignCounts, CampaignRecord, Lease } from '../store/types.js';
import type { Schedule } from './schema.js';
import { formatInstant, windowAt } from './window.js';

/** A campaign's state as `list` and `status` show it. */
export type CampaignState =
  | 'planned' // planned, nothing sent yet, no schedule holding it
  | 'waiting' // before start_at
  | 'running' // a live process holds its run lock
  | 'paused-window' // outside its send window
  | 'stopped-quota' // the monthly quota stopped it (local pre-flight or the API's 403)
  | 'stopped-auth' // the API refused the credentials
  | 'stopped-limit' // --limit reached, more to send
  | 'refused-late' // max_lateness refused the first run
  | 'stopped-health' // the delivery-health breaker stopped it (issue 12)
  | 'stopped-devices' // every device left the rotation (issue 12)
  | 'paused-caps' // every device reached its daily cap, with --no-wait (issue 12)
  | 'interrupted' // a signal or a crash stopped it midway
  | 'done' // nothing left to send
  | 'expired'; // end_at passed with messages unsent

/** What is known about a campaign, for deciding its state. */
export interface CampaignStateInput {
  record: CampaignRecord;
  counts: CampaignCounts;
  lease: Lease | undefined;
  /** Whether the lease's holder is alive: heartbeat fresh (and its process exists, when on this host). */
  leaseLive: boolean;
  /** From the campaign file, when it can still be read. */
  schedule: Schedule | undefined;
  now: number;
}

/** The state and a short detail, e.g. `{ state: 'waiting', detail: 'starts Sat 5 Dec 2026 09:00 …' }`. */
export function campaignState(input: CampaignStateInput): { state: CampaignState; detail: string } {
  const { record, counts, lease, leaseLive, schedule, now } = input;
  const pending = counts.byState.planned + counts.byState.sending;
  const zone = schedule?.window?.timezone ?? 'Asia/Jakarta';
  if (lease && leaseLive) {
    const waiting = schedule?.startAt !== undefined && now < schedule.startAt;
    return { state: 'running', detail: `pid ${lease.pid} on ${lease.host}${waiting ? ', waiting for start_at' : ''}` };
  }
  if (record.planComplete && pending === 0 && counts.total > 0) {
    if (counts.byState.expired > 0) return { state: 'expired', detail: `${counts.byState.expired} expired at end_at` };
    return { state: 'done', detail: record.finishedAt !== null ? `finished ${formatInstant(record.finishedAt, zone)}` : 'nothing left to send' };
  }
  if (schedule?.endAt !== undefined && now >= schedule.endAt) {
    return { state: 'expired', detail: `end_at passed; ${pending} unsent expire on the next run` };
  }
  switch (record.lastStop) {
    case 'quota':
      return { state: 'stopped-quota', detail: 'monthly quota reached; resumes when it resets or is raised' };
    case 'auth':
      return { state: 'stopped-auth', detail: 'the API refused the credentials' };
    case 'late':
      return { state: 'refused-late', detail: 'started later than max_lateness; move start_at to send it' };
    case 'limit':
      return { state: 'stopped-limit', detail: `--limit reached; ${pending} left` };
    case 'health':
      return {
        state: 'stopped-health',
        detail: `the delivery-health breaker stopped it${record.lastStopDetail ? ` (${record.lastStopDetail})` : ''}: check the devices and the list, then run again (or --ignore-health)`,
      };
    case 'devices':
      return {
        state: 'stopped-devices',
        detail: `no device was left to send through${record.lastStopDetail ? ` (${record.lastStopDetail})` : ''}: fix the devices, then run again`,
      };
    case 'caps':
      return { state: 'paused-caps', detail: `every device reached its daily cap; ${pending} left for the next days` };
  }
  if (schedule?.startAt !== undefined && now < schedule.startAt) {
    return { state: 'waiting', detail: `starts ${formatInstant(schedule.startAt, zone)}` };
  }
  if (schedule?.window && schedule.window.timezoneColumn === undefined) {
    const w = windowAt(now, schedule.window);
    if (!w.open) return { state: 'paused-window', detail: `window opens ${formatInstant(w.opensAt, zone)}` };
  }
  if (record.lastStop === 'window') return { state: 'paused-window', detail: "outside the remaining recipients' windows" };
  if (lease || record.lastStop === 'interrupted' || !record.planComplete) {
    return { state: 'interrupted', detail: lease ? `its process (pid ${lease.pid} on ${lease.host}) is gone` : 'stopped midway; run it again to resume' };
  }
  if (record.firstSendAt === null) return { state: 'planned', detail: `${pending} to send` };
  return { state: 'interrupted', detail: `${pending} left; run it again to resume` };
}

/** The most recent thing that happened to a campaign (a send, a heartbeat, any update). */
export function lastActivity(record: CampaignRecord, lease: Lease | undefined): number {
  return Math.max(record.updatedAt, record.lastSendAt ?? 0, lease?.heartbeatAt ?? 0);
}
