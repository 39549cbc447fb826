import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import { ensurePlan, type PlanEvent, type PlanSummary, type PreparedCampaign } from '../plan/planner.js';
import type { MediaFile, RkApi } from '../rk/types.js';
import { sendCampaign, type SendEvent, type SendGate, type SendOutcome } from '../send/sender.js';
import type { CampaignCounts, Lease, Store } from '../store/types.js';

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
  | { type: 'lease-taken-over'; previousOwner: string };

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
  /** A lease older than this is taken over (its owner died). @default 60000 */
  leaseStaleMs?: number;
  /** @default 10000 */
  heartbeatMs?: number;
}

/** What a run did. */
export interface RunResult {
  plan: PlanSummary | null;
  recovered: { requeued: number; unknown: number };
  send: SendOutcome | null;
  counts: CampaignCounts;
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
  let lease = await store.acquireLease(me, clock.now(), options.leaseStaleMs ?? 60_000);
  if (!lease.acquired && lease.holder.host === me.host && !processAlive(lease.holder.pid)) {
    // The holder ran on this machine and its process is gone (killed, crashed): no need to wait for staleness.
    lease = await store.acquireLease(me, clock.now(), 0);
  }
  if (!lease.acquired) throw new CampaignLockedError(lease.holder);
  let lostLease = false;
  const heartbeat = setInterval(() => {
    void store.heartbeat(campaign.id, owner, clock.now()).then((held) => {
      lostLease ||= !held;
    });
  }, options.heartbeatMs ?? 10_000);
  heartbeat.unref();
  try {
    await store.updateCampaign(campaign.id, { name: campaign.name, sourcePath: campaign.sourcePath, projectId: options.projectId }, clock.now());
    const plan = await ensurePlan({ store, clock, emit }, prepared, { projectId: options.projectId, replan: options.replan ?? false });
    const recovered = await store.recoverInFlight(campaign.id, clock.now(), campaign.idempotencyWindowMs);
    if (recovered.requeued + recovered.unknown > 0) emit({ type: 'recovered', ...recovered });
    if (options.resendUnknown || options.retryFailed) {
      const unknown = options.resendUnknown ? await store.requeueUnknown(campaign.id, clock.now()) : 0;
      const failed = options.retryFailed ? await store.requeueFailed(campaign.id, clock.now()) : 0;
      emit({ type: 'requeued', unknown, failed });
    }
    let send: SendOutcome | null = null;
    if (!options.dryRun) {
      const stopSignals = [options.stopSignal].filter((s): s is AbortSignal => s !== undefined);
      send = await sendCampaign(
        { api: deps.api, store, clock, emit },
        {
          campaignId: campaign.id,
          projectId: options.projectId,
          device: campaign.device,
          type: campaign.type,
          ratePerMinute: options.ratePerMinute ?? campaign.ratePerMinute,
          maxAttempts: campaign.maxAttempts,
          ...(options.media ? { media: options.media } : {}),
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(stopSignals.length > 0 ? { stopSignal: AbortSignal.any(stopSignals) } : {}),
          ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
          ...(options.gate ? { gate: options.gate } : {}),
          ...(options.noWait ? { noWait: true } : {}),
          ...(options.budget ? { budget: options.budget } : {}),
        },
      );
      const finished = send.reason === 'done' || send.reason === 'deadline';
      await store.updateCampaign(
        campaign.id,
        { lastStop: send.reason, ...(finished ? { finishedAt: clock.now() } : {}) },
        clock.now(),
      );
    }
    if (lostLease) {
      // Only possible if this process stalled past the stale limit; the transitions stayed guarded regardless.
      emit({ type: 'lease-taken-over', previousOwner: owner });
    }
    return { plan, recovered, send, counts: await store.counts(campaign.id) };
  } finally {
    clearInterval(heartbeat);
    await store.releaseLease(campaign.id, owner);
  }
}

/** Whether a process with this pid exists on this machine (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
