import type { Argv } from 'yargs';
import { mostUrgentExitCode } from '../../core/exit-codes.js';
import type { DueEvent } from '../../pipeline/due.js';
import type { RkClient } from '../../rk/client.js';
import type { Store } from '../../store/port.js';
import type { SweepEvent } from '../../sweep/index.js';
import { defineCommand } from '../command.js';
import { withCommonFlags, type DbFlag, type OutputFlags } from '../flags.js';
import { prefixedIo, type CliIo } from '../io.js';
import type { EventOutput } from '../output.js';
import { installStopSignals } from '../signals.js';

/** Flags of `rk-broadcast due`. */
interface DueArgs extends DbFlag, OutputFlags {
  dir: string;
  /** Wait for a window that closes mid-run instead of exiting. @default false */
  wait?: boolean;
}

/**
 * `rk-broadcast due --dir campaigns/`: for cron or a systemd timer. Runs every scheduled campaign of the folder that
 * is due, concurrently in this process, each end to end as `run` does it (see `runDue`), and shows what each did
 * with its log lines prefixed by the campaign id. Exits 0 when there was nothing to do or all went well, else with
 * the most urgent exit code among the campaigns.
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
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ relative, resolve }, { systemClock }, { quotaSettingsFor }, { campaignFiles, runDue }, campaignInput, context, failure, out, runView, { printSummary }, { sweepAfterRunHandler }] =
      await Promise.all([
        import('node:path'),
        import('../../core/clock.js'),
        import('../../schedule/quota.js'),
        import('../../pipeline/due.js'),
        import('../campaign.js'),
        import('../context.js'),
        import('../failure.js'),
        import('../output.js'),
        import('../run-view.js'),
        import('../run-summary.js'),
        import('../sweep-view.js'),
      ]);
    // Several campaigns at once: log lines prefixed with the campaign id (no progress bars fighting each other).
    const mode = out.chooseMode(io, args.json === true) === 'json' ? 'json' : 'log';
    const logFile = out.openLogFile(args.logFile, io);
    const outputFor = (forIo: CliIo): EventOutput => new out.EventOutput(forIo, mode, out.verbosityOf(args), logFile ? { logFile } : {});
    const main = outputFor(io);
    const signals = installStopSignals(
      (text) => main.line(text, 'important'),
      {
        stopping: 'finishing the messages in flight, then stopping. Send it again to stop at once.',
        abortingNow: 'Stopping at once. Messages in flight are resent safely (same request id) by the next run.',
      },
      io.exit,
    );
    const clients = new Map<string, RkClient>();
    let store: Store | undefined;
    let secrets = campaignInput.secretsOf(io);
    const json = args.json === true;

    /** What each running campaign shows, by campaign id. */
    interface CampaignView {
      io: CliIo;
      output: EventOutput;
      run: ReturnType<typeof runView.withScheduleView>;
      sweep: (event: SweepEvent) => void;
    }
    const views = new Map<string, CampaignView>();
    const show = (event: DueEvent): void => {
      switch (event.type) {
        case 'not-due':
          main.line(`[${event.campaign}] not due: ${event.reason}`, event.why === 'unscheduled' ? 'info' : 'debug');
          main.json(event);
          return;
        case 'campaign-invalid':
          failure.printFailure(prefixedIo(io, `[${event.file}] `), 'due', failure.describeFailure(event.error), { json, secrets, extra: { file: event.file } });
          return;
        case 'campaign-started': {
          const { campaign, decision } = event;
          const campaignIo = prefixedIo(io, `[${campaign.id}] `);
          const output = outputFor(campaignIo);
          const run = runView.withScheduleView(output, runView.runEventHandler(campaignIo, output), campaign.schedule?.window?.timezone);
          const view: CampaignView = { io: campaignIo, output, run, sweep: sweepAfterRunHandler(output, run) };
          views.set(campaign.id, view);
          output.line(decision.action === 'send' ? `${decision.reason}: running ${campaign.name}` : decision.reason, 'info');
          return;
        }
        case 'run-event':
          // Tagged with the campaign, so the NDJSON of several campaigns in one stream can be told apart.
          views.get(event.campaign)?.run.emit(Object.assign({ campaign: event.campaign }, event.event));
          return;
        case 'sweep-event':
          views.get(event.campaign)?.sweep(Object.assign({ campaign: event.campaign }, event.event));
          return;
        case 'campaign-finished': {
          const view = views.get(event.campaign.id);
          if (!view) return;
          view.run.dispose();
          const { campaign, file, result } = event;
          printSummary(view.io, view.output, { campaign: file, id: campaign.id, ...(args.db ? { db: args.db } : {}) }, result.run, result.exitCode, secrets, campaign.schedule);
          return;
        }
        case 'campaign-locked': {
          const view = views.get(event.campaign);
          view?.run.dispose();
          const h = event.holder;
          view?.output.line(`skipped: another process is running it (pid ${h.pid} on ${h.host}, heartbeat ${new Date(h.heartbeatAt).toISOString()}).`, 'important');
          main.json({ type: 'locked', campaign: event.campaign, holder: { pid: h.pid, host: h.host, heartbeatAt: h.heartbeatAt } } as { type: string });
          return;
        }
        case 'campaign-ended': {
          const view = views.get(event.campaign);
          view?.run.dispose();
          // The expiry itself was already shown (the `expired` event).
          if (event.expired === 0) view?.output.line(event.message, 'important');
          main.json({ type: 'ended', campaign: event.campaign, expired: event.expired } as { type: string });
          return;
        }
        case 'campaign-failed': {
          const view = views.get(event.campaign);
          view?.run.dispose();
          failure.printFailure(view?.io ?? io, 'due', failure.describeFailure(event.error), { json, secrets, extra: { campaign: event.campaign } });
          return;
        }
      }
    };

    try {
      const dir = resolve(io.cwd, args.dir);
      const files = await campaignFiles(dir, args.dir);
      const opened = (store = await context.openStore(args.db, io));
      main.line(`due: ${files.length} campaign file(s) in ${relative(io.cwd, dir) || '.'} · state in ${context.describeDb(args.db, io)}`, 'debug');
      const { outcomes, due } = await runDue(
        {
          store: opened,
          clock: systemClock,
          load: async (file) => {
            const loaded = await campaignInput.loadCampaignAndCredentials(file, io);
            secrets = [...new Set([...secrets, ...campaignInput.secretsOf(io, loaded.campaign)])];
            return loaded;
          },
          apiFor: ({ projectId, credentials }) => {
            let client = clients.get(projectId);
            if (!client) clients.set(projectId, (client = context.createClient(credentials, io.env)));
            return client;
          },
          emit: show,
        },
        {
          files: files.map((file) => {
            const fromCwd = relative(io.cwd, file);
            return fromCwd && !fromCwd.startsWith('..') ? fromCwd : file;
          }),
          wait: args.wait === true,
          stopSignal: signals.stop.signal,
          abortSignal: signals.abort.signal,
          quotaSettingsFor: (campaign) => quotaSettingsFor(io.env, campaign),
          tuning: context.runTuningFrom(io.env),
        },
      );

      // What the errors mean to a person, and their exit codes, are the CLI's mapping.
      const shown = outcomes.map((o) => {
        if (o.status !== 'error') return o;
        const f = failure.describeFailure(o.error);
        return { campaign: o.campaign, status: o.status, exitCode: f.exitCode, detail: f.message };
      });
      const exitCode = mostUrgentExitCode(shown.map((o) => o.exitCode));
      const count = (status: (typeof shown)[number]['status']) => shown.filter((o) => o.status === status).length;
      main.json({ type: 'due-finished', exitCode, outcomes: shown } as { type: string });
      const idle = due === 0 && count('error') === 0;
      main.line(
        idle
          ? `due: nothing to do (${count('not-due')} campaign(s) not due).`
          : `due: ${count('ran')} run, ${count('locked')} skipped (running elsewhere), ${count('expired')} expired, ${count('not-due')} not due, ${count('error')} failed.`,
        idle ? 'info' : 'important',
      );
      return exitCode;
    } catch (error) {
      const shown = failure.describeFailure(error);
      failure.printFailure(io, 'due', shown, { json, secrets });
      return shown.exitCode;
    } finally {
      signals.dispose();
      await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
      await store?.close();
      await new Promise<void>((done) => (logFile ? logFile.end(done) : done()));
    }
  },
});
