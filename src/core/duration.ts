/** Units a duration may use, in milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;

/**
 * Parses a duration such as `30m`, `12h`, `1d`, `1h30m`, `90s`, `500ms` into milliseconds, or undefined when the
 * text is not one. Shared by every key and flag that takes a duration.
 */
export function parseDurationText(text: string): number | undefined {
  const s = text.trim();
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = DURATION_PART.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = DURATION_PART.lastIndex;
    while (s[DURATION_PART.lastIndex] === ' ') DURATION_PART.lastIndex++;
  }
  return s !== '' && matched === s.length ? Math.round(total) : undefined;
}

/**
 * Parses a duration such as `30m`, `12h`, `1d`, `1h30m`, `90s`, `500ms` into milliseconds. Throws RangeError
 * for anything else.
 */
export function parseDuration(text: string): number {
  const ms = parseDurationText(text);
  if (ms === undefined) {
    throw new RangeError(`"${text}" is not a duration: expected a number and a unit (ms, s, m, h, d), e.g. 30m, 12h, 1d`);
  }
  return ms;
}

/**
 * The one way a duration is printed, in sentences, log lines, progress bars and the HTML report: its two largest
 * units, the second one left out when it is zero: `45s`, `3m 05s`, `2h`, `2h 30m`, `1d 04h`. The sign is dropped
 * (callers say `ago` or `in`); `?` when it is not a number (an ETA not known yet).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const totalSeconds = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(totalSeconds / 86_400);
  const h = Math.floor((totalSeconds % 86_400) / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const pair = (big: number, bigUnit: string, small: number, smallUnit: string): string =>
    small > 0 ? `${big}${bigUnit} ${String(small).padStart(2, '0')}${smallUnit}` : `${big}${bigUnit}`;
  if (d > 0) return pair(d, 'd', h, 'h');
  if (h > 0) return pair(h, 'h', m, 'm');
  if (m > 0) return pair(m, 'm', s, 's');
  return `${s}s`;
}
