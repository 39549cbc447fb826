import { setMaxListeners } from 'node:events';
import Bottleneck from 'bottleneck';
import type { Clock } from '../core/clock.js';
import type { CampaignRecords } from '../core/campaign-records.js';
import { formatDuration } from '../core/duration.js';
import { DEFAULT_API_STATUS } from '../core/reasons.js';
import { errorFromTransport, type RkError } from '../rk/errors.js';
import type { MediaFile, MessageType, RkApi } from '../rk/types.js';
import { TransitionError, type MessageError, type OutgoingMessage } from '../store/types.js';
import type { DeviceLedger, RateWindow, SendQueue } from './ports.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { DailyCaps } from './caps.js';
import { DeviceRotation, type WeightedDevice } from './devices.js';
import type { HealthEvent, HealthMonitor } from './health.js';
import { concurrencyFor, createLimiter } from './limiter.js';
import { DevicePacer, type PacingOptions } from './pacing.js';

/** Whether sending may go on now (schedule windows, deadlines). */
export type GateDecision =
  | { open: true }
  | {
      open: false;
      /** When to look again; null when it will never open again (deadline passed). */
      reopensAt: number | null;
      /** Human reason, e.g. `outside the send window (08:00-20:00 Asia/Jakarta)`. */
      reason: string;
      /** What it waits for: `start_at`, or the send window to open (or never, past `end_at`). */
      cause: 'start_at' | 'window';
    };

/** The schedule, as the sender sees it. Built by `src/schedule`. */
export interface SendGate {
  /** Campaign-wide: start time, window, deadline. */
  campaign(now: number): GateDecision;
  /** Per recipient, for campaigns whose recipients have their own time zones. */
  recipient?(timezone: string | null, now: number): GateDecision;
}

/** Why a send stage returned. */
export type SendStopReason =
  | 'done' // nothing planned is left
  | 'limit' // --limit reached
  | 'interrupted' // stop signal
  | 'auth' // 401: credentials
  | 'quota' // 403 or local quota budget spent
  | 'window' // outside the send window with no-wait
  | 'deadline' // end_at passed
  | 'rate_limit_pause' // a 429 asked to pause longer than `maxRateLimitPauseMs`
  | 'devices' // every device left the rotation (issue 12)
  | 'health' // the delivery-health breaker tripped (issue 12)
  | 'caps'; // every device reached its daily cap, with no-wait (issue 12)

/** Events of the send stage, in the order they happen. */
export type SendEvent =
  | { type: 'send-started'; campaignId: string; pending: number; ratePerMinute: number; concurrency: number }
  | { type: 'message-accepted'; line: number; recipient: string; uuid: string; attempt: number }
  | { type: 'message-retry'; line: number; recipient: string; attempt: number; delayMs: number; error: RkErrorSummary }
  | { type: 'message-rejected'; line: number; recipient: string; error: RkErrorSummary }
  | { type: 'message-failed'; line: number; recipient: string; attempts: number; error: RkErrorSummary }
  | { type: 'rate-limited'; retryAfterMs: number }
  /** Sending pauses until `until` (null: never), for the reason `cause` names and `reason` words. */
  | { type: 'waiting'; until: number | null; reason: string; cause: 'start_at' | 'window' | 'caps' }
  | { type: 'send-progress'; progress: SendProgress }
  | { type: 'stopping'; reason: SendStopReason; inFlight: number }
  /** A device the API said cannot send left the rotation; its recipients go through `remaining`. */
  | { type: 'device-dropped'; device: string; error: RkErrorSummary; remaining: string[] }
  /** A device reached its cap for the local day `day`. */
  | { type: 'device-capped'; device: string; day: string; remaining: string[] }
  | HealthEvent;

/** What is safe to show of an RkError (no secrets: built from the taxonomy only). */
export interface RkErrorSummary {
  kind: string;
  code: string;
  message: string;
  hint: string;
}

