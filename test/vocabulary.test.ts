import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeForSend, exitCodeForSweep, mostUrgentExitCode } from '../src/core/exit-codes.js';
import { formatDuration, parseDuration } from '../src/core/duration.js';
import { inDisplayOrder, REPORT_STATUSES, statusGroup, statusTotals } from '../src/report/status.js';
import { MESSAGE_STATES, type MessageState } from '../src/store/types.js';

describe('durations: one parser, one spelling', () => {
  it('prints the two largest units, leaving out a zero second one', () => {
    const s = 1000;
    const cases: [number, string][] = [
      [0, '0s'],
      [400, '0s'],
      [45 * s, '45s'],
      [185 * s, '3m 05s'],
      [5 * 60 * s, '5m'],
      [2 * 3600 * s, '2h'],
      [(2 * 3600 + 30 * 60 + 12) * s, '2h 30m'],
      [(26 * 3600 + 59) * s, '1d 02h'],
      [-90 * s, '1m 30s'],
      [Number.NaN, '?'],
      [Number.POSITIVE_INFINITY, '?'],
    ];
    expect(cases.map(([ms]) => formatDuration(ms))).toEqual(cases.map(([, text]) => text));
  });

  it('reads what it prints', () => {
    for (const text of ['45s', '3m 05s', '2h', '2h 30m', '1d 02h']) expect(formatDuration(parseDuration(text))).toBe(text);
  });
});

describe('status vocabulary', () => {
  it('orders statuses by group (delivered, failed, in progress, not sent), then unknown API statuses by name', () => {
    const groups = REPORT_STATUSES.map((s) => statusGroup(s));
    expect(groups).toEqual([...groups].sort((a, b) => ['delivered', 'failed', 'in_progress', 'not_sent'].indexOf(a) - ['delivered', 'failed', 'in_progress', 'not_sent'].indexOf(b)));
    expect(inDisplayOrder(['pending', 'zeta', 'sent', 'expired', 'alpha', 'delivered', 'failed'])).toEqual(['delivered', 'failed', 'sent', 'pending', 'expired', 'alpha', 'zeta']);
  });

  it('names every store state in report terms', () => {
    const byState = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 1])) as Record<MessageState, number>;
    const totals = statusTotals({ total: MESSAGE_STATES.length + 1, byState, byApiStatus: { delivered: 1, custom: 1 } });
    expect(totals).toEqual({ pending: 2, rejected: 1, failed_to_send: 1, unknown: 1, invalid: 1, duplicate: 1, suppressed: 1, skipped: 1, expired: 1, delivered: 1, custom: 1 });
    for (const status of Object.keys(totals)) if (status !== 'custom') expect(REPORT_STATUSES).toContain(status);
  });
});

describe('exit codes', () => {
  it('map how a send stopped, one table for run and due', () => {
    expect(exitCodeForSend(null, 0)).toBe(EXIT.ok);
    expect(exitCodeForSend('auth', 0)).toBe(EXIT.auth);
    expect(exitCodeForSend('quota', 0)).toBe(EXIT.quota);
    expect(exitCodeForSend('interrupted', 0)).toBe(EXIT.interrupted);
    expect(exitCodeForSend('window', 0)).toBe(EXIT.notDue);
    expect(exitCodeForSend('limit', 3)).toBe(EXIT.ok);
    expect(exitCodeForSend('done', 0)).toBe(EXIT.ok);
    expect(exitCodeForSend('done', 2)).toBe(EXIT.incomplete);
    expect(exitCodeForSend('deadline', 1)).toBe(EXIT.incomplete);
    expect(['final', 'pass', 'timeout', 'interrupted', 'auth', 'quota'].map(exitCodeForSweep)).toEqual([0, 0, 0, 130, 3, 4]);
  });

  it('due takes the most urgent code; a code the table does not rank still beats 0', () => {
    expect(mostUrgentExitCode([])).toBe(EXIT.ok);
    expect(mostUrgentExitCode([0, 9, 2, 0])).toBe(EXIT.invalidInput);
    expect(mostUrgentExitCode([130, 3])).toBe(EXIT.auth);
    expect(mostUrgentExitCode([0, 10])).toBe(10);
    expect(mostUrgentExitCode([10, 9])).toBe(EXIT.incomplete);
  });
});
