/**
 * Inline SVG charts for the HTML report: no scripts, no external assets, presentation attributes only (the page's
 * Content-Security-Policy forbids inline `style` attributes). Every label passes through `escapeHtml`.
 */
import { escapeHtml } from './escape.js';
import type { TimeBucket } from './summary.js';

/** Colour of each report status; any other API status gets `OTHER_STATUS_COLOR`. */
export const STATUS_COLORS: Record<string, string> = {
  delivered: '#1a7f37',
  read: '#0f5323',
  sent: '#0969da',
  queued: '#54aeff',
  pending: '#8c959f',
  failed: '#cf222e',
  rejected: '#82071e',
  failed_to_send: '#fa4549',
  unknown: '#bf8700',
  invalid: '#953800',
  duplicate: '#8250df',
  suppressed: '#57606a',
  skipped: '#afb8c1',
  expired: '#d4a72c',
};
/** Colour of an API status this tool does not know. */
export const OTHER_STATUS_COLOR = '#6e7781';

/** Colours of the groups in the sends-over-time chart. */
export const GROUP_COLORS = { delivered: '#1a7f37', failed: '#cf222e', in_progress: '#54aeff' } as const;

/** The colour for a status. */
export function statusColor(status: string): string {
  return STATUS_COLORS[status] ?? OTHER_STATUS_COLOR;
}

/** One slice of the donut. */
export interface Slice {
  label: string;
  value: number;
  color: string;
}

/** How a chart writes numbers and its accessible label (the report's language). */
export interface DonutTexts {
  fmt: (n: number) => string;
  pct: (part: number, whole: number) => string;
  /** The chart's label, given the formatted total. */
  label: (total: string) => string;
}

/** A donut chart of `slices` with the total in its middle. */
export function donutChart(slices: readonly Slice[], centerLabel: string, texts: DonutTexts): string {
  const { fmt, pct } = texts;
  const total = slices.reduce((n, s) => n + s.value, 0);
  const r = 80;
  const circumference = 2 * Math.PI * r;
  let offset = 0;
  const arcs: string[] = [];
  for (const s of slices) {
    if (s.value <= 0) continue;
    const length = (s.value / total) * circumference;
    arcs.push(
      `<circle cx="100" cy="100" r="${r}" fill="none" stroke="${s.color}" stroke-width="34" ` +
        `stroke-dasharray="${length.toFixed(3)} ${(circumference - length).toFixed(3)}" stroke-dashoffset="${(-offset).toFixed(3)}" ` +
        `transform="rotate(-90 100 100)"><title>${escapeHtml(`${s.label}: ${fmt(s.value)} (${pct(s.value, total)})`)}</title></circle>`,
    );
    offset += length;
  }
  if (arcs.length === 0) arcs.push(`<circle cx="100" cy="100" r="${r}" fill="none" stroke="#d0d7de" stroke-width="34"/>`);
  return (
    `<svg class="donut" viewBox="0 0 200 200" width="200" height="200" role="img" aria-label="${escapeHtml(texts.label(fmt(total)))}">` +
    arcs.join('') +
    `<text x="100" y="106" text-anchor="middle" class="donut-total">${escapeHtml(fmt(total))}</text>` +
    `<text x="100" y="130" text-anchor="middle" class="donut-label">${escapeHtml(centerLabel)}</text>` +
    `</svg>`
  );
}

/** The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1). */
export function niceCeiling(value: number): number {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Gridlines of the sends-over-time chart. */
const Y_TICKS = 4;

/** The timeline's accessible label, a bar's tooltip and number formatting (the report's language). */
export interface TimelineTexts {
  label: string;
  title: (from: string, to: string, bucket: TimeBucket) => string;
  fmt: (n: number) => string;
}

/** A stacked column chart of sends per time bucket: delivered, failed and still in progress. */
export function timelineChart(
  buckets: readonly TimeBucket[],
  bucketMs: number,
  formatTime: (ms: number) => string,
  texts: TimelineTexts,
): string {
  const fmt = texts.fmt;
  const width = 960;
  const height = 250;
  const left = 48;
  const right = 12;
  const top = 12;
  const bottom = 30;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  // Whole, round steps: 0, 10, 20, 30, 40 rather than 0, 12.5, 25…
  const max = niceCeiling(Math.max(1, ...buckets.map((b) => b.delivered + b.failed + b.in_progress)) / Y_TICKS) * Y_TICKS;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.78);
  const y = (v: number): number => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  for (let i = 0; i <= Y_TICKS; i++) {
    const v = (max / Y_TICKS) * i;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${yy}" dy="0.32em" text-anchor="end" class="axis">${escapeHtml(fmt(Math.round(v)))}</text>`);
  }
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let base = 0;
    const total = b.delivered + b.failed + b.in_progress;
    const title = texts.title(formatTime(b.start), formatTime(b.start + bucketMs), b);
    const rects: string[] = [];
    for (const [key, value] of [['delivered', b.delivered], ['failed', b.failed], ['in_progress', b.in_progress]] as const) {
      if (value <= 0) continue;
      const y1 = y(base + value);
      rects.push(`<rect x="${x.toFixed(2)}" y="${y1.toFixed(2)}" width="${barW.toFixed(2)}" height="${(y(base) - y1).toFixed(2)}" fill="${GROUP_COLORS[key]}"/>`);
      base += value;
    }
    parts.push(`<g class="bar" data-bucket-start="${b.start}" data-bucket-total="${total}"><title>${escapeHtml(title)}</title>${rects.join('')}` +
      `<rect x="${(left + i * slot).toFixed(2)}" y="${top}" width="${slot.toFixed(2)}" height="${plotH}" fill="transparent"/></g>`);
    if (i % labelEvery === 0) {
      parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${height - 10}" text-anchor="middle" class="axis">${escapeHtml(formatTime(b.start))}</text>`);
    }
  });
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" class="baseline"/>`);
  return `<svg class="timeline" viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet" role="img" aria-label="${escapeHtml(texts.label)}">${parts.join('')}</svg>`;
}

/** A small horizontal bar for a share (0..1), e.g. in the failure reasons table. */
export function shareBar(share: number, color: string): string {
  const w = Math.max(0, Math.min(1, share)) * 120;
  return `<svg class="share" viewBox="0 0 120 10" width="120" height="10" aria-hidden="true"><rect width="120" height="10" rx="2" fill="#eaeef2"/><rect width="${w.toFixed(2)}" height="10" rx="2" fill="${color}"/></svg>`;
}

/** A coloured square for legends. */
export function swatch(color: string): string {
  return `<svg class="swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="${color}"/></svg>`;
}