/** A snapshot of progress for bars and log lines. */
export interface SendProgress {
  /** Accepted by the API in this run. */
  accepted: number;
  rejected: number;
  failed: number;
  /** Planned rows not yet settled. */
  remaining: number;
  inFlight: number;
  /** Accepted per minute over the last minute of this run. */
  currentRatePerMinute: number;
  /** Milliseconds until the remaining rows are sent at the configured rate (ignoring windows). */
  etaMs: number;
}

/** The result of one send stage. */
export interface SendOutcome {
  reason: SendStopReason;
  /** The error that stopped the run (auth, quota, rate_limit_pause). */
  error?: RkErrorSummary;
  /** When the gate said it reopens (window) or null; for `rate_limit_pause`, when the API said sending may resume. */
  reopensAt?: number | null;
  progress: SendProgress;
  /** Requests that hit 429 during this run. */
  rateLimited: number;
}

/** Options of `sendCampaign`. */
export interface SendOptions {
  campaignId: string;
  /** Project (API key hash): the rate gate in the store is shared by every process of one project. */
  projectId: string;
  device: string;
  /** Several devices with weights (issue 12); default `device` alone. Each message's device follows its request id. */
  devices?: readonly WeightedDevice[];
  /** Random gaps between two sends of one device; default: sends spaced evenly at the rate. */
  pacing?: PacingOptions;
  /** Daily caps and warm-up per device. */
  caps?: DailyCaps;
  /** The delivery-health breaker. */
  health?: HealthMonitor;
  type: MessageType;
  /** The campaign's media file, read and checked once. */
  media?: MediaFile;
  /**
   * Each row's own media file (issue 11, src/send/media-read.ts), read right before its row is sent; `release`
   * is called once the request settled. A throw (the file changed since planning) stops the run with that error.
   */
  mediaFor?: (msg: OutgoingMessage) => Promise<{ media: MediaFile; release: () => void } | undefined>;
  /** @default 60 */
  ratePerMinute: number;
  /** Attempts per message for retryable failures (5xx, resets, timeouts). @default 5 */
  maxAttempts: number;
  /** In-flight requests; defaults to enough for 2 s of latency at the rate. */
  concurrency?: number;
  /** Send at most this many messages in this run. */
  limit?: number;
  /** The campaign's `planned` rows, when the caller has just counted them (counting a million rows takes ~0.2 s). */
  planned?: number;
  backoff?: BackoffOptions;
  /** Soft stop: take no new sends, give those in flight `drainTimeoutMs` to finish, then abort them. */
  stopSignal?: AbortSignal;
  /** Hard stop: abort requests in flight too (their rows stay `sending`; the next run resends them safely). */
  abortSignal?: AbortSignal;
  /**
   * After a stop (a signal, auth, quota, a too-long 429 pause...), how long requests already in flight may take to
   * finish. Past it they are aborted and their rows stay `sending`: the next run resends them with the same request
   * id, which the API deduplicates. Short, so one SIGTERM ends a run promptly even if the API hangs or trickles.
   * @default 2000
   */
  drainTimeoutMs?: number;
  /**
   * Longest pause a 429's `Retry-After` may impose on the run. A longer one stops the run (`rate_limit_pause`) with
   * every unsent row kept `planned`, instead of waiting, say, a day.
   * @default 300000 (5 minutes)
   */
  maxRateLimitPauseMs?: number;
  gate?: SendGate;
  /** Return instead of waiting when the gate is closed. */
  noWait?: boolean;
  /** Called before each new send; return false to stop with `quota` (local monthly budget). */
  budget?: () => boolean | Promise<boolean>;
  /**
   * Called once for every send `budget` allowed, when it is settled: `created` is true when the API accepted it
   * (the store now counts it), false when it did not leave or failed. Lets a budget shared by concurrent campaigns
   * count the sends still queued or in flight exactly.
   */
  budgetRelease?: (created: boolean) => void;
  random?: () => number;
}

/** What the send stage needs from the outside. */
export interface SendDeps {
  api: RkApi;
  store: SendQueue & RateWindow & Pick<DeviceLedger, 'setMessageDevice'> & Pick<CampaignRecords, 'counts'>;
  clock: Clock;
  emit: (event: SendEvent) => void;
}

