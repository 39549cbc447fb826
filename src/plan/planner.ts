import { basename } from 'node:path';
import { IANAZone } from 'luxon';
import { campaignFingerprintInputs, readMessageSource, readTemplateFile, type Campaign } from '../config/campaign.js';
import type { Clock } from '../core/clock.js';
import { inspectRecipientCsv, readRecipientRows, type CsvHeader } from '../ingest/csv.js';
import { columnList, excerpt } from '../ingest/excerpt.js';
import { loadSuppression, type Suppression } from '../ingest/suppression.js';
import { compilePayloadTemplate, type PayloadTemplate } from '../render/payload.js';
import { compileMessageTemplate, missingColumnMessage, type MessageTemplate } from '../render/template.js';
import type { CampaignRecords } from '../core/campaign-records.js';
import type { PlanFingerprint, PlanRowInput } from '../store/types.js';
import type { PlanWriter } from './ports.js';
import { planBatchesInWorker, planWorkerAvailable } from './worker-protocol.js';
import { changedParts, FINGERPRINT_PARTS, hashFile, hashValue, requestIdFor, type FingerprintPart } from './fingerprint.js';
import { csvFingerprint } from './csv-stat.js';
import { applySuppressionUpdate, suppressionHash, type SuppressionEvent } from './suppression-update.js';
import { MediaChecker, mediaDisplayPath } from './media-check.js';
import { assignVariant } from '../render/variants.js';

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
  /** Found while sending (a row's media file changed): messages before it may have been sent. */
  readonly foundWhileSending: boolean = false;

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
  /** `variants`: each compiled, in file order (`template` is the first one's). Issue 11. */
  variants?: { name: string; weight: number; template: MessageTemplate }[] | undefined;
  /** A per-row `media` path, compiled, and the checker of the files it names. */
  mediaPath?: { template: MessageTemplate; checker: MediaChecker } | undefined;
  /** A fixed `media`: its path relative to the campaign folder and its SHA-256, recorded on every row. */
  fixedMedia?: { file: string; sha256: string } | undefined;
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
  const variantSources = campaign.variants
    ? await Promise.all(
        campaign.variants.map(async (v) => {
          const read = await readTemplateFile(campaign, v.template);
          return { name: v.name, weight: v.weight, source: read.source, fileName: read.name };
        }),
      )
    : undefined;
  const { source, name } = variantSources ? { source: '', name: variantSources[0]!.fileName } : await readMessageSource(campaign);
  const variants = variantSources?.map((v) => ({
    name: v.name,
    weight: v.weight,
    template: compileMessageTemplate(v.source, { name: v.fileName, type: campaign.type }),
  }));
  const template = variants ? variants[0]!.template : compileMessageTemplate(source, { name, type: campaign.type });
  const mediaName = `${campaign.displayPath}: media`;
  const checker = MediaChecker.of(campaign);
  const mediaPath =
    checker && campaign.mediaTemplate !== undefined
      ? { template: compileMessageTemplate(campaign.mediaTemplate, { name: mediaName, type: 'document' }), checker }
      : undefined;
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
    ...(variants ? [] : template.missingColumns(header.columns).required.map((v) => ({ v, name }))),
    ...(variants ?? []).flatMap((t) => t.template.missingColumns(header.columns).required.map((v) => ({ v, name: t.template.name }))),
    ...(mediaPath?.template.missingColumns(header.columns).required.map((v) => ({ v, name: mediaName })) ?? []),
    ...(payload?.missingColumns(header.columns).required.map((v) => ({ v, name })) ?? []),
  ];
  if (missing.length > 0) {
    throw new PlanInputError(
      missing.map((m) => missingColumnMessage(m.name, m.v, header.columns)).join('\n'),
      `Add the column to ${basename(campaign.recipients.file)}, fix the name in the template, or use {{default ${missing[0]!.v} "..."}} for a fallback.`,
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
    // Every variant's text, with its name and weight (which decide who gets it).
    template: variantSources ? hashValue(variantSources.map((v) => ({ name: v.name, weight: v.weight, source: v.source }))) : hashValue(source),
    config: hashValue(campaignFingerprintInputs(campaign)),
    suppress,
    media,
  };
  // A per-row media path is in `config`; each row's file hash is kept on its row, checked again when it is sent.
  const fixedMedia = campaign.media && campaign.type !== 'text' ? { file: mediaDisplayPath(campaign.baseDir, campaign.media), sha256: media } : undefined;
  return { campaign, header, template, payload, suppression, fingerprint, timezoneColumn, variants, mediaPath, fixedMedia };
}

