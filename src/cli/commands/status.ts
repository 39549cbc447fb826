import { existsSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { loadCampaign } from '../../config/campaign.js';
import { systemClock } from '../../core/clock.js';
import { EXIT } from '../../core/exit-codes.js';
import { humanDuration } from '../../schedule/gate.js';
import { formatInstant, formatWindow } from '../../schedule/window.js';
import type { Store } from '../../store/types.js';
import { defineCommand } from '../command.js';
import { openStore, resolveDbPath } from '../context.js';
import { InputError, printFailure } from '../failure.js';
import { outLine, type CliIo } from '../io.js';
import { formatTotals } from '../run-view.js';
import { ago, overviewOf, type CampaignOverview } from './list.js';
import { describeRunFailure, withCommonFlags } from './run.js';

/** Flags of `rk-broadcast status`. */
export interface StatusArgs {
  campaign: string;
  db?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

/** `rk-broadcast status CAMPAIGN`: one campaign's state, counts, lock, schedule and ETA (by id or campaign file). */
export const statusCommand = defineCommand<StatusArgs>({
  command: 'status <campaign>',
  describe: 'Show one campaign: state, counts, run lock, schedule and ETA',
  builder: (y: Argv) =>
    withCommonFlags(
      y.positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign id, or its campaign file' }),
    ).example('$0 status demo-2026-12', 'By id')
      .example('$0 status campaigns/demo.yaml', 'By file'),
  run: async (args, io) => {
    let store: Store | undefined;
    try {
      const id = await campaignIdOf(args.campaign, io);
      const dbPath = resolveDbPath(args.db, io);
      const record = existsSync(dbPath) ? await (store = openStore(args.db, io, { readOnly: true })).getCampaign(id) : undefined;
      if (!record) {
        throw new InputError(
          `No campaign "${id}" in ${relative(io.cwd, dbPath) || dbPath}: it has not been run with this database yet.`,
          '`rk-broadcast list` shows the campaigns it holds; `rk-broadcast validate CAMPAIGN_FILE` previews one that has not run yet.',
        );
      }
      const now = systemClock.now();
      const overview = await overviewOf(store!, record, now);
      if (args.json) outLine(io, JSON.stringify(overview));
      else printStatus(io, overview, now);
      return EXIT.ok;
    } catch (error) {
      const failure = describeRunFailure(error);
      printFailure(io, 'status', failure, { json: args.json === true, secrets: [] });
      return failure.exitCode;
    } finally {
      await store?.close();
    }
  },
});

/** A campaign file path gives its id (from the file); anything else is taken as the id itself. */
async function campaignIdOf(arg: string, io: CliIo): Promise<string> {
  const path = resolve(io.cwd, arg);
  if (/\.(ya?ml|json)$/i.test(arg) || (existsSync(path) && statSync(path).isFile())) {
    return (await loadCampaign(path)).id;
  }
  return arg;
}

function printStatus(io: CliIo, o: CampaignOverview, now: number): void {
  const print = (text: string) => outLine(io, text);
  const zone = o.schedule?.window?.timezone ?? 'Asia/Jakarta';
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
    if (s.maxLatenessMs !== undefined) print(`  lateness:  at most ${humanDuration(s.maxLatenessMs)} after the start`);
  }
  print(`  first send ${when(o.firstSendAt)} · last send ${when(o.lastSendAt)}`);
  if (o.finishedAt !== null) print(`  finished:  ${when(o.finishedAt)}`);
  print(`  activity:  last ${ago(o.lastActivityAt, now)}${o.lastStop ? ` · last run stopped: ${o.lastStop}` : ''}`);
  if (o.etaAt !== null) {
    print(
      `  ETA:       ${Number.isFinite(o.etaAt) ? `${formatInstant(o.etaAt, zone)} (in ${humanDuration(o.etaAt - now)})` : 'never (the window never opens)'}` +
        ` for ${o.counts.pending} pending at ${o.ratePerMinute}/min${s?.window ? ', inside the window' : ''}`,
    );
  }
}
