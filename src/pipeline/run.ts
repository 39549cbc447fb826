import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import { ensurePlan, type PlanEvent, type PlanSummary, type PreparedCampaign } from '../plan/planner.js';
import { watchSuppression } from '../plan/suppression-update.js';
import type { MediaFile, RkApi } from '../rk/types.js';
import { createScheduleGate, latenessRefusal, ScheduleRefusedError } from '../schedule/gate.js';
import type { MonthlyQuota, QuotaCheck } from '../schedule/quota.js';
import type { Schedule } from '../schedule/schema.js';
import { formatInstant } from '../schedule/window.js';
import type { BackoffOptions } from '../send/backoff.js';
import { sendCampaign, type SendEvent, type SendGate, type SendOutcome } from '../send/sender.js';
import { createRowMediaReader } from '../send/media-read.js';
import { protectionFor } from '../send/protection.js';
import { fencedStore } from '../store/fence.js';
import { LeaseLostError, type CampaignCounts, type Lease } from '../store/types.js';
import type { Store } from '../store/port.js';

/** A run lock whose heartbeat is older than this is taken over: its owner died. Heartbeats come every 10 s. */
export const DEFAULT_LEASE_STALE_MS = 60_000;

/** A running campaign applies an updated suppression list within this long (twice over the one-minute promise). */
export const DEFAULT_SUPPRESSION_CHECK_MS = 30_000;

/** Another process is running this campaign. */
export class CampaignLockedError extends Error {
  constructor(readonly holder: Lease) {
    super(
      `Campaign ${holder.campaignId} is being run by another process (pid ${holder.pid} on ${holder.host}, ` +
        `last heartbeat ${new Date(holder.heartbeatAt).toISOString()}).`,
    );
    this.name = 'CampaignLockedError';
  }
}

/** Events of a whole run: the stages' events plus the run's own. */
export type RunEvent =
  | PlanEvent
  | SendEvent
  | { type: 'recovered'; requeued: number; unknown: number }
  | { type: 'requeued'; unknown: number; failed: number }
  | { type: 'lease-lost'; owner: string }
  /** The quota pre-flight, before the first send. */
  | ({ type: 'quota-checked' } & QuotaCheck)
  /** `end_at` passed: `count` rows that were still to be sent are now `expired`. */
  | { type: 'expired'; count: number; endAt: number };

/** What a run needs from the outside. */
export interface RunDeps {
  store: Store;
  api: RkApi;
  clock: Clock;
  emit: (event: RunEvent) => void;
}

/** Options of one `run`. */
export interface RunOptions {
  /** Stable id of the project (hash of the API key): the shared rate and quota are per project. */
  projectId: string;
  replan?: boolean;
  /** Resend `unknown` rows (crashed in flight longer ago than the idempotency window). */
  resendUnknown?: boolean;
  /** Give `failed_to_send` rows a fresh set of attempts. */
  retryFailed?: boolean;
  /** Messages per minute; overrides the campaign's `rate_per_minute`. */
  ratePerMinute?: number;
  concurrency?: number;
  limit?: number;
  /** Plan only. */
  dryRun?: boolean;
  media?: MediaFile;
  stopSignal?: AbortSignal;
  abortSignal?: AbortSignal;
  gate?: SendGate;
  noWait?: boolean;
  budget?: () => boolean | Promise<boolean>;
  /**
   * The campaign's schedule: builds the gate (unless `gate` is given), refuses a start later than `max_lateness`,
   * and expires what is left at `end_at`. Ignored by `dryRun`.
   */
  schedule?: Schedule;
  /** The project's local monthly quota: a pre-flight event before sending and the send budget (unless `budget` is given). */
  quota?: MonthlyQuota;
  /** Delays between attempts of one message (5xx, resets, timeouts). */
  backoff?: BackoffOptions;
  /** Longest 429 pause the run takes; a longer one stops it (`rate_limit_pause`). See `SendOptions`. */
  maxRateLimitPauseMs?: number;
  /** A lease older than this is taken over (its owner died). @default 60000 */
  leaseStaleMs?: number;
  /** @default 10000 */
  heartbeatMs?: number;
  /** How often a run looks for changed suppression lists and applies them. @default 30000 */
  suppressionCheckMs?: number;
  /** Send on regardless of the delivery-health breaker. */
  ignoreHealth?: boolean;
  /** How often and how fast the delivery-health breaker checks statuses. */
  healthTuning?: { checkEveryMs?: number; ratePerMinute?: number };
}

