import type { Argv } from 'yargs';
import { parseDuration } from '../../config/campaign.js';
import { redact } from '../../config/env.js';
import { systemClock } from '../../core/clock.js';
import { EXIT, exitCodeForStop } from '../../core/exit-codes.js';
import type { RkClient } from '../../rk/client.js';
import { isFinalApiStatus, sendSlotGate, sweepCampaign, type SweepEvent, type SweepOutcome } from '../../sweep/index.js';
import { defineCommand } from '../command.js';
import { createClient, openStore } from '../context.js';
import { describeFailure, InputError, printFailure } from '../failure.js';
import type { CliIo } from '../io.js';
import { formatDuration, type EventOutput } from '../output.js';
import { loadCampaignAndCredentials, outputFor, secretsOf, withCommonFlags } from './run.js';

/** Flags of `rk-broadcast sweep`. */
export interface SweepArgs {
  campaign: string;
  untilFinal?: boolean;
  timeout?: string;
  concurrency?: number;
  rate?: number;
  shareRate?: boolean;
  db?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

/** Order in which statuses are listed to people. */
const STATUS_ORDER = ['queued', 'sent', 'delivered', 'read', 'failed', 'unknown'];

/** `delivered 180 · failed 3 · sent 2`, known statuses first, then any other the API returned. */
export function formatStatusCounts(byStatus: Record<string, number>): string {
  const rank = (s: string): number => (STATUS_ORDER.includes(s) ? STATUS_ORDER.indexOf(s) : STATUS_ORDER.length);
  const names = Object.keys(byStatus)
    .filter((s) => (byStatus[s] ?? 0) > 0)
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((s) => `${s} ${byStatus[s]}`).join(' · ') || 'no accepted messages';
}

/** Exit code for how a sweep ended: like `run` for 401/403 and signals; a timeout is not a failure. */
export function exitCodeForSweep(outcome: SweepOutcome): number {
  return exitCodeForStop(outcome.reason) ?? EXIT.ok;
}

/**
 * Shows sweep events: NDJSON with --json; otherwise a bar or log lines, plus a line for what a person should notice.
 */
export function sweepEventHandler(output: EventOutput): (event: SweepEvent) => void {
  return (event) => {
    output.json(event);
    switch (event.type) {
      case 'sweep-started':
        output.line(
          event.pending === 0
            ? 'Nothing to sweep: every accepted message already has a final status.'
            : `Checking the status of ${event.pending} message(s) (${event.concurrency} at a time, at most ${event.ratePerMinute}/min)` +
                (event.untilFinal ? ' until every one is final' : '') +
                (event.deadline !== null ? `, giving up at ${new Date(event.deadline).toISOString()}` : '') +
                '.',
        );
        break;
      case 'sweep-pass-started':
        output.line(`Pass ${event.pass}: ${event.pending} message(s) to check.`, 'debug');
        break;
      case 'sweep-progress': {
        const p = event.progress;
        if (p.total === 0) break;
        const done = p.checked + p.errors;
        output.progress({
          done,
          total: p.total,
          accepted: (p.byStatus.delivered ?? 0) + (p.byStatus.read ?? 0),
          acceptedLabel: 'delivered',
          failed: p.byStatus.failed ?? 0,
          rejected: 0,
          ratePerMinute: p.ratePerMinute,
          etaMs: p.ratePerMinute > 0 ? ((p.total - done) * 60_000) / p.ratePerMinute : Number.NaN,
          label: `pass ${p.pass}`,
        });
        break;
      }
      case 'status-retry':
        output.line(`  message ${event.messageId}: status check failed (${event.error.code}); retrying in ${formatDuration(event.delayMs)}`, 'debug');
        break;
      case 'status-error':
        output.line(
          `  message ${event.messageId}: status check failed ${event.attempts} time(s) (${event.error.code}: ${event.error.message}); left for the next pass`,
          'debug',
        );
        break;
      case 'status-not-found':
        output.line(`  message ${event.uuid}: RK Connect does not know it (404); recorded as unknown.`);
        break;
      case 'rate-limited':
        output.line(`  API rate limit reached (429): pausing status checks for ${formatDuration(event.retryAfterMs)}.`);
        break;
      case 'sweep-pass-finished':
        output.stopProgress();
        output.line(
          `Pass ${event.pass} done in ${formatDuration(event.durationMs)}: ${event.checked} checked (${event.changed} changed)` +
            (event.errors > 0 ? `, ${event.errors} could not be checked` : '') +
            `; ${event.pending} not final yet.`,
        );
        break;
      case 'sweep-waiting':
        output.line(
          `Next pass at ${new Date(event.nextPassAt).toISOString().slice(11, 19)} UTC ` +
            `(in ${formatDuration(event.nextPassAt - Date.now())}); ${event.pending} not final yet.`,
        );
        break;
      case 'sweep-stopped':
        break;
    }
  };
}

/** First signal: stop (requests in flight are cancelled; every recorded status is kept). Second: exit at once. */
function installSweepSignals(output: EventOutput): { stop: AbortController; dispose: () => void } {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) {
      output.line(`\nReceived ${signal}: stopping the sweep (every status already checked is saved).`, 'important');
      stop.abort();
      return;
    }
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stop,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    const ms = parseDuration(text);
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  throw new InputError(`--timeout expects a duration such as 30m, 2h or 1h30m; found "${text}".`, 'e.g. --until-final --timeout 30m');
}

