import type Database from 'better-sqlite3';
import { storeErrorFrom, translateStoreErrors } from './errors.js';
import { BULK_WAL_AUTOCHECKPOINT, openDatabase, WAL_AUTOCHECKPOINT } from './open.js';
import {
  DEADLINE_PASSED_CODE,
  DEFAULT_API_STATUS,
  DUPLICATE_CODE,
  duplicateOfLine,
  INVALID_CODE,
  INVALID_DEFAULT_MESSAGE,
  MAY_HAVE_BEEN_SENT_NOTE,
  REMOVED_FROM_PLAN,
  SUPPRESSED_AT_PLAN,
  UNCERTAIN_AFTER_CRASH,
  type RowReason,
} from '../core/reasons.js';
import {
  MESSAGE_STATES,
  LeaseLostError,
  TransitionError,
  type LeaseFence,
  type CampaignCounts,
  type CampaignRecord,
  type Lease,
  type MessageError,
  type MessageState,
  type OutgoingMessage,
  type PlanBatchResult,
  type PlanFingerprint,
  type PlanRowInput,
  type ReportRow,
  type RetryHow,
  type StatusUpdate,
  type SweepTarget,
} from './types.js';
import type { Store } from './port.js';
import { toCampaign, toLease, type CampaignRow, type LeaseRow } from './rows.js';

/** How the database commits. See bench/RESULTS.md for the measured cost of each. */
export type Durability = 'normal' | 'full';

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /**
   * `normal` (default): WAL with `synchronous=NORMAL`. A commit survives a process crash (SIGKILL); only a power
   * loss can lose the last commits, and then a `sending` mark may be lost for a request that left: the resend
   * carries the same X-REQUEST-ID, so the API deduplicates it. `full` fsyncs every commit.
   * @default 'normal'
   */
  durability?: Durability;
  /** How long to wait for another process's lock before failing with a `busy` StoreError. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Open to read only (`status`, `list`, `report`): the file is never created, chmod-ed, migrated or written, so a
   * database on a read-only disk or owned by another user can still be read.
   * @default false
   */
  readOnly?: boolean;
}

/** A slot with no answer after this long is counted as answered then (its process died or timed out). */
const SLOT_MAX_IN_FLIGHT_MS = 120_000;
const WINDOW_MS = 60_000;



interface MessageRow {
  id: number;
  line: number;
  raw_phone: string;
  phone: string | null;
  fields: string;
  timezone: string | null;
  state: MessageState;
  text: string | null;
  payload: string | null;
  request_id: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  first_sent_at: number | null;
  accepted_at: number | null;
  uuid: string | null;
  api_status: string | null;
  delivered_at: string | null;
  failed_at: string | null;
  last_checked_at: number | null;
  generation: number;
  media_file: string | null;
  media_sha256: string | null;
}


/** A send-path transition's lease check: `@owner` null is not fenced, else `@owner` must hold `@fenceCampaign`. */
const FENCE = `(@owner IS NULL OR (campaign_id = @fenceCampaign
             AND EXISTS (SELECT 1 FROM leases WHERE leases.campaign_id = @fenceCampaign AND leases.owner = @owner)))`;

/** The named parameters of a send-path statement's lease check (`@owner` null: not fenced). */
function fenceParams(fence: LeaseFence | undefined): { owner: string | null; fenceCampaign: string | null } {
  return { owner: fence?.owner ?? null, fenceCampaign: fence?.campaignId ?? null };
}

