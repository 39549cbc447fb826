import { createHash } from 'node:crypto';
import { DateTime, IANAZone } from 'luxon';
import { formatDuration } from '../core/duration.js';
import { donutChart, GROUP_COLORS, shareBar, STATUS_COLORS, statusColor, swatch, timelineChart } from './charts.js';
import { escapeHtml } from './escape.js';
import { peekFirst, planColumns, ReportError, toRecord } from './record.js';
import { requireCampaign, type ReportSource } from './source.js';
import { inDisplayOrder, STATUS_MEANINGS, statusGroup } from './status.js';
import { REPORT_SCHEMA_VERSION, summariseRows, type ReportSummary } from './summary.js';

/** How the HTML report is rendered. */
export interface HtmlFormat {
  /** IANA zone the page shows times in (files keep UTC). @default 'UTC' */
  timeZone?: string;
  /** Most not-delivered rows listed in the table; a note says how many more the CSV report has. @default 5000 */
  maxRows?: number;
  /** Shown in the footer. */
  version?: string;
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
shown.textContent=n.toLocaleString('en-US');}
q.addEventListener('input',apply);s.addEventListener('change',apply);apply();
})();`;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64');
/** Nothing may load from anywhere; only this exact style sheet and script may apply (a missed escape could not run). */
const CSP = `default-src 'none'; style-src 'sha256-${sha256(STYLE)}'; script-src 'sha256-${sha256(SCRIPT)}'; img-src data:; base-uri 'none'; form-action 'none'`;

const fmt = (n: number): string => n.toLocaleString('en-US');
const pct = (part: number, whole: number): string => (whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '–');
const e = escapeHtml;

/** The statuses with rows, in display order. */
function orderedStatuses(totals: Record<string, number>): string[] {
  return inDisplayOrder(Object.keys(totals).filter((s) => (totals[s] ?? 0) > 0));
}

function badge(status: string): string {
  // Colour classes exist only for the documented statuses; any other status gets the plain grey badge.
  const cls = Object.hasOwn(STATUS_COLORS, status) ? ` s-${status}` : '';
  return `<span class="badge${cls}">${e(status)}</span>`;
}

function cards(summary: ReportSummary): string {
  const g = summary.groups;
  const t = summary.totals;
  const failedParts = ['failed', 'rejected', 'failed_to_send', 'unknown'].filter((s) => (t[s] ?? 0) > 0).map((s) => `${s.replace(/_/g, ' ')} ${fmt(t[s]!)}`);
  const notSentParts = ['invalid', 'duplicate', 'suppressed', 'skipped', 'expired'].filter((s) => (t[s] ?? 0) > 0).map((s) => `${s} ${fmt(t[s]!)}`);
  const card = (cls: string, metric: string, value: number, label: string, shown: string, note: string): string =>
    `<div class="card ${cls}" data-metric="${metric}" data-value="${value}"><div class="label">${e(label)}</div><div class="value">${e(shown)}</div><div class="note">${e(note)}</div></div>`;
  const rate = summary.timings.achieved_rate_per_minute;
  const duration = summary.timings.duration_ms;
  return (
    `<section class="cards" aria-label="Summary">` +
    card('rows', 'rows', summary.rows, 'Rows', fmt(summary.rows), `${fmt(summary.accepted)} accepted by RK Connect`) +
    card(
      'delivered',
      'delivered',
      g.delivered,
      'Delivered',
      fmt(g.delivered),
      summary.delivery_rate === null ? 'nothing accepted yet' : `${(summary.delivery_rate * 100).toFixed(1)}% of accepted`,
    ) +
    card('failed', 'failed', g.failed, 'Failed', fmt(g.failed), failedParts.join(' · ') || 'none') +
    card('in-progress', 'in_progress', g.in_progress, 'In progress', fmt(g.in_progress), 'pending, queued or sent') +
    card('not-sent', 'not_sent', g.not_sent, 'Not sent', fmt(g.not_sent), notSentParts.join(' · ') || 'none') +
    card(
      'rate',
      'achieved_rate_per_minute',
      rate ?? 0,
      'Send rate',
      rate === null ? '–' : `${rate}/min`,
      duration === null ? 'nothing sent yet' : `over ${formatDuration(duration)}`,
    ) +
    `</section><div hidden data-metric="delivery_rate" data-value="${summary.delivery_rate ?? ''}"></div>`
  );
}

function breakdown(summary: ReportSummary): string {
  const statuses = orderedStatuses(summary.totals);
  const slices = statuses.map((s) => ({ label: s, value: summary.totals[s]!, color: statusColor(s) }));
  const legend = statuses
    .map(
      (s) =>
        `<tr data-status="${e(s)}" data-count="${summary.totals[s]}"><td>${swatch(statusColor(s))}${e(s)}</td>` +
        `<td class="num">${fmt(summary.totals[s]!)}</td><td class="num">${pct(summary.totals[s]!, summary.rows)}</td></tr>`,
    )
    .join('');
  return (
    `<section class="panel"><h2>Status breakdown</h2><div class="breakdown">${donutChart(slices, 'rows')}` +
    `<table class="legend"><thead><tr><th>Status</th><th class="num">Rows</th><th class="num">Share</th></tr></thead><tbody>${legend || '<tr><td colspan="3">No rows.</td></tr>'}</tbody></table>` +
    `</div></section>`
  );
}

function timeline(summary: ReportSummary, formatTime: (ms: number) => string): string {
  const { buckets, bucket_ms } = summary.timeline;
  if (buckets.length === 0) return `<section class="panel"><h2>Sends over time</h2><p class="empty">Nothing has been sent yet.</p></section>`;
  const legend = (['delivered', 'failed', 'in_progress'] as const)
    .map((k) => `<span>${swatch(GROUP_COLORS[k])}${k === 'in_progress' ? 'in progress' : k}</span>`)
    .join('');
  return (
    `<section class="panel"><h2>Sends over time <span class="sub">(first attempts per ${e(formatDuration(bucket_ms))})</span></h2>` +
    timelineChart(buckets, bucket_ms, formatTime) +
    `<div class="chart-legend">${legend}</div></section>`
  );
}

function failureReasons(summary: ReportSummary): string {
  const reasons = summary.top_failure_reasons;
  const body = reasons
    .map(
      (r) =>
        `<tr data-reason-count="${r.count}"><td>${e(r.reason)}${r.error_code ? ` <span class="mono">${e(r.error_code)}</span>` : ''}</td>` +
        `<td>${badge(r.status)}</td><td class="num">${fmt(r.count)}</td><td class="share">${shareBar(r.share, statusColor(r.status))} <span class="count">${(r.share * 100).toFixed(1)}%</span></td>` +
        `<td class="num">${r.example_line}</td></tr>`,
    )
    .join('');
  return (
    `<section class="panel"><h2>Top failure reasons</h2>` +
    (reasons.length === 0
      ? `<p class="empty">No failures: every row was delivered, is on its way, or is waiting to be sent.</p>`
      : `<table><thead><tr><th>Reason</th><th>Status</th><th class="num">Rows</th><th>Share of rows</th><th class="num">e.g. line</th></tr></thead><tbody>${body}</tbody></table>`) +
    `</section>`
  );
}

function glossary(summary: ReportSummary): string {
  const items = orderedStatuses(summary.totals)
    .map((s) => `<dt>${badge(s)}</dt><dd>${e((STATUS_MEANINGS as Record<string, string>)[s] ?? 'Reported by RK Connect as is (not a documented status).')}</dd>`)
    .join('');
  return items ? `<section class="panel"><h2>What the statuses mean</h2><dl class="glossary">${items}</dl></section>` : '';
}

/**
 * The HTML report: one self-contained page (inline CSS, inline SVG charts, a few lines of inline JS for the
 * search; nothing loaded from anywhere, enforced by its Content-Security-Policy), for people to open, share and
 * print. Every value from the CSV or the API is escaped. Streamed: totals in a first pass, then the table rows.
 */
export async function* htmlReport(source: ReportSource, format: HtmlFormat = {}): AsyncGenerator<string> {
  const campaign = await requireCampaign(source);
  const zone = format.timeZone ?? 'UTC';
  if (!IANAZone.isValidZone(zone)) {
    throw new ReportError(`"${zone}" is not an IANA time zone.`, 'Use a name such as Asia/Jakarta, Asia/Makassar or UTC.');
  }
  const maxRows = format.maxRows ?? 5000;
  const summary = await summariseRows(campaign, source.store.reportRows(source.campaignId), { displayName: source.name, secrets: source.secrets ?? [] });
  const { first, all } = await peekFirst(source.store.reportRows(source.campaignId));
  const plan = planColumns(first, source.columns, source.phoneColumn);

  const zoneLabel = zone === 'UTC' ? 'UTC' : `${zone} (${DateTime.now().setZone(zone).toFormat('ZZ')})`;
  const at = (ms: number, pattern = 'yyyy-LL-dd HH:mm:ss'): string => DateTime.fromMillis(ms, { zone }).toFormat(pattern);
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
      ? `${atIso(t.first_send_at)} → ${atIso(t.last_send_at)} (${formatDuration(t.duration_ms ?? 0)})`
      : 'not sent yet';
  const notDelivered = summary.rows - summary.groups.delivered;
  const statusOptions = orderedStatuses(summary.totals)
    .filter((s) => statusGroup(s) !== 'delivered')
    .map((s) => `<option value="${e(s)}">${e(s)} (${fmt(summary.totals[s]!)})</option>`)
    .join('');

  yield (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="generator" content="rk-broadcast">` +
    `<title>${e(`${summary.campaign.name} · delivery report`)}</title><style>${STYLE}</style></head><body><main>` +
    `<header class="top"><div><h1>${e(summary.campaign.name)}</h1><p class="sub">Delivery report · campaign <span class="mono">${e(summary.campaign.id)}</span></p></div>` +
    `<div class="meta"><div>Sent <b>${e(period)}</b></div>` +
    `<div>Planned <b>${e(t.planned_at ? atIso(t.planned_at) : '–')}</b> · statuses checked <b>${e(t.statuses_checked_at ? atIso(t.statuses_checked_at) : 'never')}</b></div>` +
    `<div>Generated <b>${e(at(generatedAt))}</b> · times in <b>${e(zoneLabel)}</b></div></div></header>` +
    cards(summary) +
    `<div class="split">${breakdown(summary)}${failureReasons(summary)}</div>` +
    timeline(summary, (ms) => at(ms, tickFormat)) +
    `<section class="panel table-panel" data-not-delivered="${notDelivered}"><h2>Not delivered <span class="sub">(${fmt(notDelivered)} of ${fmt(summary.rows)} rows)</span></h2>` +
    (notDelivered === 0
      ? `<p class="empty">Every row was delivered.</p>`
      : `<div class="controls"><input id="q" type="search" placeholder="Search number, name, error…" aria-label="Search rows">` +
        `<select id="status-filter" aria-label="Filter by status"><option value="">All statuses</option>${statusOptions}</select>` +
        `<span class="count"><span id="shown">${fmt(Math.min(notDelivered, maxRows))}</span> shown</span></div>` +
        `<div class="rows-wrap"><table id="rows"><thead><tr><th class="num">Line</th><th>Number</th>` +
        plan.fields.map((f) => `<th>${e(f)}</th>`).join('') +
        `<th>Status</th><th>Error</th><th>Sent at</th></tr></thead><tbody>`)
  );

  let listed = 0;
  let chunk = '';
  if (notDelivered > 0) {
    for await (const row of all) {
      const r = toRecord(row, plan.fields, source.secrets);
      if (statusGroup(r.status) === 'delivered') continue;
      if (listed >= maxRows) break;
      listed++;
      chunk +=
        `<tr data-status="${e(r.status)}" data-line="${r.line}"><td class="num">${r.line}</td>` +
        `<td class="mono">${e(r.recipient ?? r.original_number)}</td>` +
        plan.fields.map((f) => `<td>${e(r.fields[f] ?? '')}</td>`).join('') +
        `<td>${badge(r.status)}</td>` +
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
          ? `<p class="note" data-capped="true">Showing the first ${fmt(listed)} of ${fmt(notDelivered)} rows that were not delivered. The CSV report lists every row: <span class="mono">rk-broadcast report CAMPAIGN --format csv</span>.</p>`
          : '')) +
    `</section>` +
    glossary(summary) +
    `<footer>rk-broadcast${format.version ? ` ${e(format.version)}` : ''} · report schema ${REPORT_SCHEMA_VERSION} · one row per line of the recipient file, in file order</footer>` +
    `</main><script>${SCRIPT}</script></body></html>\n`
  );
}

/** The page's Content-Security-Policy (for tests and the docs). */
export const HTML_CONTENT_SECURITY_POLICY = CSP;
