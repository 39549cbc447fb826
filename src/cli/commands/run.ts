import { createWriteStream } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { loadCampaign, type Campaign } from '../../config/campaign.js';
import { redact, resolveCredentials } from '../../config/env.js';
import { systemClock } from '../../core/clock.js';
import { EXIT } from '../../core/exit-codes.js';
import { runCampaign, type RunResult } from '../../pipeline/run.js';
import { projectIdFor } from '../../plan/fingerprint.js';
import { prepareCampaign } from '../../plan/planner.js';
import { RkClient } from '../../rk/client.js';
import { loadMedia } from '../../rk/media.js';
import type { SendOutcome } from '../../send/sender.js';
import { defineCommand } from '../command.js';
import { createClient, openStore, resolveDbPath } from '../context.js';
import { describeFailure, printFailure } from '../failure.js';
import type { CliIo } from '../io.js';
import { chooseMode, EventOutput, type Verbosity } from '../output.js';
import { formatTotals, runEventHandler } from '../run-view.js';

/** Flags of `rk-broadcast run`. */
export interface RunArgs {
  campaign: string;
  db?: string;
  rate?: number;
  limit?: number;
  concurrency?: number;
  dryRun?: boolean;
  replan?: boolean;
  resendUnknown?: boolean;
  retryFailed?: boolean;
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
  const logFile = args.logFile ? createWriteStream(args.logFile, { flags: 'a', mode: 0o600 }) : undefined;
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

/** The exit code for how the send stage stopped. */
export function exitCodeFor(send: SendOutcome | null, result: RunResult): number {
  if (!send) return EXIT.ok;
  switch (send.reason) {
    case 'auth':
      return EXIT.auth;
    case 'quota':
      return EXIT.quota;
    case 'interrupted':
      return EXIT.interrupted;
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
    try {
      const { campaign, credentials, projectId } = await loadCampaignAndCredentials(args.campaign, io);
      secrets = secretsOf(io, campaign);
      const prepared = await prepareCampaign(campaign);
      const media = campaign.media && campaign.type !== 'text' ? await loadMedia(campaign.media, campaign.type) : undefined;
      store = openStore(args.db, io);
      client = createClient(credentials, io.env);
      output.line(`Campaign ${campaign.name} (${campaign.id}) · state in ${relative(io.cwd, resolveDbPath(args.db, io))}`);
      const result = await runCampaign(
        { store, api: client, clock: systemClock, emit: runEventHandler(io, output) },
        prepared,
        {
          projectId,
          replan: args.replan === true,
          resendUnknown: args.resendUnknown === true,
          retryFailed: args.retryFailed === true,
          dryRun: args.dryRun === true,
          stopSignal: signals.stop.signal,
          abortSignal: signals.abort.signal,
          ...(args.rate !== undefined ? { ratePerMinute: args.rate } : {}),
          ...(args.limit !== undefined ? { limit: args.limit } : {}),
          ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
          ...(media ? { media } : {}),
        },
      );
      output.stopProgress();
      const code = exitCodeFor(result.send, result);
      printSummary(io, output, args, result, code, secrets);
      return code;
    } catch (error) {
      output.stopProgress();
      const failure = describeFailure(error);
      printFailure(io, 'run', failure, { json: args.json === true, secrets });
      return failure.exitCode;
    } finally {
      signals.dispose();
      await client?.close().catch(() => undefined);
      await store?.close();
    }
  },
});

function printSummary(io: CliIo, output: EventOutput, args: RunArgs, result: RunResult, code: number, secrets: string[]): void {
  const send = result.send;
  output.json({ type: 'run-finished', reason: send?.reason ?? 'dry-run', exitCode: code, counts: result.counts } as { type: string });
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
    case 'quota':
      lines.push(`Stopped: ${error?.message ?? send.reason}`, `  ${error?.hint ?? ''}`, `  Then resume with: ${resume}`);
      break;
    case 'interrupted':
      lines.push(`Stopped by signal; progress is saved. Resume with: ${resume}`);
      break;
    case 'limit':
      lines.push(`Stopped after --limit; ${send.progress.remaining} left. Continue with: ${resume}`);
      break;
    case 'window':
      lines.push(
        `Outside the send window; nothing more to do now` +
          (send.reopensAt ? ` (next opening ${new Date(send.reopensAt).toISOString()})` : '') +
          `. Run again then: ${resume}`,
      );
      break;
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
