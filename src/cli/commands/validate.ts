import { relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { Campaign } from '../../config/campaign.js';
import { formatDuration } from '../../core/duration.js';
import { EXIT } from '../../core/exit-codes.js';
import type { ValidationReport } from '../../plan/planner.js';
import type { QuotaUsage } from '../../schedule/quota.js';
import { defineCommand } from '../command.js';
import { withDbFlag, withJsonFlag } from '../flags.js';
import { outLine, type CliIo } from '../io.js';

/** Flags of `rk-broadcast validate`. */
interface ValidateArgs {
  campaign: string;
  db?: string;
  json?: boolean;
  previews?: number;
  invalid?: number;
}

/**
 * `rk-broadcast validate CAMPAIGN`: checks the campaign file, CSV, template and media, and shows what a run
 * would send. Sends nothing and writes no state. Exits 2 when the campaign itself cannot work.
 */
export const validateCommand = defineCommand<ValidateArgs>({
  command: 'validate <campaign>',
  describe: 'Check a campaign and preview it, without sending or writing anything',
  builder: (y: Argv) =>
    withDbFlag(
      withJsonFlag(
        y
          .positional('campaign', { type: 'string', demandOption: true, describe: 'Campaign file (YAML or JSON)' })
          .option('previews', { type: 'number', default: 3, describe: 'How many rendered messages to show' })
          .option('invalid', { type: 'number', default: 10, describe: 'How many invalid rows to list' }),
        'Print the result as one JSON object',
      ),
      'State database, read (never created) for the quota check',
    ).example('$0 validate campaigns/promo.yaml', 'Check before running'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ loadCampaign }, { prepareCampaign, validateRows }, { loadMedia }, { describeSchedule }, { describeFailure, printFailure }] = await Promise.all([
      import('../../config/campaign.js'),
      import('../../plan/planner.js'),
      import('../../rk/media.js'),
      import('../../schedule/describe.js'),
      import('../failure.js'),
    ]);
    try {
      const campaign = await loadCampaign(resolve(io.cwd, args.campaign));
      const prepared = await prepareCampaign(campaign, { timezoneColumn: campaign.schedule?.window?.timezoneColumn });
      if (campaign.media && campaign.type !== 'text') await loadMedia(campaign.media, campaign.type, campaign.mediaMaxBytes);
      const report = await validateRows(prepared, { previews: args.previews ?? 3, invalidSamples: args.invalid ?? 10 });
      // Issue 12: with pacing, the devices' mean gap may set a slower pace than the rate.
      const pace = Math.round((await import('../../send/eta.js')).pacedRatePerMinute(campaign) * 10) / 10;
      const durationMs = (report.sendable * 60_000) / pace;
      const schedule = describeSchedule(campaign, report.sendable, Date.now(), await quotaUsageIfKnown(campaign, args.db, io));
      const usable = report.sendable > 0;
      if (args.json) {
        const { lines, ...when } = schedule;
        outLine(io, JSON.stringify({ ok: usable, campaign: { id: campaign.id, name: campaign.name }, ...report, estimatedDurationMs: durationMs, schedule: when }));
      } else {
        printReport(io, args.campaign, campaign.name, campaign.id, pace, report, durationMs);
        for (const line of schedule.lines) outLine(io, line);
      }
      return usable ? EXIT.ok : EXIT.invalidInput;
    } catch (error) {
      const failure = describeFailure(error);
      printFailure(io, 'validate', failure, { json: args.json === true, secrets: [io.env.RK_API_SECRET ?? ''] });
      return failure.exitCode;
    }
  },
});

/**
 * The project's usage this month, when it can be known without writing anything: credentials are set and the
 * state database already exists. Otherwise undefined (the schedule lines then say only what the quota is).
 */
async function quotaUsageIfKnown(campaign: Campaign, dbFlag: string | undefined, io: CliIo): Promise<QuotaUsage | undefined> {
  const [{ resolveCredentials }, { systemClock }, { projectIdFor }, { MonthlyQuota, quotaSettingsFor }, { openStoreForReading }] = await Promise.all([
    import('../../config/env.js'),
    import('../../core/clock.js'),
    import('../../plan/fingerprint.js'),
    import('../../schedule/quota.js'),
    import('../context.js'),
  ]);
  let projectId: string;
  try {
    const credentials = resolveCredentials(io.env, { apiKeyEnv: campaign.apiKeyEnv, apiSecretEnv: campaign.apiSecretEnv });
    projectId = projectIdFor(credentials.apiKey, credentials.baseUrl);
  } catch {
    return undefined;
  }
  const store = await openStoreForReading(dbFlag, io);
  if (!store) return undefined;
  try {
    return await new MonthlyQuota(store, systemClock, projectId, quotaSettingsFor(io.env, campaign)).usage();
  } finally {
    await store.close();
  }
}

function printReport(
  io: CliIo,
  path: string,
  name: string,
  id: string,
  rate: number,
  r: ValidationReport,
  durationMs: number,
): void {
  const print = (text = '') => outLine(io, text);
  print(`Campaign ${name} (${id}) from ${relative(io.cwd, resolve(io.cwd, path)) || path}`);
  print(`  CSV: ${r.rows} rows, delimiter "${r.delimiter}"${r.delimiterDetected ? ' (detected)' : ''}, columns: ${r.columns.join(', ')}`);
  print(`  sendable ${r.sendable} · invalid ${r.invalid} · duplicate ${r.duplicate} · suppressed ${r.suppressed}`);
  if (r.suppressionInvalidLines > 0) print(`  note: ${r.suppressionInvalidLines} line(s) of the suppression lists hold no valid number and were ignored`);
  if (r.invalidSamples.length > 0) {
    print();
    print(`Invalid rows${r.invalid > r.invalidSamples.length ? ` (first ${r.invalidSamples.length} of ${r.invalid})` : ''}:`);
    for (const s of r.invalidSamples) print(`  line ${s.line}${s.rawPhone ? ` (${s.rawPhone})` : ''}: ${s.reason}`);
  }
  if (r.mediaInvalidSamples.length > 0) {
    print();
    print(`Rows whose media file cannot be sent${r.mediaInvalid > r.mediaInvalidSamples.length ? ` (first ${r.mediaInvalidSamples.length} of ${r.mediaInvalid})` : ` (${r.mediaInvalid})`}:`);
    for (const s of r.mediaInvalidSamples) print(`  line ${s.line}: ${s.reason}`);
  }
  if (r.variants) {
    print();
    print('Variants (share of recipients: planned rows, and expected from the weights):');
    for (const v of r.variants) {
      const actual = r.sendable > 0 ? Math.round((v.rows / r.sendable) * 1000) / 10 : 0;
      print(`  ${v.name}: ${v.rows} row(s), ${actual}% (weight ${v.weight}, expected ${Math.round(v.share * 1000) / 10}%)`);
    }
  }
  if (r.previews.length > 0) {
    print();
    print('Previews:');
    for (const p of r.previews) {
      print(`--- line ${p.line} -> ${p.phone}${p.variant ? ` (variant ${p.variant})` : ''}`);
      for (const l of p.text.split('\n')) print(`  ${l}`);
      if (p.payload) print(`  payload: ${JSON.stringify(p.payload)}`);
      if (p.mediaFile) print(`  attaches: ${p.mediaFile}`);
    }
  }
  print();
  print(`Estimated duration at ${rate}/min: ${formatDuration(durationMs)} for ${r.sendable} message(s).`);
  if (r.sendable === 0) print('Nothing can be sent: fix the rows above (or the phone column / template) first.');
  else print(`Looks good. Send with: rk-broadcast run ${path}`);
}
