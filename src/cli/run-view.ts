import { relative } from 'node:path';
import { formatDuration } from '../core/duration.js';
import type { RunEvent } from '../pipeline/run.js';
import { inDisplayOrder, statusTotals } from '../report/status.js';
import { formatInstant } from '../schedule/window.js';
import type { CampaignCounts } from '../store/types.js';
import type { CliIo } from './io.js';
import type { EventOutput } from './output.js';

/**
 * Shows the events of `run` (plan, recovery, send): NDJSON as they come with --json, otherwise a bar or log lines
 * plus a line for each thing a person should notice (a rejected message, a 429 pause, a wait for the window).
 */
export function runEventHandler(io: CliIo, output: EventOutput): (event: RunEvent) => void {
  let total = 0;
  return (event) => {
    output.json(event);
    switch (event.type) {
      case 'plan-started':
        output.line(`Planning ${event.mode === 'replan' ? '(replan) ' : ''}from ${relative(io.cwd, event.file) || event.file} ...`);
        break;
      case 'plan-progress':
        if (event.rows % 100_000 === 0) output.line(`  ${event.rows.toLocaleString('en-US')} rows planned`, 'debug');
        break;
      case 'plan-finished': {
        const s = event.summary;
        output.line(
          `Planned ${s.rows} rows in ${formatDuration(s.durationMs)}: ${s.planned} to send, ${s.invalid} invalid, ` +
            `${s.duplicate} duplicate, ${s.suppressed} suppressed` +
            (s.kept + s.skipped > 0 ? `, ${s.kept} already sent kept, ${s.skipped} removed (skipped)` : '') +
            '.',
        );
        break;
      }
      case 'plan-kept':
        output.line('Resuming the existing plan (inputs unchanged).', 'debug');
        break;
      case 'recovered':
        output.line(
          `Recovered from an interrupted run: ${event.requeued} message(s) in flight will be resent with their request id` +
            (event.unknown > 0 ? `; ${event.unknown} are too old to resend safely and are marked unknown (see --resend-unknown)` : '') +
            '.',
          'important',
        );
        break;
      case 'requeued':
        output.line(`Requeued ${event.unknown} unknown and ${event.failed} failed message(s).`);
        break;
      case 'send-started':
        total = event.pending;
        output.line(
          event.pending === 0
            ? 'Nothing left to send.'
            : `Sending ${event.pending} message(s) at ${event.ratePerMinute}/min (ETA ${formatDuration((event.pending * 60_000) / event.ratePerMinute)}).`,
        );
        break;
      case 'send-progress': {
        const p = event.progress;
        if (total === 0) break;
        output.progress({
          done: p.accepted + p.rejected + p.failed,
          total,
          accepted: p.accepted,
          failed: p.failed,
          rejected: p.rejected,
          ratePerMinute: p.currentRatePerMinute,
          etaMs: p.etaMs,
          label: 'sending',
        });
        break;
      }
      case 'message-rejected':
        output.line(`  line ${event.line} (${event.recipient}): rejected by the API: ${event.error.code}: ${event.error.message}`);
        break;
      case 'message-failed':
        output.line(
          `  line ${event.line} (${event.recipient}): gave up after ${event.attempts} attempts: ${event.error.message}`,
        );
        break;
      case 'message-retry':
        output.line(
          `  line ${event.line}: attempt ${event.attempt} failed (${event.error.code}); retrying in ${formatDuration(event.delayMs)}`,
          'debug',
        );
        break;
      case 'message-accepted':
        break;
      case 'rate-limited':
        output.line(`  API rate limit reached (429): pausing ${formatDuration(event.retryAfterMs)} as asked.`);
        break;
      case 'waiting':
        output.line(
          `Waiting: ${event.reason}` + (event.until !== null ? `; resumes at ${new Date(event.until).toISOString()}` : ''),
          'important',
        );
        break;
      case 'stopping':
        if (event.reason !== 'done') output.line(`Stopping (${event.reason}); ${event.inFlight} request(s) in flight.`, 'debug');
        break;
      case 'suppression-applied':
        if (event.suppressed > 0 || event.released > 0) {
          output.line(
            `Suppression lists changed${event.when === 'during-run' ? ' during the run' : ''}: ${event.suppressed} message(s) not yet sent are now suppressed` +
              (event.released > 0 ? `; ${event.released} number(s) no longer on the lists stay suppressed until --replan` : '') +
              '.',
            'important',
          );
        }
        break;
      case 'suppression-check-failed':
        output.line(`Warning: the changed suppression lists could not be applied yet (${event.message}); the last lists read stay in force and will be retried.`, 'important');
        break;
      case 'lease-lost':
        output.line('Warning: this run lost its campaign lock while running (the process stalled).', 'important');
        break;
      case 'device-dropped':
        output.line(
          `Device ${event.device} left the rotation: ${event.error.code}: ${event.error.message}. ` +
            (event.remaining.length > 0 ? `Its recipients go through ${event.remaining.join(', ')} (same request ids: nothing is sent twice).` : 'No device is left.'),
          'important',
        );
        break;
      case 'device-capped':
        output.line(`Device ${event.device} reached its cap for ${event.day}` + (event.remaining.length > 0 ? `; sending on through ${event.remaining.join(', ')}.` : '.'));
        break;
      case 'health-sample': {
        const s = event.sample;
        output.line(`  health: ${s.failed} of the last ${s.observed} final statuses failed (breaker at more than ${Math.round(s.maxFailed * 100)}% of ${s.window}).`, 'debug');
        break;
      }
      case 'health-tripped':
        output.line(`Delivery-health breaker: ${event.message}`, 'important');
        break;
    }
  };
}

