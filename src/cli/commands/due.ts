import { openLogFile } from '../log-file.js';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { Argv } from 'yargs';
import type { Campaign } from '../../config/campaign.js';
import { ConfigError, type ApiCredentials } from '../../config/env.js';
import { systemClock } from '../../core/clock.js';
import { EXIT } from '../../core/exit-codes.js';
import { CampaignLockedError } from '../../pipeline/run.js';
import type { RkClient } from '../../rk/client.js';
import { dueDecision, type DueDecision } from '../../schedule/due.js';
import { ScheduleRefusedError } from '../../schedule/gate.js';
import type { QuotaReservations } from '../../schedule/quota.js';
import type { Store } from '../../store/types.js';
import { defineCommand } from '../command.js';
import { createClient, openStore, resolveDbPath } from '../context.js';
import { printFailure } from '../failure.js';
import type { CliIo } from '../io.js';
import { chooseMode, EventOutput, type Verbosity } from '../output.js';
import { runEventHandler } from '../run-view.js';
import {
  describeRunFailure,
  exitCodeFor,
  installStopSignals,
  loadCampaignAndCredentials,
  printSummary,
  runLoadedCampaign,
  secretsOf,
  withCommonFlags,
  withScheduleView,
} from './run.js';

/** Flags of `rk-broadcast due`. */
export interface DueArgs {
  dir: string;
  db?: string;
  /** Wait for a window that closes mid-run instead of exiting. @default false */
  wait?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

/** How one campaign of the folder ended in this `due` pass. */
interface Outcome {
  campaign: string;
  status: 'ran' | 'not-due' | 'locked' | 'expired' | 'error';
  exitCode: number;
  detail: string;
}

/** Exit codes that need a person, most urgent first; the worst one found is `due`'s exit code. */
const SEVERITY: readonly number[] = [
  EXIT.internal,
  EXIT.auth,
  EXIT.quota,
  EXIT.planChanged,
  EXIT.invalidInput,
  EXIT.scheduleRefused,
  EXIT.incomplete,
  EXIT.interrupted,
];

/**
 * `rk-broadcast due --dir campaigns/`: for cron or a systemd timer. Runs every scheduled campaign of the folder that
 * is due (started, inside its window, not finished, not expired), concurrently in this process, each with the
 * guarantees of `run` (run lock, frozen plan, checkpoints, quota). Campaigns of one project share its rate through
 * the database's send slots, across processes too. A campaign another process is running is skipped, not an
 * error. Exits 0 when there was nothing to do or all went well.
 */
export const dueCommand = defineCommand<DueArgs>({
  command: 'due',
  describe: 'Run every scheduled campaign in a folder that is due now (for cron / systemd timers)',
  builder: (y: Argv) =>
    withCommonFlags(
      y
        .option('dir', { type: 'string', default: 'campaigns', describe: 'Folder of campaign files (.yaml, .yml, .json)' })
        .option('wait', {
          type: 'boolean',
          default: false,
          describe: 'When a window closes mid-run, wait for the next opening instead of exiting (default: exit; cron calls again)',
        })
        .example('$0 due --dir campaigns', 'Send whatever is due now (every few minutes from cron)')
        .example('$0 due --dir campaigns --quiet --log-file /var/log/rk-broadcast.ndjson', 'Unattended'),
    ),
  run: async (args, io) => {
    const verbosity: Verbosity = args.quiet ? 'quiet' : args.verbose ? 'verbose' : 'normal';
    // Several campaigns at once: log lines prefixed with the campaign id (no progress bars fighting each other).
    const mode = chooseMode(io, args.json === true) === 'json' ? 'json' : 'log';
    const logFile = args.logFile ? openLogFile(args.logFile, (text) => io.stderr.write(text + '\n')) : undefined;
    const outputFor = (forIo: CliIo): EventOutput => new EventOutput(forIo, mode, verbosity, logFile ? { logFile } : {});
    const main = outputFor(io);
    const signals = installStopSignals(main);
    const clients = new Map<string, RkClient>();
    let store: Store | undefined;
    const outcomes: Outcome[] = [];
    let secrets = secretsOf(io);
    try {
      const dir = resolve(io.cwd, args.dir);
      const files = await campaignFiles(dir, args.dir);
      store = openStore(args.db, io);
      const now = systemClock.now();
      main.line(`due: ${files.length} campaign file(s) in ${relative(io.cwd, dir) || '.'} · state in ${relative(io.cwd, resolveDbPath(args.db, io))}`, 'debug');

      const runs: { campaign: Campaign; path: string; projectId: string; credentials: ApiCredentials; decision: Extract<DueDecision, { due: true }> }[] = [];
      const seen = new Map<string, string>();
      for (const file of files) {
        const fromCwd = relative(io.cwd, file);
        const shown = fromCwd && !fromCwd.startsWith('..') ? fromCwd : file;
        try {
          const { campaign, credentials, projectId } = await loadCampaignAndCredentials(shown, io);
          secrets = [...new Set([...secrets, ...secretsOf(io, campaign)])];
          const other = seen.get(campaign.id);
          if (other) {
            throw new ConfigError(
              `${shown}: id "${campaign.id}" is already used by ${other}; two files cannot share one campaign's state.`,
              'Give each campaign file its own id.',
            );
          }
          seen.set(campaign.id, shown);
          const decision = await decide(store, campaign, now);
          if (!decision.due) {
            outcomes.push({ campaign: campaign.id, status: 'not-due', exitCode: EXIT.ok, detail: decision.reason });
            main.line(`[${campaign.id}] not due: ${decision.reason}`, decision.why === 'unscheduled' ? 'info' : 'debug');
            main.json({ type: 'not-due', campaign: campaign.id, why: decision.why, reason: decision.reason, nextAt: decision.nextAt } as { type: string });
            continue;
          }
          runs.push({ campaign, path: shown, projectId, credentials, decision });
        } catch (error) {
          const failure = describeRunFailure(error);
          outcomes.push({ campaign: shown, status: 'error', exitCode: failure.exitCode, detail: failure.message });
          printFailure(prefixedIo(io, `[${shown}] `), 'due', failure, { json: args.json === true, secrets, extra: { file: shown } });
        }
      }

      const reservations = new Map<string, QuotaReservations>();
      const openStoreOnce = store;
      await Promise.all(
        runs.map(async ({ campaign, path, projectId, credentials, decision }) => {
          const prefix = `[${campaign.id}] `;
          const campaignIo = prefixedIo(io, prefix);
          const output = outputFor(campaignIo);
          const handler = runEventHandler(campaignIo, output);
          const view = withScheduleView(output, handler, campaign.schedule?.window?.timezone);
          let client = clients.get(projectId);
          if (!client) {
            client = createClient(credentials, io.env);
            clients.set(projectId, client);
          }
          let shared = reservations.get(projectId);
          if (!shared) {
            shared = { reserved: 0 };
            reservations.set(projectId, shared);
          }
          output.line(decision.action === 'send' ? `${decision.reason}: running ${campaign.name}` : decision.reason, 'info');
          try {
            const result = await runLoadedCampaign({
              campaign,
              projectId,
              store: openStoreOnce,
              api: client,
              clock: systemClock,
              // Tagged with the campaign, so the NDJSON of several campaigns in one stream can be told apart.
              emit: (event) => view.emit(Object.assign({ campaign: campaign.id }, event)),
              io,
              flags: { noWait: args.wait !== true },
              stopSignal: signals.stop.signal,
              abortSignal: signals.abort.signal,
              quotaReservations: shared,
            });
            view.dispose();
            const code = exitCodeFor(result.send, result);
            printSummary(campaignIo, output, { campaign: path, id: campaign.id, ...(args.db ? { db: args.db } : {}) }, result, code, secrets, campaign.schedule);
            // A window closing mid-run is normal for cron: the next pass continues.
            outcomes.push({ campaign: campaign.id, status: 'ran', exitCode: code === EXIT.notDue ? EXIT.ok : code, detail: result.send?.reason ?? 'planned' });
          } catch (error) {
            view.dispose();
            if (error instanceof CampaignLockedError) {
              const h = error.holder;
              output.line(`skipped: another process is running it (pid ${h.pid} on ${h.host}, heartbeat ${new Date(h.heartbeatAt).toISOString()}).`, 'important');
              main.json({ type: 'locked', campaign: campaign.id, holder: { pid: h.pid, host: h.host, heartbeatAt: h.heartbeatAt } } as { type: string });
              outcomes.push({ campaign: campaign.id, status: 'locked', exitCode: EXIT.ok, detail: `pid ${h.pid} on ${h.host}` });
              return;
            }
            if (error instanceof ScheduleRefusedError && error.refusal === 'ended') {
              // The expiry itself was already shown (the `expired` event).
              if (error.expired === 0) output.line(error.message, 'important');
              main.json({ type: 'ended', campaign: campaign.id, expired: error.expired } as { type: string });
              outcomes.push({ campaign: campaign.id, status: 'expired', exitCode: EXIT.ok, detail: `${error.expired} expired` });
              return;
            }
            const failure = describeRunFailure(error);
            printFailure(campaignIo, 'due', failure, { json: args.json === true, secrets, extra: { campaign: campaign.id } });
            outcomes.push({ campaign: campaign.id, status: 'error', exitCode: failure.exitCode, detail: failure.message });
          }
        }),
      );

      const exitCode = SEVERITY.find((code) => outcomes.some((o) => o.exitCode === code)) ?? EXIT.ok;
      const count = (status: Outcome['status']) => outcomes.filter((o) => o.status === status).length;
      main.json({ type: 'due-finished', exitCode, outcomes } as { type: string });
      main.line(
        runs.length === 0 && count('error') === 0
          ? `due: nothing to do (${count('not-due')} campaign(s) not due).`
          : `due: ${count('ran')} run, ${count('locked')} skipped (running elsewhere), ${count('expired')} expired, ${count('not-due')} not due, ${count('error')} failed.`,
        runs.length === 0 && count('error') === 0 ? 'info' : 'important',
      );
      return exitCode;
    } catch (error) {
      const failure = describeRunFailure(error);
      printFailure(io, 'due', failure, { json: args.json === true, secrets });
      return failure.exitCode;
    } finally {
      signals.dispose();
      await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
      await store?.close();
      await new Promise<void>((done) => (logFile ? logFile.end(done) : done()));
    }
  },
});

/** Campaign files directly in `dir` (not recursive), sorted by name. */
async function campaignFiles(dir: string, shown: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `--dir ${shown}: expected a folder of campaign files, found ${code === 'ENOENT' ? 'nothing at that path' : code === 'ENOTDIR' ? 'a file' : `an unreadable path (${code ?? String(error)})`}.`,
      'Point --dir at the folder holding the campaign .yaml files, e.g. --dir campaigns',
    );
  }
  return names
    .filter((n) => ['.yaml', '.yml', '.json'].includes(extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

/** Reads what the database knows of a campaign and decides whether it is due now. */
async function decide(store: Store, campaign: Campaign, now: number): Promise<DueDecision> {
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

/** The same io, with every stderr line prefixed (stdout stays clean for NDJSON). */
export function prefixedIo(io: CliIo, prefix: string): CliIo {
  let atLineStart = true;
  const stderr = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = chunk.toString();
      let out = '';
      for (const ch of text.split(/(?<=\n)/)) {
        if (ch === '') continue;
        out += (atLineStart ? prefix : '') + ch;
        atLineStart = ch.endsWith('\n');
      }
      io.stderr.write(out);
      callback();
    },
  });
  return { ...io, stderr };
}

