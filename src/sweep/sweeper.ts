import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import type { Clock } from '../core/clock.js';
import { errorFromTransport, type RkError } from '../rk/errors.js';
import type { MessageStatus, RkApi } from '../rk/types.js';
import { backoffDelay, type BackoffOptions } from '../send/backoff.js';
import { summarize, type RkErrorSummary } from '../send/sender.js';
import type { CampaignRecords } from '../core/campaign-records.js';
import type { SweepTarget } from '../store/types.js';
import type { StatusLedger } from './ports.js';
import { FINAL_API_STATUSES, isFinalApiStatus } from './final.js';
import type { StatusCallGate } from './gate.js';

/**
 * Why a sweep returned.
 * - `final`: no accepted message is waiting for a final status any more.
 * - `pass`: the one pass asked for is done; some messages are still waiting (sweep again later).
 * - `timeout`: `timeoutMs` passed with messages still waiting.
 * - `interrupted`: the stop signal fired; the next sweep carries on from the database.
 * - `auth` / `quota`: the API answered 401 / 403; no further call can succeed until the user acts.
 */
export type SweepStopReason = 'final' | 'pass' | 'timeout' | 'interrupted' | 'auth' | 'quota';

/** Delays between passes of an `untilFinal` sweep: `initialMs`, then multiplied by `factor`, up to `maxMs`. */
export interface PollBackoff {
  /** Wait before the second pass. @default 5000 */
  initialMs?: number;
  /** Growth of the wait after each pass. @default 2 */
  factor?: number;
  /** Longest wait between two passes. @default 120000 */
  maxMs?: number;
}

/** A snapshot of a sweep for bars, log lines and NDJSON. */
export interface SweepProgress {
  /** 1-based number of the current pass. */
  pass: number;
  /** Messages this pass set out to check. */
  total: number;
  /** Messages of this pass that got an answer (recorded) so far. */
  checked: number;
  /** Status calls of this pass that failed after their retries (left for the next pass). */
  errors: number;
  /** Accepted messages of the campaign by API status, as recorded now. */
  byStatus: Record<string, number>;
  /** Accepted messages whose status is not final yet. */
  pending: number;
  /** Status answers per minute over this pass so far. */
  ratePerMinute: number;
}

/** Events of the sweep stage, in the order they happen. */
export type SweepEvent =
  | {
      type: 'sweep-started';
      campaignId: string;
      /** Accepted messages whose status is not final. */
      pending: number;
      concurrency: number;
      ratePerMinute: number;
      untilFinal: boolean;
      /** When the sweep gives up (ms since epoch), or null without a timeout. */
      deadline: number | null;
    }
  | { type: 'sweep-pass-started'; pass: number; pending: number }
  | { type: 'sweep-progress'; progress: SweepProgress }
  | { type: 'status-retry'; messageId: number; attempt: number; delayMs: number; error: RkErrorSummary }
  | { type: 'status-error'; messageId: number; attempts: number; error: RkErrorSummary }
  | { type: 'status-not-found'; messageId: number; uuid: string }
  | { type: 'rate-limited'; retryAfterMs: number }
  | { type: 'sweep-pass-finished'; pass: number; checked: number; changed: number; errors: number; pending: number; durationMs: number }
  | { type: 'sweep-waiting'; nextPass: number; nextPassAt: number; pending: number }
  | { type: 'sweep-stopped'; reason: SweepStopReason; pending: number; error?: RkErrorSummary };

/** The result of `sweepCampaign`. */
export interface SweepOutcome {
  reason: SweepStopReason;
  /** Passes started. */
  passes: number;
  /** Status answers recorded, over all passes. */
  checked: number;
  /** Answers that changed a message's status. */
  changed: number;
  /** Messages the API did not know (404), recorded as `unknown`. */
  notFound: number;
  /** Status calls given up after their retries, over all passes (the messages stay pending). */
  errors: number;
  /** Accepted messages still without a final status. */
  pending: number;
  /** Accepted messages by API status at the end. */
  byStatus: Record<string, number>;
  /** The error that stopped the sweep (`auth`, `quota`). */
  error?: RkErrorSummary;
  durationMs: number;
}

