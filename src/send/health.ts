import type { Clock } from '../core/clock.js';
import type { RkApi } from '../rk/types.js';
import type { StatusLedger } from '../sweep/ports.js';
import { isFinalApiStatus } from '../sweep/final.js';

/** `health: { window, max_failed }` plus how often and how fast the breaker asks. */
export interface HealthOptions {
  /** How many of the latest final statuses are looked at. */
  window: number;
  /** Share (0..1) of them that may be `failed`; more trips the breaker. */
  maxFailed: number;
  /** Time between two rounds of status checks. @default 5000 */
  checkEveryMs?: number;
  /** Status calls per minute, at most: the sweep's own default rate. @default 120 */
  ratePerMinute?: number;
}

/** What the breaker has seen so far: the last `window` final statuses. */
export interface HealthSample {
  /** Final statuses looked at (at most `window`). */
  observed: number;
  failed: number;
  window: number;
  maxFailed: number;
  /** Failure messages of the failed ones, most frequent first. */
  reasons: { message: string; count: number }[];
  /** Failed ones by device. */
  byDevice: Record<string, { observed: number; failed: number }>;
}

/** Events of the breaker. */
export type HealthEvent =
  | { type: 'health-sample'; sample: HealthSample }
  | { type: 'health-tripped'; sample: HealthSample; message: string; hint: string };

/** What the breaker needs from the outside. */
export interface HealthDeps {
  api: RkApi;
  store: Pick<StatusLedger, 'recordStatus'>;
  clock: Clock;
  emit: (event: HealthEvent) => void;
}

interface Tracked {
  id: number;
  uuid: string;
  device: string;
  acceptedAt: number;
}

/** Status calls this long after acceptance at the earliest: before it, nothing is final. */
const MIN_AGE_MS = 500;
/** At most this many accepted messages wait to be sampled; older ones are left to the sweep. */
const MAX_TRACKED = 1000;

/**
 * The delivery-health breaker of one run. The sender hands it every message it got accepted (`track`, then
 * `poke`); each round asks the API, within the sweep's rate, for the status of those not final yet (oldest first), records what it
 * learns in the store (the sweep then has less to do), and keeps the last `window` final statuses. When more than
 * `maxFailed` of a full window came back `failed`, it calls `onTrip` once with a message saying what was seen.
 */
export class HealthMonitor {
  private pending: Tracked[] = [];
  private readonly finals: { device: string; failed: boolean; message: string | null }[] = [];
  private tripped = false;
  private round: Promise<void> | undefined;
  private lastRoundAt: number | undefined;

  constructor(
    private readonly deps: HealthDeps,
    readonly options: HealthOptions,
  ) {}

  /** A message the API accepted in this run. */
  track(id: number, uuid: string, device: string, acceptedAt: number): void {
    this.pending.push({ id, uuid, device, acceptedAt });
    if (this.pending.length > MAX_TRACKED) this.pending.splice(0, this.pending.length - MAX_TRACKED);
  }

