import type { Campaign } from '../config/campaign.js';
import type { Clock } from '../core/clock.js';
import { EXIT, exitCodeForSend, exitCodeForSweep } from '../core/exit-codes.js';
import { prepareCampaign } from '../plan/planner.js';
import { loadMedia } from '../rk/media.js';
import type { RkApi } from '../rk/types.js';
import { MonthlyQuota, type QuotaReservations, type QuotaSettings } from '../schedule/quota.js';
import type { BackoffOptions } from '../send/backoff.js';
import type { SendStopReason } from '../send/sender.js';
import type { Store } from '../store/port.js';
import type { SweepEvent, SweepOutcome } from '../sweep/index.js';
import { runCampaign, type RunEvent, type RunResult } from './run.js';

/** Flags of one campaign run, shared by `run` (one campaign) and `due` (several at once). */
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
  /** Send on regardless of the delivery-health breaker (issue 12). */
  ignoreHealth?: boolean;
}

/** What one run of a loaded campaign needs: its ports, its flags and the settings read from the environment. */
export interface CampaignRunSetup {
  campaign: Campaign;
  projectId: string;
  store: Store;
  api: RkApi;
  clock: Clock;
  emit: (event: RunEvent) => void;
  flags: CampaignRunFlags;
  stopSignal: AbortSignal;
  abortSignal: AbortSignal;
  /** The project's monthly quota and the zone its months begin in (`quotaSettingsFor`). */
  quotaSettings: QuotaSettings;
  /** Reservations of the project's quota shared by every campaign of it in this process (`due`). */
  quotaReservations?: QuotaReservations;
  /** Settings from the environment that tune a run; each one's default when left out. */
  tuning?: RunTuning;
}

/** Settings that tune a run (`RK_RETRY_*`, `RK_SUPPRESSION_CHECK_MS`, `RK_MAX_RATE_LIMIT_PAUSE`), for `run` and `due` alike. */
export interface RunTuning {
  /** Delays between attempts of one message. */
  backoff?: BackoffOptions;
  /** How often a running campaign looks for changed suppression lists. */
  suppressionCheckMs?: number;
  /** The longest pause a 429 may impose before the run stops (exit 12). */
  maxRateLimitPauseMs?: number;
  /** How often and how fast the delivery-health breaker checks statuses (`RK_HEALTH_CHECK_MS`, `RK_HEALTH_RATE`). */
  healthTuning?: { checkEveryMs?: number; ratePerMinute?: number };
  /** How long a run lock lives without a heartbeat before another runner takes it over (`RK_LEASE_TIMEOUT`). */
  leaseStaleMs?: number;
  /** How often the run lock's heartbeat is written (a fraction of `leaseStaleMs`). */
  heartbeatMs?: number;
}

/**
 * Runs one loaded campaign with every guarantee of `run`: compiles it (recipient zones from the schedule's
 * `timezone_column`), loads its media, and hands it to `runCampaign` with its schedule (gate, lateness, deadline)
 * and the project's monthly quota.
 */
export async function runLoadedCampaign(setup: CampaignRunSetup): Promise<RunResult> {
  const { campaign, flags } = setup;
  // The stored fingerprint lets an unchanged recipient CSV skip its hash (a resume of a big campaign).
  const known = (await setup.store.getCampaign(campaign.id))?.fingerprint;
  const prepared = await prepareCampaign(campaign, { timezoneColumn: campaign.schedule?.window?.timezoneColumn, known });
  const media = campaign.media && campaign.type !== 'text' ? await loadMedia(campaign.media, campaign.type, campaign.mediaMaxBytes) : undefined;
  const quota = new MonthlyQuota(setup.store, setup.clock, setup.projectId, setup.quotaSettings, setup.quotaReservations);
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
    ...(flags.ignoreHealth ? { ignoreHealth: true } : {}),
    ...(media ? { media } : {}),
    ...setup.tuning,
  });
}

/** The status sweep that ends a run: one pass (the default), or passes until every status is final. */
export interface SweepAfterRun {
  untilFinal: boolean;
  /** Bound for `untilFinal`. @default 3600000 (1 h) */
  timeoutMs?: number;
}

/** How sending stopped for a sweep to follow: it sent what it could (a dry run, a refusal or a stop does not). */
const SWEEP_AFTER: readonly SendStopReason[] = ['done', 'limit', 'deadline', 'window', 'caps', 'health', 'devices'];

/** What `runAndSweep` needs beyond one run: where sweep events go, and which sweep (false: none). */
export interface RunAndSweepSetup extends CampaignRunSetup {
  emitSweep: (event: SweepEvent) => void;
  sweep: SweepAfterRun | false;
}

/** What a run followed by its sweep did, and the exit code it comes to. */
export interface RunAndSweepResult {
  /** The run; its `counts` are read again after the sweep, so they hold the statuses it found. */
  run: RunResult;
  /** The sweep, or null when none ran (`--no-sweep`, a dry run, or a send stopped by 401, 403 or a signal). */
  sweep: SweepOutcome | null;
  /** The run's exit code (`exitCodeForSend`); when that is 0, the sweep's (`exitCodeForSweep`). */
  exitCode: number;
}

/**
 * A campaign end to end, as `run` and `due` both do it: the run (plan, recover, send), then, when it sent what
 * it could, a status sweep with the same stop signal. A run that throws (locked, refused, bad input) throws here.
 */
export async function runAndSweep(setup: RunAndSweepSetup): Promise<RunAndSweepResult> {
  const result = await runLoadedCampaign(setup);
  const { send } = result;
  let exitCode: number = exitCodeForSend(send?.reason ?? null, result.counts.byState.failed_to_send + result.counts.byState.unknown);
  let sweep: SweepOutcome | null = null;
  if (setup.sweep && send && SWEEP_AFTER.includes(send.reason)) {
    const { untilFinal } = setup.sweep;
    // Loaded when a sweep runs, not on the way to a resume's first send.
    const { sweepCampaign } = await import('../sweep/index.js');
    sweep = await sweepCampaign(
      { api: setup.api, store: setup.store, clock: setup.clock, emit: setup.emitSweep },
      {
        campaignId: setup.campaign.id,
        untilFinal,
        stopSignal: setup.stopSignal,
        ...(untilFinal ? { timeoutMs: setup.sweep.timeoutMs ?? 3_600_000 } : {}),
      },
    );
    result.counts = await setup.store.counts(setup.campaign.id);
    const sweepCode = exitCodeForSweep(sweep.reason);
    if (exitCode === EXIT.ok && sweepCode !== EXIT.ok) exitCode = sweepCode;
  }
  return { run: result, sweep, exitCode };
}
