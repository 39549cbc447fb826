import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { campaignDevices, loadCampaign, type Campaign } from '../config/campaign.js';
import { localDay } from '../send/caps.js';
import { protectedEtaAt, type DeviceUsage } from '../send/eta.js';
import { formatDuration } from '../core/duration.js';
import { DEFAULT_LEASE_STALE_MS, processAlive } from '../pipeline/run.js';
import { statusGroup, statusTotals, type StatusGroup } from '../report/status.js';
import { campaignState, lastActivity, type CampaignState } from '../schedule/state.js';
import { DEFAULT_WINDOW_TIMEZONE, type Schedule } from '../schedule/schema.js';
import { etaWithWindow, formatInstant, formatWindow } from '../schedule/window.js';
import type { CampaignCounts, CampaignRecord, Lease } from '../store/types.js';
import type { Store } from '../store/port.js';
import { outLine, type CliIo } from './io.js';
import { formatTotals } from './run-view.js';

/** Everything `list` and `status` show about one stored campaign. */
export interface CampaignOverview {
  id: string;
  name: string;
  state: CampaignState;
  detail: string;
  sourcePath: string;
  /** False when the campaign file is gone or no longer valid (schedule and rate then unknown). */
  fileReadable: boolean;
  counts: {
    total: number;
    sent: number;
    pending: number;
    failed: number;
    notSendable: number;
    expired: number;
    byState: CampaignCounts['byState'];
    byApiStatus: CampaignCounts['byApiStatus'];
  };
  lease: (Lease & { live: boolean }) | null;
  firstSendAt: number | null;
  lastSendAt: number | null;
  finishedAt: number | null;
  lastStop: string | null;
  lastActivityAt: number;
  ratePerMinute: number | null;
  schedule: Schedule | null;
  /** When the pending messages should all be sent, accounting for the window; null when nothing is pending. */
  etaAt: number | null;
}

/**
 * Gathers the overview of one stored campaign: counts, lock, state, and (from its file) schedule and ETA. A lock
 * whose heartbeat is older than `leaseStaleMs` (`RK_LEASE_TIMEOUT`) is shown as stale.
 */
export async function overviewOf(store: Store, record: CampaignRecord, now: number, leaseStaleMs = DEFAULT_LEASE_STALE_MS): Promise<CampaignOverview> {
  const [counts, lease] = await Promise.all([store.counts(record.id), store.getLease(record.id)]);
  let schedule: Schedule | undefined;
  let rate: number | undefined;
  let loaded: Campaign | undefined;
  let fileReadable = false;
  if (existsSync(record.sourcePath)) {
    try {
      const campaign = await loadCampaign(record.sourcePath);
      schedule = campaign.schedule;
      rate = campaign.ratePerMinute;
      loaded = campaign;
      fileReadable = true;
    } catch {
      // The file changed into something invalid: show what the database knows.
    }
  }
  const leaseLive =
    lease !== undefined && now - lease.heartbeatAt < leaseStaleMs && (lease.host !== hostname() || processAlive(lease.pid));
  const { state, detail } = campaignState({ record, counts, lease, leaseLive, schedule, now });
  const b = counts.byState;
  const pending = b.planned + b.sending;
  const totals = statusTotals(counts);
  /** Rows whose report status is in `group` (see `statusGroup`), but for `except`. */
  const inGroup = (group: StatusGroup, except?: string): number =>
    Object.entries(totals).reduce((n, [status, count]) => (statusGroup(status) === group && status !== except ? n + count : n), 0);
  const stillSending = !['done', 'expired', 'refused-late', 'stopped-quota', 'stopped-auth'].includes(state) && pending > 0;
  return {
    id: record.id,
    name: record.name,
    state,
    detail,
    sourcePath: record.sourcePath,
    fileReadable,
    counts: {
      total: counts.total,
      sent: b.accepted,
      pending,
      // Not delivered, for whatever reason: refused, given up, fate unknown, or failed according to the API.
      failed: inGroup('failed'),
      notSendable: inGroup('not_sent', 'expired'),
      expired: b.expired,
      byState: b,
      byApiStatus: counts.byApiStatus,
    },
    lease: lease ? { ...lease, live: leaseLive } : null,
    firstSendAt: record.firstSendAt,
    lastSendAt: record.lastSendAt,
    finishedAt: record.finishedAt,
    lastStop: record.lastStop,
    lastActivityAt: lastActivity(record, lease),
    ratePerMinute: rate ?? null,
    schedule: schedule ?? null,
    etaAt: stillSending && rate !== undefined ? (loaded ? await protectedEta(store, loaded, pending, now) : etaWithWindow(pending, rate, schedule, now)) : null,
  };
}

