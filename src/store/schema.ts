/**
 * Versioned schema migrations. Each entry moves the database from version `index` to `index + 1`
 * (`PRAGMA user_version`). Append only: never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE campaigns (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    source_path     TEXT NOT NULL,
    fingerprint     TEXT,
    plan_generation INTEGER NOT NULL DEFAULT 0,
    plan_complete   INTEGER NOT NULL DEFAULT 0,
    planned_at      INTEGER,
    first_send_at   INTEGER,
    last_send_at    INTEGER,
    finished_at     INTEGER,
    last_stop       TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
  );

  CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns(id),
    generation      INTEGER NOT NULL,
    line            INTEGER NOT NULL,
    raw_phone       TEXT NOT NULL,
    phone           TEXT,
    fields          TEXT NOT NULL,
    timezone        TEXT,
    state           TEXT NOT NULL CHECK (state IN ('planned','sending','accepted','rejected','failed_to_send',
                      'unknown','invalid','duplicate','suppressed','skipped','expired')),
    text            TEXT,
    payload         TEXT,
    request_id      TEXT,
    error_code      TEXT,
    error_message   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    uncertain       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    first_sent_at   INTEGER,
    sending_at      INTEGER,
    accepted_at     INTEGER,
    uuid            TEXT,
    api_status      TEXT,
    delivered_at    TEXT,
    failed_at       TEXT,
    last_checked_at INTEGER,
    checks          INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
  );
  -- One sendable row per number (the request id is a function of it). Partial, so never-sendable rows (duplicates,
  -- invalid, suppressed) may repeat a number; keyed by the short number rather than the hash, which halves the
  -- cost of planning a million rows.
  CREATE UNIQUE INDEX messages_sendable_phone ON messages(campaign_id, phone) WHERE request_id IS NOT NULL;
  CREATE INDEX messages_state_line ON messages(campaign_id, state, line);
  CREATE INDEX messages_line ON messages(campaign_id, line, id);
  CREATE INDEX messages_accepted_at ON messages(accepted_at) WHERE accepted_at IS NOT NULL;

  CREATE TABLE leases (
    campaign_id  TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    acquired_at  INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );

  CREATE TABLE send_slots (
    id          INTEGER PRIMARY KEY,
    project_id  TEXT NOT NULL,
    reserved_at INTEGER NOT NULL,
    released_at INTEGER
  );
  CREATE INDEX send_slots_project ON send_slots(project_id, reserved_at);
  `,
  // 2: crash recovery looks up rows resent after a crash (`uncertain`) without scanning every planned row (700 ms
  // at a million rows, on the way to the first send of every resumed run). Partial: it holds only those rows.
  `
  CREATE INDEX messages_uncertain ON messages(campaign_id) WHERE uncertain = 1;
  `,
  // Issue 11 (per-customer documents and message variants): each row's media file (relative to the campaign
  // folder), its SHA-256 when planned (the sender refuses other bytes), and the variant it was rendered with.
  `
  ALTER TABLE messages ADD COLUMN media_file TEXT;
  ALTER TABLE messages ADD COLUMN media_sha256 TEXT;
  ALTER TABLE messages ADD COLUMN variant TEXT;
  `,
  // Issue 12 (several devices, daily caps): the device each message went through, and sends per device and local
  // day across every campaign of this database (caps and warm-up).
  `
  ALTER TABLE messages ADD COLUMN device TEXT;
  CREATE TABLE device_days (
    device TEXT NOT NULL,
    day    TEXT NOT NULL,
    sent   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device, day)
  );
  `,
  // What the last stop said (the health breaker's observation, why no device was left, the API's error), so
  // `status` and the HTML report can show it after the run has ended.
  `
  ALTER TABLE campaigns ADD COLUMN last_stop_detail TEXT;
  `,
  // 6: how many messages each campaign has in each state (and, for accepted ones, API status), kept by triggers in
  // the statement that inserts, deletes or changes a row, whatever code runs it. Counting a million index entries
  // cost ~70 ms on the way to a resume's first send (quota pre-flight, progress total); reading these rows costs none.
  `
  CREATE TABLE message_counts (
    campaign_id TEXT NOT NULL,
    state       TEXT NOT NULL,
    api_status  TEXT NOT NULL, -- '' for none
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, api_status)
  ) WITHOUT ROWID;
  INSERT INTO message_counts (campaign_id, state, api_status, n)
    SELECT campaign_id, state, COALESCE(api_status, ''), COUNT(*) FROM messages GROUP BY 1, 2, 3;
  CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_counts (campaign_id, state, api_status, n) VALUES (NEW.campaign_id, NEW.state, COALESCE(NEW.api_status, ''), 1)
      ON CONFLICT (campaign_id, state, api_status) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE message_counts SET n = n - 1
      WHERE campaign_id = OLD.campaign_id AND state = OLD.state AND api_status = COALESCE(OLD.api_status, '');
  END;
  CREATE TRIGGER messages_count_update AFTER UPDATE OF state, api_status ON messages
    WHEN NEW.state IS NOT OLD.state OR NEW.api_status IS NOT OLD.api_status BEGIN
    UPDATE message_counts SET n = n - 1
      WHERE campaign_id = OLD.campaign_id AND state = OLD.state AND api_status = COALESCE(OLD.api_status, '');
    INSERT INTO message_counts (campaign_id, state, api_status, n) VALUES (NEW.campaign_id, NEW.state, COALESCE(NEW.api_status, ''), 1)
      ON CONFLICT (campaign_id, state, api_status) DO UPDATE SET n = n + 1;
  END;
  `,
];
