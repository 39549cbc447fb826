import { createHash } from 'node:crypto';
import { DateTime } from 'luxon';
import { donutChart, GROUP_COLORS, shareBar, STATUS_COLORS, statusColor, swatch, timelineChart } from './charts.js';
import { escapeHtml } from './escape.js';
import { humanDuration, reportTexts, statusMeaning, statusName, type ReportLang, type ReportTexts } from './i18n.js';
import { peekFirst, planColumns, toRecord } from './record.js';
import { requireCampaign, type ReportSource } from './source.js';
import { inDisplayOrder, statusGroup } from './status.js';
import { REPORT_SCHEMA_VERSION, summariseRows, type ReportSummary, type VariantTotals } from './summary.js';
import { requireTimeZone, zoneLabel } from './zone.js';

/** How the HTML report is rendered. */
export interface HtmlFormat {
  /** IANA zone the page shows times in (files keep UTC). @default 'UTC' */
  timeZone?: string;
  /** Most not-delivered rows listed in the table; a note says how many more the CSV report has. @default 5000 */
  maxRows?: number;
  /** Shown in the footer. */
  version?: string;
  /** Language of the page's texts and status names (values from the CSV and the API stay as they are). @default 'en' */
  lang?: ReportLang;
}

const STYLE = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da;--radius:10px;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif;color:var(--fg);}
*{box-sizing:border-box}
body{margin:0;background:#eef1f4;font-size:14px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:28px 28px 40px}
header.top{display:flex;justify-content:space-between;align-items:flex-end;gap:24px;flex-wrap:wrap;margin-bottom:20px}
h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:16px;margin:0 0 14px}
.sub{color:var(--muted);margin:0}
.meta{color:var(--muted);text-align:right;font-size:13px}
.meta b{color:var(--fg);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:12px;margin-bottom:16px}
.card{background:#fff;border:1px solid var(--line);border-radius:var(--radius);padding:14px 16px;border-top:4px solid var(--c,#8c959f)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;font-weight:600}
.card .value{font-size:26px;font-weight:700;margin-top:2px;font-variant-numeric:tabular-nums}
.card .note{color:var(--muted);font-size:12px;margin-top:2px}
.card.rows{--c:#424a53}.card.delivered{--c:#1a7f37}.card.failed{--c:#cf222e}.card.in-progress{--c:#0969da}.card.not-sent{--c:#9a6700}.card.rate{--c:#8250df}
.panel{background:#fff;border:1px solid var(--line);border-radius:var(--radius);padding:18px 20px;margin-bottom:16px}
.split{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,7fr);gap:16px}
.breakdown{display:flex;gap:16px;align-items:center}
.donut{flex:none;width:150px;height:150px}
.donut-total{font-size:34px;font-weight:700;fill:var(--fg)}
.donut-label{font-size:15px;fill:var(--muted)}
.legend{flex:1;min-width:0;font-size:13px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em;background:var(--soft)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.legend td{padding:4px 6px}
.legend td:first-child,td.share{white-space:nowrap}
.legend .swatch{margin-right:6px;vertical-align:-1px}
.timeline{width:100%;height:auto;display:block}
.timeline .grid{stroke:#eaeef2;stroke-width:1}
.timeline .baseline{stroke:#8c959f;stroke-width:1}
.timeline .axis{font-size:11px;fill:var(--muted)}
.timeline .bar:hover rect{opacity:.85}
.chart-legend{display:flex;gap:16px;color:var(--muted);font-size:12px;margin-top:6px}
.chart-legend .swatch{margin-right:5px;vertical-align:-1px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff;background:var(--b,#6e7781);white-space:nowrap}
.controls{display:flex;gap:10px;align-items:center;margin-bottom:10px;flex-wrap:wrap}
.controls input,.controls select{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:#fff}
.controls input{flex:1;min-width:220px}
.count{color:var(--muted);font-size:13px}
.rows-wrap{overflow-x:auto}
#rows td{font-size:13px}
#rows td.err{color:#57606a;max-width:380px}
#rows td.when{white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.note{color:var(--muted);font-size:13px;margin:10px 0 0}
.empty{color:var(--muted);margin:0}
dl.glossary{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0;font-size:13px}
dl.glossary dt{font-weight:600}
dl.glossary dd{margin:0;color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
${Object.entries(STATUS_COLORS).map(([status, color]) => `.badge.s-${status}{background:${color}}`).join('\n')}
@media (max-width:900px){.cards{grid-template-columns:repeat(3,minmax(0,1fr))}.split{grid-template-columns:1fr}}
@media print{
@page{size:A4;margin:12mm}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{background:#fff;font-size:11px}
main{max-width:none;padding:0}
.controls{display:none}
.cards{grid-template-columns:repeat(6,minmax(0,1fr));gap:6px}
.card{padding:8px 10px}.card .value{font-size:18px}
.panel{break-inside:avoid;padding:10px 12px;margin-bottom:10px}
.panel.table-panel{break-inside:auto}
.split{grid-template-columns:1fr;gap:0}
thead{display:table-header-group}
tr{break-inside:avoid}
#rows td{font-size:10px}
}
`;

const SCRIPT = `(function(){
var q=document.getElementById('q'),s=document.getElementById('status-filter'),shown=document.getElementById('shown');
if(!q||!s||!shown)return;
var rows=Array.prototype.slice.call(document.querySelectorAll('#rows tbody tr'));
var text=rows.map(function(r){return r.textContent.toLowerCase();});
function apply(){var t=q.value.trim().toLowerCase(),st=s.value,n=0;
for(var i=0;i<rows.length;i++){var ok=(!st||rows[i].getAttribute('data-status')===st)&&(!t||text[i].indexOf(t)!==-1);rows[i].hidden=!ok;if(ok)n++;}
shown.textContent=n.toLocaleString(document.documentElement.lang);}
q.addEventListener('input',apply);s.addEventListener('change',apply);apply();
})();`;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64');
/** Nothing may load from anywhere; only this exact style sheet and script may apply (a missed escape could not run). */
const CSP = `default-src 'none'; style-src 'sha256-${sha256(STYLE)}'; script-src 'sha256-${sha256(SCRIPT)}'; img-src data:; base-uri 'none'; form-action 'none'`;

const e = escapeHtml;

/** The texts of the page's language and number formatting in it. */
interface Lang {
  t: ReportTexts;
  /** A whole number with the language's digit grouping (`1,234` / `1.234`). */
  fmt: (n: number) => string;
  /** A share with one decimal (`36.5%` / `36,5%`), or `–` when `whole` is 0. */
  pct: (part: number, whole: number) => string;
  /** A status as a person reads it. */
  name: (status: string) => string;
  duration: (ms: number) => string;
}

function lang(code: ReportLang): Lang {
  const t = reportTexts(code);
  const number = new Intl.NumberFormat(t.locale);
  const percent = new Intl.NumberFormat(t.locale, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
  return {
    t,
    fmt: (n) => number.format(n),
    pct: (part, whole) => (whole > 0 ? percent.format(part / whole) : '–'),
    name: (status) => statusName(t, status),
    duration: (ms) => humanDuration(ms, t.units),
  };
}

/** Statuses in display order: the documented ones, then any other API status by name. */
function orderedStatuses(totals: Record<string, number>): string[] {
  return inDisplayOrder(Object.keys(totals).filter((s) => (totals[s] ?? 0) > 0));
}

function badge(status: string, l: Lang): string {
  // Colour classes exist only for the documented statuses; any other status gets the plain grey badge.
  const cls = Object.hasOwn(STATUS_COLORS, status) ? ` s-${status}` : '';
  return `<span class="badge${cls}">${e(l.name(status))}</span>`;
}

function cards(summary: ReportSummary, l: Lang): string {
  const { t: x, fmt } = l;
  const g = summary.groups;
  const t = summary.totals;
  const failedParts = ['failed', 'rejected', 'failed_to_send', 'unknown'].filter((s) => (t[s] ?? 0) > 0).map((s) => `${l.name(s)} ${fmt(t[s]!)}`);
  const notSentParts = ['invalid', 'duplicate', 'suppressed', 'skipped', 'expired'].filter((s) => (t[s] ?? 0) > 0).map((s) => `${l.name(s)} ${fmt(t[s]!)}`);
  const card = (cls: string, metric: string, value: number, label: string, shown: string, note: string): string =>
    `<div class="card ${cls}" data-metric="${metric}" data-value="${value}"><div class="label">${e(label)}</div><div class="value">${e(shown)}</div><div class="note">${e(note)}</div></div>`;
  const rate = summary.timings.achieved_rate_per_minute;
  const duration = summary.timings.duration_ms;
  return (
    `<section class="cards" aria-label="${e(x.summaryLabel)}">` +
    card('rows', 'rows', summary.rows, x.rows, fmt(summary.rows), x.cardRowsNote(fmt(summary.accepted))) +
    card(
      'delivered',
      'delivered',
      g.delivered,
      x.groupNames.delivered,
      fmt(g.delivered),
      summary.delivery_rate === null ? x.nothingAcceptedYet : x.cardDeliveredNote(l.pct(summary.delivery_rate, 1)),
    ) +
    card('failed', 'failed', g.failed, x.groupNames.failed, fmt(g.failed), failedParts.join(' · ') || x.none) +
    card('in-progress', 'in_progress', g.in_progress, x.groupNames.in_progress, fmt(g.in_progress), x.cardInProgressNote) +
    card('not-sent', 'not_sent', g.not_sent, x.groupNames.not_sent, fmt(g.not_sent), notSentParts.join(' · ') || x.none) +
    card(
      'rate',
      'achieved_rate_per_minute',
      rate ?? 0,
      x.sendRate,
      rate === null ? '–' : x.perMinute(new Intl.NumberFormat(x.locale, { maximumFractionDigits: 1 }).format(rate)),
      duration === null ? x.nothingSentYet : x.over(l.duration(duration)),
    ) +
    `</section><div hidden data-metric="delivery_rate" data-value="${summary.delivery_rate ?? ''}"></div>`
  );
}

function breakdown(summary: ReportSummary, l: Lang): string {
  const { t, fmt } = l;
  const statuses = orderedStatuses(summary.totals);
  const slices = statuses.map((s) => ({ label: l.name(s), value: summary.totals[s]!, color: statusColor(s) }));
  const legend = statuses
    .map(
      (s) =>
        `<tr data-status="${e(s)}" data-count="${summary.totals[s]}"><td>${swatch(statusColor(s))}${e(l.name(s))}</td>` +
        `<td class="num">${fmt(summary.totals[s]!)}</td><td class="num">${l.pct(summary.totals[s]!, summary.rows)}</td></tr>`,
    )
    .join('');
  return (
    `<section class="panel"><h2>${e(t.statusBreakdown)}</h2><div class="breakdown">${donutChart(slices, t.donutCenter, { fmt, pct: l.pct, label: t.statusBreakdownOf })}` +
    `<table class="legend"><thead><tr><th>${e(t.status)}</th><th class="num">${e(t.rows)}</th><th class="num">${e(t.share)}</th></tr></thead><tbody>${legend || `<tr><td colspan="3">${e(t.noRows)}</td></tr>`}</tbody></table>` +
    `</div></section>`
  );
}

function timeline(summary: ReportSummary, formatTime: (ms: number) => string, l: Lang): string {
  const { t, fmt } = l;
  const { buckets, bucket_ms } = summary.timeline;
  if (buckets.length === 0) return `<section class="panel"><h2>${e(t.sendsOverTime)}</h2><p class="empty">${e(t.nothingSentYetLong)}</p></section>`;
  const legend = (['delivered', 'failed', 'in_progress'] as const)
    .map((k) => `<span>${swatch(GROUP_COLORS[k])}${e(t.groupNames[k].toLowerCase())}</span>`)
    .join('');
  return (
    `<section class="panel"><h2>${e(t.sendsOverTime)} <span class="sub">${e(t.firstAttemptsPer(l.duration(bucket_ms)))}</span></h2>` +
    timelineChart(buckets, bucket_ms, formatTime, {
      label: t.sendsOverTime,
      title: (from, to, b) => t.barTitle(from, to, fmt(b.delivered + b.failed + b.in_progress), fmt(b.delivered), fmt(b.failed), fmt(b.in_progress)),
      fmt,
    }) +
    `<div class="chart-legend">${legend}</div></section>`
  );
}

function failureReasons(summary: ReportSummary, l: Lang): string {
  const { t, fmt } = l;
  const reasons = summary.top_failure_reasons;
  const body = reasons
    .map(
      (r) =>
        `<tr data-reason-count="${r.count}"><td class="reason">${e(r.reason === 'other reasons' && r.error_code === null ? t.otherReasons : r.reason)}${r.error_code ? ` <span class="mono">${e(r.error_code)}</span>` : ''}</td>` +
        `<td>${badge(r.status, l)}</td><td class="num">${fmt(r.count)}</td><td class="share">${shareBar(r.share, statusColor(r.status))} <span class="count">${l.pct(r.share, 1)}</span></td>` +
        `<td class="num">${r.example_line}</td></tr>`,
    )
    .join('');
  return (
    `<section class="panel"><h2>${e(t.topFailureReasons)}</h2>` +
    (reasons.length === 0
      ? `<p class="empty">${e(t.noFailures)}</p>`
      : `<table><thead><tr><th>${e(t.reason)}</th><th>${e(t.status)}</th><th class="num">${e(t.rows)}</th><th>${e(t.shareOfRows)}</th><th class="num">${e(t.exampleLine)}</th></tr></thead><tbody>${body}</tbody></table>`) +
    `</section>`
  );
}

/** Issue 11: sent / delivered / failed per variant, side by side, as counts and shares of the variant's recipients. */
function variantPanel(variants: readonly VariantTotals[], l: Lang): string {
  if (variants.length === 0) return '';
  const { t, fmt, pct } = l;
  const all = variants.reduce((n, v) => n + v.recipients, 0);
  const cell = (n: number, whole: number): string => `<td class="num">${fmt(n)} <span class="sub">${pct(n, whole)}</span></td>`;
  const line = (label: string, pick: (v: VariantTotals) => number, whole: (v: VariantTotals) => number): string =>
    `<tr><th scope="row">${e(label)}</th>${variants.map((v) => cell(pick(v), whole(v))).join('')}</tr>`;
  return (
    `<section class="panel" id="variants"><h2>${e(t.variantsHeading)}</h2><p class="sub">${e(t.variantsNote)}</p>` +
    `<table class="legend variants"><thead><tr><th>${e(t.variant)}</th>${variants.map((v) => `<th class="num">${e(v.name)}</th>`).join('')}</tr></thead><tbody>` +
    line(t.variantRecipients, (v) => v.recipients, () => all) +
    line(t.variantSent, (v) => v.sent, (v) => v.recipients) +
    line(t.variantDelivered, (v) => v.delivered, (v) => v.recipients) +
    line(t.variantFailed, (v) => v.failed, (v) => v.recipients) +
    `</tbody></table></section>`
  );
}

/** Issue 12: sends and outcomes per device, and a note when the last run was stopped to protect the number. */
function devicesPanel(summary: ReportSummary, lastStop: string | null, lastStopDetail: string | null, l: Lang): string {
  const { t, fmt } = l;
  // What the breaker saw (or why no device was left), as the run said it: the observation behind the decision.
  const seen = lastStopDetail ? ` <span class="mono" data-observed>${e(lastStopDetail)}</span>` : '';
  const note =
    lastStop === 'health'
      ? `<p class="note" data-stopped="health">${e(t.stoppedByHealth)}${seen}</p>`
      : lastStop === 'devices'
        ? `<p class="note" data-stopped="devices">${e(t.stoppedNoDevice)}${seen}</p>`
        : '';
  if (summary.by_device.length === 0 && note === '') return '';
  const body = summary.by_device
    .map(
      (d) =>
        `<tr data-device="${e(d.device)}"><td class="mono">${e(d.device)}</td><td class="num">${fmt(d.sent)}</td><td class="num">${fmt(d.delivered)}</td>` +
        `<td class="num">${fmt(d.failed)}</td><td class="num">${fmt(d.in_progress)}</td><td class="share">${shareBar(d.sent > 0 ? d.failed / d.sent : 0, GROUP_COLORS.failed)} <span class="count">${l.pct(d.failed, d.sent)}</span></td></tr>`,
    )
    .join('');
  return (
    `<section class="panel devices"><h2>${e(t.byDevice)}</h2>${note}` +
    (body
      ? `<table><thead><tr><th>${e(t.device)}</th><th class="num">${e(t.sentThrough)}</th><th class="num">${e(t.groupNames.delivered)}</th><th class="num">${e(t.groupNames.failed)}</th>` +
        `<th class="num">${e(t.groupNames.in_progress)}</th><th>${e(t.failedShare)}</th></tr></thead><tbody>${body}</tbody></table>`
      : '') +
    `</section>`
  );
}

function glossary(summary: ReportSummary, l: Lang): string {
  const items = orderedStatuses(summary.totals)
    .map((s) => `<dt>${badge(s, l)}</dt><dd>${e(statusMeaning(l.t, s))}</dd>`)
    .join('');
  return items ? `<section class="panel"><h2>${e(l.t.glossaryHeading)}</h2><dl class="glossary">${items}</dl></section>` : '';
}

/**
 * The HTML report: one self-contained page (inline CSS, inline SVG charts, a few lines of inline JS for the
 * search; nothing loaded from anywhere, enforced by its Content-Security-Policy), for people to open, share and
 * print. Every value from the CSV or the API is escaped. Streamed: totals in a first pass, then the table rows.
 */
export async function* htmlReport(source: ReportSource, format: HtmlFormat = {}): AsyncGenerator<string> {
  const campaign = await requireCampaign(source);
  const zone = requireTimeZone(format.timeZone ?? 'UTC');
  const l = lang(format.lang ?? 'en');
  const { t: x, fmt } = l;
  const maxRows = format.maxRows ?? 5000;
  const summary = await summariseRows(campaign, source.store.reportRows(source.campaignId), { displayName: source.name, secrets: source.secrets ?? [] });
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, source.columns, source.phoneColumn, source);
  const variants = plan.extra.includes('variant') ? summary.by_variant : [];
  const showFile = plan.extra.includes('media_file');
  const showVariant = plan.extra.includes('variant');

  const at = (ms: number, pattern = 'yyyy-LL-dd HH:mm:ss'): string => DateTime.fromMillis(ms, { zone, locale: x.locale }).toFormat(pattern);
  const atIso = (iso: string | null): string => {
    if (iso === null) return '';
    const dt = DateTime.fromISO(iso, { zone });
    return dt.isValid ? dt.toFormat('yyyy-LL-dd HH:mm:ss') : iso;
  };
  const bucketMs = summary.timeline.bucket_ms;
  const spanMs = summary.timeline.buckets.length * bucketMs;
  const tickFormat = bucketMs >= 86_400_000 ? 'LLL dd' : spanMs > 86_400_000 ? 'LLL dd HH:mm' : bucketMs < 60_000 ? 'HH:mm:ss' : 'HH:mm';
  const generatedAt = source.generatedAt ?? Date.now();
  const t = summary.timings;
  const period =
    t.first_send_at && t.last_send_at
      ? `${atIso(t.first_send_at)} → ${atIso(t.last_send_at)} (${l.duration(t.duration_ms ?? 0)})`
      : x.notSentYet;
  const notDelivered = summary.rows - summary.groups.delivered;
  const statusOptions = orderedStatuses(summary.totals)
    .filter((s) => statusGroup(s) !== 'delivered')
    .map((s) => `<option value="${e(s)}">${e(l.name(s))} (${fmt(summary.totals[s]!)})</option>`)
    .join('');

  yield (
    `<!doctype html>\n<html lang="${e(x.locale)}"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="generator" content="rk-broadcast">` +
    `<title>${e(`${summary.campaign.name} · ${x.titleSuffix}`)}</title><style>${STYLE}</style></head><body><main>` +
    `<header class="top"><div><h1>${e(summary.campaign.name)}</h1><p class="sub">${e(x.deliveryReportCampaign)} <span class="mono">${e(summary.campaign.id)}</span></p></div>` +
    `<div class="meta"><div>${e(x.sent)} <b>${e(period)}</b></div>` +
    `<div>${e(x.planned)} <b>${e(t.planned_at ? atIso(t.planned_at) : '–')}</b> · ${e(x.statusesChecked)} <b>${e(t.statuses_checked_at ? atIso(t.statuses_checked_at) : x.never)}</b></div>` +
    `<div>${e(x.generated)} <b>${e(at(generatedAt))}</b> · ${e(x.timesIn)} <b>${e(zoneLabel(zone))}</b></div></div></header>` +
    cards(summary, l) +
    `<div class="split">${breakdown(summary, l)}${failureReasons(summary, l)}</div>` +
    variantPanel(variants, l) +
    timeline(summary, (ms) => at(ms, tickFormat), l) +
    devicesPanel(summary, campaign.lastStop, campaign.lastStopDetail, l) +
    `<section class="panel table-panel" data-not-delivered="${notDelivered}"><h2>${e(x.notDelivered)} <span class="sub">${e(x.ofRows(fmt(notDelivered), fmt(summary.rows)))}</span></h2>` +
    (notDelivered === 0
      ? `<p class="empty">${e(x.everyRowDelivered)}</p>`
      : `<div class="controls"><input id="q" type="search" placeholder="${e(x.searchPlaceholder)}" aria-label="${e(x.searchLabel)}">` +
        `<select id="status-filter" aria-label="${e(x.filterLabel)}"><option value="">${e(x.allStatuses)}</option>${statusOptions}</select>` +
        `<span class="count"><span id="shown">${fmt(Math.min(notDelivered, maxRows))}</span> ${e(x.shown)}</span></div>` +
        `<div class="rows-wrap"><table id="rows"><thead><tr><th class="num">${e(x.line)}</th><th>${e(x.number)}</th>` +
        plan.fields.map((f) => `<th>${e(f)}</th>`).join('') +
        (showVariant ? `<th>${e(x.variant)}</th>` : '') +
        (showFile ? `<th>${e(x.mediaFile)}</th>` : '') +
        `<th>${e(x.status)}</th><th>${e(x.error)}</th><th>${e(x.sentAt)}</th></tr></thead><tbody>`)
  );

  let listed = 0;
  let chunk = '';
  if (notDelivered > 0) {
    for await (const row of all) {
      const r = toRecord(row, plan.fields, source.secrets, plan.extra);
      if (statusGroup(r.status) === 'delivered') continue;
      if (listed >= maxRows) break;
      listed++;
      chunk +=
        `<tr data-status="${e(r.status)}" data-line="${r.line}"><td class="num">${r.line}</td>` +
        `<td class="mono">${e(r.recipient ?? r.original_number)}</td>` +
        plan.fields.map((f) => `<td>${e(r.fields[f] ?? '')}</td>`).join('') +
        (showVariant ? `<td>${e(r.variant ?? '')}</td>` : '') +
        (showFile ? `<td class="mono"${r.media_sha256 ? ` title="sha256 ${e(r.media_sha256)}"` : ''}>${e(r.media_file ?? '')}</td>` : '') +
        `<td>${badge(r.status, l)}</td>` +
        `<td class="err"${r.error_code ? ` title="${e(r.error_code)}"` : ''}>${e(r.error_message ?? '')}</td>` +
        `<td class="mono when">${e(atIso(r.sent_at))}</td></tr>`;
      if (chunk.length >= 64 * 1024) {
        yield chunk;
        chunk = '';
      }
    }
  }
  const capped = notDelivered > listed;
  yield (
    chunk +
    (notDelivered === 0
      ? ''
      : `</tbody></table></div>` +
        (capped
          ? `<p class="note" data-capped="true">${e(x.capped(fmt(listed), fmt(notDelivered)))} <span class="mono">rk-broadcast report CAMPAIGN --format csv</span>.</p>`
          : '')) +
    `</section>` +
    glossary(summary, l) +
    `<footer>rk-broadcast${format.version ? ` ${e(format.version)}` : ''} · ${e(x.footer(REPORT_SCHEMA_VERSION))}</footer>` +
    `</main><script>${SCRIPT}</script></body></html>\n`
  );
}

/** The page's Content-Security-Policy (for tests and the docs). */
export const HTML_CONTENT_SECURITY_POLICY = CSP;