/** What a run did. */
export interface RunResult {
  plan: PlanSummary | null;
  recovered: { requeued: number; unknown: number };
  send: SendOutcome | null;
  counts: CampaignCounts;
  /** Rows this run turned `expired` because `end_at` passed. */
  expired: number;
  /** The quota pre-flight, when a quota was given. */
  quota: QuotaCheck | null;
}

/**
 * One run of a campaign: lock it, plan (or check the frozen plan), recover what a crash left in flight, send.
 * Sweeping is the caller's next step. The lock is released whatever happens.
 */
export async function runCampaign(deps: RunDeps, prepared: PreparedCampaign, options: RunOptions): Promise<RunResult> {
  const { store, clock, emit } = deps;
  const campaign = prepared.campaign;
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  await store.ensureCampaign({
    id: campaign.id,
    name: campaign.name,
    projectId: options.projectId,
    sourcePath: campaign.sourcePath,
    now: clock.now(),
  });
  const me = { campaignId: campaign.id, owner, pid: process.pid, host: hostname() };
  let lease = await store.acquireLease(me, clock.now(), options.leaseStaleMs ?? DEFAULT_LEASE_STALE_MS);
  if (!lease.acquired && lease.holder.host === me.host && !processAlive(lease.holder.pid)) {
    // The holder ran on this machine and its process is gone (killed, crashed): no need to wait for staleness.
    lease = await store.acquireLease(me, clock.now(), 0);
  }
  if (!lease.acquired) throw new CampaignLockedError(lease.holder);
  // Aborted when a heartbeat finds the lease gone: sending stops at once (its transitions are fenced regardless).
  const leaseGone = new AbortController();
  const heartbeat = setInterval(() => {
    void store.heartbeat(campaign.id, owner, clock.now()).then(
      (held) => {
        if (!held) leaseGone.abort();
      },
      // A failed heartbeat (disk full, locked) is tried again next tick; the send path meets the same failure and stops.
      () => undefined,
    );
  }, options.heartbeatMs ?? 10_000);
  heartbeat.unref();
  let stopWatching: (() => Promise<void>) | undefined;
  try {
    await store.updateCampaign(campaign.id, { name: campaign.name, sourcePath: campaign.sourcePath, projectId: options.projectId }, clock.now());
    const plan = await ensurePlan({ store, clock, emit }, prepared, { projectId: options.projectId, replan: options.replan ?? false });
    const recovered = await store.recoverInFlight(campaign.id, clock.now(), campaign.idempotencyWindowMs);
    if (recovered.requeued + recovered.unknown > 0) emit({ type: 'recovered', ...recovered });
    if (!options.dryRun) {
      stopWatching = watchSuppression({ store, clock, emit }, campaign, {
        intervalMs: options.suppressionCheckMs ?? DEFAULT_SUPPRESSION_CHECK_MS,
        appliedHash: prepared.fingerprint.suppress,
      });
    }
    if (options.resendUnknown || options.retryFailed) {
      const unknown = options.resendUnknown ? await store.requeueUnknown(campaign.id, clock.now()) : 0;
      const failed = options.retryFailed ? await store.requeueFailed(campaign.id, clock.now()) : 0;
      emit({ type: 'requeued', unknown, failed });
    }
    let send: SendOutcome | null = null;
    let expired = 0;
    let quota: QuotaCheck | null = null;
    const schedule = options.dryRun ? undefined : options.schedule;
    if (schedule) await refuseBySchedule({ store, clock, emit }, campaign.id, schedule);
    let planned: number | undefined;
    if (options.quota && !options.dryRun) {
      const pending = await store.counts(campaign.id);
      planned = pending.byState.planned;
      quota = await options.quota.check(pending.byState.planned + pending.byState.sending);
      emit({ type: 'quota-checked', ...quota });
    }
    const gate = options.gate ?? (schedule ? createScheduleGate(schedule) : undefined);
    const budgetHooks = options.budget
      ? { budget: options.budget }
      : options.quota
        ? { budget: () => options.quota!.reserve(), budgetRelease: (created: boolean) => options.quota!.release(created) }
        : {};
    if (!options.dryRun) {
      const stopSignals = [options.stopSignal, leaseGone.signal].filter((s): s is AbortSignal => s !== undefined);
      send = await sendCampaign(
        // Every transition the sender writes holds only while this run still holds the lease.
        { api: deps.api, store: fencedStore(store, { campaignId: campaign.id, owner }), clock, emit },
        {
          campaignId: campaign.id,
          projectId: options.projectId,
          device: campaign.device,
          ...protectionFor({ api: deps.api, store, clock, emit }, campaign, options),
          type: campaign.type,
          ratePerMinute: options.ratePerMinute ?? campaign.ratePerMinute,
          maxAttempts: campaign.maxAttempts,
          ...(options.backoff ? { backoff: options.backoff } : {}),
          ...(options.maxRateLimitPauseMs !== undefined ? { maxRateLimitPauseMs: options.maxRateLimitPauseMs } : {}),
          ...(options.media ? { media: options.media } : {}),
          // Issue 11: each row's own file, read and checked against its planned hash when it is sent.
          ...(campaign.mediaTemplate !== undefined && campaign.type !== 'text'
            ? { mediaFor: createRowMediaReader({ baseDir: campaign.baseDir, type: campaign.type, maxBytes: campaign.mediaMaxBytes }) }
            : {}),
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(planned !== undefined ? { planned } : {}),
          ...(stopSignals.length > 0 ? { stopSignal: AbortSignal.any(stopSignals) } : {}),
          ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
          ...(gate ? { gate } : {}),
          ...(options.noWait ? { noWait: true } : {}),
          ...budgetHooks,
        },
      );
      // A heartbeat may not have come since this process woke from a freeze: ask the store once more.
      if (leaseGone.signal.aborted || !(await store.heartbeat(campaign.id, owner, clock.now()))) throw new LeaseLostError(campaign.id, owner);
      if (send.reason === 'deadline' && schedule?.endAt !== undefined) {
        expired = await expireRest({ store, clock, emit }, campaign.id, schedule.endAt, schedule.window?.timezone);
      }
      const finished = send.reason === 'done' || send.reason === 'deadline';
      await store.updateCampaign(
        campaign.id,
        { lastStop: send.reason, lastStopDetail: send.error?.message ?? null, ...(finished ? { finishedAt: clock.now() } : {}) },
        clock.now(),
      );
    }
    if (leaseGone.signal.aborted) {
      // A dry run (a send throws LeaseLostError above): only if this process stalled past the stale limit.
      emit({ type: 'lease-lost', owner });
    }
    return { plan, recovered, send, counts: await store.counts(campaign.id), expired, quota };
  } finally {
    await stopWatching?.();
    clearInterval(heartbeat);
    await store.releaseLease(campaign.id, owner);
  }
}

