import { basename } from 'node:path';
import { IANAZone } from 'luxon';
import { campaignFingerprintInputs, readMessageSource, type Campaign } from '../config/campaign.js';
import type { Clock } from '../core/clock.js';
import { inspectRecipientCsv, readRecipientRows, type CsvHeader } from '../ingest/csv.js';
import { columnList, excerpt } from '../ingest/excerpt.js';
import { normalisePhone } from '../ingest/phone.js';
import { loadSuppression, type Suppression } from '../ingest/suppression.js';
import { compilePayloadTemplate, type PayloadTemplate } from '../render/payload.js';
import { compileMessageTemplate, missingColumnMessage, type MessageTemplate } from '../render/template.js';
import type { PlanFingerprint, PlanRowInput, Store } from '../store/types.js';
import { planBatchesInWorker, planWorkerAvailable } from './worker-protocol.js';
import { changedParts, FINGERPRINT_PARTS, hashFile, hashValue, requestIdFor, type FingerprintPart } from './fingerprint.js';
import { csvFingerprint } from './csv-stat.js';
import { applySuppressionUpdate, suppressionHash, type SuppressionEvent } from './suppression-update.js';

/** A problem with the campaign as a whole that makes planning impossible (not one row's problem). */
export class PlanInputError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'PlanInputError';
  }
}

/** The plan in the database was made from other inputs than the files on disk now. */
export class PlanChangedError extends Error {
  constructor(
    readonly changed: FingerprintPart[],
    /** Said after the standard sentence, e.g. what was applied anyway. */
    detail?: string,
  ) {
    super(
      `The plan of this campaign was frozen when it was first run, and since then ${changed
        .map((k) => FINGERPRINT_PARTS[k])
        .join(', ')} changed.` + (detail ? ` ${detail}` : ''),
    );
    this.name = 'PlanChangedError';
  }
}

/** Everything compiled and checked once before rows are read. */
export interface PreparedCampaign {
  campaign: Campaign;
  header: CsvHeader;
  template: MessageTemplate;
  payload: PayloadTemplate | undefined;
  suppression: Suppression;
  fingerprint: PlanFingerprint;
  /** Column holding each recipient's IANA zone, when the schedule names one. */
  timezoneColumn: string | undefined;
}

/**
 * Compiles the template and payload, reads the CSV header and the suppression lists, and fingerprints every input.
 * Throws PlanInputError (or the ingest/render errors, which name file, line and column) when the campaign
 * cannot work at all, e.g. the template uses a column the CSV does not have.
 */
export async function prepareCampaign(
  campaign: Campaign,
  options: {
    timezoneColumn?: string | undefined;
    /** The fingerprint stored with the campaign's plan: an unchanged CSV is then not hashed again (csv-stat.ts). */
    known?: PlanFingerprint | null | undefined;
  } = {},
): Promise<PreparedCampaign> {
  const { source, name } = await readMessageSource(campaign);
  const template = compileMessageTemplate(source, { name, type: campaign.type });
  const payload =
    campaign.payload === undefined
      ? undefined
      : compilePayloadTemplate(campaign.payload, { name: basename(campaign.sourcePath) });
  const header = await inspectRecipientCsv({
    file: campaign.recipients.file,
    delimiter: campaign.recipients.delimiter,
    phoneColumn: campaign.recipients.phoneColumn,
    encoding: campaign.recipients.encoding,
  });
  const missing = [
    ...template.missingColumns(header.columns).required,
    ...(payload?.missingColumns(header.columns).required ?? []),
  ];
  if (missing.length > 0) {
    throw new PlanInputError(
      missing.map((v) => missingColumnMessage(name, v, header.columns)).join('\n'),
      `Add the column to ${basename(campaign.recipients.file)}, fix the name in the template, or use {{default ${missing[0]} "..."}} for a fallback.`,
      campaign.recipients.file,
    );
  }
  const timezoneColumn = options.timezoneColumn;
  if (timezoneColumn !== undefined && !header.columns.includes(timezoneColumn)) {
    throw new PlanInputError(
      `schedule.window.timezone_column is "${timezoneColumn}" but ${basename(campaign.recipients.file)} has no such column (it has: ${columnList(header.columns)}).`,
      'Set timezone_column to one of the CSV columns, or remove it to use the window time zone for everyone.',
      campaign.sourcePath,
    );
  }
  const suppression = await loadSuppression(campaign.suppress, campaign.recipients.defaultCountry);
  const [csv, suppress, media] = await Promise.all([
    csvFingerprint(campaign.recipients.file, options.known),
    suppressionHash(campaign.suppress),
    campaign.media ? hashFile(campaign.media) : Promise.resolve(''),
  ]);
  const fingerprint: PlanFingerprint = {
    ...csv,
    template: hashValue(source),
    config: hashValue(campaignFingerprintInputs(campaign)),
    suppress,
    media,
  };
  return { campaign, header, template, payload, suppression, fingerprint, timezoneColumn };
}

