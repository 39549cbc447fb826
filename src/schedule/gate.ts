import { formatDuration } from '../core/duration.js';
import type { GateDecision, SendGate } from '../send/sender.js';
import type { Schedule } from './schema.js';
import { formatInstant, formatWindow, scheduledStart, windowAt } from './window.js';

/** Why a schedule refuses a run: started too late, or past its deadline. */
export type ScheduleRefusal = 'late' | 'ended';

/**
 * The schedule refuses to run the campaign (exit code 8): `late` when the first run comes more than
 * `max_lateness` after the scheduled start with nothing sent yet; `ended` when the run starts at or after `end_at`
 * (the rows not yet sent were just marked `expired`).
 */
export class ScheduleRefusedError extends Error {
  constructor(
    readonly refusal: ScheduleRefusal,
    message: string,
    readonly hint: string,
    /** Rows turned `expired` by this refusal (`ended`). */
    readonly expired = 0,
  ) {
    super(message);
    this.name = 'ScheduleRefusedError';
  }
}

/**
 * The `SendGate` of a schedule:
 * - before `start_at`: closed until `start_at`;
 * - at or after `end_at`: closed for good (`reopensAt: null`), and so when the next window opening is past `end_at`;
 * - outside the window: closed until the next opening (campaign-wide), or, with `timezone_column`, per recipient in
 *   the recipient's own zone (a recipient without a zone uses the window's).
 */
export function createScheduleGate(schedule: Schedule): SendGate {
  const { startAt, endAt, window } = schedule;
  const zoneForHumans = window?.timezone ?? 'Asia/Jakarta';
  const perRecipient = window?.timezoneColumn !== undefined;

  const campaign = (now: number): GateDecision => {
    if (endAt !== undefined && now >= endAt) {
      return { open: false, reopensAt: null, reason: `end_at (${formatInstant(endAt, zoneForHumans)}) has passed`, cause: 'window' };
    }
    if (startAt !== undefined && now < startAt) {
      return { open: false, reopensAt: startAt, reason: `not started yet: start_at is ${formatInstant(startAt, zoneForHumans)}`, cause: 'start_at' };
    }
    if (window && !perRecipient) {
      const state = windowAt(now, window);
      if (!state.open) {
        if (endAt !== undefined && state.opensAt >= endAt) {
          return {
            open: false,
            reopensAt: null,
            reason: `outside the send window (${formatWindow(window)}) and no opening comes before end_at (${formatInstant(endAt, zoneForHumans)})`,
            cause: 'window',
          };
        }
        return { open: false, reopensAt: state.opensAt, reason: `outside the send window (${formatWindow(window)})`, cause: 'window' };
      }
    }
    return { open: true };
  };

  if (!window || !perRecipient) return { campaign };

  const recipient = (timezone: string | null, now: number): GateDecision => {
    const zone = timezone ?? window.timezone;
    const state = windowAt(now, window, zone);
    if (state.open) return { open: true };
    // Wake up at end_at at the latest, so the campaign gate can end the run there.
    const reopensAt = endAt !== undefined ? Math.min(state.opensAt, endAt) : state.opensAt;
    return { open: false, reopensAt, reason: `outside the recipient's send window in ${zone}`, cause: 'window' };
  };
  return { campaign, recipient };
}

/**
 * Null when the run may go on; otherwise the sentence saying why it refuses: nothing was sent yet (`firstSendAt`
 * null) and `now` is more than `max_lateness` after the scheduled start (the first window opening at or after
 * `start_at`, so a window that opens later than `start_at` does not count as lateness).
 */
export function latenessRefusal(schedule: Schedule, firstSendAt: number | null, now: number): string | null {
  if (schedule.maxLatenessMs === undefined || firstSendAt !== null) return null;
  const start = scheduledStart(schedule);
  if (start === undefined || now - start <= schedule.maxLatenessMs) return null;
  const zone = schedule.window?.timezone ?? 'Asia/Jakarta';
  return (
    `Refusing to start: the campaign was due at ${formatInstant(start, zone)} and it is now ${formatInstant(now, zone)}, ` +
    `${formatDuration(now - start)} late, more than max_lateness (${formatDuration(schedule.maxLatenessMs)}), and nothing has been sent yet.`
  );
}
