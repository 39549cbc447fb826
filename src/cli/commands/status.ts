import type { Argv } from 'yargs';
import type { Store } from '../../store/port.js';
import { defineCommand } from '../command.js';
import { withDbFlag, withJsonFlag, type DbFlag } from '../flags.js';

/** Flags of `rk-broadcast status`. */
interface StatusArgs extends DbFlag {
  campaign: string;
  json?: boolean;
}

/** `rk-broadcast status CAMPAIGN`: one campaign's state, counts, lock, schedule and ETA (by id or campaign file). */
export const statusCommand = defineCommand<StatusArgs>({
  command: 'status <campaign>',
  describe: 'Show one campaign: state, counts, run lock, schedule and ETA',
  builder: (y: Argv) =>
    withJsonFlag(withDbFlag(y.positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign id, or its campaign file' })), 'Print the campaign as one JSON object')
      .example('$0 status demo-2026-12', 'By id')
      .example('$0 status campaigns/demo.yaml', 'By file'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ systemClock }, { EXIT }, overviews, { describeDb, leaseTimingFrom, openStoreForReading }, { describeFailure, InputError, printFailure }, { outLine }] =
      await Promise.all([
        import('../../core/clock.js'),
        import('../../core/exit-codes.js'),
        import('../campaign-overview.js'),
        import('../context.js'),
        import('../failure.js'),
        import('../io.js'),
      ]);
    let store: Store | undefined;
    try {
      const id = await overviews.campaignIdOf(args.campaign, io);
      store = await openStoreForReading(args.db, io);
      const record = store ? await store.getCampaign(id) : undefined;
      if (!record) {
        throw new InputError(
          `No campaign "${id}" in ${describeDb(args.db, io)}: it has not been run with this database yet.`,
          '`rk-broadcast list` shows the campaigns it holds; `rk-broadcast validate CAMPAIGN_FILE` previews one that has not run yet.',
        );
      }
      const now = systemClock.now();
      const overview = await overviews.overviewOf(store!, record, now, leaseTimingFrom(io.env).leaseStaleMs);
      if (args.json) outLine(io, JSON.stringify(overview));
      else overviews.printCampaignStatus(io, overview, now);
      return EXIT.ok;
    } catch (error) {
      const failure = describeFailure(error);
      printFailure(io, 'status', failure, { json: args.json === true, secrets: [] });
      return failure.exitCode;
    } finally {
      await store?.close();
    }
  },
});