/** Options of `sweepCampaign`. */
export interface SweepOptions {
  campaignId: string;
  /** Status requests in flight at once. @default 4 */
  concurrency?: number;
  /** Status requests per minute (the sweep's own rate, apart from the send rate). @default 120 */
  ratePerMinute?: number;
  /** Keep sweeping, with growing pauses between passes, until nothing is pending or `timeoutMs` passes. */
  untilFinal?: boolean;
  /**
   * No status call starts later than this after the start (one pass or many); what is still pending is left for a
   * later sweep. An `untilFinal` sweep returns as soon as its next pass could not start in time.
   */
  timeoutMs?: number;
  /** Stops the sweep: requests in flight are cancelled and nothing is lost (statuses are recorded one by one). */
  stopSignal?: AbortSignal;
  /** Pauses between passes of an `untilFinal` sweep. */
  pollBackoff?: PollBackoff;
  /** Attempts of one status call within a pass for 5xx and network errors. @default 3 */
  maxAttempts?: number;
  /** Delays between those attempts. @default { baseMs: 1000, maxMs: 15000 } */
  retryBackoff?: BackoffOptions;
  /** Counts each status call against something shared, e.g. the project's send budget (see `sendSlotGate`). */
  sharedGate?: StatusCallGate;
  /** Targets read from the store at a time. @default 500 */
  pageSize?: number;
  random?: () => number;
}

/** What the sweep needs from the outside. */
export interface SweepDeps {
  api: RkApi;
  store: StatusLedger & Pick<CampaignRecords, 'counts'>;
  clock: Clock;
  emit: (event: SweepEvent) => void;
}

/**
 * p-queue's interval settings for a per-minute rate: `intervalCap` calls per `interval` ms, in a sliding window
 * (`strict`), with the cap kept small so calls are spread over the minute instead of bursting at its start.
 */
export function queueRateFor(ratePerMinute: number): { intervalCap: number; interval: number } {
  const intervalCap = Math.max(1, Math.round(ratePerMinute / 60));
  return { intervalCap, interval: Math.max(1, Math.round((60_000 * intervalCap) / ratePerMinute)) };
}

/** Sums the statuses that are not final. */
function pendingOf(byStatus: Record<string, number>): number {
  let pending = 0;
  for (const [status, n] of Object.entries(byStatus)) if (!isFinalApiStatus(status)) pending += n;
  return pending;
}

/**
 * Polls `GET /status/{uuid}` for every accepted message of a campaign whose API status is not final
 * (`FINAL_API_STATUSES`) and records each answer in its own transaction. One pass by default; with `untilFinal`,
 * passes repeat with growing pauses until nothing is pending or `timeoutMs` passes.
 *
 * Per message: a 404 is recorded as `unknown` (final); 5xx and network errors are retried with backoff up to
 * `maxAttempts` times, then left for the next pass; a 429 pauses every call for `Retry-After`; 401/403 stop the
 * sweep at once (`auth` / `quota`). Everything is in the database, so an interrupted sweep just runs again.
 */