/**
 * Streams the CSV and turns each row into what the store keeps: normalised number, rendered text and payload,
 * request id, or the reason the row cannot be sent. Deduplication is left to the consumer (the store's unique
 * request id, or a set in `validate`).
 */
export async function* planRows(prepared: PreparedCampaign): AsyncGenerator<PlanRowInput> {
  const { campaign, template, payload, suppression, timezoneColumn } = prepared;
  const country = campaign.recipients.defaultCountry;
  for await (const row of readRecipientRows({
    file: campaign.recipients.file,
    delimiter: prepared.header.delimiter,
    phoneColumn: campaign.recipients.phoneColumn,
    // As in prepareCampaign: the same bytes and the same declaration decode the same way on every path.
    encoding: campaign.recipients.encoding,
  })) {
    // One object per row and no closures: this loop runs a million times for a large campaign.
    const out: PlanRowInput = {
      line: row.line,
      rawPhone: row.rawPhone ?? '',
      phone: null,
      fields: row.fields ?? {},
      state: 'invalid',
      text: null,
      payload: null,
      requestId: null,
      reason: null,
      timezone: null,
    };
    if (!row.ok) {
      out.reason = row.error;
      yield out;
      continue;
    }
    const normalised = normalisePhone(row.rawPhone, country);
    if (!normalised.ok) {
      out.reason = normalised.reason;
      yield out;
      continue;
    }
    const phone = normalised.phone;
    out.phone = phone;
    if (suppression.numbers.has(phone)) {
      out.state = 'suppressed';
      out.reason = 'number is on a suppression list (opt-out)';
      yield out;
      continue;
    }
    if (timezoneColumn !== undefined) {
      const zone = row.fields[timezoneColumn]?.trim() || null;
      if (zone !== null && !IANAZone.isValidZone(zone)) {
        out.reason = `${timezoneColumn} is "${zone}", not an IANA time zone such as Asia/Jakarta`;
        yield out;
        continue;
      }
      out.timezone = zone;
    }
    const requestId = requestIdFor(campaign.id, phone);
    const rendered = template.render(row.fields, requestId);
    if (!rendered.ok) {
      out.reason = rendered.reason;
      yield out;
      continue;
    }
    if (payload) {
      const p = payload.render(row.fields, requestId);
      if (!p.ok) {
        out.reason = p.reason;
        yield out;
        continue;
      }
      out.payload = p.payload;
    }
    out.state = 'planned';
    out.text = rendered.text;
    out.requestId = requestId;
    yield out;
  }
}

/** Events of the plan stage. */
export type PlanEvent =
  | { type: 'plan-started'; campaignId: string; file: string; mode: 'fresh' | 'replan' }
  | { type: 'plan-progress'; rows: number }
  | { type: 'plan-finished'; summary: PlanSummary }
  | { type: 'plan-kept'; plannedAt: number | null }
  | SuppressionEvent;

/** What planning did. */
export interface PlanSummary {
  rows: number;
  planned: number;
  invalid: number;
  duplicate: number;
  suppressed: number;
  /** Already-sent rows a replan left as they were. */
  kept: number;
  /** Rows a replan turned into `skipped`. */
  skipped: number;
  durationMs: number;
}

/** What the plan stage needs. */
export interface PlanDeps {
  store: Store;
  clock: Clock;
  emit: (event: PlanEvent) => void;
}

/** Rows per transaction: big enough to amortise the commit, small enough to keep memory flat. */
const BATCH_ROWS = 5_000;

/**
 * Makes sure the campaign has a complete, current plan in the store. A first run (or one that crashed while
 * planning) plans from scratch; a complete plan whose inputs changed is refused with PlanChangedError unless
 * `replan` is set, which re-renders the rows not yet sent. Returns null when the existing plan was kept.
 */
export async function ensurePlan(
  deps: PlanDeps,
  prepared: PreparedCampaign,
  options: { projectId: string; replan: boolean },
): Promise<PlanSummary | null> {
  // The store may tune itself for the plan's bulk writes; the send path after it gets the steady settings back.
  deps.store.beginBulkWrite?.();
  try {
    return await writePlan(deps, prepared, options);
  } finally {
    deps.store.endBulkWrite?.();
  }
}

