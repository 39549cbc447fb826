/**
 * Time as the stages see it. Production uses `systemClock`; tests pass a `ManualClock` so a week of schedule
 * runs in milliseconds.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` of this clock's time, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * A clock that only moves when told to. `sleep` resolves as soon as `advance`/`set` moves past its deadline;
 * with `autoAdvance`, a sleep moves the clock itself (useful to run schedules instantly).
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly sleepers: { until: number; resolve: () => void }[] = [];

  constructor(
    start: number | Date,
    private readonly autoAdvance = false,
  ) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    if (this.autoAdvance) {
      this.set(this.current + ms);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const sleeper = { until: this.current + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.sleepers.indexOf(sleeper);
          if (i >= 0) this.sleepers.splice(i, 1);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves the clock forward by `ms`, waking every sleeper whose deadline passed. */
  advance(ms: number): void {
    this.set(this.current + ms);
  }

  /** Moves the clock to `ms` (never backwards). */
  set(ms: number): void {
    this.current = Math.max(this.current, ms);
    for (let i = this.sleepers.length - 1; i >= 0; i--) {
      const s = this.sleepers[i]!;
      if (s.until <= this.current) {
        this.sleepers.splice(i, 1);
        s.resolve();
      }
    }
  }
}
