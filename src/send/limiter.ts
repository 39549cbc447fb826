import Bottleneck from 'bottleneck';

/** Options of the in-process send limiter. */
export interface LimiterOptions {
  /** Messages per minute; sends are spaced evenly, `60000 / rate` ms apart. */
  ratePerMinute: number;
  /**
   * Requests in flight at once. Enough that API latency does not lower the rate: see `concurrencyFor`.
   */
  maxConcurrent: number;
  /** Limiter id (the campaign's), for bottleneck's own messages. */
  id: string;
}

/**
 * The one place a send limiter is built: an in-process bottleneck that spaces this process's sends and bounds
 * those in flight. What several processes (or machines) sending for one project share is not this limiter but the
 * store's per-project send slots, which every send takes before it leaves (see `acquireSlot` in the sender).
 */
export function createLimiter(options: LimiterOptions): Bottleneck {
  return new Bottleneck({
    id: options.id,
    // Slightly faster than the rate: bottleneck measures from each actual launch, so timer lateness would add
    // up and lower the rate. The exact pace (and the 60 s window) is kept by the store's project send slots.
    minTime: Math.floor((60_000 / options.ratePerMinute) * 0.8),
    maxConcurrent: options.maxConcurrent,
  });
}

/**
 * Concurrency that keeps the rate up when each request takes up to `latencyMs`: the number of requests that
 * start during one slow request, doubled for headroom, and at least 2.
 */
export function concurrencyFor(ratePerMinute: number, latencyMs = 2_000): number {
  return Math.min(256, Math.max(2, Math.ceil((ratePerMinute / 60_000) * latencyMs * 2) + 1));
}
