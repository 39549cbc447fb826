import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { relative } from 'node:path';
import type { Argv } from 'yargs';
import { loadCampaign } from '../../config/campaign.js';
import { systemClock } from '../../core/clock.js';
import { EXIT } from '../../core/exit-codes.js';
import { DEFAULT_LEASE_STALE_MS, processAlive } from '../../pipeline/run.js';
import { campaignState, lastActivity, type CampaignState } from '../../schedule/state.js';
import type { Schedule } from '../../schedule/schema.js';
import { etaWithWindow, formatInstant } from '../../schedule/window.js';
import type { CampaignCounts, CampaignRecord, Lease, Store } from '../../store/types.js';
import { defineCommand } from '../command.js';
import { openStore, resolveDbPath } from '../context.js';
import { printFailure } from '../failure.js';
import { errLine, outLine, type CliIo } from '../io.js';
import { formatDuration } from '../output.js';
import { describeRunFailure, withCommonFlags } from './run.js';

/** Flags of `rk-broadcast list`. */
export interface ListArgs {
  db?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

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

/** Gathers the overview of one stored campaign: counts, lock, state, and (from its file) schedule and ETA. */
export async function overviewOf(store: Store, record: CampaignRecord, now: number): Promise<CampaignOverview> {
  const [counts, lease] = await Promise.all([store.counts(record.id), store.getLease(record.id)]);
  let schedule: Schedule | undefined;
  let rate: number | undefined;
  let fileReadable = false;
  if (existsSync(record.sourcePath)) {
    try {
      const campaign = await loadCampaign(record.sourcePath);
      schedule = campaign.schedule;
      rate = campaign.ratePerMinute;
      fileReadable = true;
    } catch {
      // The file changed into something invalid: show what the database knows.
    }
  }
  const leaseLive =
    lease !== undefined && now - lease.heartbeatAt < DEFAULT_LEASE_STALE_MS && (lease.host !== hostname() || processAlive(lease.pid));
  const { state, detail } = campaignState({ record, counts, lease, leaseLive, schedule, now });
  const b = counts.byState;
  const pending = b.planned + b.sending;
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
      failed: b.rejected + b.failed_to_send + b.unknown + (counts.byApiStatus.failed ?? 0),
      notSendable: b.invalid + b.duplicate + b.suppressed + b.skipped,
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
    etaAt: stillSending && rate !== undefined ? etaWithWindow(pending, rate, schedule, now) : null,
  };
}

/** `3m ago`, `2d04h ago`, or `in 5h03m` for a time still to come. */
export function ago(ms: number, now: number): string {
  if (Math.abs(now - ms) < 1000) return 'just now';
  return ms > now ? `in ${formatDuration(ms - now)}` : `${formatDuration(now - ms)} ago`;
}

/** `rk-broadcast list`: every campaign in the database with its state, counts and last activity. */
export const listCommand = defineCommand<ListArgs>({
  command: 'list',
  describe: 'List every campaign in the state database with its state, counts and last activity',
  builder: (y: Argv) => withCommonFlags(y).example('$0 list', 'What is planned, waiting, running, done'),
  run: async (args, io) => {
    let store: Store | undefined;
    try {
      const dbPath = resolveDbPath(args.db, io);
      if (!existsSync(dbPath)) {
        if (args.json) outLine(io, JSON.stringify({ campaigns: [] }));
        else errLine(io, `No campaigns yet: ${relative(io.cwd, dbPath) || dbPath} does not exist (it is created by the first run).`);
        return EXIT.ok;
      }
      store = openStore(args.db, io, { readOnly: true });
      const now = systemClock.now();
      const overviews = await Promise.all((await store.listCampaigns()).map((r) => overviewOf(store!, r, now)));
      if (args.json) {
        outLine(io, JSON.stringify({ campaigns: overviews }));
        return EXIT.ok;
      }
      if (overviews.length === 0) {
        errLine(io, 'No campaigns in this database yet.');
        return EXIT.ok;
      }
      printTable(io, overviews, now, args.verbose === true);
      return EXIT.ok;
    } catch (error) {
      const failure = describeRunFailure(error);
      printFailure(io, 'list', failure, { json: args.json === true, secrets: [] });
      return failure.exitCode;
    } finally {
      await store?.close();
    }
  },
});

function printTable(io: CliIo, rows: CampaignOverview[], now: number, verbose: boolean): void {
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
    if (verbose || ['running', 'waiting', 'paused-window', 'stopped-quota', 'stopped-auth', 'refused-late', 'interrupted'].includes(o.state)) {
      outLine(io, `  ${o.detail}${o.etaAt !== null ? ` · ETA ${formatInstant(o.etaAt, o.schedule?.window?.timezone)}` : ''}`);
    }
  }
}