async function writePlan(
  deps: PlanDeps,
  prepared: PreparedCampaign,
  options: { projectId: string; replan: boolean },
): Promise<PlanSummary | null> {
  const { store, clock, emit } = deps;
  const { campaign } = prepared;
  const record = await store.ensureCampaign({
    id: campaign.id,
    name: campaign.name,
    projectId: options.projectId,
    sourcePath: campaign.sourcePath,
    now: clock.now(),
  });
  if (record.planComplete && record.fingerprint && !options.replan) {
    const changed = changedParts(record.fingerprint, prepared.fingerprint);
    if (changed.length === 1 && changed[0] === 'suppress') {
      // Opt-outs only take recipients away: applied at once, no replan needed. This runs before crash recovery,
      // so a row left `sending` by a crash is suppressed too rather than resent.
      const update = await applySuppressionUpdate(deps, campaign.id, prepared.suppression, prepared.fingerprint.suppress, {
        inFlightToo: true,
      });
      emit({ type: 'suppression-applied', when: 'start', ...update });
      if (update.released > 0) {
        throw new PlanChangedError(
          ['suppress'],
          `New opt-outs were applied (${update.suppressed} row(s) now suppressed), but ${update.released} number(s) ` +
            'suppressed in the plan are no longer on any suppression list, and only a replan sends to them.',
        );
      }
    } else if (changed.length > 0) {
      throw new PlanChangedError(changed);
    }
    emit({ type: 'plan-kept', plannedAt: record.plannedAt });
    return null;
  }
  const counts = await store.counts(campaign.id);
  const everSent =
    counts.byState.sending + counts.byState.accepted + counts.byState.rejected + counts.byState.failed_to_send + counts.byState.unknown >
    0;
  const mode = everSent ? 'replan' : 'fresh';
  const started = clock.now();
  emit({ type: 'plan-started', campaignId: campaign.id, file: campaign.recipients.file, mode });
  const generation = await store.beginPlan(campaign.id, mode, started);
  const summary: PlanSummary = { rows: 0, planned: 0, invalid: 0, duplicate: 0, suppressed: 0, kept: 0, skipped: 0, durationMs: 0 };
  let batch: PlanRowInput[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const r = await store.insertPlanBatch(campaign.id, generation, batch, clock.now());
    summary.planned += r.planned;
    summary.invalid += r.invalid;
    summary.duplicate += r.duplicate;
    summary.suppressed += r.suppressed;
    summary.kept += r.kept;
    batch = [];
    emit({ type: 'plan-progress', rows: summary.rows });
  };
  if (planWorkerAvailable()) {
    // Parse and render on a worker thread while this one writes: the two halves overlap on two cores.
    for await (const rows of planBatchesInWorker({ campaign, timezoneColumn: prepared.timezoneColumn, batchRows: BATCH_ROWS, known: prepared.fingerprint })) {
      summary.rows += rows.length;
      batch = rows;
      await flush();
    }
  } else {
    for await (const row of planRows(prepared)) {
      summary.rows++;
      batch.push(row);
      if (batch.length >= BATCH_ROWS) await flush();
    }
    await flush();
  }
  const { skipped } = await store.completePlan(campaign.id, generation, prepared.fingerprint, clock.now());
  summary.skipped = skipped;
  summary.durationMs = clock.now() - started;
  emit({ type: 'plan-finished', summary });
  return summary;
}

/** What `validate` reports, without writing anything. */
export interface ValidationReport {
  rows: number;
  sendable: number;
  invalid: number;
  duplicate: number;
  suppressed: number;
  /** The first invalid rows, with line and reason. */
  invalidSamples: { line: number; rawPhone: string; reason: string }[];
  /** A few rendered messages. */
  previews: { line: number; phone: string; text: string; payload: Record<string, unknown> | null }[];
  delimiter: string;
  delimiterDetected: boolean;
  /** The encoding the CSV was read in (`utf-8`, `windows-1252`, `utf-16le`, `utf-16be`) and how it was decided. */
  encoding: string;
  encodingSource: 'bom' | 'declared' | 'default';
  columns: string[];
  suppressionInvalidLines: number;
}

/** Dry planning for `validate`: the same rows as a real plan, deduplicated in memory, nothing written. */
export async function validateRows(
  prepared: PreparedCampaign,
  options: { invalidSamples?: number; previews?: number } = {},
): Promise<ValidationReport> {
  const maxInvalid = options.invalidSamples ?? 10;
  const maxPreviews = options.previews ?? 3;
  const report: ValidationReport = {
    rows: 0,
    sendable: 0,
    invalid: 0,
    duplicate: 0,
    suppressed: 0,
    invalidSamples: [],
    previews: [],
    delimiter: prepared.header.delimiter,
    delimiterDetected: prepared.header.delimiterDetected,
    encoding: prepared.header.encoding,
    encodingSource: prepared.header.encodingSource,
    columns: prepared.header.columns,
    suppressionInvalidLines: prepared.suppression.invalidLines,
  };
  const seen = new Set<string>();
  for await (const row of planRows(prepared)) {
    report.rows++;
    if (row.state === 'planned' && row.requestId) {
      if (seen.has(row.requestId)) {
        report.duplicate++;
        continue;
      }
      seen.add(row.requestId);
      report.sendable++;
      if (report.previews.length < maxPreviews) {
        report.previews.push({ line: row.line, phone: row.phone!, text: row.text ?? '', payload: row.payload });
      }
    } else if (row.state === 'suppressed') {
      report.suppressed++;
    } else {
      report.invalid++;
      if (report.invalidSamples.length < maxInvalid) {
        // Shown on a terminal: the raw cell is cut and its control characters escaped (reasons already are).
        report.invalidSamples.push({ line: row.line, rawPhone: excerpt(row.rawPhone, 40), reason: row.reason ?? 'invalid' });
      }
    }
  }
  return report;
}