/**
 * Streams the CSV and turns each row into what the store keeps: normalised number, rendered text and payload,
 * request id, or the reason the row cannot be sent. Deduplication is left to the consumer (the store's unique
 * request id, or a set in `validate`).
 */
export async function* planRows(prepared: PreparedCampaign): AsyncGenerator<PlanRowInput> {
  const { campaign, template, payload, suppression, timezoneColumn, variants, mediaPath, fixedMedia } = prepared;
  const country = campaign.recipients.defaultCountry;
  // Loaded when rows are planned: a resume of a complete plan does not need the phone library.
  const { normalisePhone } = await import('../ingest/phone.js');
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
    let rowTemplate = template;
    if (variants) {
      const chosen = variants[assignVariant(requestId, variants)]!;
      rowTemplate = chosen.template;
      out.variant = chosen.name;
    }
    const rendered = rowTemplate.render(row.fields, requestId);
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
    if (mediaPath) {
      const path = mediaPath.template.render(row.fields, requestId);
      if (!path.ok || path.text === '') {
        out.reason = path.ok ? 'media: the path is empty for this row' : `media: ${path.reason}`;
        yield out;
        continue;
      }
      const file = await mediaPath.checker.check(path.text);
      out.mediaFile = file.file;
      if (!file.ok) {
        out.reason = file.reason;
        yield out;
        continue;
      }
      out.mediaSha256 = file.sha256;
    } else if (fixedMedia) {
      out.mediaFile = fixedMedia.file;
      out.mediaSha256 = fixedMedia.sha256;
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
  store: PlanWriter & Pick<CampaignRecords, 'getCampaign' | 'ensureCampaign' | 'counts'>;
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
  /** A few rendered messages (with `variants`, at least one of each), with the file each would attach. */
  previews: {
    line: number;
    phone: string;
    text: string;
    payload: Record<string, unknown> | null;
    mediaFile?: string | null;
    variant?: string | null;
  }[];
  /** Rows made invalid by their media file (issue 11): how many, and the first ones. */
  mediaInvalid: number;
  mediaInvalidSamples: { line: number; file: string; reason: string }[];
  /** With `variants`: each one's weight, expected share (weight / total) and the sendable rows it got. */
  variants?: { name: string; weight: number; share: number; rows: number }[];
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
    mediaInvalid: 0,
    mediaInvalidSamples: [],
  };
  const totalWeight = prepared.variants?.reduce((n, v) => n + v.weight, 0) ?? 0;
  const variantRows = new Map<string, number>(prepared.variants?.map((v) => [v.name, 0]) ?? []);
  const previewed = new Set<string>();
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
      const variant = row.variant ?? null;
      if (variant !== null) variantRows.set(variant, (variantRows.get(variant) ?? 0) + 1);
      // Up to maxPreviews, and the first row of every variant not previewed yet.
      if (report.previews.length < maxPreviews || (variant !== null && !previewed.has(variant))) {
        if (variant !== null) previewed.add(variant);
        report.previews.push({
          line: row.line,
          phone: row.phone!,
          text: row.text ?? '',
          payload: row.payload,
          ...(row.mediaFile !== undefined ? { mediaFile: row.mediaFile } : {}),
          ...(variant !== null ? { variant } : {}),
        });
      }
    } else if (row.state === 'suppressed') {
      report.suppressed++;
    } else {
      report.invalid++;
      if (row.mediaFile != null && row.reason?.startsWith('media file ')) {
        report.mediaInvalid++;
        if (report.mediaInvalidSamples.length < maxInvalid) {
          report.mediaInvalidSamples.push({ line: row.line, file: row.mediaFile, reason: row.reason });
        }
      }
      if (report.invalidSamples.length < maxInvalid) {
        // Shown on a terminal: the raw cell is cut and its control characters escaped (reasons already are).
        report.invalidSamples.push({ line: row.line, rawPhone: excerpt(row.rawPhone, 40), reason: row.reason ?? 'invalid' });
      }
    }
  }
  if (prepared.variants) {
    report.variants = prepared.variants.map((v) => ({ name: v.name, weight: v.weight, share: v.weight / totalWeight, rows: variantRows.get(v.name) ?? 0 }));
  }
  return report;
}