export async function sweepCampaign(deps: SweepDeps, options: SweepOptions): Promise<SweepOutcome> {
  const { api, store, clock, emit } = deps;
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
  const ratePerMinute = options.ratePerMinute ?? 120;
  if (!(ratePerMinute > 0)) throw new RangeError(`ratePerMinute must be positive, got ${ratePerMinute}`);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const retryBackoff: BackoffOptions = { baseMs: 1_000, maxMs: 15_000, ...options.retryBackoff };
  const pollInitialMs = options.pollBackoff?.initialMs ?? 5_000;
  const pollFactor = options.pollBackoff?.factor ?? 2;
  const pollMaxMs = options.pollBackoff?.maxMs ?? 120_000;
  const pageSize = options.pageSize ?? 500;
  const random = options.random ?? Math.random;
  const startedAt = clock.now();
  const deadline = options.timeoutMs === undefined ? null : startedAt + options.timeoutMs;

  // One controller cancels everything in flight: the caller's stop, a 401/403, or a store failure.
  const cancel = new AbortController();
  const signal = cancel.signal;
  // Every queued task, request and sleep listens on this one signal; that many listeners is expected, not a leak.
  setMaxListeners(0, signal);
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  let stop: { reason: SweepStopReason; error?: RkErrorSummary } | undefined;
  let fatal: unknown;
  const requestStop = (reason: SweepStopReason, error?: RkErrorSummary): void => {
    if (stop) return;
    stop = error ? { reason, error } : { reason };
    cancel.abort();
  };
  const onStop = (): void => requestStop('interrupted');
  if (options.stopSignal?.aborted) onStop();
  options.stopSignal?.addEventListener('abort', onStop, { once: true });
  const pastDeadline = (): boolean => {
    if (deadline !== null && clock.now() >= deadline) requestStop('timeout');
    return stop !== undefined;
  };

  let byStatus = (await store.counts(options.campaignId)).byApiStatus;
  const totals = { checked: 0, changed: 0, notFound: 0, errors: 0 };
  let pausedUntil = 0;

  emit({
    type: 'sweep-started',
    campaignId: options.campaignId,
    pending: pendingOf(byStatus),
    concurrency,
    ratePerMinute,
    untilFinal: options.untilFinal === true,
    deadline,
  });

  /** Moves one message from its old status to the new one in the live counts. */
  const recount = (from: string | null, to: string): void => {
    const old = from ?? 'queued';
    byStatus[old] = Math.max(0, (byStatus[old] ?? 0) - 1);
    if (byStatus[old] === 0) delete byStatus[old];
    byStatus[to] = (byStatus[to] ?? 0) + 1;
  };

  const runPass = async (pass: number): Promise<void> => {
    const passStartedAt = clock.now();
    byStatus = (await store.counts(options.campaignId)).byApiStatus;
    const total = pendingOf(byStatus);
    const counters = { checked: 0, changed: 0, errors: 0 };
    emit({ type: 'sweep-pass-started', pass, pending: total });

    let lastProgressAt = Number.NEGATIVE_INFINITY;
    const progress = (force = false): void => {
      const now = clock.now();
      if (!force && now - lastProgressAt < 250) return;
      lastProgressAt = now;
      const elapsed = Math.max(1, now - passStartedAt);
      emit({
        type: 'sweep-progress',
        progress: {
          pass,
          total,
          checked: counters.checked,
          errors: counters.errors,
          byStatus: { ...byStatus },
          pending: pendingOf(byStatus),
          ratePerMinute: Math.round((counters.checked * 60_000) / Math.max(elapsed, 60_000 / ratePerMinute)),
        },
      });
    };
    progress(true);

    const queue = new PQueue({ concurrency, ...queueRateFor(ratePerMinute), strict: true });
    const retryTimers = new Set<Promise<void>>();

    const record = async (target: SweepTarget, status: Pick<MessageStatus, 'status' | 'deliveredAt' | 'failedAt' | 'errorMessage'>): Promise<void> => {
      await store.recordStatus(target.id, {
        apiStatus: status.status,
        deliveredAt: status.deliveredAt,
        failedAt: status.failedAt,
        errorMessage: status.errorMessage,
        checkedAt: clock.now(),
      });
      counters.checked++;
      totals.checked++;
      if (status.status !== (target.apiStatus ?? 'queued')) {
        counters.changed++;
        totals.changed++;
      }
      recount(target.apiStatus, status.status);
      progress();
    };

    /** Asks the API once; returns the answer or the classified failure. */
    const ask = async (target: SweepTarget): Promise<MessageStatus | RkError> => {
      const release = options.sharedGate ? await options.sharedGate(signal) : undefined;
      try {
        if (signal.aborted) return errorFromTransport(signal.reason, { aborted: true, requestSent: false });
        return await api.status(target.uuid, { signal });
      } catch (caught) {
        return errorFromTransport(caught);
      } finally {
        if (release) await release();
      }
    };

    const check = async (target: SweepTarget, attempt: number): Promise<void> => {
      if (pastDeadline()) return;
      const wait = pausedUntil - clock.now();
      if (wait > 0) await clock.sleep(wait, signal);
      if (pastDeadline()) return;
      const answer = await ask(target);
      if (!(answer instanceof Error)) return record(target, answer);

      const error = answer;
      if (error.aborted && signal.aborted) return; // stopped: the message stays pending for the next sweep
      if (error.kind === 'not_found') {
        await record(target, {
          status: 'unknown',
          deliveredAt: null,
          failedAt: null,
          errorMessage: `${error.message} when its status was checked; it was accepted with this UUID, so ask RK Connect about it`,
        });
        totals.notFound++;
        emit({ type: 'status-not-found', messageId: target.id, uuid: target.uuid });
        return;
      }
      if (error.stopsRun) {
        requestStop(error.kind === 'auth' ? 'auth' : 'quota', summarize(error));
        return;
      }
      if (error.retryable && attempt < maxAttempts) {
        let delayMs: number;
        if (error.kind === 'rate_limited') {
          delayMs = error.retryAfterMs ?? 5_000;
          pausedUntil = Math.max(pausedUntil, clock.now() + delayMs);
          emit({ type: 'rate-limited', retryAfterMs: delayMs });
        } else {
          delayMs = backoffDelay(attempt, retryBackoff, random);
        }
        emit({ type: 'status-retry', messageId: target.id, attempt, delayMs, error: summarize(error) });
        // The retry goes back through the queue, so it counts against the rate and frees its slot meanwhile.
        const timer: Promise<void> = clock.sleep(delayMs, signal).then(() => {
          retryTimers.delete(timer);
          if (!signal.aborted) enqueue(target, attempt + 1);
        });
        retryTimers.add(timer);
        return;
      }
      counters.errors++;
      totals.errors++;
      emit({ type: 'status-error', messageId: target.id, attempts: attempt, error: summarize(error) });
      progress();
    };

    const enqueue = (target: SweepTarget, attempt: number): void => {
      queue
        .add(() => check(target, attempt), { signal })
        .catch((err: unknown) => {
          if (signal.aborted) return; // dropped from the queue by the stop
          fatal ??= err; // the store failed, or a bug: stop and rethrow below
          requestStop('interrupted');
        });
    };

    try {
      let afterId = 0;
      produce: while (!pastDeadline()) {
        const page = await store.sweepTargets(options.campaignId, FINAL_API_STATUSES, pageSize, afterId);
        if (page.length === 0) break;
        for (const target of page) {
          afterId = target.id;
          // Keep the queue fed but bounded, so a million targets never sit in memory at once.
          while (queue.size >= concurrency * 2 && !signal.aborted) {
            await Promise.race([queue.onSizeLessThan(concurrency * 2), aborted]);
          }
          if (pastDeadline()) break produce;
          enqueue(target, 1);
        }
      }
      // Wait for the queue and for retries that will re-enter it.
      for (;;) {
        await Promise.race([queue.onIdle(), aborted]);
        if (signal.aborted || retryTimers.size === 0) break;
        await Promise.race([...retryTimers, aborted]);
      }
      if (signal.aborted) {
        queue.clear();
        await queue.onIdle(); // calls in flight were cancelled through the signal; let them settle
        await Promise.all(retryTimers);
      }
    } finally {
      queue.clear();
    }
    progress(true);
    emit({
      type: 'sweep-pass-finished',
      pass,
      checked: counters.checked,
      changed: counters.changed,
      errors: counters.errors,
      pending: pendingOf(byStatus),
      durationMs: clock.now() - passStartedAt,
    });
  };

  let passes = 0;
  let pollDelay = pollInitialMs;
  try {
    for (;;) {
      passes++;
      await runPass(passes);
      if (fatal !== undefined) throw fatal;
      if (stop) break;
      if (pendingOf(byStatus) === 0) {
        requestStop('final');
        break;
      }
      if (!options.untilFinal) {
        requestStop('pass');
        break;
      }
      const now = clock.now();
      const nextPassAt = now + pollDelay;
      // No call may start after the deadline: when the next pass could not, give up now instead of waiting.
      if (deadline !== null && nextPassAt >= deadline) {
        requestStop('timeout');
        break;
      }
      emit({ type: 'sweep-waiting', nextPass: passes + 1, nextPassAt, pending: pendingOf(byStatus) });
      await clock.sleep(nextPassAt - now, signal);
      if (stop) break;
      pollDelay = Math.min(pollMaxMs, Math.round(pollDelay * pollFactor));
    }
  } finally {
    options.stopSignal?.removeEventListener('abort', onStop);
  }

  byStatus = (await store.counts(options.campaignId)).byApiStatus;
  const pending = pendingOf(byStatus);
  const final = stop ?? { reason: 'final' as const };
  // A stop that raced the last answer may have left nothing pending: that is a finished sweep.
  const reason: SweepStopReason = pending === 0 && (final.reason === 'timeout' || final.reason === 'pass') ? 'final' : final.reason;
  emit({ type: 'sweep-stopped', reason, pending, ...(final.error ? { error: final.error } : {}) });
  return {
    reason,
    passes,
    ...totals,
    pending,
    byStatus,
    ...(final.error ? { error: final.error } : {}),
    durationMs: clock.now() - startedAt,
  };
}
