import { openLogFile } from '../log-file.js';
import { relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { loadCampaign, type Campaign } from '../../config/campaign.js';
import { redact, resolveCredentials } from '../../config/env.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { EXIT, exitCodeForStop } from '../../core/exit-codes.js';
import { runCampaign, type RunEvent, type RunResult } from '../../pipeline/run.js';
import { projectIdFor } from '../../plan/fingerprint.js';
import { prepareCampaign } from '../../plan/planner.js';
import type { RkClient } from '../../rk/client.js';
import { loadMedia } from '../../rk/media.js';
import type { RkApi } from '../../rk/types.js';
import { createScheduleGate, humanDuration, ScheduleRefusedError } from '../../schedule/gate.js';
import { MonthlyQuota, quotaSettingsFor, type QuotaReservations } from '../../schedule/quota.js';
import type { Schedule } from '../../schedule/schema.js';
import { formatInstant } from '../../schedule/window.js';
import type { SendOutcome } from '../../send/sender.js';
import type { Store } from '../../store/types.js';
import { sweepCampaign } from '../../sweep/index.js';
import { defineCommand } from '../command.js';
import { exitCodeForSweep, parseTimeout, sweepEventHandler } from './sweep.js';
import { createClient, openStore, resolveDbPath, retryBackoffFrom } from '../context.js';
import { describeFailure, printFailure, type CliFailure } from '../failure.js';
import type { CliIo } from '../io.js';
import { chooseMode, EventOutput, formatDuration, type Verbosity } from '../output.js';
import { formatTotals, runEventHandler } from '../run-view.js';

/** Flags of `rk-broadcast run`. */
export interface RunArgs {
  sweep?: boolean;
  sweepUntilFinal?: boolean;
  sweepTimeout?: string;
  campaign: string;
  db?: string;
  rate?: number;
  limit?: number;
  concurrency?: number;
  dryRun?: boolean;
  replan?: boolean;
  resendUnknown?: boolean;
  retryFailed?: boolean;
  /** False with `--no-wait`: exit 7 instead of waiting for `start_at` or the window. */
  wait?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

/** Flags every campaign command shares: database, output. */
export function withCommonFlags(y: Argv): Argv {
  return y
    .option('db', { type: 'string', describe: 'State database (default: $RK_BROADCAST_DB, else .rk-broadcast/state.db)' })
    .option('json', { type: 'boolean', default: false, describe: 'Emit NDJSON events on stdout instead of human output' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'Only warnings, errors and the summary' })
    .option('verbose', { type: 'boolean', describe: 'Also show retries and details' })
    .option('log-file', { type: 'string', describe: 'Also append every event as NDJSON to this file (for unattended runs)' })
    .conflicts('quiet', 'verbose');
}

/** Builds the output for a command from its flags. */
export function outputFor(args: { json?: boolean; quiet?: boolean; verbose?: boolean; logFile?: string }, io: CliIo): EventOutput {
  const verbosity: Verbosity = args.quiet ? 'quiet' : args.verbose ? 'verbose' : 'normal';
  const logFile = args.logFile ? openLogFile(args.logFile, (text) => io.stderr.write(text + '\n')) : undefined;
  return new EventOutput(io, chooseMode(io, args.json === true), verbosity, logFile ? { logFile } : {});
}

/** Loads a campaign and resolves its credentials; every failure is bad input (exit 2). */
export async function loadCampaignAndCredentials(path: string, io: CliIo) {
  const campaign = await loadCampaign(resolve(io.cwd, path));
  const credentials = resolveCredentials(io.env, { apiKeyEnv: campaign.apiKeyEnv, apiSecretEnv: campaign.apiSecretEnv });
  return { campaign, credentials, projectId: projectIdFor(credentials.apiKey, credentials.baseUrl) };
}

/** Secrets to redact from anything printed for this campaign. */
export function secretsOf(io: CliIo, campaign?: Campaign): string[] {
  return [io.env.RK_API_SECRET, campaign?.apiSecretEnv ? io.env[campaign.apiSecretEnv] : undefined].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}

/** The failure of a run, including the schedule's refusals (exit 8) which the shared mapping does not know. */
export function describeRunFailure(error: unknown): CliFailure {
  if (error instanceof ScheduleRefusedError) {
    return {
      kind: 'schedule',
      code: error.refusal === 'late' ? 'TOO_LATE' : 'ENDED',
      message: error.message,
      hint: error.hint,
      exitCode: EXIT.scheduleRefused,
    };
  }
  return describeFailure(error);
}

/** Flags of one campaign run, shared by `run` and `due`. */
export interface CampaignRunFlags {
  replan?: boolean;
  resendUnknown?: boolean;
  retryFailed?: boolean;
  dryRun?: boolean;
  rate?: number;
  limit?: number;
  concurrency?: number;
  /** Return (exit 7) instead of waiting for `start_at` or the window. */
  noWait?: boolean;
}

/** What one run of a loaded campaign needs: shared by `run` (one campaign) and `due` (several at once). */
export interface CampaignRunSetup {
  campaign: Campaign;
  projectId: string;
  store: Store;
  api: RkApi;
  clock: Clock;
  emit: (event: RunEvent) => void;
  io: CliIo;
  flags: CampaignRunFlags;
  stopSignal: AbortSignal;
  abortSignal: AbortSignal;
  /** Reservations of the project's quota shared by every campaign of it in this process (`due`). */
  quotaReservations?: QuotaReservations;
}

/**
 * Runs one loaded campaign with every guarantee of `run`: compiles it (recipient zones from the schedule's
 * `timezone_column`), loads its media, and hands it to `runCampaign` with its schedule (gate, lateness, deadline)
 * and the project's monthly quota (`monthly_quota`, `RK_MONTHLY_QUOTA`, `RK_QUOTA_TIMEZONE`).
 */
export async function runLoadedCampaign(setup: CampaignRunSetup): Promise<RunResult> {
  const { campaign, flags } = setup;
  const quotaSettings = quotaSettingsFor(setup.io.env, campaign);
  const prepared = await prepareCampaign(campaign, { timezoneColumn: campaign.schedule?.window?.timezoneColumn });
  const media = campaign.media && campaign.type !== 'text' ? await loadMedia(campaign.media, campaign.type) : undefined;
  const quota = new MonthlyQuota(setup.store, setup.clock, setup.projectId, quotaSettings, setup.quotaReservations);
  const backoff = retryBackoffFrom(setup.io.env);
  return runCampaign({ store: setup.store, api: setup.api, clock: setup.clock, emit: setup.emit }, prepared, {
    projectId: setup.projectId,
    replan: flags.replan === true,
    resendUnknown: flags.resendUnknown === true,
    retryFailed: flags.retryFailed === true,
    dryRun: flags.dryRun === true,
    stopSignal: setup.stopSignal,
    abortSignal: setup.abortSignal,
    quota,
    ...(campaign.schedule ? { schedule: campaign.schedule } : {}),
    ...(flags.noWait ? { noWait: true } : {}),
    ...(flags.rate !== undefined ? { ratePerMinute: flags.rate } : {}),
    ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(media ? { media } : {}),
    ...(backoff ? { backoff } : {}),
  });
}

/**
 * Wraps a run's event handler with what scheduling adds: a live countdown while waiting for `start_at` or the
 * window (the bar on a terminal, a log line a minute otherwise), and lines for the quota pre-flight and expiry.
 */
export function withScheduleView(
  output: EventOutput,
  handler: (event: RunEvent) => void,
  zone: string = 'Asia/Jakarta',
): { emit: (event: RunEvent) => void; dispose: () => void } {
  let total = 0;
  let accepted = 0;
  let ticker: NodeJS.Timeout | undefined;
  const stopCountdown = (): void => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  const startCountdown = (until: number, reason: string): void => {
    stopCountdown();
    const show = (force: boolean): void => {
      const left = Math.max(0, until - Date.now());
      if (left === 0) stopCountdown(); // the sender goes on by itself; its progress takes the line back
      output.progress(
        { done: accepted, total: Math.max(total, accepted), accepted, failed: 0, rejected: 0, ratePerMinute: 0, etaMs: left, label: `waiting ${formatDuration(left)} ${reason}` },
        force,
      );
    };
    show(true);
    ticker = setInterval(() => show(output.mode !== 'tty'), output.mode === 'tty' ? 1_000 : 60_000);
    ticker.unref();
  };
  const emit = (event: RunEvent): void => {
    switch (event.type) {
      case 'send-started':
        total = event.pending;
        break;
      case 'message-accepted':
        accepted++;
        break;
      case 'waiting':
        handler(event);
        if (event.until !== null && output.mode !== 'json') startCountdown(event.until, event.reason.startsWith('not started') ? 'until start_at' : 'until the send window opens');
        return;
      case 'stopping':
        stopCountdown();
        break;
      case 'quota-checked':
        output.json(event);
        output.line(
          `Monthly quota ${event.month} (${event.timezone}): ${event.used.toLocaleString('en-US')} of ${event.quota.toLocaleString('en-US')} used; ` +
            (event.fits
              ? `this campaign's ${event.pending.toLocaleString('en-US')} message(s) fit.`
              : `this campaign's ${event.pending.toLocaleString('en-US')} message(s) do NOT fit: it stops cleanly after ${event.remaining.toLocaleString('en-US')} (exit 4) and resumes when the quota resets (${formatInstant(event.resetsAt, event.timezone)}) or is raised.`),
          event.fits ? 'info' : 'important',
        );
        return;
      case 'expired':
        output.json(event);
        output.line(`end_at (${formatInstant(event.endAt, zone)}) reached: ${event.count} message(s) not sent are now expired.`, 'important');
        return;
    }
    handler(event);
  };
  return { emit, dispose: stopCountdown };
}

/** Why a `window` stop happened, in words, from the schedule at `now`. */
export function notDueReason(schedule: Schedule | undefined, now: number): string {
  if (!schedule) return 'outside the send window';
  const decision = createScheduleGate(schedule).campaign(now);
  if (!decision.open) return decision.reason;
  return "every remaining recipient is outside the send window in their own time zone";
}

/** The exit code for how the send stage stopped. */
export function exitCodeFor(send: SendOutcome | null, result: RunResult): number {
  if (!send) return EXIT.ok;
  switch (send.reason) {
    case 'auth':
    case 'quota':
    case 'interrupted':
      return exitCodeForStop(send.reason)!;
    case 'window':
      return EXIT.notDue;
    case 'limit':
      return EXIT.ok;
    case 'deadline':
    case 'done':
      return result.counts.byState.failed_to_send + result.counts.byState.unknown > 0 ? EXIT.incomplete : EXIT.ok;
  }
}

/**
 * Installs SIGINT/SIGTERM handling for a run: the first signal stops taking new sends and lets those in flight
 * finish; the second aborts at once (every commit is atomic, so the state stays consistent).
 */
export function installStopSignals(output: EventOutput): { stop: AbortController; abort: AbortController; dispose: () => void } {
  const stop = new AbortController();
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) {
      output.line(`\nReceived ${signal}: finishing the messages in flight, then stopping. Send it again to stop at once.`, 'important');
      stop.abort();
      return;
    }
    output.line('Stopping at once. Messages in flight are resent safely (same request id) by the next run.', 'important');
    abort.abort();
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stop,
    abort,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** `rk-broadcast run CAMPAIGN`: plan, send at the campaign's rate with checkpoints, resume after any stop. */
export const runCommand = defineCommand<RunArgs>({
  command: 'run <campaign>',
  describe: 'Plan and send a campaign (resumes where a previous run stopped)',
  builder: (y: Argv) =>
    withCommonFlags(
      y
        .positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign file (YAML or JSON)' })
        .option('rate', { type: 'number', describe: 'Messages per minute, overriding rate_per_minute' })
        .option('limit', { type: 'number', describe: 'Send at most N more messages (a test batch), then stop' })
        .option('concurrency', { type: 'number', describe: 'Requests in flight at once (default: enough for the rate)' })
        .option('dry-run', { type: 'boolean', default: false, describe: 'Plan and show what would be sent; send nothing' })
        .option('replan', { type: 'boolean', default: false, describe: 'Accept changed inputs: re-render rows not sent yet' })
        .option('resend-unknown', { type: 'boolean', default: false, describe: 'Resend messages whose fate is unknown (may double them)' })
        .option('retry-failed', { type: 'boolean', default: false, describe: 'Give failed_to_send messages a new set of attempts' })
        .option('sweep', {
          type: 'boolean',
          default: true,
          describe: 'After sending, check delivery statuses once (--no-sweep skips it)',
        })
        .option('sweep-until-final', { type: 'boolean', default: false, describe: 'After sending, keep checking until every status is final' })
        .option('sweep-timeout', { type: 'string', describe: 'Bound for --sweep-until-final, e.g. 30m (default 1h)' })
        .option('wait', {
          type: 'boolean',
          default: true,
          describe: 'Wait for start_at and the send window; --no-wait exits 7 at once instead (for cron)',
        })
        .check((a) => {
          for (const k of ['rate', 'limit', 'concurrency'] as const) {
            const v = a[k] as number | undefined;
            if (v !== undefined && (!Number.isInteger(v) || v < (k === 'limit' ? 0 : 1))) {
              throw new Error(`--${k} must be a whole number${k === 'limit' ? '' : ' of at least 1'}, found ${String(v)}`);
            }
          }
          return true;
        })
        .example('$0 run campaigns/promo.yaml', 'Send (or resume) a campaign')
        .example('$0 run campaigns/promo.yaml --limit 5', 'Send a test batch of 5'),
    ),
  run: async (args, io) => {
    const output = outputFor(args, io);
    let secrets = secretsOf(io);
    const signals = installStopSignals(output);
    let store: ReturnType<typeof openStore> | undefined;
    let client: RkClient | undefined;
    let view: ReturnType<typeof withScheduleView> | undefined;
    try {
      const { campaign, credentials, projectId } = await loadCampaignAndCredentials(args.campaign, io);
      secrets = secretsOf(io, campaign);
      store = openStore(args.db, io);
      client = createClient(credentials, io.env);
      output.line(`Campaign ${campaign.name} (${campaign.id}) · state in ${relative(io.cwd, resolveDbPath(args.db, io))}`);
      view = withScheduleView(output, runEventHandler(io, output), campaign.schedule?.window?.timezone);
      const result = await runLoadedCampaign({
        campaign,
        projectId,
        store,
        api: client,
        clock: systemClock,
        emit: view.emit,
        io,
        flags: { ...args, noWait: args.wait === false },
        stopSignal: signals.stop.signal,
        abortSignal: signals.abort.signal,
      });
      view.dispose();
      output.stopProgress();
      let code = exitCodeFor(result.send, result);
      if (args.sweep !== false && result.send && ['done', 'limit', 'deadline', 'window'].includes(result.send.reason)) {
        const untilFinal = args.sweepUntilFinal === true;
        const sweep = await sweepCampaign(
          { api: client, store, clock: systemClock, emit: sweepEventHandler(output) },
          {
            campaignId: campaign.id,
            untilFinal,
            stopSignal: signals.stop.signal,
            ...(untilFinal ? { timeoutMs: parseTimeout(args.sweepTimeout) ?? 3_600_000 } : {}),
          },
        );
        output.stopProgress();
        result.counts = await store.counts(campaign.id);
        const sweepCode = exitCodeForSweep(sweep);
        if (code === EXIT.ok && sweepCode !== EXIT.ok) code = sweepCode;
      }
      printSummary(io, output, args, result, code, secrets, campaign.schedule);
      return code;
    } catch (error) {
      view?.dispose();
      output.stopProgress();
      const failure = describeRunFailure(error);
      printFailure(io, 'run', failure, { json: args.json === true, secrets });
      return failure.exitCode;
    } finally {
      signals.dispose();
      await client?.close().catch(() => undefined);
      await store?.close();
    }
  },
});

/** Prints the end of a run: what was sent, the campaign's totals and what to do next. */
export function printSummary(
  io: CliIo,
  output: EventOutput,
  args: { campaign: string; db?: string; /** Campaign id, added to the NDJSON summary (several campaigns in one stream). */ id?: string },
  result: RunResult,
  code: number,
  secrets: string[],
  schedule?: Schedule,
): void {
  const send = result.send;
  output.json({
    type: 'run-finished',
    ...(args.id ? { campaign: args.id } : {}),
    reason: send?.reason ?? 'dry-run',
    exitCode: code,
    counts: result.counts,
    ...(result.expired > 0 ? { expired: result.expired } : {}),
  } as { type: string });
  const resume = `rk-broadcast run ${args.campaign}${args.db ? ` --db ${args.db}` : ''}`;
  const lines: string[] = [];
  if (!send) {
    lines.push('Dry run: planned, nothing sent.');
  } else {
    const p = send.progress;
    lines.push(
      `Sent ${p.accepted} this run` +
        (p.rejected + p.failed > 0 ? ` (${p.rejected} rejected, ${p.failed} gave up)` : '') +
        (send.rateLimited > 0 ? `, ${send.rateLimited} rate-limited retries` : '') +
        '.',
    );
  }
  lines.push(`Campaign totals: ${formatTotals(result.counts)}.`);
  const error = send?.error;
  switch (send?.reason) {
    case 'auth':
      lines.push(`Stopped: ${error?.message ?? send.reason}`, `  ${error?.hint ?? ''}`, `  Then resume with: ${resume}`);
      break;
    case 'quota':
      if (error?.code === 'LOCAL_QUOTA_BUDGET' && result.quota) {
        const q = result.quota;
        lines.push(
          `Stopped before going over the monthly quota: ${q.quota.toLocaleString('en-US')} messages in ${q.month} (${q.timezone}) for this project; nothing was refused by the API.`,
          `  The rest stays planned. It resumes after the quota resets (${formatInstant(q.resetsAt, q.timezone)}), or raise RK_MONTHLY_QUOTA / monthly_quota if the plan allows more.`,
          `  Then resume with: ${resume}`,
        );
      } else {
        lines.push(`Stopped: ${error?.message ?? send.reason}`, `  ${error?.hint ?? ''}`, `  Then resume with: ${resume}`);
      }
      break;
    case 'deadline':
      lines.push(
        `Stopped at end_at: ${result.expired} message(s) not sent are expired (listed in the report)` +
          (schedule?.endAt !== undefined ? `; end_at was ${formatInstant(schedule.endAt, schedule.window?.timezone)}` : '') +
          '.',
      );
      break;
    case 'interrupted':
      lines.push(`Stopped by signal; progress is saved. Resume with: ${resume}`);
      break;
    case 'limit':
      lines.push(`Stopped after --limit; ${send.progress.remaining} left. Continue with: ${resume}`);
      break;
    case 'window': {
      const zone = schedule?.window?.timezone;
      const reason = notDueReason(schedule, Date.now());
      lines.push(
        `Not due now: ${reason}` +
          (send.reopensAt ? `; next chance to send: ${formatInstant(send.reopensAt, zone)} (in ${humanDuration(send.reopensAt - Date.now())})` : '') +
          `. Run again then (or without --no-wait to wait), or let \`rk-broadcast due\` pick it up: ${resume}`,
      );
      break;
    }
    default:
      if (result.counts.byState.failed_to_send > 0) {
        lines.push(`${result.counts.byState.failed_to_send} message(s) failed after every retry: ${resume} --retry-failed`);
      }
      if (result.counts.byState.unknown > 0) {
        lines.push(
          `${result.counts.byState.unknown} message(s) have an unknown fate (a crash long ago); check them in the report, then if needed: ${resume} --resend-unknown`,
        );
      }
  }
  for (const line of lines.filter(Boolean)) output.line(redact(line, secrets), 'important');
}