/** The ETA with pacing and daily caps (issue 12), today's use of each device read from the database. */
async function protectedEta(store: Store, c: Campaign, pending: number, now: number): Promise<number> {
  const usage: DeviceUsage = {};
  if (c.limits) {
    const day = localDay(now, c.schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE);
    for (const d of campaignDevices(c)) usage[d.code] = await store.deviceDay(d.code, day);
  }
  return protectedEtaAt(pending, c, now, usage);
}

/** `3m ago`, `2d04h ago`, or `in 5h03m` for a time still to come. */
export function ago(ms: number, now: number): string {
  if (Math.abs(now - ms) < 1000) return 'just now';
  return ms > now ? `in ${formatDuration(ms - now)}` : `${formatDuration(now - ms)} ago`;
}

/** The table of `rk-broadcast list`, with a detail line for campaigns that need attention (every one with `verbose`). */
export function printCampaignTable(io: CliIo, rows: CampaignOverview[], now: number, verbose: boolean): void {
  const header = ['CAMPAIGN', 'STATE', 'SENT', 'PENDING', 'FAILED', 'SKIPPED', 'EXPIRED', 'LAST ACTIVITY'];
  const cells = rows.map((o) => [
    o.id,
    o.state,
    String(o.counts.sent),
    String(o.counts.pending),
    String(o.counts.failed),
    String(o.counts.notSendable),
    String(o.counts.expired),
    ago(o.lastActivityAt, now),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const line = (c: string[]) => c.map((v, i) => (numeric.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  outLine(io, line(header));
  for (const [i, c] of cells.entries()) {
    outLine(io, line(c));
    const o = rows[i]!;
    if (verbose || ['running', 'waiting', 'paused-window', 'stopped-quota', 'stopped-auth', 'refused-late', 'interrupted', 'stopped-health', 'stopped-devices', 'paused-caps'].includes(o.state)) {
      outLine(io, `  ${o.detail}${o.etaAt !== null ? ` · ETA ${formatInstant(o.etaAt, o.schedule?.window?.timezone)}` : ''}`);
    }
  }
}

/** A campaign file path gives its id (from the file); anything else is taken as the id itself. */
export async function campaignIdOf(arg: string, io: CliIo): Promise<string> {
  const path = resolve(io.cwd, arg);
  if (/\.(ya?ml|json)$/i.test(arg) || (existsSync(path) && statSync(path).isFile())) {
    return (await loadCampaign(path)).id;
  }
  return arg;
}

/** What `rk-broadcast status` prints of one campaign. */
export function printCampaignStatus(io: CliIo, o: CampaignOverview, now: number): void {
  const print = (text: string) => outLine(io, text);
  const zone = o.schedule?.window?.timezone ?? DEFAULT_WINDOW_TIMEZONE;
  const when = (ms: number | null) => (ms === null ? '-' : `${formatInstant(ms, zone)} (${ago(ms, now)})`);
  print(`Campaign ${o.name} (${o.id})`);
  print(`  state:     ${o.state}: ${o.detail}`);
  print(`  file:      ${relative(io.cwd, o.sourcePath) || o.sourcePath}${o.fileReadable ? '' : ' (missing or invalid now: schedule and ETA unknown)'}`);
  print(
    `  messages:  ${o.counts.total} rows · sent ${o.counts.sent} · pending ${o.counts.pending} · failed ${o.counts.failed} · ` +
      `not sendable ${o.counts.notSendable} · expired ${o.counts.expired}`,
  );
  print(`  by status: ${formatTotals({ total: o.counts.total, byState: o.counts.byState, byApiStatus: o.counts.byApiStatus })}`);
  if (o.lease) {
    print(
      `  run lock:  pid ${o.lease.pid} on ${o.lease.host}, heartbeat ${ago(o.lease.heartbeatAt, now)}` +
        (o.lease.live ? '' : ' (stale: the next run takes it over)'),
    );
  }
  const s = o.schedule;
  if (s) {
    if (s.startAt !== undefined) print(`  start:     ${when(s.startAt)}`);
    if (s.window) print(`  window:    ${formatWindow(s.window)}`);
    if (s.endAt !== undefined) print(`  end:       ${when(s.endAt)}`);
    if (s.maxLatenessMs !== undefined) print(`  lateness:  at most ${formatDuration(s.maxLatenessMs)} after the start`);
  }
  print(`  first send ${when(o.firstSendAt)} · last send ${when(o.lastSendAt)}`);
  if (o.finishedAt !== null) print(`  finished:  ${when(o.finishedAt)}`);
  print(`  activity:  last ${ago(o.lastActivityAt, now)}${o.lastStop ? ` · last run stopped: ${o.lastStop}` : ''}`);
  if (o.etaAt !== null) {
    print(
      `  ETA:       ${Number.isFinite(o.etaAt) ? `${formatInstant(o.etaAt, zone)} (in ${formatDuration(o.etaAt - now)})` : 'never (the window never opens)'}` +
        ` for ${o.counts.pending} pending at ${o.ratePerMinute}/min${s?.window ? ', inside the window' : ''}`,
    );
  }
}
