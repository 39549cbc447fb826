import { redact } from '../config/env.js';
import { formatDuration } from '../core/duration.js';
import type { RunResult } from '../pipeline/run.js';
import { createScheduleGate } from '../schedule/gate.js';
import type { Schedule } from '../schedule/schema.js';
import { displayDbTarget } from '../store/url.js';
import { formatInstant } from '../schedule/window.js';
import type { CliIo } from './io.js';
import type { EventOutput } from './output.js';
import { formatTotals } from './run-view.js';

/** Why a `window` stop happened, in words, from the schedule at `now`. */
export function notDueReason(schedule: Schedule | undefined, now: number): string {
  if (!schedule) return 'outside the send window';
  const decision = createScheduleGate(schedule).campaign(now);
  if (!decision.open) return decision.reason;
  return "every remaining recipient is outside the send window in their own time zone";
}

/** Prints the end of a run: what was sent, the campaign's totals and what to do next. */
export function printSummary(
  io: CliIo,
  output: EventOutput,
  args: { campaign: string; db?: string; /** Campaign id, added to the NDJSON summary (several campaigns in one stream). */ id?: string },
  result: RunResult,
  code: number,
  secrets: string[],
  schedule?: Schedule,
): void {
  const send = result.send;
  output.json({
    type: 'run-finished',
    ...(args.id ? { campaign: args.id } : {}),
    reason: send?.reason ?? 'dry-run',
    exitCode: code,
    counts: result.counts,
    ...(result.expired > 0 ? { expired: result.expired } : {}),
  } as { type: string });
  const resume = `rk-broadcast run ${args.campaign}${args.db ? ` --db ${displayDbTarget(args.db)}` : ''}`;
  const lines: string[] = [];
  if (!send) {
    lines.push('Dry run: planned, nothing sent.');
  } else {
    const p = send.progress;
    lines.push(
      `Sent ${p.accepted} this run` +
        (p.rejected + p.failed > 0 ? ` (${p.rejected} rejected, ${p.failed} gave up)` : '') +
        (send.rateLimited > 0 ? `, ${send.rateLimited} rate-limited retries` : '') +
        '.',
    );
  }
  lines.push(`Campaign totals: ${formatTotals(result.counts)}.`);
  const error = send?.error;
  switch (send?.reason) {
    case 'auth':
    case 'rate_limit_pause':
    case 'devices': // issue 12: no device left (exit 13)
    case 'health': // issue 12: the delivery-health breaker (exit 14)
      lines.push(`Stopped: ${error?.message ?? send.reason}`, `  ${error?.hint ?? ''}`, `  Then resume with: ${resume}`);
      break;
    case 'quota':
      if (error?.code === 'LOCAL_QUOTA_BUDGET' && result.quota) {
        const q = result.quota;
        lines.push(
          `Stopped before going over the monthly quota: ${q.quota.toLocaleString('en-US')} messages in ${q.month} (${q.timezone}) for this project; nothing was refused by the API.`,
          `  The rest stays planned. It resumes after the quota resets (${formatInstant(q.resetsAt, q.timezone)}), or raise RK_MONTHLY_QUOTA / monthly_quota if the plan allows more.`,
          `  Then resume with: ${resume}`,
        );
      } else {
        lines.push(`Stopped: ${error?.message ?? send.reason}`, `  ${error?.hint ?? ''}`, `  Then resume with: ${resume}`);
      }
      break;
    case 'deadline':
      lines.push(
        `Stopped at end_at: ${result.expired} message(s) not sent are expired (listed in the report)` +
          (schedule?.endAt !== undefined ? `; end_at was ${formatInstant(schedule.endAt, schedule.window?.timezone)}` : '') +
          '.',
      );
      break;
    case 'interrupted':
      lines.push(`Stopped by signal; progress is saved. Resume with: ${resume}`);
      break;
    case 'limit':
      lines.push(`Stopped after --limit; ${send.progress.remaining} left. Continue with: ${resume}`);
      break;
    case 'caps': // issue 12: every device at its daily cap, with --no-wait (exit 7)
      lines.push(
        `Not due now: ${error?.message ?? 'the daily caps were reached on every device'}` +
          (send.reopensAt ? ` They reset at ${formatInstant(send.reopensAt, schedule?.window?.timezone)} (in ${formatDuration(send.reopensAt - Date.now())}).` : '') +
          ` Run again then (or without --no-wait to wait): ${resume}`,
      );
      break;
    case 'window': {
      const zone = schedule?.window?.timezone;
      const reason = notDueReason(schedule, Date.now());
      lines.push(
        `Not due now: ${reason}` +
          (send.reopensAt ? `; next chance to send: ${formatInstant(send.reopensAt, zone)} (in ${formatDuration(send.reopensAt - Date.now())})` : '') +
          `. Run again then (or without --no-wait to wait), or let \`rk-broadcast due\` pick it up: ${resume}`,
      );
      break;
    }
    default:
      if (result.counts.byState.failed_to_send > 0) {
        lines.push(`${result.counts.byState.failed_to_send} message(s) failed after every retry: ${resume} --retry-failed`);
      }
      if (result.counts.byState.unknown > 0) {
        lines.push(
          `${result.counts.byState.unknown} message(s) have an unknown fate (a crash long ago); check them in the report, then if needed: ${resume} --resend-unknown`,
        );
      }
  }
  for (const line of lines.filter(Boolean)) output.line(redact(line, secrets), 'important');
}