/** The countdown's label for what a paused run waits for. */
const COUNTDOWN_LABELS: Record<Extract<RunEvent, { type: 'waiting' }>['cause'], string> = {
  start_at: 'until start_at',
  window: 'until the send window opens',
  caps: 'until the daily caps reset',
};

/** One line like `delivered 180 · failed 3 · pending 15 · invalid 2`, in the display order of the status vocabulary. */
export function formatTotals(counts: CampaignCounts): string {
  const totals = statusTotals(counts);
  return inDisplayOrder(Object.keys(totals)).map((n) => `${n} ${totals[n]}`).join(' · ') || 'no rows';
}

/**
 * Wraps a run's event handler with what scheduling adds: a live countdown while waiting for `start_at` or the
 * window (the bar on a terminal, a log line a minute otherwise), and lines for the quota pre-flight and expiry.
 */
export function withScheduleView(
  output: EventOutput,
  handler: (event: RunEvent) => void,
  zone: string = 'Asia/Jakarta',
): { emit: (event: RunEvent) => void; dispose: () => void } {
  let total = 0;
  let accepted = 0;
  let ticker: NodeJS.Timeout | undefined;
  const stopCountdown = (): void => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  const startCountdown = (until: number, reason: string): void => {
    stopCountdown();
    const show = (force: boolean): void => {
      const left = Math.max(0, until - Date.now());
      if (left === 0) stopCountdown(); // the sender goes on by itself; its progress takes the line back
      output.progress(
        { done: accepted, total: Math.max(total, accepted), accepted, failed: 0, rejected: 0, ratePerMinute: 0, etaMs: left, label: `waiting ${formatDuration(left)} ${reason}` },
        force,
      );
    };
    show(true);
    ticker = setInterval(() => show(output.mode !== 'tty'), output.mode === 'tty' ? 1_000 : 60_000);
    ticker.unref();
  };
  const emit = (event: RunEvent): void => {
    switch (event.type) {
      case 'send-started':
        total = event.pending;
        break;
      case 'message-accepted':
        accepted++;
        break;
      case 'waiting':
        handler(event);
        if (event.until !== null && output.mode !== 'json') {
          startCountdown(event.until, COUNTDOWN_LABELS[event.cause]);
        }
        return;
      case 'stopping':
        stopCountdown();
        break;
      case 'quota-checked':
        output.json(event);
        output.line(
          `Monthly quota ${event.month} (${event.timezone}): ${event.used.toLocaleString('en-US')} of ${event.quota.toLocaleString('en-US')} used; ` +
            (event.fits
              ? `this campaign's ${event.pending.toLocaleString('en-US')} message(s) fit.`
              : `this campaign's ${event.pending.toLocaleString('en-US')} message(s) do NOT fit: it stops cleanly after ${event.remaining.toLocaleString('en-US')} (exit 4) and resumes when the quota resets (${formatInstant(event.resetsAt, event.timezone)}) or is raised.`),
          event.fits ? 'info' : 'important',
        );
        return;
      case 'expired':
        output.json(event);
        output.line(`end_at (${formatInstant(event.endAt, zone)}) reached: ${event.count} message(s) not sent are now expired.`, 'important');
        return;
    }
    handler(event);
  };
  return { emit, dispose: stopCountdown };
}
