/**
 * Process exit codes, documented in the README. Cron wrappers and scripts branch on these, so they never change
 * meaning.
 */
export const EXIT = {
  /** Everything asked for was done (messages the API rejected are in the report, not an exit failure). */
  ok: 0,
  /** An unexpected internal error. */
  internal: 1,
  /** Bad input: the campaign file, CSV, template, flags or environment. Nothing was sent. */
  invalidInput: 2,
  /** The API rejected our credentials (401). State is kept; fix the key/secret/clock and run again. */
  auth: 3,
  /** The monthly quota is exhausted (API 403 or the local pre-flight). State is kept; resume later. */
  quota: 4,
  /** The inputs changed since the plan was frozen; re-run with --replan to accept the change. */
  planChanged: 5,
  /** Another process holds this campaign's run lock. */
  locked: 6,
  /** Not due yet, or outside the send window, and --no-wait was given. Try again later (cron). */
  notDue: 7,
  /** The schedule refuses to start: later than max_lateness, or past end_at. */
  scheduleRefused: 8,
  /** Some messages could not be sent after all retries (failed_to_send) or are unknown. */
  incomplete: 9,
  /** The state database is unavailable for now (disk full, locked past the busy timeout, read-only); state kept, run again. */
  storeUnavailable: 10,
  /** The state database cannot be used (damaged, not a database, a directory, from a newer version). */
  storeUnusable: 11,
  /** The API asked (429 Retry-After) to pause longer than RK_MAX_RATE_LIMIT_PAUSE. State is kept; run again later. */
  rateLimitPause: 12,
  /** Every device of the campaign left the rotation (unknown, disconnected, restricted). State is kept; fix them, run again. */
  noDevice: 13,
  /** The delivery-health breaker stopped the campaign (too many recent messages failed). State is kept; check, run again. */
  healthBreaker: 14,
  /** This runner lost the campaign's lease (frozen or cut off past RK_LEASE_TIMEOUT; another may have taken over). State kept. */
  leaseLost: 15,
  /** Stopped by SIGINT/SIGTERM after checkpointing; run the same command to resume. */
  interrupted: 130,
} as const;

/** One of the exit codes above. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The exit code for a stage that stopped because of the API (401, 403, a too-long 429 pause), its devices (none
 * left, the delivery-health breaker) or a signal; undefined for any other reason, which each command maps itself.
 */
export function exitCodeForStop(reason: string): ExitCode | undefined {
  switch (reason) {
    case 'auth':
      return EXIT.auth;
    case 'quota':
      return EXIT.quota;
    case 'rate_limit_pause':
      return EXIT.rateLimitPause;
    case 'devices':
      return EXIT.noDevice;
    case 'health':
      return EXIT.healthBreaker;
    case 'interrupted':
      return EXIT.interrupted;
    default:
      return undefined;
  }
}

/**
 * The exit code for how a run's send stage stopped (`reason`; null for a dry run, which sends nothing): 401, 403
 * and signals as `exitCodeForStop`; `window` 7 (not due, with --no-wait); `limit` 0; `done` and `deadline` 9 when
 * `incomplete` messages failed after every retry or have an unknown fate, else 0. The one mapping `run` and `due` use.
 */
export function exitCodeForSend(reason: string | null, incomplete: number): ExitCode {
  if (reason === null) return EXIT.ok;
  const stop = exitCodeForStop(reason);
  if (stop !== undefined) return stop;
  switch (reason) {
    case 'window':
    case 'caps': // every device reached its daily cap, with --no-wait
      return EXIT.notDue;
    case 'limit':
      return EXIT.ok;
    default:
      return incomplete > 0 ? EXIT.incomplete : EXIT.ok;
  }
}

/** The exit code for how a sweep stopped: like a run for 401, 403 and signals; a timeout is not a failure. */
export function exitCodeForSweep(reason: string): ExitCode {
  return exitCodeForStop(reason) ?? EXIT.ok;
}

/** Exit codes that need a person, most urgent first (`due` exits with the most urgent one among its campaigns). */
const URGENCY: readonly number[] = [
  EXIT.internal,
  EXIT.auth,
  EXIT.quota,
  EXIT.rateLimitPause,
  EXIT.noDevice,
  EXIT.healthBreaker,
  EXIT.planChanged,
  EXIT.invalidInput,
  EXIT.scheduleRefused,
  EXIT.incomplete,
  EXIT.interrupted,
];

/** The most urgent of several exit codes: the first of `URGENCY` present, else any other non-zero one, else 0. */
export function mostUrgentExitCode(codes: readonly number[]): number {
  return URGENCY.find((code) => codes.includes(code)) ?? codes.find((code) => code !== EXIT.ok) ?? EXIT.ok;
}