/** How long requests in flight may finish after a stop, by default. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 2_000;
/** The longest 429 pause a run takes by default: longer than the API's own 60 s window, short of stalling a run. */
export const DEFAULT_MAX_RATE_LIMIT_PAUSE_MS = 5 * 60_000;

/** Turns any failure into the safe summary used in events and the store. */
export function summarize(error: RkError): RkErrorSummary {
  return { kind: error.kind, code: error.label, message: error.message, hint: error.hint };
}

function toMessageError(error: RkError): MessageError {
  return { code: error.label, message: error.message };
}

/**
 * Sends every planned message of a campaign at the configured rate, checkpointing each step:
 * `planned -> sending` is committed before the request leaves and the UUID is committed with `accepted`.
 * Returns when nothing is left, a limit or signal stops it, or the API says no further send can succeed.
 */
export async function sendCampaign(deps: SendDeps, options: SendOptions): Promise<SendOutcome> {
  const { api, store, clock, emit } = deps;
  const rate = options.ratePerMinute;
  const rotation = new DeviceRotation(options.devices && options.devices.length > 0 ? options.devices : [{ code: options.device, weight: 1 }]);
  const pacer = options.pacing ? new DevicePacer(options.pacing, options.campaignId) : undefined;
  const caps = options.caps;
  /** Device -> the local day it was found at its cap. */
  const cappedOn = new Map<string, string>();
  const cappedNow = (now: number): Set<string> => {
    const today = caps?.today(now);
    return new Set([...cappedOn].filter(([, day]) => day === today).map(([code]) => code));
  };
  // Sends waiting for their device's gap hold a place: enough of them that every device has one waiting.
  const concurrency = Math.max(options.concurrency ?? concurrencyFor(rate), pacer ? rotation.all().length * 2 : 0);
  const minSpacingMs = Math.ceil(60_000 / rate);
  /** The average time between two sends of the campaign: the rate, or the devices' mean gap, whichever is slower. */
  const averageSpacingMs = (): number =>
    pacer ? Math.max(minSpacingMs, pacer.meanGapMs / Math.max(1, rotation.active().length)) : minSpacingMs;
  const random = options.random ?? Math.random;
  const limiter = createLimiter({ id: options.campaignId, ratePerMinute: rate, maxConcurrent: concurrency });

  const progress: SendProgress = {
    accepted: 0,
    rejected: 0,
    failed: 0,
    remaining: options.planned ?? (await store.counts(options.campaignId)).byState.planned,
    inFlight: 0,
    currentRatePerMinute: 0,
    etaMs: 0,
  };
  const acceptedTimes: number[] = [];
  let rateLimited = 0;
  let pausedUntil = 0;
  let started = 0;
  let stop: { reason: SendStopReason; error?: RkErrorSummary; reopensAt?: number | null } | undefined;
  const internalStop = new AbortController();
  const stopSignals = [options.stopSignal, options.abortSignal, internalStop.signal].filter((s): s is AbortSignal => s !== undefined);
  const stopSignal = AbortSignal.any(stopSignals);
  setMaxListeners(0, stopSignal); // every waiting job listens to it
  // Aborts the requests in flight: a hard stop, or the end of the drain after a soft one.
  const requestAbort = new AbortController();
  setMaxListeners(0, requestAbort.signal); // every request in flight listens to it
  if (options.abortSignal?.aborted) requestAbort.abort();
  options.abortSignal?.addEventListener('abort', () => requestAbort.abort(), { once: true });
  const maxPauseMs = options.maxRateLimitPauseMs ?? DEFAULT_MAX_RATE_LIMIT_PAUSE_MS;
  const inFlight = new Map<number, Promise<void>>();
  const deferred = new Map<number, number>(); // message id -> when its recipient's window opens

  const snapshot = (): SendProgress => {
    const now = clock.now();
    while (acceptedTimes.length > 0 && acceptedTimes[0]! <= now - 60_000) acceptedTimes.shift();
    const windowMs = Math.min(60_000, Math.max(1, now - (firstAcceptAt ?? now)));
    progress.currentRatePerMinute = firstAcceptAt === undefined ? 0 : Math.round((acceptedTimes.length * 60_000) / Math.max(windowMs, minSpacingMs));
    progress.inFlight = inFlight.size;
    progress.etaMs = Math.round(progress.remaining * averageSpacingMs());
    return { ...progress };
  };
  let firstAcceptAt: number | undefined;
  let lastProgressAt = 0;
  const report = (force = false): void => {
    const now = clock.now();
    if (!force && now - lastProgressAt < 250) return;
    lastProgressAt = now;
    emit({ type: 'send-progress', progress: snapshot() });
  };

  let fatal: unknown;
  let limiterStopped: Promise<void> | undefined;
  const requestStop = (reason: SendStopReason, error?: RkErrorSummary, reopensAt?: number | null, letQueuedFinish = false): void => {
    if (stop) return;
    stop = { reason, ...(error ? { error } : {}), ...(reopensAt !== undefined ? { reopensAt } : {}) };
    emit({ type: 'stopping', reason, inFlight: inFlight.size });
    // `done`, `limit` and a spent local budget let queued sends finish (they are within it); every other reason
    // stops them before they leave.
    if (reason !== 'done' && reason !== 'limit' && !letQueuedFinish) {
      internalStop.abort();
      // Queued jobs would otherwise be started one by one at the limiter's spacing only to return at once.
      limiterStopped ??= limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
    }
  };
  for (const signal of [options.stopSignal, options.abortSignal]) {
    signal?.addEventListener('abort', () => requestStop('interrupted'), { once: true });
    // A stop that came before this stage started (e.g. SIGTERM while planning) never fires the listener.
    if (signal?.aborted) requestStop('interrupted');
  }

  /** Waits for a send slot in the project's shared window; false if stopped meanwhile. */
  const acquireSlot = async (): Promise<number | undefined> => {
    for (;;) {
      if (stopSignal.aborted) return undefined;
      const now = clock.now();
      if (now < pausedUntil) {
        await clock.sleep(pausedUntil - now, stopSignal);
        continue;
      }
      const r = await store.reserveSendSlot(options.projectId, now, rate, minSpacingMs);
      if ('slot' in r) return r.slot;
      await clock.sleep(Math.max(1, r.retryAt - now), stopSignal);
    }
  };

  /** The gate, asked again right before a queued message leaves: a window may have closed meanwhile. */
  const gateOpenFor = (msg: OutgoingMessage): boolean => {
    const now = clock.now();
    if (options.gate && !options.gate.campaign(now).open) return false;
    return !options.gate?.recipient || options.gate.recipient(msg.timezone, now).open;
  };

  /**
   * The device for one message: its assigned one among those in the rotation and not capped today, with a count
   * of today's cap reserved and its pacing gap waited for. Undefined when none is left (or stopped meanwhile):
   * the row stays `planned` and the main loop sees why. `finish` gives back what a send that did not happen took.
   */
  const takeDevice = async (msg: OutgoingMessage): Promise<{ device: string; finish: (created: boolean, leftAt: number | null) => Promise<void> } | undefined> => {
    for (;;) {
      if (stopSignal.aborted) return undefined;
      const now = clock.now();
      // A row already attempted keeps its device when that one is capped (it waits for the next day): only a row
      // that never left may go through another device that still has room today.
      const movable = msg.attempts === 0;
      const device = rotation.pick(msg.requestId, caps && movable ? cappedNow(now) : undefined);
      if (device === undefined) return undefined;
      let day: string | undefined;
      if (caps) {
        day = await caps.reserve(device, now);
        if (day === undefined) {
          const today = caps.today(now);
          if (cappedOn.get(device) !== today) {
            cappedOn.set(device, today);
            emit({ type: 'device-capped', device, day: today, remaining: rotation.active().map((d) => d.code).filter((c) => !cappedNow(now).has(c)) });
          }
          if (!movable) return undefined; // stays `planned`; the main loop defers it to the next day
          continue;
        }
      }
      const paced = pacer ? await pacer.take(device, clock, stopSignal) : undefined;
      const release = async (): Promise<void> => {
        if (caps && day !== undefined) await caps.release(device, day);
      };
      if (pacer && !paced) {
        await release();
        return undefined;
      }
      if (!rotation.isActive(device)) {
        // Dropped while this send waited for its gap: pick again among the others.
        paced?.(null);
        await release();
        continue;
      }
      return {
        device,
        finish: async (counted, leftAt) => {
          paced?.(leftAt);
          if (!counted) await release();
        },
      };
    }
  };

  /** Sends one message; resolves true when the API accepted it. */
  const sendOne = async (msg: OutgoingMessage): Promise<boolean> => {
    if (!gateOpenFor(msg)) return false; // stays `planned`; the producer waits for the window
    const lane = await takeDevice(msg);
    if (!lane) return false;
    let created = false;
    let leftAt: number | null = null;
    const attempt = { mayHaveReached: false };
    try {
      created = await sendThrough(msg, lane.device, (at) => (leftAt = at), attempt);
      return created;
    } finally {
      // The device's next gap counts from the answer, so it is a gap at the API too however long this request took.
      // A send that may have reached the API (timeout, reset, aborted in flight) keeps its count against the cap.
      await lane.finish(created || attempt.mayHaveReached, leftAt === null ? null : clock.now());
    }
  };

  /** Sends one message through `device`; resolves true when the API accepted it. */
  const sendThrough = async (
    msg: OutgoingMessage,
    device: string,
    left: (at: number) => void,
    outcome: { mayHaveReached: boolean },
  ): Promise<boolean> => {
    const slot = await acquireSlot();
    if (slot !== undefined && !gateOpenFor(msg)) {
      await store.releaseSendSlot(slot, clock.now());
      return false;
    }
    if (slot === undefined) return false; // stopped before it left: the row is still `planned`
    let rowMedia: { media: MediaFile; release: () => void } | undefined;
    let attempt: number;
    try {
      // Before `sending`: a row whose file changed stays `planned` and the run stops (fatal, below).
      rowMedia = await options.mediaFor?.(msg);
      attempt = await store.markSending(msg.id, clock.now(), device);
    } catch (err) {
      rowMedia?.release();
      await store.releaseSendSlot(slot, clock.now());
      if (err instanceof TransitionError) {
        // Taken out of the plan after it was queued (e.g. an opt-out applied during the run): never sent.
        progress.remaining--;
        return false;
      }
      throw err;
    }
    left(clock.now());
    try {
      const accepted = await api.send(
        {
          device,
          recipient: msg.phone,
          type: options.type,
          ...(msg.text !== null ? { message: msg.text } : {}),
          ...(rowMedia ? { media: rowMedia.media } : options.media ? { media: options.media } : {}),
          ...(msg.payload ? { payload: msg.payload } : {}),
          requestId: msg.requestId,
        },
        { signal: requestAbort.signal },
      );
      await store.releaseSendSlot(slot, clock.now());
      const now = clock.now();
      await store.markAccepted(msg.id, accepted.id, accepted.status || DEFAULT_API_STATUS, now);
      // A resend through another device may be answered with the message first created through the one dropped.
      if (accepted.device && accepted.device !== device) await store.setMessageDevice(msg.id, accepted.device);
      options.health?.track(msg.id, accepted.id, accepted.device || device, now);
      options.health?.poke(healthSignal, onHealthTrip);
      firstAcceptAt ??= now;
      acceptedTimes.push(now);
      progress.accepted++;
      progress.remaining--;
      emit({ type: 'message-accepted', line: msg.line, recipient: msg.phone, uuid: accepted.id, attempt });
      return true;
    } catch (caught) {
      await store.releaseSendSlot(slot, clock.now());
      const error = errorFromTransport(caught);
      outcome.mayHaveReached = error.mayHaveBeenProcessed || (error.aborted && requestAbort.signal.aborted);
      // Aborted by a hard stop or the end of the drain: leave it `sending`, the next run resends it (same request id).
      if (error.aborted && requestAbort.signal.aborted) return false;
      await settleFailure(msg, attempt, error, device);
      return false;
    } finally {
      rowMedia?.release();
      report();
    }
  };

  const settleFailure = async (msg: OutgoingMessage, attempt: number, error: RkError, device: string): Promise<void> => {
    const now = clock.now();
    const summary = summarize(error);
    if (error.dropsDevice) {
      // Not this message's fault: it goes out again through another device, with the same request id.
      await store.markRetry(msg.id, toMessageError(error), 0, now, { countAttempt: false, uncertain: false });
      if (rotation.drop(device, summary, now)) {
        emit({ type: 'device-dropped', device, error: summary, remaining: rotation.active().map((d) => d.code) });
      }
      if (rotation.active().length === 0) {
        const seen = rotation.droppedDevices().map((d) => `${d.code}: ${d.error.code}`).join(', ');
        requestStop('devices', {
          kind: 'device',
          code: error.label,
          message: `No device is left to send through: every device of the campaign left the rotation (${seen}). Stopped with every unsent message kept.`,
          hint: `${summary.hint} Then run the same command again (add --replan if you changed device/devices in the campaign file): it resumes where it stopped, each message sent once.`,
        });
      }
      return;
    }
    if (error.kind === 'rate_limited') {
      rateLimited++;
      const waitMs = error.retryAfterMs ?? 5_000;
      if (waitMs > maxPauseMs) {
        // Not a failure of this message: it stays `planned` for the next run, like every row not sent yet.
        await store.markRetry(msg.id, toMessageError(error), 0, now, { countAttempt: false, uncertain: false });
        requestStop(
          'rate_limit_pause',
          {
            kind: 'rate_limited',
            code: error.label,
            message:
              `RK Connect asked to pause sending for ${formatDuration(waitMs)} (HTTP 429, Retry-After), longer than a run may pause ` +
              `(${formatDuration(maxPauseMs)}, RK_MAX_RATE_LIMIT_PAUSE). Stopped with every unsent message kept.`,
            hint:
              `Run the same command again after ${new Date(now + waitMs).toISOString()} (when the API said sending may resume); ` +
              'or set RK_MAX_RATE_LIMIT_PAUSE (e.g. 2h) to let a run wait that long.',
          },
          now + waitMs,
        );
        return;
      }
      pausedUntil = Math.max(pausedUntil, now + waitMs);
      emit({ type: 'rate-limited', retryAfterMs: waitMs });
      await store.markRetry(msg.id, toMessageError(error), pausedUntil, now, { countAttempt: false, uncertain: false });
      return;
    }
    if (error.stopsRun) {
      await store.markRetry(msg.id, toMessageError(error), 0, now, { countAttempt: false, uncertain: false });
      requestStop(error.kind === 'auth' ? 'auth' : 'quota', summary);
      return;
    }
    if (error.permanent) {
      await store.markRejected(msg.id, toMessageError(error), now);
      progress.rejected++;
      progress.remaining--;
      emit({ type: 'message-rejected', line: msg.line, recipient: msg.phone, error: summary });
      return;
    }
    if (attempt >= options.maxAttempts) {
      await store.markFailedToSend(msg.id, toMessageError(error), now);
      progress.failed++;
      progress.remaining--;
      emit({ type: 'message-failed', line: msg.line, recipient: msg.phone, attempts: attempt, error: summary });
      return;
    }
    const delayMs = backoffDelay(attempt, options.backoff, random);
    await store.markRetry(msg.id, toMessageError(error), now + delayMs, now, {
      countAttempt: true,
      uncertain: error.mayHaveBeenProcessed,
    });
    emit({ type: 'message-retry', line: msg.line, recipient: msg.phone, attempt, delayMs, error: summary });
  };

  emit({ type: 'send-started', campaignId: options.campaignId, pending: progress.remaining, ratePerMinute: rate, concurrency });
  report(true);
  const healthStop = new AbortController();
  const healthSignal = AbortSignal.any([stopSignal, healthStop.signal]);
  const onHealthTrip = (message: string, hint: string): void => requestStop('health', { kind: 'health', code: 'HEALTH_BREAKER', message, hint });

  /** Resolves when `signal` aborts; `dispose` removes the listener (these waits happen once per loop turn). */
  const abortOf = (signal: AbortSignal): { aborted: Promise<void>; dispose: () => void } => {
    let onAbort = (): void => undefined;
    const aborted = new Promise<void>((resolve) => (onAbort = resolve));
    signal.addEventListener('abort', onAbort, { once: true });
    return { aborted, dispose: () => signal.removeEventListener('abort', onAbort) };
  };

  /** Resolves when any request in flight settles (or at once when none is), or a stop comes. */
  const anySettled = async (): Promise<void> => {
    if (inFlight.size === 0 || stopSignal.aborted) return;
    // A stop must not wait for a request that never ends (a hanging or trickling API): the drain below bounds it.
    const stopped = abortOf(stopSignal);
    try {
      await Promise.race([...inFlight.values(), stopped.aborted]);
    } finally {
      stopped.dispose();
    }
  };

  try {
    while (!stop) {
      const now = clock.now();
      const gate = options.gate?.campaign(now) ?? { open: true as const };
      if (!gate.open) {
        if (gate.reopensAt === null) {
          requestStop('deadline', undefined, null);
          break;
        }
        if (options.noWait) {
          requestStop('window', undefined, gate.reopensAt);
          break;
        }
        emit({ type: 'waiting', until: gate.reopensAt, reason: gate.reason, cause: gate.cause });
        await anySettled();
        await clock.sleep(Math.max(1, gate.reopensAt - clock.now()), stopSignal);
        continue;
      }
      if (caps && rotation.pick('', cappedNow(now)) === undefined && rotation.active().length > 0) {
        // Every device in the rotation reached today's cap: wait for the next local day, like a closed window.
        const nextDay = caps.nextDayAt(now);
        const reason = `daily caps reached on every device (${rotation.active().map((d) => d.code).join(', ')}); they reset at midnight ${caps.options.timezone}`;
        if (options.noWait) {
          requestStop('caps', { kind: 'caps', code: 'DAILY_CAPS', message: `The daily caps were reached on every device (${rotation.active().map((d) => d.code).join(', ')}).`, hint: 'Run again after midnight (the caps reset each local day), or raise limits.per_device_per_day.' }, nextDay);
          break;
        }
        emit({ type: 'waiting', until: nextDay, reason, cause: 'caps' });
        await anySettled();
        await clock.sleep(Math.max(1, nextDay - clock.now()), stopSignal);
        continue;
      }
      if (options.limit !== undefined && started >= options.limit) {
        requestStop('limit');
        break;
      }
      // Keep the limiter fed but not flooded: at most twice its concurrency queued or running.
      const room = concurrency * 2 - inFlight.size;
      if (room <= 0) {
        await anySettled();
        continue;
      }
      for (const [id, at] of deferred) if (at <= now) deferred.delete(id);
      const exclude = new Set<number>([...inFlight.keys(), ...deferred.keys()]);
      const want = Math.min(room, options.limit === undefined ? room : options.limit - started);
      const batch = await store.nextPlanned(options.campaignId, now, want, exclude);
      if (batch.length === 0) {
        if (inFlight.size > 0) {
          await anySettled();
          continue;
        }
        const nextAt = await store.nextPlannedAt(options.campaignId);
        if (nextAt === null) {
          requestStop('done');
          break;
        }
        const earliestDeferred = Math.min(...deferred.values());
        if (nextAt <= now) {
          // Rows are due, but every one of them is outside its recipient's window.
          if (options.noWait) {
            requestStop('window', undefined, earliestDeferred);
            break;
          }
          emit({ type: 'waiting', until: earliestDeferred, reason: "outside the remaining recipients' send windows", cause: 'window' });
        }
        const wakeAt = Math.max(now + 1, nextAt <= now ? earliestDeferred : Math.min(nextAt, earliestDeferred));
        await clock.sleep(wakeAt - now, stopSignal);
        continue;
      }
      for (const msg of batch) {
        if (stop) break;
        if (caps && msg.attempts > 0) {
          // An attempted row waits for its own device's cap to reset rather than move (see takeDevice).
          const own = rotation.pick(msg.requestId);
          if (own !== undefined && cappedNow(now).has(own)) {
            deferred.set(msg.id, caps.nextDayAt(now));
            continue;
          }
        }
        if (options.gate?.recipient) {
          const decision = options.gate.recipient(msg.timezone, now);
          if (!decision.open) {
            deferred.set(msg.id, decision.reopensAt ?? Number.MAX_SAFE_INTEGER);
            continue;
          }
        }
        if (options.budget && !(await options.budget())) {
          requestStop(
            'quota',
            {
              kind: 'quota',
              code: 'LOCAL_QUOTA_BUDGET',
              message: 'The configured monthly quota would be exceeded by the next message.',
              hint: 'Raise RK_MONTHLY_QUOTA (or monthly_quota) if the project has more quota, or run again next month; the campaign resumes where it stopped.',
            },
            undefined,
            true,
          );
          break;
        }
        started++;
        const budgeted = options.budget !== undefined;
        const job = limiter
          .schedule(() => sendOne(msg))
          .then(
            (created) => {
              if (budgeted) options.budgetRelease?.(created);
            },
            (err: unknown) => {
              if (budgeted) options.budgetRelease?.(false);
              throw err;
            },
          )
          .catch((err: unknown) => {
            // A job dropped from the queue by a stop never started: its row is still `planned`.
            if (limiterStopped && err instanceof Bottleneck.BottleneckError) return;
            // Not an API failure (those are settled in sendOne): the store or a bug. Stop and rethrow below.
            fatal ??= err;
            requestStop('interrupted');
            throw err;
          })
          .finally(() => inFlight.delete(msg.id));
        inFlight.set(msg.id, job.catch(() => undefined));
        job.catch(() => undefined);
      }
    }
  } finally {
    const drainMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    /** True when every job settled within `ms`, or (with `until`) false as soon as that signal aborts. */
    const settledWithin = async (ms: number | null, until?: AbortSignal): Promise<boolean> => {
      if (inFlight.size === 0) return true;
      const timer = new AbortController();
      const stop = until ? abortOf(until) : undefined;
      const waits: Promise<boolean>[] = [Promise.all(inFlight.values()).then(() => true)];
      if (ms !== null) waits.push(clock.sleep(ms, timer.signal).then(() => false));
      if (stop) waits.push(stop.aborted.then(() => false));
      const settled = await Promise.race(waits);
      timer.abort();
      stop?.dispose();
      return settled;
    };
    // `limit` and a spent local budget let the sends already queued go out at the rate, unless a stop signal comes.
    if (!stopSignal.aborted) await settledWithin(null, stopSignal);
    // From here nothing queued leaves; requests in flight get `drainMs` to finish, then are aborted (rows stay
    // `sending` for the next run's recovery), which settles them at once.
    internalStop.abort();
    limiterStopped ??= limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
    if (!(await settledWithin(drainMs))) {
      requestAbort.abort();
      await settledWithin(drainMs);
    }
    // stop() waits for executing jobs; any still running past both bounds are abandoned instead.
    if (inFlight.size === 0) await limiterStopped;
    healthStop.abort();
    await options.health?.settle();
  }
  if (fatal !== undefined) throw fatal;
  report(true);
  const outcome: SendOutcome = { reason: stop?.reason ?? 'done', progress: snapshot(), rateLimited };
  if (stop?.error) outcome.error = stop.error;
  if (stop?.reopensAt !== undefined) outcome.reopensAt = stop.reopensAt;
  return outcome;
}