  /** The current sample. */
  sample(): HealthSample {
    const reasons = new Map<string, number>();
    const byDevice: Record<string, { observed: number; failed: number }> = {};
    let failed = 0;
    for (const f of this.finals) {
      const d = (byDevice[f.device] ??= { observed: 0, failed: 0 });
      d.observed++;
      if (!f.failed) continue;
      failed++;
      d.failed++;
      const m = f.message ?? 'no reason given';
      reasons.set(m, (reasons.get(m) ?? 0) + 1);
    }
    return {
      observed: this.finals.length,
      failed,
      window: this.options.window,
      maxFailed: this.options.maxFailed,
      reasons: [...reasons].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count),
      byDevice,
    };
  }

  /**
   * Called by the sender after each accepted send: starts a round of status checks when none is running and the
   * last one began at least `checkEveryMs` ago. Driven by the sends rather than a timer of its own, so it checks only
   * while the run sends and never moves an injected clock. A round asks at most the sweep's rate's share of calls.
   */
  poke(signal: AbortSignal, onTrip: (message: string, hint: string) => void): void {
    const now = this.deps.clock.now();
    if (this.round || this.tripped || signal.aborted) return;
    if (this.lastRoundAt !== undefined && now - this.lastRoundAt < (this.options.checkEveryMs ?? 5_000)) return;
    this.lastRoundAt = now;
    this.round = this.checkRound(signal, onTrip).finally(() => (this.round = undefined));
  }

  /** Resolves when the round in progress (if any) is over. */
  async settle(): Promise<void> {
    await this.round?.catch(() => undefined);
  }

  private async checkRound(signal: AbortSignal, onTrip: (message: string, hint: string) => void): Promise<void> {
    const every = this.options.checkEveryMs ?? 5_000;
    const rate = this.options.ratePerMinute ?? 120;
    // Rounds are at least `every` apart: this many calls per round keep within `rate`.
    const budget = Math.max(1, Math.floor((rate * every) / 60_000));
    const now = this.deps.clock.now();
    const due = this.pending.filter((t) => now - t.acceptedAt >= MIN_AGE_MS).slice(0, budget);
    let learned = false;
    for (const t of due) {
      if (signal.aborted) return;
      if (await this.check(t, signal)) learned = true;
    }
    if (!learned || signal.aborted) return;
    const sample = this.sample();
    this.deps.emit({ type: 'health-sample', sample });
    if (sample.observed >= this.options.window && sample.failed > this.options.maxFailed * this.options.window) {
      this.tripped = true;
      const { message, hint } = describeTrip(sample);
      this.deps.emit({ type: 'health-tripped', sample, message, hint });
      onTrip(message, hint);
    }
  }

  /** One status call; true when it reached a final status. Failures are left for the next round (or the sweep). */
  private async check(t: Tracked, signal: AbortSignal): Promise<boolean> {
    const { api, store, clock } = this.deps;
    let status;
    try {
      status = await api.status(t.uuid, { signal });
    } catch {
      // 5xx, network, 404, even 401: not this breaker's call to make; the send path and the sweep handle them.
      this.requeue(t);
      return false;
    }
    try {
      await store.recordStatus(t.id, {
        apiStatus: status.status,
        deliveredAt: status.deliveredAt,
        failedAt: status.failedAt,
        errorMessage: status.errorMessage,
        checkedAt: clock.now(),
      });
    } catch {
      // Best effort: the sweep records it later.
    }
    if (!isFinalApiStatus(status.status)) {
      this.requeue(t);
      return false;
    }
    this.pending = this.pending.filter((p) => p !== t);
    this.finals.push({ device: t.device, failed: status.status === 'failed', message: status.errorMessage });
    if (this.finals.length > this.options.window) this.finals.shift();
    return true;
  }

  /** Moves a message to the back of the queue, so one that stays `sent` for long does not hold up the others. */
  private requeue(t: Tracked): void {
    this.pending = [...this.pending.filter((p) => p !== t), t];
  }
}

/** The breaker's message, e.g. `14 of the last 20 messages failed (Recipient is not on WhatsApp ×9, …)`. */
export function describeTrip(sample: HealthSample): { message: string; hint: string } {
  const shown = sample.reasons.slice(0, 3).map((r) => `${r.message} ×${r.count}`);
  if (sample.reasons.length > 3) shown.push('…');
  const devices = Object.entries(sample.byDevice)
    .filter(([, d]) => d.failed > 0)
    .map(([code, d]) => `${code} ${d.failed}/${d.observed}`)
    .join(', ');
  return {
    message:
      `${sample.failed} of the last ${sample.observed} messages failed (${shown.join(', ')}), more than the ${Math.round(sample.maxFailed * 100)}% ` +
      `the health breaker allows${devices ? ` (failed by device: ${devices})` : ''}: the device may be restricted or the list may be bad. ` +
      'Stopped with every unsent message kept.',
    hint: 'Check the device(s) in RK Connect and the numbers that failed (rk-broadcast report), then run the same command again (or with --ignore-health to send on regardless).',
  };
}