/**
 * The SQLite implementation of `Store` (better-sqlite3). Every statement is prepared once; every state
 * transition is a guarded `UPDATE ... WHERE id = ? AND state = ?` in a transaction, checked for one changed row.
 * Every storage failure of every method (disk full mid-send, a lock held too long, a damaged file) is thrown as a
 * `StoreError` (see errors.ts); other errors (a guarded transition that failed, a bug) are thrown as they are.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  /** Every statement, prepared once. */
  private readonly stmt: ReturnType<SqliteStore['prepare']>;
  /** Opened with `readOnly`. */
  readonly readOnly: boolean;
  private readonly busyTimeoutMs: number;
  /** Bulk-write phases in progress (see `beginBulkWrite`). */
  private bulkWrites = 0;

  // Storage failures are translated at this boundary, for every method (including ones added later): only the
  // store knows the file and whether it was opened to write, and every caller (CLI, bench, tests) gets the same
  // typed error instead of SQLite's codes.
  static {
    translateStoreErrors(SqliteStore.prototype, (store, error) =>
      storeErrorFrom(error, { path: store.path, writing: !store.readOnly, busyTimeoutMs: store.busyTimeoutMs }),
    );
  }

  /** Opens the database at `path`: when writing, creates it (mode 0600) if missing and migrates it. */
  constructor(
    readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    this.readOnly = options.readOnly === true;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.db = openDatabase(path, { readOnly: this.readOnly, durability: options.durability ?? 'normal', busyTimeoutMs: this.busyTimeoutMs });
    try {
      this.stmt = this.prepare();
    } catch (error) {
      this.db.close(); // a schema SQLite cannot read (damaged): already a StoreError, via prepare's translation
      throw error;
    }
  }

  /**
   * Tunes the connection for writing a large plan: the WAL is checkpointed every ~40 MB instead of ~4 MB. Until
   * `endBulkWrite`, which restores the small interval for the send path so a long send needs little free disk.
   * Calls may nest (campaigns planned side by side in one process).
   */
  beginBulkWrite(): void {
    if (this.bulkWrites++ === 0 && !this.readOnly) this.db.pragma(`wal_autocheckpoint = ${BULK_WAL_AUTOCHECKPOINT}`);
  }

  /** Ends a `beginBulkWrite` phase; after the last one, checkpoints the plan's log so its file shrinks back. */
  endBulkWrite(): void {
    if (this.bulkWrites === 0 || --this.bulkWrites > 0 || this.readOnly) return;
    this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT}`);
    try {
      // Passive: never waits for readers. The next commit after it restarts the log and cuts it to journal_size_limit.
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Best effort (busy, or no room to grow the file): the next automatic checkpoint tries again.
    }
  }

  private prepare() {
    const db = this.db;
    const messageColumns = `id, line, raw_phone, phone, fields, timezone, state, text, payload, request_id, error_code,
      error_message, attempts, first_sent_at, accepted_at, uuid, api_status, delivered_at, failed_at, last_checked_at, generation,
      media_file, media_sha256`;
    return {
      getCampaign: db.prepare<[string], CampaignRow>('SELECT * FROM campaigns WHERE id = ?'),
      listCampaigns: db.prepare<[], CampaignRow>('SELECT * FROM campaigns ORDER BY updated_at DESC'),
      insertCampaign: db.prepare(
        `INSERT INTO campaigns (id, name, project_id, source_path, created_at, updated_at)
         VALUES (@id, @name, @projectId, @sourcePath, @now, @now) ON CONFLICT(id) DO NOTHING`,
      ),
      deleteMessages: db.prepare('DELETE FROM messages WHERE campaign_id = ?'),
      // Rows that never had an attempt are re-derived from the CSV; a row taken out of the plan after an attempt
      // (skipped, suppressed) is kept, so a later plan that holds its number again knows it may have been sent.
      deleteNeverSent: db.prepare(
        `DELETE FROM messages WHERE campaign_id = ? AND state IN ('invalid','duplicate','suppressed','skipped')
           AND first_sent_at IS NULL`,
      ),
      startPlan: db.prepare(
        'UPDATE campaigns SET plan_generation = ?, plan_complete = 0, updated_at = ? WHERE id = ?',
      ),
      // Positional parameters: the plan writes a million rows, and named binding costs an object per row.
      insertPlanned: db.prepare(
        `INSERT INTO messages (campaign_id, generation, line, raw_phone, phone, fields, timezone, state, text, payload,
           request_id, updated_at, media_file, media_sha256, variant)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (campaign_id, phone) WHERE request_id IS NOT NULL DO UPDATE SET
           generation = excluded.generation, line = excluded.line, fields = excluded.fields,
           raw_phone = excluded.raw_phone, timezone = excluded.timezone,
           text = CASE WHEN state IN ('planned','skipped','suppressed') THEN excluded.text ELSE text END,
           payload = CASE WHEN state IN ('planned','skipped','suppressed') THEN excluded.payload ELSE payload END,
           media_file = CASE WHEN state IN ('planned','skipped','suppressed') THEN excluded.media_file ELSE media_file END,
           media_sha256 = CASE WHEN state IN ('planned','skipped','suppressed') THEN excluded.media_sha256 ELSE media_sha256 END,
           variant = CASE WHEN state IN ('planned','skipped','suppressed') THEN excluded.variant ELSE variant END,
           -- Back in the plan after a replan took it out: planned again, keeping \`uncertain\` and \`first_sent_at\`,
           -- so crash recovery still treats an old uncertain attempt as \`unknown\`.
           error_code = CASE WHEN state IN ('skipped','suppressed') THEN NULL ELSE error_code END,
           error_message = CASE WHEN state IN ('skipped','suppressed') THEN NULL ELSE error_message END,
           state = CASE WHEN state IN ('skipped','suppressed') THEN 'planned' ELSE state END,
           updated_at = excluded.updated_at
         WHERE messages.generation < excluded.generation
         RETURNING state`,
      ),
      insertNotSendable: db.prepare(
        `INSERT INTO messages (campaign_id, generation, line, raw_phone, phone, fields, timezone, state, error_code,
           error_message, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // A number the new plan suppresses, whose row an earlier plan made sendable and that was never accepted:
      // the row itself becomes \`suppressed\` (in place, so it keeps its history and request id).
      suppressPlanned: db.prepare<unknown[], { id: number }>(
        `UPDATE messages SET state = 'suppressed', generation = ?, line = ?, raw_phone = ?, fields = ?, timezone = ?,
           error_code = ?, error_message = ? || CASE WHEN state IN ('sending','unknown') OR uncertain = 1 THEN ? ELSE '' END,
           uncertain = MAX(uncertain, state IN ('sending','unknown')), next_attempt_at = 0, updated_at = ?
         WHERE campaign_id = ? AND phone = ? AND request_id IS NOT NULL AND generation < ?
           AND state IN ('planned','sending','unknown','failed_to_send','skipped','suppressed')
         RETURNING id`,
      ),
      // Numbers added to a suppression list after planning. \`sending\` is only touched at the start of a run
      // (before crash recovery): during a run a \`sending\` row is a request of this very process in flight.
      suppressSendable: db.prepare(
        `UPDATE messages SET state = 'suppressed', error_code = @code,
           error_message = @message || CASE WHEN state IN ('sending','unknown') OR uncertain = 1 THEN @note ELSE '' END,
           uncertain = MAX(uncertain, state IN ('sending','unknown')), next_attempt_at = 0, updated_at = @now
         WHERE campaign_id = @campaignId AND phone = @phone AND request_id IS NOT NULL
           AND (state IN ('planned','unknown','failed_to_send') OR (@inFlightToo = 1 AND state = 'sending'))`,
      ),
      suppressedPhones: db.prepare<[string], { phone: string }>(
        `SELECT DISTINCT phone FROM messages WHERE campaign_id = ? AND state = 'suppressed' AND phone IS NOT NULL`,
      ),
      setFingerprint: db.prepare(
        'UPDATE campaigns SET fingerprint = ?, updated_at = ? WHERE id = ? AND plan_complete = 1',
      ),
      firstLineOf: db.prepare<[string, string], { line: number }>(
        'SELECT line FROM messages WHERE campaign_id = ? AND phone = ? AND request_id IS NOT NULL',
      ),
      completePlan: db.prepare(
        `UPDATE campaigns SET plan_complete = 1, fingerprint = ?, planned_at = ?, updated_at = ? WHERE id = ? AND plan_generation = ?`,
      ),
      // Every row of an earlier plan that could still be sent (now, after a crash, or on request) but that the
      // current plan no longer holds: it must never leave again, whatever recovery or a flag later asks.
      skipRemoved: db.prepare(
        `UPDATE messages SET state = 'skipped', error_code = ?,
           error_message = ? || CASE WHEN state IN ('sending','unknown') OR uncertain = 1 THEN ? ELSE '' END,
           uncertain = MAX(uncertain, state IN ('sending','unknown')), next_attempt_at = 0, updated_at = ?
         WHERE campaign_id = ? AND state IN ('planned','sending','unknown','failed_to_send') AND generation < ?`,
      ),
      updateCampaign: db.prepare(
        `UPDATE campaigns SET name = COALESCE(@name, name), source_path = COALESCE(@sourcePath, source_path),
           project_id = COALESCE(@projectId, project_id),
           last_stop = CASE WHEN @setLastStop THEN @lastStop ELSE last_stop END,
           last_stop_detail = CASE WHEN @setLastStop THEN @lastStopDetail ELSE last_stop_detail END,
           finished_at = CASE WHEN @setFinishedAt THEN @finishedAt ELSE finished_at END, updated_at = @now
         WHERE id = @id`,
      ),
      // Two statements, each on its own index: \`sending\` rows, and rows resent after a crash (\`uncertain\`, a
      // small partial index) that are planned again — never a scan of every planned row.
      recoverUnknownSending: db.prepare(
        `UPDATE messages SET state = 'unknown', error_code = @code, error_message = @message, updated_at = @now
         WHERE campaign_id = @campaignId AND state = 'sending' AND COALESCE(first_sent_at, sending_at) < @cutoff`,
      ),
      recoverUnknownResent: db.prepare(
        `UPDATE messages INDEXED BY messages_uncertain
           SET state = 'unknown', error_code = @code, error_message = @message, updated_at = @now
         WHERE campaign_id = @campaignId AND uncertain = 1 AND state = 'planned' AND COALESCE(first_sent_at, sending_at) < @cutoff`,
      ),
      recoverRequeue: db.prepare(
        `UPDATE messages SET state = 'planned', uncertain = 1, next_attempt_at = 0, updated_at = @now
         WHERE campaign_id = @campaignId AND state = 'sending'`,
      ),
      requeueUnknown: db.prepare(
        `UPDATE messages SET state = 'planned', next_attempt_at = 0, updated_at = ?
         WHERE campaign_id = ? AND state = 'unknown' AND uuid IS NULL`,
      ),
      requeueFailed: db.prepare(
        `UPDATE messages SET state = 'planned', attempts = 0, next_attempt_at = 0, updated_at = ?
         WHERE campaign_id = ? AND state = 'failed_to_send'`,
      ),
      nextPlanned: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${messageColumns} FROM messages
         WHERE campaign_id = ? AND state = 'planned' AND next_attempt_at <= ? ORDER BY line, id LIMIT ?`,
      ),
      nextPlannedAt: db.prepare<[string], { at: number | null }>(
        `SELECT MIN(next_attempt_at) AS at FROM messages WHERE campaign_id = ? AND state = 'planned'`,
      ),
      markSending: db.prepare(
        `UPDATE messages SET state = 'sending', attempts = attempts + 1, sending_at = @now,
           first_sent_at = COALESCE(first_sent_at, @now), device = COALESCE(@device, device), updated_at = @now
         WHERE id = @id AND state = 'planned'
           AND ${FENCE} RETURNING attempts, campaign_id`,
      ),
      campaignSent: db.prepare(
        `UPDATE campaigns SET first_send_at = COALESCE(first_send_at, @now), last_send_at = @now, updated_at = @now
         WHERE id = @campaignId`,
      ),
      markAccepted: db.prepare(
        `UPDATE messages SET state = 'accepted', uuid = @uuid, api_status = @apiStatus, accepted_at = @now,
           uncertain = 0, error_code = NULL, error_message = NULL, updated_at = @now
         WHERE id = @id AND state = 'sending'
           AND ${FENCE}`,
      ),
      markRetry: db.prepare(
        `UPDATE messages SET state = 'planned', error_code = @code, error_message = @message,
           next_attempt_at = @nextAttemptAt, uncertain = MAX(uncertain, @uncertain),
           attempts = attempts - @refund, updated_at = @now
         WHERE id = @id AND state = 'sending'
           AND ${FENCE}`,
      ),
      markFinal: db.prepare(
        `UPDATE messages SET state = @state, error_code = @code, error_message = @message, updated_at = @now
         WHERE id = @id AND state = 'sending'
           AND ${FENCE}`,
      ),
      expirePlanned: db.prepare(
        `UPDATE messages SET state = 'expired', error_code = ?, error_message = ?, updated_at = ?
         WHERE campaign_id = ? AND state = 'planned'`,
      ),
      sweepTargets: db.prepare<[string, string, number, number], { id: number; uuid: string; api_status: string | null; checks: number }>(
        `SELECT id, uuid, api_status, checks FROM messages
         WHERE campaign_id = ? AND state = 'accepted' AND uuid IS NOT NULL
           AND (api_status IS NULL OR api_status NOT IN (SELECT value FROM json_each(?)))
           AND id > ?
         ORDER BY id LIMIT ?`,
      ),
      recordStatus: db.prepare(
        `UPDATE messages SET api_status = @apiStatus, delivered_at = COALESCE(@deliveredAt, delivered_at),
           failed_at = COALESCE(@failedAt, failed_at), error_message = COALESCE(@errorMessage, error_message),
           error_code = CASE WHEN @apiStatus IN ('failed', 'unknown') THEN COALESCE(error_code, upper(@apiStatus)) ELSE error_code END,
           last_checked_at = @checkedAt, checks = checks + 1, updated_at = @checkedAt
         WHERE id = @id AND state = 'accepted'`,
      ),
      // Kept by triggers (migration 6): counting a million rows was ~70 ms on the way to a resume's first send.
      countByState: db.prepare<[string], { state: MessageState; api_status: string; n: number }>(
        'SELECT state, api_status, n FROM message_counts WHERE campaign_id = ? AND n > 0',
      ),
      // Raw arrays of just the report's columns: a million-row report spends most of its time here, and named
      // row objects (and the text and payload nobody reports) cost about half of it.
      reportPage: db.prepare<[string, number, number, number, number, number], ReportTuple>(
        `SELECT ${REPORT_COLUMNS} FROM messages
         WHERE campaign_id = ? AND (generation = ?) = ? AND ? IS NOT NULL AND (line, id) > (?, ?)
         ORDER BY line, id LIMIT 5000`,
      ).raw(true),
      acceptedSince: db.prepare<[string, number], { n: number }>(
        `SELECT COUNT(*) AS n FROM messages m JOIN campaigns c ON c.id = m.campaign_id
         WHERE c.project_id = ? AND m.accepted_at >= ?`,
      ),
      getLease: db.prepare<[string], LeaseRow>(
        'SELECT * FROM leases WHERE campaign_id = ?',
      ),
      upsertLease: db.prepare(
        `INSERT INTO leases (campaign_id, owner, pid, host, acquired_at, heartbeat_at)
         VALUES (@campaignId, @owner, @pid, @host, @now, @now)
         ON CONFLICT (campaign_id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host,
           acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at`,
      ),
      heartbeat: db.prepare('UPDATE leases SET heartbeat_at = ? WHERE campaign_id = ? AND owner = ?'),
      pendingTimezones: db.prepare<[string], { timezone: string | null }>(
        `SELECT DISTINCT timezone FROM messages WHERE campaign_id = ? AND state IN ('planned', 'sending')`,
      ),
      releaseLease: db.prepare('DELETE FROM leases WHERE campaign_id = ? AND owner = ?'),
      pruneSlots: db.prepare(
        `DELETE FROM send_slots WHERE project_id = ? AND COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS}) <= ?`,
      ),
      liveSlots: db.prepare<[string, number], { n: number; oldest: number | null; inFlight: number; last: number | null }>(
        `SELECT COUNT(*) AS n,
           MIN(COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS})) AS oldest,
           SUM(released_at IS NULL) AS inFlight,
           MAX(reserved_at) AS last
         FROM send_slots WHERE project_id = ? AND COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS}) > ?`,
      ),
      lastSlot: db.prepare<[string], { last: number | null }>(
        'SELECT MAX(reserved_at) AS last FROM send_slots WHERE project_id = ?',
      ),
      insertSlot: db.prepare('INSERT INTO send_slots (project_id, reserved_at) VALUES (?, ?)'),
      releaseSlot: db.prepare('UPDATE send_slots SET released_at = ? WHERE id = ? AND released_at IS NULL'),
      setDevice: db.prepare('UPDATE messages SET device = ? WHERE id = ?'),
      // One statement, the same as PostgreSQL's: counts a send if fewer than the cap are counted (a cap of 0 never).
      reserveDeviceDay: db.prepare<[string, string, number, number]>(
        `INSERT INTO device_days AS d (device, day, sent) SELECT ?, ?, 1 WHERE ? > 0
         ON CONFLICT (device, day) DO UPDATE SET sent = d.sent + 1 WHERE d.sent < ?`,
      ),
      releaseDeviceDay: db.prepare('UPDATE device_days SET sent = sent - 1 WHERE device = ? AND day = ? AND sent > 0'),
      deviceDay: db.prepare<[string, string, string], { sent: number | null; first: string | null }>(
        `SELECT (SELECT sent FROM device_days WHERE device = ? AND day = ?) AS sent,
                (SELECT MIN(day) FROM device_days WHERE device = ? AND sent > 0) AS first`,
      ),
    };
  }

  async getCampaign(id: string): Promise<CampaignRecord | undefined> {
    const row = this.stmt.getCampaign.get(id);
    return row ? toCampaign(row) : undefined;
  }

  async listCampaigns(): Promise<CampaignRecord[]> {
    return this.stmt.listCampaigns.all().map(toCampaign);
  }

  async ensureCampaign(init: {
    id: string;
    name: string;
    projectId: string;
    sourcePath: string;
    now: number;
  }): Promise<CampaignRecord> {
    this.stmt.insertCampaign.run(init);
    return toCampaign(this.stmt.getCampaign.get(init.id)!);
  }

  async updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'name' | 'sourcePath' | 'lastStop' | 'lastStopDetail' | 'finishedAt' | 'projectId'>>,
    now: number,
  ): Promise<void> {
    this.stmt.updateCampaign.run({
      id,
      now,
      name: patch.name ?? null,
      sourcePath: patch.sourcePath ?? null,
      projectId: patch.projectId ?? null,
      setLastStop: 'lastStop' in patch ? 1 : 0,
      lastStop: patch.lastStop ?? null,
      lastStopDetail: patch.lastStopDetail ?? null,
      setFinishedAt: 'finishedAt' in patch ? 1 : 0,
      finishedAt: patch.finishedAt ?? null,
    });
  }

  async beginPlan(campaignId: string, mode: 'fresh' | 'replan', now: number): Promise<number> {
    return this.db
      .transaction(() => {
        const campaign = this.stmt.getCampaign.get(campaignId);
        if (!campaign) throw new Error(`campaign ${campaignId} is not in the database`);
        if (mode === 'fresh') {
          // Only safe while nothing was sent: a fresh plan after a crash mid-plan starts over.
          this.stmt.deleteMessages.run(campaignId);
        } else {
          this.stmt.deleteNeverSent.run(campaignId);
        }
        const generation = campaign.plan_generation + 1;
        this.stmt.startPlan.run(generation, now, campaignId);
        return generation;
      })
      .immediate();
  }

  async insertPlanBatch(
    campaignId: string,
    generation: number,
    rows: readonly PlanRowInput[],
    now: number,
  ): Promise<PlanBatchResult> {
    const result: PlanBatchResult = { planned: 0, duplicate: 0, invalid: 0, suppressed: 0, kept: 0 };
    this.db
      .transaction(() => {
        for (const row of rows) {
          const fields = row.fieldsJson ?? JSON.stringify(row.fields);
          const timezone = row.timezone ?? null;
          if (row.state === 'planned' && row.requestId) {
            const payload = row.payloadJson ?? (row.payload === null ? null : JSON.stringify(row.payload));
            const upserted = this.stmt.insertPlanned.get(
              campaignId, generation, row.line, row.rawPhone, row.phone, fields, timezone, row.text, payload, row.requestId, now,
              row.mediaFile ?? null, row.mediaSha256 ?? null, row.variant ?? null,
            ) as { state: MessageState } | undefined;
            if (upserted) {
              if (upserted.state === 'planned') result.planned++;
              else result.kept++;
              continue;
            }
            const first = this.stmt.firstLineOf.get(campaignId, row.phone!);
            this.stmt.insertNotSendable.run(
              campaignId, generation, row.line, row.rawPhone, row.phone, fields, timezone,
              'duplicate', DUPLICATE_CODE, duplicateOfLine(first?.line), now,
            );
            result.duplicate++;
          } else {
            const state = row.state === 'planned' ? 'invalid' : row.state;
            const reason = row.reason ?? (state === 'suppressed' ? SUPPRESSED_AT_PLAN.message : INVALID_DEFAULT_MESSAGE);
            if (state === 'suppressed' && row.phone !== null) {
              const taken = this.stmt.suppressPlanned.get(
                generation, row.line, row.rawPhone, fields, timezone, SUPPRESSED_AT_PLAN.code, reason, MAY_HAVE_BEEN_SENT_NOTE,
                now, campaignId, row.phone, generation,
              );
              if (taken) {
                result.suppressed++;
                continue;
              }
            }
            this.stmt.insertNotSendable.run(
              campaignId, generation, row.line, row.rawPhone, row.phone, fields, timezone,
              state, state === 'suppressed' ? SUPPRESSED_AT_PLAN.code : INVALID_CODE, reason, now,
            );
            result[state]++;
          }
        }
      })
      .immediate();
    return result;
  }

  async completePlan(
    campaignId: string,
    generation: number,
    fingerprint: PlanFingerprint,
    now: number,
  ): Promise<{ skipped: number }> {
    return this.db
      .transaction(() => {
        const skipped = this.stmt.skipRemoved.run(
          REMOVED_FROM_PLAN.code, REMOVED_FROM_PLAN.message, MAY_HAVE_BEEN_SENT_NOTE, now, campaignId, generation,
        ).changes;
        const done = this.stmt.completePlan.run(JSON.stringify(fingerprint), now, now, campaignId, generation);
        if (done.changes !== 1) throw new Error(`plan of ${campaignId} changed under us (generation ${generation})`);
        return { skipped };
      })
      .immediate();
  }

  async applySuppression(
    campaignId: string,
    phones: Iterable<string>,
    reason: RowReason,
    now: number,
    options: { inFlightToo: boolean },
  ): Promise<number> {
    return this.db
      .transaction(() => {
        let changed = 0;
        const bind = { campaignId, now, code: reason.code, message: reason.message, note: MAY_HAVE_BEEN_SENT_NOTE, inFlightToo: options.inFlightToo ? 1 : 0, phone: '' };
        for (const phone of phones) {
          bind.phone = phone;
          changed += this.stmt.suppressSendable.run(bind).changes;
        }
        return changed;
      })
      .immediate();
  }

  async suppressedNumbers(campaignId: string): Promise<Set<string>> {
    return new Set(this.stmt.suppressedPhones.all(campaignId).map((r) => r.phone));
  }

  async setPlanFingerprint(campaignId: string, fingerprint: PlanFingerprint, now: number): Promise<void> {
    this.stmt.setFingerprint.run(JSON.stringify(fingerprint), now, campaignId);
  }

  async recoverInFlight(campaignId: string, now: number, windowMs: number): Promise<{ requeued: number; unknown: number }> {
    return this.db
      .transaction(() => {
        const bind = { campaignId, now, cutoff: now - windowMs, code: UNCERTAIN_AFTER_CRASH.code, message: UNCERTAIN_AFTER_CRASH.message };
        const unknown = this.stmt.recoverUnknownSending.run(bind).changes + this.stmt.recoverUnknownResent.run(bind).changes;
        const requeued = this.stmt.recoverRequeue.run({ campaignId, now }).changes;
        return { requeued, unknown };
      })
      .immediate();
  }

  async requeueUnknown(campaignId: string, now: number): Promise<number> {
    return this.stmt.requeueUnknown.run(now, campaignId).changes;
  }

  async requeueFailed(campaignId: string, now: number): Promise<number> {
    return this.stmt.requeueFailed.run(now, campaignId).changes;
  }

  async nextPlanned(
    campaignId: string,
    now: number,
    limit: number,
    exclude: ReadonlySet<number> = new Set(),
  ): Promise<OutgoingMessage[]> {
    const rows = this.stmt.nextPlanned.all(campaignId, now, limit + exclude.size);
    const out: OutgoingMessage[] = [];
    for (const r of rows) {
      if (exclude.has(r.id)) continue;
      out.push({
        id: r.id,
        line: r.line,
        phone: r.phone!,
        text: r.text,
        payload: r.payload === null ? null : (JSON.parse(r.payload) as Record<string, unknown>),
        requestId: r.request_id!,
        attempts: r.attempts,
        timezone: r.timezone,
        // Only for rows with a media file (issue 11), so other messages keep their shape.
        ...(r.media_file !== null ? { mediaFile: r.media_file, mediaSha256: r.media_sha256 } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  async nextPlannedAt(campaignId: string): Promise<number | null> {
    return this.stmt.nextPlannedAt.get(campaignId)?.at ?? null;
  }

  async markSending(id: number, now: number, device?: string | null, fence?: LeaseFence): Promise<number> {
    return this.db
      .transaction(() => {
        const row = this.stmt.markSending.get({ id, now, device: device ?? null, ...fenceParams(fence) }) as { attempts: number; campaign_id: string } | undefined;
        if (!row) throw this.refusal(id, 'planned', 'sending', fence);
        this.stmt.campaignSent.run({ campaignId: row.campaign_id, now });
        return row.attempts;
      })
      .immediate();
  }

  async markAccepted(id: number, uuid: string, apiStatus: string, now: number, fence?: LeaseFence): Promise<void> {
    this.guarded(id, 'sending', 'accepted', () => this.stmt.markAccepted.run({ id, uuid, apiStatus, now, ...fenceParams(fence) }).changes, fence);
  }

  async markRetry(id: number, error: MessageError, nextAttemptAt: number, now: number, how: RetryHow, fence?: LeaseFence): Promise<void> {
    this.guarded(
      id,
      'sending',
      'planned',
      () =>
        this.stmt.markRetry.run({
          id,
          now,
          ...fenceParams(fence),
          nextAttemptAt,
          code: error.code,
          message: error.message,
          uncertain: how.uncertain ? 1 : 0,
          refund: how.countAttempt ? 0 : 1,
        }).changes,
      fence,
    );
  }

  async markRejected(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void> {
    this.markFinal(id, 'rejected', error, now, fence);
  }

  async markFailedToSend(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void> {
    this.markFinal(id, 'failed_to_send', error, now, fence);
  }

  private markFinal(id: number, state: 'rejected' | 'failed_to_send', error: MessageError, now: number, fence?: LeaseFence): void {
    this.guarded(
      id,
      'sending',
      state,
      () => this.stmt.markFinal.run({ id, state, code: error.code, message: error.message, now, ...fenceParams(fence) }).changes,
      fence,
    );
  }

  /** Runs one guarded transition in its own transaction; exactly one row must change. */
  private guarded(id: number, from: MessageState, to: MessageState, update: () => number, fence?: LeaseFence): void {
    this.db
      .transaction(() => {
        if (update() !== 1) throw this.refusal(id, from, to, fence);
      })
      .immediate();
  }

  /** Why a guarded transition changed nothing (asked inside its transaction): the lease is gone, or the row's state. */
  private refusal(id: number, from: MessageState, to: MessageState, fence: LeaseFence | undefined): Error {
    if (fence && this.stmt.getLease.get(fence.campaignId)?.owner !== fence.owner) return new LeaseLostError(fence.campaignId, fence.owner);
    return new TransitionError(id, from, to);
  }

  async expirePlanned(campaignId: string, reason: string, now: number): Promise<number> {
    return this.stmt.expirePlanned.run(DEADLINE_PASSED_CODE, reason, now, campaignId).changes;
  }

  async sweepTargets(
    campaignId: string,
    finalStatuses: readonly string[],
    limit: number,
    afterId: number,
  ): Promise<SweepTarget[]> {
    return this.stmt.sweepTargets
      .all(campaignId, JSON.stringify(finalStatuses), afterId, limit)
      .map((r) => ({ id: r.id, uuid: r.uuid, apiStatus: r.api_status, checks: r.checks }));
  }

  async recordStatus(id: number, update: StatusUpdate): Promise<void> {
    this.guarded(id, 'accepted', 'accepted', () => this.stmt.recordStatus.run({ id, ...update }).changes);
  }

  async counts(campaignId: string): Promise<CampaignCounts> {
    const byState = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageState, number>;
    let total = 0;
    const byApiStatus: Record<string, number> = {};
    for (const { state, api_status, n } of this.stmt.countByState.all(campaignId)) {
      byState[state] += n;
      total += n;
      if (state === 'accepted') {
        const status = api_status || DEFAULT_API_STATUS;
        byApiStatus[status] = (byApiStatus[status] ?? 0) + n;
      }
    }
    return { total, byState, byApiStatus };
  }

  async *reportRows(campaignId: string): AsyncIterable<ReportRow> {
    const campaign = this.stmt.getCampaign.get(campaignId);
    if (!campaign) return;
    // Rows of the current plan first, in CSV order; then rows a replan left behind (removed from the CSV).
    for (const current of [1, 0]) {
      let line = -1;
      let id = -1;
      for (;;) {
        const page = this.stmt.reportPage.all(campaignId, campaign.plan_generation, current, line, line, id);
        if (page.length === 0) break;
        for (const r of page) yield toReportRow(r);
        const last = page[page.length - 1]!;
        line = last[1];
        id = last[0];
      }
    }
  }

  async acceptedSince(projectId: string, sinceMs: number): Promise<number> {
    return this.stmt.acceptedSince.get(projectId, sinceMs)?.n ?? 0;
  }

  async setMessageDevice(id: number, device: string): Promise<void> {
    this.stmt.setDevice.run(device, id);
  }

  async reserveDeviceDay(device: string, day: string, cap: number): Promise<boolean> {
    return this.stmt.reserveDeviceDay.run(device, day, cap, cap).changes === 1;
  }

  async releaseDeviceDay(device: string, day: string): Promise<void> {
    this.stmt.releaseDeviceDay.run(device, day);
  }

  async deviceDay(device: string, day: string): Promise<{ sent: number; firstDay: string | null }> {
    const r = this.stmt.deviceDay.get(device, day, device);
    return { sent: r?.sent ?? 0, firstDay: r?.first ?? null };
  }

  async acquireLease(
    lease: Omit<Lease, 'acquiredAt' | 'heartbeatAt'>,
    now: number,
    staleMs: number,
  ): Promise<{ acquired: true } | { acquired: false; holder: Lease }> {
    return this.db
      .transaction(() => {
        const held = this.stmt.getLease.get(lease.campaignId);
        if (held && held.owner !== lease.owner && now - held.heartbeat_at < staleMs) {
          return { acquired: false as const, holder: toLease(held) };
        }
        this.stmt.upsertLease.run({ ...lease, now });
        return { acquired: true as const };
      })
      .immediate();
  }

  async heartbeat(campaignId: string, owner: string, now: number): Promise<boolean> {
    return this.stmt.heartbeat.run(now, campaignId, owner).changes === 1;
  }

  async releaseLease(campaignId: string, owner: string): Promise<void> {
    this.stmt.releaseLease.run(campaignId, owner);
  }

  async getLease(campaignId: string): Promise<Lease | undefined> {
    const held = this.stmt.getLease.get(campaignId);
    return held ? toLease(held) : undefined;
  }

  async pendingTimezones(campaignId: string): Promise<(string | null)[]> {
    return this.stmt.pendingTimezones.all(campaignId).map((r) => r.timezone);
  }

  async reserveSendSlot(
    projectId: string,
    now: number,
    perMinute: number,
    minSpacingMs: number,
  ): Promise<{ slot: number } | { retryAt: number }> {
    return this.db
      .transaction(() => {
        this.stmt.pruneSlots.run(projectId, now - WINDOW_MS);
        const live = this.stmt.liveSlots.get(projectId, now - WINDOW_MS)!;
        // Slots are kept on a nominal grid `minSpacingMs` apart, so a timer that wakes a little late does not push
        // every later send back: lateness is caught up (by at most one spacing, so idle time never allows a burst).
        const last = this.stmt.lastSlot.get(projectId)?.last ?? null;
        const nominal = last === null ? now : Math.max(now - minSpacingMs, last + minSpacingMs);
        if (nominal > now) return { retryAt: nominal };
        if (live.n >= perMinute) {
          // Everything counted may still be in flight: poll soon; otherwise the oldest answer leaves the window.
          const retryAt = live.oldest !== null ? Math.max(now + 1, live.oldest + WINDOW_MS + 1) : now + 50;
          return { retryAt: live.inFlight === live.n ? Math.min(retryAt, now + 50) : retryAt };
        }
        const slot = Number(this.stmt.insertSlot.run(projectId, nominal).lastInsertRowid);
        return { slot };
      })
      .immediate();
  }

  async releaseSendSlot(slot: number, now: number): Promise<void> {
    this.stmt.releaseSlot.run(now, slot);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}


/** The columns `reportPage` reads, in `ReportTuple` order. */
const REPORT_COLUMNS = `id, line, raw_phone, phone, fields, state, api_status, uuid, request_id, attempts, error_code,
  error_message, first_sent_at, accepted_at, delivered_at, failed_at, last_checked_at, media_file, media_sha256, variant, device`;

/** One row of `reportPage`, as better-sqlite3's raw mode returns it. */
type ReportTuple = [
  id: number,
  line: number,
  rawPhone: string,
  phone: string | null,
  fields: string,
  state: MessageState,
  apiStatus: string | null,
  uuid: string | null,
  requestId: string | null,
  attempts: number,
  errorCode: string | null,
  errorMessage: string | null,
  firstSentAt: number | null,
  acceptedAt: number | null,
  deliveredAt: string | null,
  failedAt: string | null,
  lastCheckedAt: number | null,
  mediaFile: string | null,
  mediaSha256: string | null,
  variant: string | null,
  device: string | null,
];

function toReportRow(r: ReportTuple): ReportRow {
  return {
    line: r[1],
    rawPhone: r[2],
    phone: r[3],
    fields: JSON.parse(r[4]) as Record<string, string>,
    state: r[5],
    apiStatus: r[6],
    uuid: r[7],
    requestId: r[8],
    attempts: r[9],
    errorCode: r[10],
    errorMessage: r[11],
    sentAt: r[12],
    acceptedAt: r[13],
    deliveredAt: r[14],
    failedAt: r[15],
    lastCheckedAt: r[16],
    mediaFile: r[17],
    mediaSha256: r[18],
    variant: r[19],
    device: r[20],
  };
}
