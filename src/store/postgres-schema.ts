/**
 * Versioned schema migrations of the PostgreSQL store. Entry `i` moves a schema from version `i` to `i + 1`
 * (recorded in `schema_migrations`). Each runs with `search_path` set to the store's schema, so names are
 * unqualified. Append only: never edit a migration that has shipped.
 *
 * Same tables and meaning as the SQLite schema (src/store/schema.ts); the differences are PostgreSQL's types:
 * epoch milliseconds are `bigint` (read back as numbers, see `parseInt8` in postgres.ts), flags are `boolean`,
 * ids are identity columns. JSON values (`fields`, `payload`, `fingerprint`) are stored as `text`, exactly as the
 * adapter encoded them: `jsonb` would re-order the keys of a row's fields and parse a million values while
 * planning, for no query that needs it.
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE campaigns (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    project_id      text NOT NULL,
    source_path     text NOT NULL,
    fingerprint     text,
    plan_generation integer NOT NULL DEFAULT 0,
    plan_complete   boolean NOT NULL DEFAULT false,
    planned_at      bigint,
    first_send_at   bigint,
    last_send_at    bigint,
    finished_at     bigint,
    last_stop       text,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL
  );
  CREATE INDEX campaigns_project ON campaigns (project_id);

  CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id     text NOT NULL REFERENCES campaigns (id),
    generation      integer NOT NULL,
    line            integer NOT NULL,
    raw_phone       text NOT NULL,
    phone           text,
    fields          text NOT NULL,
    timezone        text,
    state           text NOT NULL CHECK (state IN ('planned','sending','accepted','rejected','failed_to_send',
                      'unknown','invalid','duplicate','suppressed','skipped','expired')),
    text            text,
    payload         text,
    request_id      text,
    error_code      text,
    error_message   text,
    attempts        integer NOT NULL DEFAULT 0,
    uncertain       boolean NOT NULL DEFAULT false,
    next_attempt_at bigint NOT NULL DEFAULT 0,
    first_sent_at   bigint,
    sending_at      bigint,
    accepted_at     bigint,
    uuid            text,
    api_status      text,
    delivered_at    text,
    failed_at       text,
    last_checked_at bigint,
    checks          integer NOT NULL DEFAULT 0,
    updated_at      bigint NOT NULL
  );
  -- One sendable row per number (the request id is a function of it); partial, so never-sendable rows may repeat
  -- a number. The plan's upsert names this index in its ON CONFLICT clause.
  CREATE UNIQUE INDEX messages_sendable_phone ON messages (campaign_id, phone) WHERE request_id IS NOT NULL;
  CREATE INDEX messages_state_line ON messages (campaign_id, state, line);
  CREATE INDEX messages_line ON messages (campaign_id, line, id);
  CREATE INDEX messages_accepted_at ON messages (accepted_at) WHERE accepted_at IS NOT NULL;

  CREATE TABLE leases (
    campaign_id  text PRIMARY KEY,
    owner        text NOT NULL,
    pid          integer NOT NULL,
    host         text NOT NULL,
    acquired_at  bigint NOT NULL,
    heartbeat_at bigint NOT NULL
  );

  CREATE TABLE send_slots (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  text NOT NULL,
    reserved_at bigint NOT NULL,
    released_at bigint
  );
  CREATE INDEX send_slots_project ON send_slots (project_id, reserved_at);
  `,
  // Issue 11 (per-customer documents and message variants): as in the SQLite schema.
  `
  ALTER TABLE messages ADD COLUMN media_file text;
  ALTER TABLE messages ADD COLUMN media_sha256 text;
  ALTER TABLE messages ADD COLUMN variant text;
  `,
  // Issue 12 (several devices, daily caps): the device each message went through, and sends per device and local
  // day across every campaign of this database (caps and warm-up).
  `
  ALTER TABLE messages ADD COLUMN device text;
  CREATE TABLE device_days (
    device text NOT NULL,
    day    text NOT NULL,
    sent   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (device, day)
  );
  `,
  // What the last stop said: as in the SQLite schema.
  `
  ALTER TABLE campaigns ADD COLUMN last_stop_detail text;
  `,
];
