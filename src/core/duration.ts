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