/** Whether a process with this pid exists on this machine (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type ScheduleDeps = Pick<RunDeps, 'store' | 'clock' | 'emit'>;

/**
 * Before any send, with the lease held: at or after `end_at` the rest expires and the run is refused (`ended`);
 * a first run later than `max_lateness` is refused (`late`) and nothing changes.
 */
async function refuseBySchedule(deps: ScheduleDeps, campaignId: string, schedule: Schedule): Promise<void> {
  const { store, clock } = deps;
  const now = clock.now();
  const zone = schedule.window?.timezone;
  if (schedule.endAt !== undefined && now >= schedule.endAt) {
    const expired = await expireRest(deps, campaignId, schedule.endAt, zone);
    await store.updateCampaign(campaignId, { lastStop: 'expired', finishedAt: now }, now);
    throw new ScheduleRefusedError(
      'ended',
      `The campaign ended at its end_at (${formatInstant(schedule.endAt, zone)}); nothing was sent` +
        (expired > 0 ? ` and the ${expired} message(s) not yet sent are now marked expired.` : ' (nothing was left to send).'),
      'The report lists the expired rows. To send them anyway, move schedule.end_at later, then run again with --replan.',
      expired,
    );
  }
  const record = await store.getCampaign(campaignId);
  const late = latenessRefusal(schedule, record?.firstSendAt ?? null, now);
  if (late) {
    await store.updateCampaign(campaignId, { lastStop: 'late' }, now);
    throw new ScheduleRefusedError(
      'late',
      late,
      'A server that comes back late must not fire an old campaign. If it should still go out, move schedule.start_at ' +
        '(or raise or remove max_lateness) and run again.',
    );
  }
}

/** Marks every row still `planned` as `expired` (deadline passed) and says so. */
async function expireRest(deps: ScheduleDeps, campaignId: string, endAt: number, zone: string | undefined): Promise<number> {
  const now = deps.clock.now();
  const count = await deps.store.expirePlanned(campaignId, `end_at (${formatInstant(endAt, zone)}) passed before it was sent`, now);
  if (count > 0) deps.emit({ type: 'expired', count, endAt });
  return count;
}
