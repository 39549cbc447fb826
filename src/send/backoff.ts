/** Exponential backoff with jitter for retryable failures. */
export interface BackoffOptions {
  /** Delay before the 2nd attempt. @default 1000 */
  baseMs?: number;
  /** Upper bound of any delay. @default 60000 */
  maxMs?: number;
}

/**
 * Delay before the attempt after `attempt` (1-based): `base * 2^(attempt-1)`, capped, with "equal jitter"
 * (between half and all of it) so many messages failing together do not retry together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1_000;
  const max = options.maxMs ?? 60_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
