import type { Argv } from 'yargs';
import type { RkClient } from '../../rk/client.js';
import type { Store } from '../../store/port.js';
import { defineCommand } from '../command.js';
import { parseDurationFlag, wholeNumbers, withCommonFlags, type DbFlag, type OutputFlags } from '../flags.js';
import { installStopSignals } from '../signals.js';

/** Flags of `rk-broadcast run`. */
interface RunArgs extends DbFlag, OutputFlags {
  sweep?: boolean;
  sweepUntilFinal?: boolean;
  sweepTimeout?: string;
  campaign: string;
  rate?: number;
  limit?: number;
  concurrency?: number;
  dryRun?: boolean;
  replan?: boolean;
  resendUnknown?: boolean;
  retryFailed?: boolean;
  /** False with `--no-wait`: exit 7 instead of waiting for `start_at` or the window. */
  wait?: boolean;
  ignoreHealth?: boolean;
}

/** `rk-broadcast run CAMPAIGN`: plan, send at the campaign's rate with checkpoints, resume after any stop; then sweep. */
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
        .option('ignore-health', { type: 'boolean', default: false, describe: 'Send on even if many recent messages failed (the delivery-health breaker)' })
        .check(wholeNumbers(['rate', 'limit', 'concurrency'], { limit: 0 }))
        .example('$0 run campaigns/promo.yaml', 'Send (or resume) a campaign')
        .example('$0 run campaigns/promo.yaml --limit 5', 'Send a test batch of 5'),
    ),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ systemClock }, { quotaSettingsFor }, { runAndSweep }, campaignInput, context, failure, out, runView, { printSummary }, sweepView] =
      await Promise.all([
        import('../../core/clock.js'),
        import('../../schedule/quota.js'),
        import('../../pipeline/run-and-sweep.js'),
        import('../campaign.js'),
        import('../context.js'),
        import('../failure.js'),
        import('../output.js'),
        import('../run-view.js'),
        import('../run-summary.js'),
        import('../sweep-view.js'),
      ]);
    const output = out.outputFor(args, io);
    let secrets = campaignInput.secretsOf(io);
    const signals = installStopSignals(
      (text) => output.line(text, 'important'),
      {
        stopping: 'finishing the messages in flight, then stopping. Send it again to stop at once.',
        abortingNow: 'Stopping at once. Messages in flight are resent safely (same request id) by the next run.',
      },
      io.exit,
    );
    let store: Store | undefined;
    let client: RkClient | undefined;
    let view: ReturnType<typeof runView.withScheduleView> | undefined;
    try {
      const untilFinal = args.sweepUntilFinal === true;
      const sweepTimeoutMs = parseDurationFlag('--sweep-timeout', args.sweepTimeout, '--sweep-until-final --sweep-timeout 30m');
      const { campaign, credentials, projectId } = await campaignInput.loadCampaignAndCredentials(args.campaign, io);
      secrets = campaignInput.secretsOf(io, campaign);
      store = await context.openStore(args.db, io);
      client = context.createClient(credentials, io.env);
      output.line(`Campaign ${campaign.name} (${campaign.id}) · state in ${context.describeDb(args.db, io)}`);
      const scheduleView = runView.withScheduleView(output, runView.runEventHandler(io, output), campaign.schedule?.window?.timezone);
      view = scheduleView;
      const { run: result, exitCode } = await runAndSweep({
        campaign,
        projectId,
        store,
        api: client,
        clock: systemClock,
        emit: scheduleView.emit,
        emitSweep: sweepView.sweepAfterRunHandler(output, scheduleView),
        flags: { ...args, noWait: args.wait === false },
        stopSignal: signals.stop.signal,
        abortSignal: signals.abort.signal,
        quotaSettings: quotaSettingsFor(io.env, campaign),
        tuning: context.runTuningFrom(io.env),
        sweep: args.sweep === false ? false : { untilFinal, ...(sweepTimeoutMs !== undefined ? { timeoutMs: sweepTimeoutMs } : {}) },
      });
      scheduleView.dispose();
      output.stopProgress();
      printSummary(io, output, args, result, exitCode, secrets, campaign.schedule);
      return exitCode;
    } catch (error) {
      view?.dispose();
      output.stopProgress();
      const shown = failure.describeFailure(error);
      failure.printFailure(io, 'run', shown, { json: args.json === true, secrets });
      return shown.exitCode;
    } finally {
      signals.dispose();
      await client?.close().catch(() => undefined);
      await store?.close();
    }
  },
});