/** `rk-broadcast sweep CAMPAIGN`: asks RK Connect for the delivery status of every message not final yet. */
export const sweepCommand = defineCommand<SweepArgs>({
  command: 'sweep <campaign>',
  describe: 'Check delivery statuses (queued, sent, delivered, read, failed) of sent messages',
  builder: (y: Argv) =>
    withCommonFlags(
      y
        .positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign file (YAML or JSON)' })
        .option('until-final', { type: 'boolean', default: false, describe: 'Keep sweeping, with growing pauses, until every message is delivered, read or failed' })
        .option('timeout', { type: 'string', describe: 'Give up after this long, e.g. 30m or 2h (what is left stays for a later sweep)' })
        .option('concurrency', { type: 'number', default: 4, describe: 'Status requests in flight at once' })
        .option('rate', { type: 'number', default: 120, describe: 'Status requests per minute' })
        .option('share-rate', {
          type: 'boolean',
          default: false,
          describe: "Count status requests against the project's send rate (use while a run of the same project is sending)",
        })
        .check((a) => {
          for (const k of ['rate', 'concurrency'] as const) {
            const v = a[k] as number | undefined;
            if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`--${k} must be a whole number of at least 1, found ${String(v)}`);
          }
          return true;
        })
        .example('$0 sweep campaigns/promo.yaml', 'One pass over the messages not final yet')
        .example('$0 sweep campaigns/promo.yaml --until-final --timeout 30m', 'Keep checking for up to 30 minutes'),
    ),
  run: async (args, io) => {
    const output = outputFor(args, io);
    let secrets = secretsOf(io);
    const signals = installSweepSignals(output);
    let store: ReturnType<typeof openStore> | undefined;
    let client: RkClient | undefined;
    try {
      const timeoutMs = parseTimeout(args.timeout);
      const { campaign, credentials, projectId } = await loadCampaignAndCredentials(args.campaign, io);
      secrets = secretsOf(io, campaign);
      store = openStore(args.db, io);
      if (!(await store.getCampaign(campaign.id))) {
        throw new InputError(
          `Campaign ${campaign.id} has no state in this database: nothing was sent yet.`,
          `Run it first (rk-broadcast run ${args.campaign}), or point --db at the database it was run with.`,
        );
      }
      client = createClient(credentials, io.env);
      const outcome = await sweepCampaign(
        { api: client, store, clock: systemClock, emit: sweepEventHandler(output) },
        {
          campaignId: campaign.id,
          concurrency: args.concurrency ?? 4,
          ratePerMinute: args.rate ?? 120,
          untilFinal: args.untilFinal === true,
          stopSignal: signals.stop.signal,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(args.shareRate ? { sharedGate: sendSlotGate({ store, clock: systemClock, projectId, ratePerMinute: campaign.ratePerMinute }) } : {}),
        },
      );
      output.stopProgress();
      const code = exitCodeForSweep(outcome);
      printSweepSummary(io, output, args, outcome, code, secrets);
      return code;
    } catch (error) {
      output.stopProgress();
      const failure = describeFailure(error);
      printFailure(io, 'sweep', failure, { json: args.json === true, secrets });
      return failure.exitCode;
    } finally {
      signals.dispose();
      await client?.close().catch(() => undefined);
      await store?.close();
    }
  },
});

function printSweepSummary(io: CliIo, output: EventOutput, args: SweepArgs, outcome: SweepOutcome, code: number, secrets: string[]): void {
  output.json({
    type: 'sweep-summary',
    reason: outcome.reason,
    exitCode: code,
    passes: outcome.passes,
    checked: outcome.checked,
    changed: outcome.changed,
    notFound: outcome.notFound,
    errors: outcome.errors,
    pending: outcome.pending,
    byStatus: outcome.byStatus,
    durationMs: outcome.durationMs,
    ...(outcome.error ? { error: { ...outcome.error, message: redact(outcome.error.message, secrets), hint: redact(outcome.error.hint, secrets) } } : {}),
  } as { type: string });
  const db = args.db ? ` --db ${args.db}` : '';
  const again = `rk-broadcast sweep ${args.campaign}${db}`;
  if (outcome.error && (outcome.reason === 'auth' || outcome.reason === 'quota')) {
    if (output.mode !== 'json') {
      printFailure(
        io,
        'sweep',
        { kind: outcome.error.kind, code: outcome.error.code, message: outcome.error.message, hint: outcome.error.hint, exitCode: code },
        { json: false, secrets, notes: [`Statuses checked so far are saved; then run again: ${again}`] },
      );
    }
    return;
  }
  const nonFinal = Object.entries(outcome.byStatus)
    .filter(([status]) => !isFinalApiStatus(status))
    .reduce((n, [, count]) => n + count, 0);
  const lines = [
    `Swept ${outcome.checked} status(es) in ${outcome.passes} pass(es), ${formatDuration(outcome.durationMs)}` +
      (outcome.errors > 0 ? `; ${outcome.errors} check(s) failed and were left for later` : '') +
      '.',
    `Accepted messages: ${formatStatusCounts(outcome.byStatus)}.`,
  ];
  switch (outcome.reason) {
    case 'final':
      lines.push('Every accepted message has a final status.');
      break;
    case 'pass':
      lines.push(`${nonFinal} not final yet. Check again later (${again}), or keep checking: ${again} --until-final --timeout 30m`);
      break;
    case 'timeout':
      lines.push(`Gave up at the timeout with ${nonFinal} not final yet. Check again later: ${again}`);
      break;
    case 'interrupted':
      lines.push(`Stopped; every status checked is saved. Continue with: ${again}`);
      break;
  }
  lines.push(`Report: rk-broadcast report ${args.campaign}${db} --format html --out report.html`);
  for (const line of lines) output.line(redact(line, secrets), 'important');
}
