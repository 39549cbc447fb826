import type { Argv } from 'yargs';
import { exitCodeForSweep } from '../../core/exit-codes.js';
import type { RkClient } from '../../rk/client.js';
import type { Store } from '../../store/port.js';
import { defineCommand } from '../command.js';
import { parseDurationFlag, wholeNumbers, withCommonFlags, type DbFlag, type OutputFlags } from '../flags.js';
import { installStopSignals } from '../signals.js';

/** Flags of `rk-broadcast sweep`. */
interface SweepArgs extends DbFlag, OutputFlags {
  campaign: string;
  untilFinal?: boolean;
  timeout?: string;
  concurrency?: number;
  rate?: number;
  shareRate?: boolean;
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
        .check(wholeNumbers(['rate', 'concurrency']))
        .example('$0 sweep campaigns/promo.yaml', 'One pass over the messages not final yet')
        .example('$0 sweep campaigns/promo.yaml --until-final --timeout 30m', 'Keep checking for up to 30 minutes'),
    ),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ systemClock }, { sendSlotGate, sweepCampaign }, campaignInput, context, failure, { outputFor }, sweepView] =
      await Promise.all([
        import('../../core/clock.js'),
        import('../../sweep/index.js'),
        import('../campaign.js'),
        import('../context.js'),
        import('../failure.js'),
        import('../output.js'),
        import('../sweep-view.js'),
      ]);
    const output = outputFor(args, io);
    let secrets = campaignInput.secretsOf(io);
    // First signal: stop (requests in flight are cancelled; every recorded status is kept). Second: exit at once.
    const signals = installStopSignals((text) => output.line(text, 'important'), { stopping: 'stopping the sweep (every status already checked is saved).' }, io.exit);
    let store: Store | undefined;
    let client: RkClient | undefined;
    try {
      const timeoutMs = parseDurationFlag('--timeout', args.timeout, '--until-final --timeout 30m');
      const { campaign, credentials, projectId } = await campaignInput.loadCampaignAndCredentials(args.campaign, io);
      secrets = campaignInput.secretsOf(io, campaign);
      const opened = (store = await context.openStore(args.db, io));
      if (!(await opened.getCampaign(campaign.id))) {
        throw new failure.InputError(
          `Campaign ${campaign.id} has no state in this database: nothing was sent yet.`,
          `Run it first (rk-broadcast run ${args.campaign}), or point --db at the database it was run with.`,
        );
      }
      client = context.createClient(credentials, io.env);
      const outcome = await sweepCampaign(
        { api: client, store: opened, clock: systemClock, emit: sweepView.sweepEventHandler(output) },
        {
          campaignId: campaign.id,
          concurrency: args.concurrency ?? 4,
          ratePerMinute: args.rate ?? 120,
          untilFinal: args.untilFinal === true,
          stopSignal: signals.stop.signal,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(args.shareRate ? { sharedGate: sendSlotGate({ store: opened, clock: systemClock, projectId, ratePerMinute: campaign.ratePerMinute }) } : {}),
        },
      );
      output.stopProgress();
      const code = exitCodeForSweep(outcome.reason);
      sweepView.printSweepSummary(io, output, args, outcome, code, secrets);
      return code;
    } catch (error) {
      output.stopProgress();
      const shown = failure.describeFailure(error);
      failure.printFailure(io, 'sweep', shown, { json: args.json === true, secrets });
      return shown.exitCode;
    } finally {
      signals.dispose();
      await client?.close().catch(() => undefined);
      await store?.close();
    }
  },
});
