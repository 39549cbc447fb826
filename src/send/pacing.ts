import type { Clock } from '../core/clock.js';
import { mulberry32 } from '../emulator/prng.js';

/** `pacing: { min_gap, max_gap }`, in milliseconds. */
export interface PacingOptions {
  minGapMs: number;
  maxGapMs: number;
}

/** A 32-bit seed from a text (FNV-1a), so a campaign's gaps are the same sequence in every run. */
export function seedFrom(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Human pacing per device: between two sends through one device lies a gap drawn uniformly from
 * `[minGapMs, maxGapMs]` with a seeded PRNG per device (reproducible). Sends through one device are taken one at
 * a time (`take`, then its callback once the request is answered), so concurrent sends never share a gap. The
 * project's rate stays the ceiling: the send slot is taken after the gap. The next gap counts from the answer, so
 * at the API too two sends of one device are at least `minGapMs` apart, whatever the latency.
 */
export class DevicePacer {
  private readonly nextAt = new Map<string, number>();
  private readonly random = new Map<string, () => number>();
  private readonly queue = new Map<string, Promise<void>>();

  constructor(
    private readonly options: PacingOptions,
    private readonly seed: string,
  ) {}

  /** The mean gap, for ETAs. */
  get meanGapMs(): number {
    return (this.options.minGapMs + this.options.maxGapMs) / 2;
  }

  private draw(device: string): number {
    let r = this.random.get(device);
    if (!r) {
      r = mulberry32(seedFrom(`${this.seed}\u0000${device}`));
      this.random.set(device, r);
    }
    const { minGapMs, maxGapMs } = this.options;
    return minGapMs + r() * (maxGapMs - minGapMs);
  }

  /**
   * Waits for the device's turn and its gap; resolves with a callback to call with the time the request was
   * answered (null when it never left: no gap is used up). Resolves undefined if `signal` aborted.
   */
  async take(device: string, clock: Clock, signal: AbortSignal): Promise<((leftAt: number | null) => void) | undefined> {
    const before = this.queue.get(device) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.queue.set(device, before.then(() => mine));
    await before;
    const wait = (this.nextAt.get(device) ?? 0) - clock.now();
    if (wait > 0) await clock.sleep(wait, signal);
    if (signal.aborted) {
      release();
      return undefined;
    }
    let done = false;
    return (leftAt) => {
      if (done) return;
      done = true;
      // A send that never left does not use up the gap.
      if (leftAt !== null) this.nextAt.set(device, leftAt + this.draw(device));
      release();
    };
  }
}
