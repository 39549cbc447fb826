import { redact } from '../config/env.js';
import { formatDuration } from '../core/duration.js';
import { inDisplayOrder } from '../report/status.js';
import { displayDbTarget } from '../store/url.js';
import type { SweepEvent, SweepOutcome } from '../sweep/index.js';
import { isFinalApiStatus } from '../sweep/final.js';
import { printFailure } from './failure.js';
import type { CliIo } from './io.js';
import type { EventOutput } from './output.js';

/** `delivered 180 · failed 3 · sent 2`: accepted messages by API status, in the display order of the status vocabulary. */
export function formatStatusCounts(byStatus: Record<string, number>): string {
  const names = inDisplayOrder(Object.keys(byStatus).filter((s) => (byStatus[s] ?? 0) > 0));
  return names.map((s) => `${s} ${byStatus[s]}`).join(' · ') || 'no accepted messages';
}

/**
 * Shows sweep events: NDJSON with --json; otherwise a bar or log lines, plus a line for what a person should notice.
 */
export function sweepEventHandler(output: EventOutput): (event: SweepEvent) => void {
  return (event) => {
    output.json(event);
    switch (event.type) {
      case 'sweep-started':
        output.line(
          event.pending === 0
            ? 'Nothing to sweep: every accepted message already has a final status.'
            : `Checking the status of ${event.pending} message(s) (${event.concurrency} at a time, at most ${event.ratePerMinute}/min)` +
                (event.untilFinal ? ' until every one is final' : '') +
                (event.deadline !== null ? `, giving up at ${new Date(event.deadline).toISOString()}` : '') +
                '.',
        );
        break;
      case 'sweep-pass-started':
        output.line(`Pass ${event.pass}: ${event.pending} message(s) to check.`, 'debug');
        break;
      case 'sweep-progress': {
        const p = event.progress;
        if (p.total === 0) break;
        const done = p.checked + p.errors;
        output.progress({
          done,
          total: p.total,
          accepted: (p.byStatus.delivered ?? 0) + (p.byStatus.read ?? 0),
          acceptedLabel: 'delivered',
          failed: p.byStatus.failed ?? 0,
          rejected: 0,
          ratePerMinute: p.ratePerMinute,
          etaMs: p.ratePerMinute > 0 ? ((p.total - done) * 60_000) / p.ratePerMinute : Number.NaN,
          label: `pass ${p.pass}`,
        });
        break;
      }
      case 'status-retry':
        output.line(`  message ${event.messageId}: status check failed (${event.error.code}); retrying in ${formatDuration(event.delayMs)}`, 'debug');
        break;
      case 'status-error':
        output.line(
          `  message ${event.messageId}: status check failed ${event.attempts} time(s) (${event.error.code}: ${event.error.message}); left for the next pass`,
          'debug',
        );
        break;
      case 'status-not-found':
        output.line(`  message ${event.uuid}: RK Connect does not know it (404); recorded as unknown.`);
        break;
      case 'rate-limited':
        output.line(`  API rate limit reached (429): pausing status checks for ${formatDuration(event.retryAfterMs)}.`);
        break;
      case 'sweep-pass-finished':
        output.stopProgress();
        output.line(
          `Pass ${event.pass} done in ${formatDuration(event.durationMs)}: ${event.checked} checked (${event.changed} changed)` +
            (event.errors > 0 ? `, ${event.errors} could not be checked` : '') +
            `; ${event.pending} not final yet.`,
        );
        break;
      case 'sweep-waiting':
        output.line(
          `Next pass at ${new Date(event.nextPassAt).toISOString().slice(11, 19)} UTC ` +
            `(in ${formatDuration(event.nextPassAt - Date.now())}); ${event.pending} not final yet.`,
        );
        break;
      case 'sweep-stopped':
        break;
    }
  };
}

/**
 * Shows the sweep that follows a run (`run`, `due`): at its first event the run's view is put away (countdown
 * stopped, bar removed), then every event goes to `sweepEventHandler`.
 */
export function sweepAfterRunHandler(output: EventOutput, runView: { dispose: () => void }): (event: SweepEvent) => void {
  const show = sweepEventHandler(output);
  let started = false;
  return (event) => {
    if (!started) {
      started = true;
      runView.dispose();
      output.stopProgress();
    }
    show(event);
  };
}

/** Prints the end of a sweep: NDJSON `sweep-summary`, then what was found and what to do next. */
export function printSweepSummary(
  io: CliIo,
  output: EventOutput,
  args: { campaign: string; db?: string },
  outcome: SweepOutcome,
  code: number,
  secrets: string[],
): void {
  output.json({
    type: 'sweep-summary',
    reason: outcome.reason,
    exitCode: code,
    passes: outcome.passes,
    checked: outcome.checked,
    changed: outcome.changed,
    notFound: outcome.notFound,
    errors: outcome.errors,
    pending: outcome.pending,
    byStatus: outcome.byStatus,
    durationMs: outcome.durationMs,
    ...(outcome.error ? { error: { ...outcome.error, message: redact(outcome.error.message, secrets), hint: redact(outcome.error.hint, secrets) } } : {}),
  } as { type: string });
  const db = args.db ? ` --db ${displayDbTarget(args.db)}` : '';
  const again = `rk-broadcast sweep ${args.campaign}${db}`;
  if (outcome.error && (outcome.reason === 'auth' || outcome.reason === 'quota')) {
    if (output.mode !== 'json') {
      printFailure(
        io,
        'sweep',
        { kind: outcome.error.kind, code: outcome.error.code, message: outcome.error.message, hint: outcome.error.hint, exitCode: code },
        { json: false, secrets, notes: [`Statuses checked so far are saved; then run again: ${again}`] },
      );
    }
    return;
  }
  const nonFinal = Object.entries(outcome.byStatus)
    .filter(([status]) => !isFinalApiStatus(status))
    .reduce((n, [, count]) => n + count, 0);
  const lines = [
    `Swept ${outcome.checked} status(es) in ${outcome.passes} pass(es), ${formatDuration(outcome.durationMs)}` +
      (outcome.errors > 0 ? `; ${outcome.errors} check(s) failed and were left for later` : '') +
      '.',
    `Accepted messages: ${formatStatusCounts(outcome.byStatus)}.`,
  ];
  switch (outcome.reason) {
    case 'final':
      lines.push('Every accepted message has a final status.');
      break;
    case 'pass':
      lines.push(`${nonFinal} not final yet. Check again later (${again}), or keep checking: ${again} --until-final --timeout 30m`);
      break;
    case 'timeout':
      lines.push(`Gave up at the timeout with ${nonFinal} not final yet. Check again later: ${again}`);
      break;
    case 'interrupted':
      lines.push(`Stopped; every status checked is saved. Continue with: ${again}`);
      break;
  }
  lines.push(`Report: rk-broadcast report ${args.campaign}${db} --format html --out report.html`);
  for (const line of lines) output.line(redact(line, secrets), 'important');
}
