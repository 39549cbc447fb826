import type { Argv } from 'yargs';
import type { Store } from '../../store/port.js';
import { defineCommand } from '../command.js';
import { withDbFlag, withJsonFlag, type DbFlag } from '../flags.js';

/** Flags of `rk-broadcast list`. */
interface ListArgs extends DbFlag {
  json?: boolean;
  verbose?: boolean;
}

/** `rk-broadcast list`: every campaign in the database with its state, counts and last activity. */
export const listCommand = defineCommand<ListArgs>({
  command: 'list',
  describe: 'List every campaign in the state database with its state, counts and last activity',
  builder: (y: Argv) =>
    withJsonFlag(withDbFlag(y), 'Print the campaigns as one JSON object')
      .option('verbose', { type: 'boolean', describe: "Show every campaign's detail line, not only those that need attention" })
      .example('$0 list', 'What is planned, waiting, running, done'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ systemClock }, { EXIT }, { overviewOf, printCampaignTable }, { describeDb, leaseTimingFrom, openStoreForReading }, { describeFailure, printFailure }, { errLine, outLine }] =
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
      store = await openStoreForReading(args.db, io);
      if (!store) {
        if (args.json) outLine(io, JSON.stringify({ campaigns: [] }));
        else errLine(io, `No campaigns yet: ${describeDb(args.db, io)} does not exist (it is created by the first run).`);
        return EXIT.ok;
      }
      const now = systemClock.now();
      const { leaseStaleMs } = leaseTimingFrom(io.env);
      const overviews = await Promise.all((await store.listCampaigns()).map((r) => overviewOf(store!, r, now, leaseStaleMs)));
      if (args.json) {
        outLine(io, JSON.stringify({ campaigns: overviews }));
        return EXIT.ok;
      }
      if (overviews.length === 0) {
        errLine(io, 'No campaigns in this database yet.');
        return EXIT.ok;
      }
      printCampaignTable(io, overviews, now, args.verbose === true);
      return EXIT.ok;
    } catch (error) {
      const failure = describeFailure(error);
      printFailure(io, 'list', failure, { json: args.json === true, secrets: [] });
      return failure.exitCode;
    } finally {
      await store?.close();
    }
  },
});

