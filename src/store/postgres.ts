import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';
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
import { NO_SCHEMA_CODE, StoreError, type StoreErrorKind } from './errors.js';
import { PG_MIGRATIONS } from './postgres-schema.js';
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
import { parsePostgresUrl, redactPassword, type PostgresTarget } from './url.js';
import { toCampaign, toLease, type CampaignRow, type LeaseRow } from './rows.js';

/** Options of the PostgreSQL store. */
export interface PostgresStoreOptions {
  /**
   * Connections in this process's pool. Every statement of the send path is one short round trip (well under a
   * millisecond on a LAN), so even 100 sends/s keep one connection busy a fraction of the time; four leave room
   * for a plan batch, a report page or a rate-window transaction waiting on another runner's lock without the
   * heartbeat or a send waiting for a connection, and keep ten runners far below PostgreSQL's default
   * `max_connections` (100).
   * @default 4
   */
  poolSize?: number;
  /**
   * `statement_timeout`: a statement running longer fails instead of hanging the run (a lock held by a stuck
   * session, a network that stopped answering). Far above the slowest statement rk-broadcast issues (a replan's
   * `UPDATE` over a million-row campaign takes seconds).
   * @default 60000
   */
  statementTimeoutMs?: number;
  /**
   * `idle_in_transaction_session_timeout`: a runner frozen inside a transaction (SIGSTOP, a pause of the VM)
   * loses its session after this long, which releases its row locks and the project's rate-window lock so the
   * other runners carry on. rk-broadcast never waits on anything but the database inside a transaction.
   * @default 10000
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * How long to wait for a connection (a new one, or a free one from the pool). The URL's `connect_timeout`
   * (seconds) wins when given.
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * Read only (`status`, `list`, `report`): sessions are `default_transaction_read_only`, and migrations are not
   * applied (a schema that needs one is refused with a message saying so).
   * @default false
   */
  readOnly?: boolean;
}

/**
 * A failure of the PostgreSQL state database that a user can cause and fix; the message never holds a password.
 * One of the StoreError kinds (exit 10 when `temporary`, else 11), so commands treat both stores alike.
 */
export class PostgresStoreError extends StoreError {
  constructor(
    kind: StoreErrorKind,
    /** The URL as shown (password replaced by `***`). */
    target: string,
    message: string,
    hint: string,
    /** The driver's or server's code (`ECONNREFUSED`, SQLSTATE `28P01`, ...), when there was one. */
    code?: string,
  ) {
    super({ kind, path: target, message, hint, ...(code !== undefined ? { code } : {}) });
    this.name = 'PostgresStoreError';
  }
}

/** A slot with no answer after this long is counted as answered then (its process died or timed out). */
const SLOT_MAX_IN_FLIGHT_MS = 120_000;
const WINDOW_MS = 60_000;

/**
 * First key of the two-key advisory locks (`pg_advisory_xact_lock(int, int)`); the second is a hash of the schema
 * (migrations) or of the project (rate window). Arbitrary constants ("rkbm", "rkbr"), so rk-broadcast's locks do
 * not meet another application's in the same database.
 */
const MIGRATION_LOCK = 0x726b626d;
const RATE_LOCK = 0x726b6272;

const INT8_OID = 20;

/**
 * `bigint` values arrive as text (node-postgres will not guess). Every `bigint` rk-broadcast stores is an epoch
 * in milliseconds (2^53 ms is the year 287,396), an identity id or a count (2^53 is 9e15 rows: a million-row plan
 * every second for 285 years), so each fits a JavaScript number exactly. Beyond 2^53 this throws rather than
 * round, and the text never reaches the caller.
 */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`PostgreSQL returned the 64-bit value ${text}, beyond what rk-broadcast stores`);
  return n;
}

/** Type parsers of this store's pool only (never pg's global ones): `bigint` as a number. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * node-postgres's TLS options for libpq's `sslmode`. node-postgres cannot try TLS and fall back, so `allow` and
 * `prefer` (libpq's default) connect without TLS; ask for `require` to get it. `require` encrypts without checking
 * the certificate (as libpq does without a root certificate; with `sslrootcert` it checks the CA, as libpq does);
 * `verify-ca` checks the CA but not the host name; `verify-full` checks both. The CA is `sslrootcert` if given,
 * else the system's.
 */
export function sslConfigFor(target: PostgresTarget): false | ConnectionOptions {
  const ca = (): { ca?: string } => {
    if (target.sslrootcert === undefined) return {};
    try {
      return { ca: readFileSync(target.sslrootcert, 'utf8') };
    } catch (error) {
      throw new PostgresStoreError(
        'bad_path',
        target.display,
        `Cannot read sslrootcert ${target.sslrootcert} named in the database URL ${target.display}: ${(error as Error).message}.`,
        'Name a readable file holding the CA certificate (PEM) that signed the server certificate.',
        (error as NodeJS.ErrnoException).code,
      );
    }
  };
  switch (target.sslmode) {
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return target.sslrootcert === undefined ? { rejectUnauthorized: false } : { ...ca(), rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-ca':
      return { ...ca(), rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...ca(), rejectUnauthorized: true };
  }
}

/** What failed, in the terms the StoreError kinds and the messages need. */
type PostgresFailureKind = 'unreachable' | 'auth' | 'no_database' | 'permission' | 'timeout' | 'busy' | 'full' | 'read_only';

/** Which StoreError kind each failure is (exit 10 for all but a missing database, which must be fixed first: 11). */
const STORE_KIND: Record<PostgresFailureKind, StoreErrorKind> = {
  unreachable: 'unreachable',
  auth: 'permission',
  no_database: 'bad_path',
  permission: 'permission',
  timeout: 'busy',
  busy: 'busy',
  full: 'full',
  read_only: 'read_only',
};

/**
 * The kind of a driver or server failure, from its code (a Node errno, or an SQLSTATE: postgresql.org/docs/current/errcodes-appendix.html)
 * or, for node-postgres's own connection errors that have none, its text. Undefined: not a failure of the database
 * (a bug, a constraint), passed on as it is.
 */
export function postgresErrorKind(code: string | undefined, message: string): PostgresFailureKind | undefined {
  if (code !== undefined) {
    if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE'].includes(code)) return 'unreachable';
    // 57P01 admin shutdown / pg_terminate_backend, 57P02 crash shutdown, 57P03 cannot connect now (starting up,
    // shutting down), 08xxx connection exceptions.
    if (/^57P0[1-3]$/.test(code) || code.startsWith('08')) return 'unreachable';
    if (code === '28P01' || code === '28000') return 'auth';
    if (code === '3D000') return 'no_database';
    if (code === '42501') return 'permission';
    if (code === '57014') return 'timeout';
    // Serialization failure, deadlock, lock not available, too many connections, out of memory/resources.
    if (['40001', '40P01', '55P03', '53300', '53200', '53000'].includes(code)) return 'busy';
    if (code === '53100') return 'full';
    if (code === '25006') return 'read_only';
  }
  if (/timeout exceeded when trying to connect|Connection terminated|not queryable|Client has encountered a connection error/i.test(message)) return 'unreachable';
  return undefined;
}

/** Waits between tries of a statement whose connection was lost: about ten seconds in all, a server's restart. */
const RECONNECT_DELAYS_MS = [100, 250, 500, 1000, 2000, 3000, 3000];

/** True for a StoreError saying the connection to the server was lost or could not be made. */
function isConnectionLoss(error: unknown): boolean {
  return error instanceof StoreError && error.kind === 'unreachable';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The parameters of `fenceSql`: the owner, then the campaign (both null when not fenced). */
function fenceParams(fence: LeaseFence | undefined): [string | null, string | null] {
  return [fence?.owner ?? null, fence?.campaignId ?? null];
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}



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
  variant: string | null;
  device: string | null;
}

const MESSAGE_COLUMNS = `id, line, raw_phone, phone, fields, timezone, state, text, payload, request_id, error_code,
  error_message, attempts, first_sent_at, accepted_at, uuid, api_status, delivered_at, failed_at, last_checked_at, generation,
  media_file, media_sha256, variant, device`;

/** Columns of one batch of not-sendable rows, as parallel arrays for `unnest`. */
interface NotSendableColumns {
  line: number[];
  rawPhone: string[];
  phone: (string | null)[];
  fields: string[];
  timezone: (string | null)[];
  state: string[];
  code: string[];
  message: string[];
}

/**
 * The PostgreSQL implementation of `Store` (node-postgres, one pool per store). Same semantics as SqliteStore,
 * which is the reference: every guarded transition is one conditional statement (`UPDATE ... WHERE id = $1 AND
 * state = 'planned'`) checked for exactly one row, claims and leases are single `INSERT ... ON CONFLICT ... DO
 * UPDATE ... WHERE` statements, and the rate window is serialised per project by a transaction-scoped advisory
 * lock. Plans are written in multi-row statements over `unnest()` arrays. Tables live in the URL's schema
 * (`?schema=`, default `rk_broadcast`), created and migrated on first use under an advisory lock.
 */
export class PostgresStore implements Store {
  /** The URL as it may be shown: the password replaced by `***`. */
  readonly target: string;
  readonly schema: string;
  readonly readOnly: boolean;
  /** `#`-private: util.inspect and loggers that print the store do not see it. */
  readonly #password: string | undefined;
  private readonly statementTimeoutMs: number;
  private readonly pool: pg.Pool;
  private readonly t: { campaigns: string; messages: string; leases: string; slots: string; migrations: string; deviceDays: string };
  private migrated: Promise<void> | undefined;
  private closed = false;

  /**
   * Connects lazily: nothing is sent until the first method call, which creates and migrates the schema. Use
   * `PostgresStore.open` to connect (and see a wrong password or an unreachable host) at once.
   */
  constructor(url: string | PostgresTarget, options: PostgresStoreOptions = {}) {
    const target = typeof url === 'string' ? parsePostgresUrl(url) : url;
    this.target = target.display;
    this.schema = target.schema;
    this.readOnly = options.readOnly === true;
    this.#password = target.password;
    this.statementTimeoutMs = options.statementTimeoutMs ?? 60_000;
    const s = quoteIdent(target.schema);
    this.t = {
      campaigns: `${s}.campaigns`,
      messages: `${s}.messages`,
      leases: `${s}.leases`,
      slots: `${s}.send_slots`,
      migrations: `${s}.schema_migrations`,
      deviceDays: `${s}.device_days`,
    };
    this.pool = new pg.Pool({
      host: target.host,
      port: target.port,
      user: target.user,
      // node-postgres keeps it in non-enumerable properties, so logging or inspecting the store, the pool or a
      // client never prints it. Undefined: node-postgres falls back to PGPASSWORD.
      password: target.password,
      database: target.database,
      ssl: sslConfigFor(target),
      max: options.poolSize ?? 4,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: target.connectTimeoutSeconds !== undefined ? target.connectTimeoutSeconds * 1000 : (options.connectTimeoutMs ?? 10_000),
      statement_timeout: this.statementTimeoutMs,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
      application_name: target.applicationName ?? 'rk-broadcast',
      keepAlive: true,
      types: TYPES,
      ...(this.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // An idle connection that the server closed (restart, pg_terminate_backend) is dropped by the pool and replaced
    // on the next query; without a listener its error would crash the process.
    this.pool.on('error', () => undefined);
    // And every connection, whatever it is doing: pg-pool listens only while a client is idle, and a client checked
    // out with no statement in flight (between two statements, or while its caller awaits something else) would
    // emit an unhandled 'error' when the server ends the session (seen on a restart: the process died). The client
    // is then marked unusable: its next statement fails as `unreachable` (retried on a new connection where that is
    // safe) and the pool discards it when it is released.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Opens the store and connects at once: migrations applied, connection and schema problems thrown here. */
  static async open(url: string | PostgresTarget, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const store = new PostgresStore(url, options);
    try {
      await store.ready();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** The schema, created and migrated once per store (concurrent first calls share one attempt; a failed one is retried). */
  private ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`the state database ${this.target} was closed`));
    this.migrated ??= this.migrate().catch((error: unknown) => {
      this.migrated = undefined;
      throw this.failure(error);
    });
    return this.migrated;
  }

  /**
   * Creates the schema if missing and applies the migrations it lacks, in one transaction holding an advisory lock
   * keyed by the schema name: two runners starting at once apply each migration once between them, and the second
   * finds the schema complete. A schema newer than this code, or one holding another program's tables, is refused
   * before anything is changed.
   */
  private async migrate(): Promise<void> {
    const known = PG_MIGRATIONS.length;
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (!this.readOnly) await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, this.schema]);
      const tables = await client.query<{ relname: string }>(
        `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
        [this.schema],
      );
      const names = new Set(tables.rows.map((r) => r.relname));
      let version = 0;
      if (names.has('schema_migrations')) {
        version = (await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::integer AS v FROM ${this.t.migrations}`)).rows[0]!.v;
      } else if (names.size > 0) {
        throw new PostgresStoreError(
          'not_a_database',
          this.target,
          `The schema ${this.schema} of ${this.target} holds tables of another program (${[...names].slice(0, 5).join(', ')}). Nothing was changed.`,
          'Give rk-broadcast a schema of its own with ?schema=NAME in the URL (default rk_broadcast).',
        );
      }
      if (version > known) {
        throw new PostgresStoreError(
          'newer_schema',
          this.target,
          `The state database ${this.target} (schema ${this.schema}) was written by a newer rk-broadcast (schema version ${version}; this version knows ${known}). It was not changed.`,
          'Upgrade rk-broadcast on this machine to use this database.',
        );
      }
      if (version < known) {
        if (this.readOnly) {
          throw new PostgresStoreError(
            version === 0 ? 'not_a_database' : 'older_schema',
            this.target,
            version === 0
              ? `The state database ${this.target} has no rk-broadcast tables in schema ${this.schema} yet: nothing has been run against it.`
              : `The state database ${this.target} (schema ${this.schema}) has an older layout (version ${version}; this version uses ${known}), and reading it read-only cannot upgrade it.`,
            'Run a command that writes (rk-broadcast run CAMPAIGN) against it first, or check the URL and its ?schema=.',
            version === 0 ? NO_SCHEMA_CODE : undefined,
          );
        }
        const exists = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [this.schema]);
        // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
        if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${quoteIdent(this.schema)}`);
        await client.query(`SET LOCAL search_path TO ${quoteIdent(this.schema)}`);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
        );
        for (let v = version; v < known; v++) {
          await client.query(PG_MIGRATIONS[v]!);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /**
   * What a failed statement is thrown as: our own errors as they are; connection, authentication and timeout
   * failures as a PostgresStoreError that names the (redacted) URL and what to do; anything else from the driver
   * with the password scrubbed from its text.
   */
  private failure(error: unknown): unknown {
    if (!(error instanceof Error) || error instanceof TransitionError || error instanceof LeaseLostError || error instanceof StoreError) return error;
    const code = (error as { code?: unknown }).code;
    const known = typeof code === 'string' ? code : undefined;
    const kind = postgresErrorKind(known, error.message);
    if (kind === undefined) {
      const reason = redactPassword(error.message, this.#password);
      if (reason !== error.message) {
        error.message = reason;
        if (error.stack) error.stack = redactPassword(error.stack, this.#password);
      }
      return error;
    }
    const [message, hint] = this.texts(kind, known, redactPassword(error.message, this.#password));
    return new PostgresStoreError(STORE_KIND[kind], this.target, message, hint, known);
  }

  /** The sentence and hint of a failure of `kind` (server or driver said `reason`, already redacted). */
  private texts(kind: PostgresFailureKind, code: string | undefined, reason: string): [string, string] {
    const where = `the PostgreSQL state database ${this.target}`;
    const again = 'everything saved before is kept, and the same command resumes where it stopped';
    switch (kind) {
      case 'unreachable':
        return code !== undefined && code.startsWith('E')
          ? [`Cannot reach ${where}: ${reason}.`, `Check the host and port in the URL and that the server is running; ${again}.`]
          : [`Lost or could not get a connection to ${where}: ${reason}.`, `Check that the server is up and reachable (it may be restarting); ${again}.`];
      case 'auth':
        return [`${where} refused the login: ${reason}.`, "Check the user name and password (in the URL, or PGPASSWORD) and the server's pg_hba.conf."];
      case 'no_database':
        return [`${where} does not exist on that server: ${reason}.`, 'Create the database (createdb NAME) or fix its name in the URL.'];
      case 'permission':
        return [`${where}: permission denied: ${reason}.`, `The user needs USAGE and CREATE on schema ${this.schema} (or CREATE on the database to create it); ${again}.`];
      case 'timeout':
        return [
          `A statement on ${where} took longer than ${this.statementTimeoutMs / 1000} s and was cancelled.`,
          `Another session may be holding a lock (see pg_stat_activity); ${again}.`,
        ];
      case 'busy':
        return [`${where} is too busy to take this change now (${reason}).`, `Run the same command again in a moment; ${again}.`];
      case 'full':
        return [`The disk of ${where} is full: the last change could not be saved (${reason}).`, `Free space on the database server, then run the same command again; ${again}.`];
      case 'read_only':
        return this.readOnly
          ? [`${where} was opened read-only, and this command needs to write (${reason}).`, 'This is a bug in rk-broadcast if a reading command (status, list, report) says it; please report it.']
          : [
              `Cannot write ${where}: the server accepts only reads (${reason}).`,
              `Point the URL at the primary server, not a read replica or a server in recovery; ${again}.`,
            ];
    }
  }

  /**
   * One statement on any pooled connection (its own transaction). A statement that may safely run twice (every
   * `SELECT`, and writes that say `retry`) is tried again on a new connection when its connection is lost (a
   * server restart, pg_terminate_backend), for about ten seconds; anything else fails with the lost connection.
   */
  private async q<R extends QueryResultRow>(sql: string, params: unknown[] = [], options: { retry?: boolean } = {}): Promise<QueryResult<R>> {
    const retry = options.retry ?? /^\s*SELECT\b/i.test(sql);
    for (let tries = 0; ; tries++) {
      try {
        await this.ready();
        return await this.pool.query<R>(sql, params);
      } catch (error) {
        const failure = this.failure(error);
        if (!retry || !isConnectionLoss(failure) || tries >= RECONNECT_DELAYS_MS.length || this.closed) throw failure;
        await sleep(RECONNECT_DELAYS_MS[tries]!);
      }
    }
  }

  /**
   * A guarded transition that survives a lost connection: when the connection goes while the statement is out, the
   * row says whether it committed (our target state with our timestamp `now`: done) or not (still `from`: run it
   * again on a new connection). `run` resolves undefined when the statement changed no row.
   */
  private async transition<T>(
    id: number,
    from: MessageState,
    to: MessageState,
    now: number,
    fence: LeaseFence | undefined,
    run: () => Promise<T | undefined>,
    committed: (row: { attempts: number }) => T,
  ): Promise<T> {
    for (let tries = 0; ; tries++) {
      let result: T | undefined;
      try {
        result = await run();
      } catch (error) {
        if (!isConnectionLoss(error) || tries >= RECONNECT_DELAYS_MS.length || this.closed) throw error;
        await sleep(RECONNECT_DELAYS_MS[tries]!);
        const { rows } = await this.q<{ state: MessageState; updated_at: number; attempts: number }>(
          `SELECT state, updated_at, attempts FROM ${this.t.messages} WHERE id = $1`,
          [id],
        );
        const row = rows[0];
        if (row && row.state === to && row.updated_at === now) return committed(row);
        if (row && row.state === from) continue;
        throw await this.refusal(id, from, to, fence);
      }
      if (result !== undefined) return result;
      throw await this.refusal(id, from, to, fence);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection; rolled back if it throws. With `retry` (a transaction that may
   * safely commit twice), a lost connection is survived as in `q`.
   */
  private async tx<T>(fn: (client: PoolClient) => Promise<T>, options: { retry?: boolean } = {}): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await this.txOnce(fn);
      } catch (error) {
        if (!options.retry || !isConnectionLoss(error) || tries >= RECONNECT_DELAYS_MS.length || this.closed) throw error;
        await sleep(RECONNECT_DELAYS_MS[tries]!);
      }
    }
  }

  private async txOnce<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.failure(error);
    }
    let broken: Error | undefined;
    // pg-pool listens for errors of idle clients only: a connection that dies while checked out between two
    // statements would otherwise emit an unhandled 'error' and end the process. The next statement then fails.
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is gone or unusable: destroy it instead of returning it to the pool.
        broken = rollbackError as Error;
      }
      throw this.failure(error);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async getCampaign(id: string): Promise<CampaignRecord | undefined> {
    const { rows } = await this.q<CampaignRow>(`SELECT * FROM ${this.t.campaigns} WHERE id = $1`, [id]);
    return rows[0] ? toCampaign(rows[0]) : undefined;
  }

  async listCampaigns(): Promise<CampaignRecord[]> {
    const { rows } = await this.q<CampaignRow>(`SELECT * FROM ${this.t.campaigns} ORDER BY updated_at DESC, id`);
    return rows.map(toCampaign);
  }

  async ensureCampaign(init: { id: string; name: string; projectId: string; sourcePath: string; now: number }): Promise<CampaignRecord> {
    await this.q(
      `INSERT INTO ${this.t.campaigns} (id, name, project_id, source_path, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING`,
      [init.id, init.name, init.projectId, init.sourcePath, init.now],
      { retry: true },
    );
    return (await this.getCampaign(init.id))!;
  }

  async updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'name' | 'sourcePath' | 'lastStop' | 'lastStopDetail' | 'finishedAt' | 'projectId'>>,
    now: number,
  ): Promise<void> {
    await this.q(
      `UPDATE ${this.t.campaigns} SET name = COALESCE($2::text, name), source_path = COALESCE($3::text, source_path),
         project_id = COALESCE($4::text, project_id),
         last_stop = CASE WHEN $5::boolean THEN $6::text ELSE last_stop END,
         last_stop_detail = CASE WHEN $5::boolean THEN $10::text ELSE last_stop_detail END,
         finished_at = CASE WHEN $7::boolean THEN $8::bigint ELSE finished_at END, updated_at = $9
       WHERE id = $1`,
      [
        id,
        patch.name ?? null,
        patch.sourcePath ?? null,
        patch.projectId ?? null,
        'lastStop' in patch,
        patch.lastStop ?? null,
        'finishedAt' in patch,
        patch.finishedAt ?? null,
        now,
        patch.lastStopDetail ?? null,
      ],
      { retry: true }, // sets values: idempotent
    );
  }

  async beginPlan(campaignId: string, mode: 'fresh' | 'replan', now: number): Promise<number> {
    return this.tx(async (c) => {
      // Messages first, then the campaign row: the same lock order as markSending and completePlan.
      if (mode === 'fresh') {
        // Only safe while nothing was sent: a fresh plan after a crash mid-plan starts over.
        await c.query(`DELETE FROM ${this.t.messages} WHERE campaign_id = $1`, [campaignId]);
      } else {
        // Rows that never had an attempt are re-derived from the CSV; a row taken out of the plan after an attempt
        // (skipped, suppressed) is kept, so a later plan that holds its number again knows it may have been sent.
        await c.query(
          `DELETE FROM ${this.t.messages} WHERE campaign_id = $1 AND state IN ('invalid','duplicate','suppressed','skipped')
             AND first_sent_at IS NULL`,
          [campaignId],
        );
      }
      const { rows } = await c.query<{ plan_generation: number }>(
        `UPDATE ${this.t.campaigns} SET plan_generation = plan_generation + 1, plan_complete = false, updated_at = $2
         WHERE id = $1 RETURNING plan_generation`,
        [campaignId, now],
      );
      if (!rows[0]) throw new Error(`campaign ${campaignId} is not in the database`);
      return rows[0].plan_generation;
    });
  }

  /**
   * One transaction of at most four statements however large the batch: the sendable rows in one upsert, the
   * numbers the plan now suppresses in one in-place update, then every row that is not sent (invalid, suppressed,
   * duplicate) in one insert. Within a batch, a number's first sendable row is the one upserted and later ones
   * are duplicates of it, which is what SqliteStore's row-by-row loop does (PostgreSQL refuses an upsert that
   * touches one row twice, so the batch is deduplicated here first).
   */
  async insertPlanBatch(campaignId: string, generation: number, rows: readonly PlanRowInput[], now: number): Promise<PlanBatchResult> {
    const result: PlanBatchResult = { planned: 0, duplicate: 0, invalid: 0, suppressed: 0, kept: 0 };
    const firstSendable = new Map<string, PlanRowInput>();
    const laterSendable: PlanRowInput[] = [];
    const firstSuppressed = new Map<string, PlanRowInput>();
    const other: PlanRowInput[] = [];
    for (const row of rows) {
      if (row.state === 'planned' && row.requestId) {
        if (firstSendable.has(row.phone!)) laterSendable.push(row);
        else firstSendable.set(row.phone!, row);
      } else if (row.state === 'suppressed' && row.phone !== null && !firstSuppressed.has(row.phone)) {
        firstSuppressed.set(row.phone, row);
      } else {
        other.push(row);
      }
    }
    const fieldsOf = (row: PlanRowInput): string => row.fieldsJson ?? JSON.stringify(row.fields);
    const reasonOf = (row: PlanRowInput, state: 'invalid' | 'suppressed'): string =>
      row.reason ?? (state === 'suppressed' ? SUPPRESSED_AT_PLAN.message : INVALID_DEFAULT_MESSAGE);
    return this.tx(async (c) => {
      // No WAL flush at this commit: a plan only counts once completePlan commits (synchronously, which flushes
      // every earlier commit too), and a plan cut short by a server crash is started again by the next run.
      await c.query('SET LOCAL synchronous_commit TO OFF');
      const duplicates: PlanRowInput[] = [];
      if (firstSendable.size > 0) {
        const sendable = [...firstSendable.values()];
        const { rows: upserted } = await c.query<{ phone: string; state: MessageState }>(
          `INSERT INTO ${this.t.messages} AS m (campaign_id, generation, line, raw_phone, phone, fields, timezone, state, text,
             payload, request_id, updated_at, media_file, media_sha256, variant)
           SELECT $1, $2, u.line, u.raw_phone, u.phone, u.fields, u.timezone, 'planned', u.text, u.payload, u.request_id, $3,
             u.media_file, u.media_sha256, u.variant
           FROM unnest($4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
             $12::text[], $13::text[], $14::text[])
             AS u(line, raw_phone, phone, fields, timezone, text, payload, request_id, media_file, media_sha256, variant)
           ON CONFLICT (campaign_id, phone) WHERE request_id IS NOT NULL DO UPDATE SET
             generation = excluded.generation, line = excluded.line, fields = excluded.fields,
             raw_phone = excluded.raw_phone, timezone = excluded.timezone,
             text = CASE WHEN m.state IN ('planned','skipped','suppressed') THEN excluded.text ELSE m.text END,
             payload = CASE WHEN m.state IN ('planned','skipped','suppressed') THEN excluded.payload ELSE m.payload END,
             media_file = CASE WHEN m.state IN ('planned','skipped','suppressed') THEN excluded.media_file ELSE m.media_file END,
             media_sha256 = CASE WHEN m.state IN ('planned','skipped','suppressed') THEN excluded.media_sha256 ELSE m.media_sha256 END,
             variant = CASE WHEN m.state IN ('planned','skipped','suppressed') THEN excluded.variant ELSE m.variant END,
             -- Back in the plan after a replan took it out: planned again, keeping uncertain and first_sent_at, so
             -- crash recovery still treats an old uncertain attempt as unknown.
             error_code = CASE WHEN m.state IN ('skipped','suppressed') THEN NULL ELSE m.error_code END,
             error_message = CASE WHEN m.state IN ('skipped','suppressed') THEN NULL ELSE m.error_message END,
             state = CASE WHEN m.state IN ('skipped','suppressed') THEN 'planned' ELSE m.state END,
             updated_at = excluded.updated_at
           WHERE m.generation < excluded.generation
           RETURNING m.phone, m.state`,
          [
            campaignId,
            generation,
            now,
            sendable.map((r) => r.line),
            sendable.map((r) => r.rawPhone),
            sendable.map((r) => r.phone),
            sendable.map(fieldsOf),
            sendable.map((r) => r.timezone ?? null),
            sendable.map((r) => r.text),
            sendable.map((r) => r.payloadJson ?? (r.payload === null ? null : JSON.stringify(r.payload))),
            sendable.map((r) => r.requestId),
            sendable.map((r) => r.mediaFile ?? null),
            sendable.map((r) => r.mediaSha256 ?? null),
            sendable.map((r) => r.variant ?? null),
          ],
        );
        const taken = new Set<string>();
        for (const u of upserted) {
          taken.add(u.phone);
          if (u.state === 'planned') result.planned++;
          else result.kept++;
        }
        // Not upserted: the number already has a sendable row of this plan (an earlier batch).
        for (const row of sendable) if (!taken.has(row.phone!)) duplicates.push(row);
      }
      duplicates.push(...laterSendable);

      const notSendable: NotSendableColumns = { line: [], rawPhone: [], phone: [], fields: [], timezone: [], state: [], code: [], message: [] };
      const add = (row: PlanRowInput, state: string, code: string, message: string): void => {
        notSendable.line.push(row.line);
        notSendable.rawPhone.push(row.rawPhone);
        notSendable.phone.push(row.phone);
        notSendable.fields.push(fieldsOf(row));
        notSendable.timezone.push(row.timezone ?? null);
        notSendable.state.push(state);
        notSendable.code.push(code);
        notSendable.message.push(message);
      };

      if (duplicates.length > 0) {
        const { rows: holders } = await c.query<{ phone: string; line: number }>(
          `SELECT phone, line FROM ${this.t.messages} WHERE campaign_id = $1 AND request_id IS NOT NULL AND phone = ANY($2::text[])`,
          [campaignId, [...new Set(duplicates.map((r) => r.phone!))]],
        );
        const lineOf = new Map(holders.map((h) => [h.phone, h.line]));
        for (const row of duplicates) {
          add(row, 'duplicate', DUPLICATE_CODE, duplicateOfLine(lineOf.get(row.phone!)));
          result.duplicate++;
        }
      }

      if (firstSuppressed.size > 0) {
        // A number the new plan suppresses, whose row an earlier plan made sendable and that was never accepted:
        // the row itself becomes suppressed (in place, so it keeps its history and request id).
        const candidates = [...firstSuppressed.values()];
        const { rows: suppressedInPlace } = await c.query<{ phone: string }>(
          `UPDATE ${this.t.messages} AS m SET state = 'suppressed', generation = $2, line = u.line, raw_phone = u.raw_phone,
             fields = u.fields, timezone = u.timezone, error_code = $3,
             error_message = u.reason || CASE WHEN m.state IN ('sending','unknown') OR m.uncertain THEN $4 ELSE '' END,
             uncertain = m.uncertain OR m.state IN ('sending','unknown'), next_attempt_at = 0, updated_at = $5
           FROM unnest($6::integer[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
             AS u(line, raw_phone, phone, fields, timezone, reason)
           WHERE m.campaign_id = $1 AND m.phone = u.phone AND m.request_id IS NOT NULL AND m.generation < $2
             AND m.state IN ('planned','sending','unknown','failed_to_send','skipped','suppressed')
           RETURNING m.phone`,
          [
            campaignId,
            generation,
            SUPPRESSED_AT_PLAN.code,
            MAY_HAVE_BEEN_SENT_NOTE,
            now,
            candidates.map((r) => r.line),
            candidates.map((r) => r.rawPhone),
            candidates.map((r) => r.phone),
            candidates.map(fieldsOf),
            candidates.map((r) => r.timezone ?? null),
            candidates.map((r) => reasonOf(r, 'suppressed')),
          ],
        );
        const inPlace = new Set(suppressedInPlace.map((r) => r.phone));
        for (const row of candidates) {
          if (inPlace.has(row.phone!)) result.suppressed++;
          else other.push(row);
        }
      }

      for (const row of other) {
        const state = row.state === 'suppressed' ? 'suppressed' : 'invalid';
        add(row, state, state === 'suppressed' ? SUPPRESSED_AT_PLAN.code : INVALID_CODE, reasonOf(row, state));
        result[state]++;
      }
      if (notSendable.line.length > 0) {
        await c.query(
          `INSERT INTO ${this.t.messages} (campaign_id, generation, line, raw_phone, phone, fields, timezone, state, error_code,
             error_message, updated_at)
           SELECT $1, $2, u.line, u.raw_phone, u.phone, u.fields, u.timezone, u.state, u.code, u.message, $3
           FROM unnest($4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
             AS u(line, raw_phone, phone, fields, timezone, state, code, message)`,
          [
            campaignId,
            generation,
            now,
            notSendable.line,
            notSendable.rawPhone,
            notSendable.phone,
            notSendable.fields,
            notSendable.timezone,
            notSendable.state,
            notSendable.code,
            notSendable.message,
          ],
        );
      }
      return result;
    });
  }

  async completePlan(campaignId: string, generation: number, fingerprint: PlanFingerprint, now: number): Promise<{ skipped: number }> {
    return this.tx(async (c) => {
      // Every row of an earlier plan that could still be sent (now, after a crash, or on request) but that the
      // current plan no longer holds: it must never leave again, whatever recovery or a flag later asks.
      const skipped = await c.query(
        `UPDATE ${this.t.messages} SET state = 'skipped', error_code = $1,
           error_message = $2 || CASE WHEN state IN ('sending','unknown') OR uncertain THEN $3 ELSE '' END,
           uncertain = uncertain OR state IN ('sending','unknown'), next_attempt_at = 0, updated_at = $4
         WHERE campaign_id = $5 AND state IN ('planned','sending','unknown','failed_to_send') AND generation < $6`,
        [REMOVED_FROM_PLAN.code, REMOVED_FROM_PLAN.message, MAY_HAVE_BEEN_SENT_NOTE, now, campaignId, generation],
      );
      const done = await c.query(
        `UPDATE ${this.t.campaigns} SET plan_complete = true, fingerprint = $1, planned_at = $2, updated_at = $2
         WHERE id = $3 AND plan_generation = $4`,
        [JSON.stringify(fingerprint), now, campaignId, generation],
      );
      if (done.rowCount !== 1) throw new Error(`plan of ${campaignId} changed under us (generation ${generation})`);
      return { skipped: skipped.rowCount ?? 0 };
    });
  }

  async applySuppression(
    campaignId: string,
    phones: Iterable<string>,
    reason: RowReason,
    now: number,
    options: { inFlightToo: boolean },
  ): Promise<number> {
    const list = [...new Set(phones)];
    if (list.length === 0) return 0;
    // One statement for the whole list. `sending` is only touched at the start of a run (before crash recovery):
    // during a run a `sending` row is a request of this very process in flight.
    const r = await this.q(
      `UPDATE ${this.t.messages} AS m SET state = 'suppressed', error_code = $2,
         error_message = $3 || CASE WHEN m.state IN ('sending','unknown') OR m.uncertain THEN $4 ELSE '' END,
         uncertain = m.uncertain OR m.state IN ('sending','unknown'), next_attempt_at = 0, updated_at = $5
       FROM unnest($6::text[]) AS p(phone)
       WHERE m.campaign_id = $1 AND m.phone = p.phone AND m.request_id IS NOT NULL
         AND (m.state IN ('planned','unknown','failed_to_send') OR ($7::boolean AND m.state = 'sending'))`,
      [campaignId, reason.code, reason.message, MAY_HAVE_BEEN_SENT_NOTE, now, list, options.inFlightToo],
    );
    return r.rowCount ?? 0;
  }

  async suppressedNumbers(campaignId: string): Promise<Set<string>> {
    const { rows } = await this.q<{ phone: string }>(
      `SELECT DISTINCT phone FROM ${this.t.messages} WHERE campaign_id = $1 AND state = 'suppressed' AND phone IS NOT NULL`,
      [campaignId],
    );
    return new Set(rows.map((r) => r.phone));
  }

  async setPlanFingerprint(campaignId: string, fingerprint: PlanFingerprint, now: number): Promise<void> {
    await this.q(`UPDATE ${this.t.campaigns} SET fingerprint = $1, updated_at = $2 WHERE id = $3 AND plan_complete`, [
      JSON.stringify(fingerprint),
      now,
      campaignId,
    ]);
  }

  async recoverInFlight(campaignId: string, now: number, windowMs: number): Promise<{ requeued: number; unknown: number }> {
    return this.tx(async (c) => {
      const unknown = await c.query(
        `UPDATE ${this.t.messages} SET state = 'unknown', error_code = $1, error_message = $2, updated_at = $3
         WHERE campaign_id = $4 AND (state = 'sending' OR (state = 'planned' AND uncertain))
           AND COALESCE(first_sent_at, sending_at) < $5`,
        [UNCERTAIN_AFTER_CRASH.code, UNCERTAIN_AFTER_CRASH.message, now, campaignId, now - windowMs],
      );
      const requeued = await c.query(
        `UPDATE ${this.t.messages} SET state = 'planned', uncertain = true, next_attempt_at = 0, updated_at = $1
         WHERE campaign_id = $2 AND state = 'sending'`,
        [now, campaignId],
      );
      return { requeued: requeued.rowCount ?? 0, unknown: unknown.rowCount ?? 0 };
    });
  }

  async requeueUnknown(campaignId: string, now: number): Promise<number> {
    const r = await this.q(
      `UPDATE ${this.t.messages} SET state = 'planned', next_attempt_at = 0, updated_at = $1
       WHERE campaign_id = $2 AND state = 'unknown' AND uuid IS NULL`,
      [now, campaignId],
    );
    return r.rowCount ?? 0;
  }

  async requeueFailed(campaignId: string, now: number): Promise<number> {
    const r = await this.q(
      `UPDATE ${this.t.messages} SET state = 'planned', attempts = 0, next_attempt_at = 0, updated_at = $1
       WHERE campaign_id = $2 AND state = 'failed_to_send'`,
      [now, campaignId],
    );
    return r.rowCount ?? 0;
  }

  async nextPlanned(campaignId: string, now: number, limit: number, exclude: ReadonlySet<number> = new Set()): Promise<OutgoingMessage[]> {
    const { rows } = await this.q<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM ${this.t.messages}
       WHERE campaign_id = $1 AND state = 'planned' AND next_attempt_at <= $2 ORDER BY line, id LIMIT $3`,
      [campaignId, now, limit + exclude.size],
    );
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
    const { rows } = await this.q<{ at: number | null }>(
      `SELECT MIN(next_attempt_at) AS at FROM ${this.t.messages} WHERE campaign_id = $1 AND state = 'planned'`,
      [campaignId],
    );
    return rows[0]?.at ?? null;
  }

  async markSending(id: number, now: number, device?: string | null, fence?: LeaseFence): Promise<number> {
    // One statement: the guarded transition and the campaign's send times commit together.
    const run = async (): Promise<number | undefined> => (await this.q<{ attempts: number }>(
      `WITH m AS (
         UPDATE ${this.t.messages} SET state = 'sending', attempts = attempts + 1, sending_at = $2,
           first_sent_at = COALESCE(first_sent_at, $2), device = COALESCE($5::text, device), updated_at = $2
         WHERE id = $1 AND state = 'planned' AND ${this.fenceSql(3)} RETURNING attempts, campaign_id
       ), c AS (
         UPDATE ${this.t.campaigns} SET first_send_at = COALESCE(first_send_at, $2), last_send_at = $2, updated_at = $2
         WHERE id = (SELECT campaign_id FROM m)
       )
       SELECT attempts FROM m`,
      [id, now, ...fenceParams(fence), device ?? null],
    )).rows[0]?.attempts;
    return this.transition(id, 'planned', 'sending', now, fence, run, (row) => row.attempts);
  }

  async markAccepted(id: number, uuid: string, apiStatus: string, now: number, fence?: LeaseFence): Promise<void> {
    await this.guarded(id, 'sending', 'accepted',
      `UPDATE ${this.t.messages} SET state = 'accepted', uuid = $2, api_status = $3, accepted_at = $4,
         uncertain = false, error_code = NULL, error_message = NULL, updated_at = $4
       WHERE id = $1 AND state = 'sending' AND ${this.fenceSql(5)}`,
      [id, uuid, apiStatus, now, ...fenceParams(fence)],
      fence,
      now,
    );
  }

  async markRetry(id: number, error: MessageError, nextAttemptAt: number, now: number, how: RetryHow, fence?: LeaseFence): Promise<void> {
    await this.guarded(id, 'sending', 'planned',
      `UPDATE ${this.t.messages} SET state = 'planned', error_code = $2, error_message = $3, next_attempt_at = $4,
         uncertain = uncertain OR $5, attempts = attempts - $6, updated_at = $7
       WHERE id = $1 AND state = 'sending' AND ${this.fenceSql(8)}`,
      [id, error.code, error.message, nextAttemptAt, how.uncertain, how.countAttempt ? 0 : 1, now, ...fenceParams(fence)],
      fence,
      now,
    );
  }

  async markRejected(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void> {
    await this.markFinal(id, 'rejected', error, now, fence);
  }

  async markFailedToSend(id: number, error: MessageError, now: number, fence?: LeaseFence): Promise<void> {
    await this.markFinal(id, 'failed_to_send', error, now, fence);
  }

  private async markFinal(id: number, state: 'rejected' | 'failed_to_send', error: MessageError, now: number, fence?: LeaseFence): Promise<void> {
    await this.guarded(id, 'sending', state,
      `UPDATE ${this.t.messages} SET state = $2, error_code = $3, error_message = $4, updated_at = $5
       WHERE id = $1 AND state = 'sending' AND ${this.fenceSql(6)}`,
      [id, state, error.code, error.message, now, ...fenceParams(fence)],
      fence,
      now,
    );
  }

  /**
   * One guarded transition: a single conditional statement that must change exactly one row. With `now` (the
   * value it writes to `updated_at`), a lost connection is survived (see `transition`).
   */
  private async guarded(id: number, from: MessageState, to: MessageState, sql: string, params: unknown[], fence?: LeaseFence, now?: number): Promise<void> {
    const run = async (): Promise<true | undefined> => ((await this.q(sql, params)).rowCount === 1 ? true : undefined);
    if (now === undefined) {
      if ((await run()) === undefined) throw await this.refusal(id, from, to, fence);
      return;
    }
    await this.transition(id, from, to, now, fence, run, () => true);
  }

  /**
   * The lease check of a send-path statement, with the owner at `$n` (null: not fenced) and the campaign at
   * `$n+1`. `FOR SHARE` locks the lease row until the transition commits: a takeover (an UPDATE of that row) waits
   * for it, and a transition that meets a takeover in progress waits and then sees the new owner. So a transition
   * and a takeover never interleave: the message row changes only while the lease is held.
   */
  private fenceSql(n: number): string {
    return `($${n}::text IS NULL OR (campaign_id = $${n + 1}::text AND EXISTS (
      SELECT 1 FROM ${this.t.leases} l WHERE l.campaign_id = $${n + 1}::text AND l.owner = $${n}::text FOR SHARE)))`;
  }

  /** Why a guarded transition changed nothing: the lease is gone (LeaseLostError), or the row was in another state. */
  private async refusal(id: number, from: MessageState, to: MessageState, fence: LeaseFence | undefined): Promise<Error> {
    if (fence) {
      const held = await this.q(`SELECT 1 FROM ${this.t.leases} WHERE campaign_id = $1 AND owner = $2`, [fence.campaignId, fence.owner]);
      if (held.rowCount !== 1) return new LeaseLostError(fence.campaignId, fence.owner);
    }
    return new TransitionError(id, from, to);
  }

  async expirePlanned(campaignId: string, reason: string, now: number): Promise<number> {
    const r = await this.q(
      `UPDATE ${this.t.messages} SET state = 'expired', error_code = $1, error_message = $2, updated_at = $3
       WHERE campaign_id = $4 AND state = 'planned'`,
      [DEADLINE_PASSED_CODE, reason, now, campaignId],
    );
    return r.rowCount ?? 0;
  }

  async sweepTargets(campaignId: string, finalStatuses: readonly string[], limit: number, afterId: number): Promise<SweepTarget[]> {
    const { rows } = await this.q<{ id: number; uuid: string; api_status: string | null; checks: number }>(
      `SELECT id, uuid, api_status, checks FROM ${this.t.messages}
       WHERE campaign_id = $1 AND state = 'accepted' AND uuid IS NOT NULL
         AND (api_status IS NULL OR NOT (api_status = ANY($2::text[])))
         AND id > $3
       ORDER BY id LIMIT $4`,
      [campaignId, [...finalStatuses], afterId, limit],
    );
    return rows.map((r) => ({ id: r.id, uuid: r.uuid, apiStatus: r.api_status, checks: r.checks }));
  }

  async recordStatus(id: number, update: StatusUpdate): Promise<void> {
    await this.guarded(id, 'accepted', 'accepted',
      `UPDATE ${this.t.messages} SET api_status = $2::text, delivered_at = COALESCE($3::text, delivered_at),
         failed_at = COALESCE($4::text, failed_at), error_message = COALESCE($5::text, error_message),
         error_code = CASE WHEN $2::text IN ('failed', 'unknown') THEN COALESCE(error_code, upper($2::text)) ELSE error_code END,
         last_checked_at = $6, checks = checks + 1, updated_at = $6
       WHERE id = $1 AND state = 'accepted'`,
      [id, update.apiStatus, update.deliveredAt, update.failedAt, update.errorMessage, update.checkedAt],
    );
  }

  async counts(campaignId: string): Promise<CampaignCounts> {
    const byState = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageState, number>;
    let total = 0;
    const states = await this.q<{ state: MessageState; n: number }>(
      `SELECT state, count(*)::integer AS n FROM ${this.t.messages} WHERE campaign_id = $1 GROUP BY state`,
      [campaignId],
    );
    for (const { state, n } of states.rows) {
      byState[state] = n;
      total += n;
    }
    const byApiStatus: Record<string, number> = {};
    const statuses = await this.q<{ api_status: string | null; n: number }>(
      `SELECT api_status, count(*)::integer AS n FROM ${this.t.messages} WHERE campaign_id = $1 AND state = 'accepted' GROUP BY api_status`,
      [campaignId],
    );
    for (const { api_status, n } of statuses.rows) byApiStatus[api_status ?? DEFAULT_API_STATUS] = n;
    return { total, byState, byApiStatus };
  }

  async *reportRows(campaignId: string, pageSize = 1000): AsyncIterable<ReportRow> {
    const campaign = await this.getCampaign(campaignId);
    if (!campaign) return;
    // Rows of the current plan first, in CSV order; then rows a replan left behind (removed from the CSV). Keyset
    // pages on (line, id), each its own statement, so a million-row report holds one page at a time.
    for (const current of [true, false]) {
      let line = -1;
      let id = -1;
      for (;;) {
        const { rows: page } = await this.q<MessageRow>(
          `SELECT ${MESSAGE_COLUMNS} FROM ${this.t.messages}
           WHERE campaign_id = $1 AND (generation = $2) = $3 AND (line, id) > ($4::integer, $5::bigint)
           ORDER BY line, id LIMIT $6`,
          [campaignId, campaign.planGeneration, current, line, id, pageSize],
        );
        if (page.length === 0) break;
        for (const r of page) yield toReportRow(r);
        const last = page[page.length - 1]!;
        line = last.line;
        id = last.id;
      }
    }
  }

  async acceptedSince(projectId: string, sinceMs: number): Promise<number> {
    const { rows } = await this.q<{ n: number }>(
      `SELECT count(*)::integer AS n FROM ${this.t.messages} m JOIN ${this.t.campaigns} c ON c.id = m.campaign_id
       WHERE c.project_id = $1 AND m.accepted_at >= $2`,
      [projectId, sinceMs],
    );
    return rows[0]?.n ?? 0;
  }

  async acquireLease(
    lease: Omit<Lease, 'acquiredAt' | 'heartbeatAt'>,
    now: number,
    staleMs: number,
  ): Promise<{ acquired: true } | { acquired: false; holder: Lease }> {
    // One conditional statement takes a free lease, renews our own, or takes over a stale one; two runners asking
    // at once are serialised by the primary key, and the second sees the first's lease as live.
    for (let attempt = 0; attempt < 5; attempt++) {
      const taken = await this.q(
        `INSERT INTO ${this.t.leases} AS l (campaign_id, owner, pid, host, acquired_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (campaign_id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host,
           acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at
         WHERE l.owner = excluded.owner OR excluded.heartbeat_at - l.heartbeat_at >= $6
         RETURNING owner`,
        [lease.campaignId, lease.owner, lease.pid, lease.host, now, staleMs],
      );
      if (taken.rowCount === 1) return { acquired: true };
      const holder = await this.getLease(lease.campaignId);
      if (holder) return { acquired: false, holder };
      // Released between the two statements: ask again.
    }
    throw new Error(`the lease of campaign ${lease.campaignId} keeps changing hands; try again`);
  }

  async heartbeat(campaignId: string, owner: string, now: number): Promise<boolean> {
    const r = await this.q(`UPDATE ${this.t.leases} SET heartbeat_at = $1 WHERE campaign_id = $2 AND owner = $3`, [now, campaignId, owner], { retry: true });
    return r.rowCount === 1;
  }

  async releaseLease(campaignId: string, owner: string): Promise<void> {
    await this.q(`DELETE FROM ${this.t.leases} WHERE campaign_id = $1 AND owner = $2`, [campaignId, owner], { retry: true });
  }

  async setMessageDevice(id: number, device: string): Promise<void> {
    // Idempotent: safe to run again on a new connection when the first one was lost.
    await this.q(`UPDATE ${this.t.messages} SET device = $1 WHERE id = $2`, [device, id], { retry: true });
  }

  async reserveDeviceDay(device: string, day: string, cap: number): Promise<boolean> {
    // One statement: the upsert's row lock serialises concurrent reservations, and the WHERE keeps the cap.
    // A cap of 0 inserts nothing, so no send is ever counted over the cap, even for a moment.
    const { rowCount } = await this.q(
      `INSERT INTO ${this.t.deviceDays} AS d (device, day, sent) SELECT $1, $2, 1 WHERE $3::int > 0
       ON CONFLICT (device, day) DO UPDATE SET sent = d.sent + 1 WHERE d.sent < $3::int`,
      [device, day, cap],
      // Run again after a lost connection: at worst a send committed twice counts twice, i.e. one send fewer that day.
      { retry: true },
    );
    return rowCount === 1;
  }

  async releaseDeviceDay(device: string, day: string): Promise<void> {
    await this.q(`UPDATE ${this.t.deviceDays} SET sent = sent - 1 WHERE device = $1 AND day = $2 AND sent > 0`, [device, day]);
  }

  async deviceDay(device: string, day: string): Promise<{ sent: number; firstDay: string | null }> {
    const { rows } = await this.q<{ sent: number | null; first: string | null }>(
      `SELECT (SELECT sent FROM ${this.t.deviceDays} WHERE device = $1 AND day = $2) AS sent,
              (SELECT MIN(day) FROM ${this.t.deviceDays} WHERE device = $1 AND sent > 0) AS first`,
      [device, day],
    );
    return { sent: rows[0]?.sent ?? 0, firstDay: rows[0]?.first ?? null };
  }

  async getLease(campaignId: string): Promise<Lease | undefined> {
    const { rows } = await this.q<LeaseRow>(`SELECT * FROM ${this.t.leases} WHERE campaign_id = $1`, [campaignId]);
    return rows[0] ? toLease(rows[0]) : undefined;
  }

  async pendingTimezones(campaignId: string): Promise<(string | null)[]> {
    const { rows } = await this.q<{ timezone: string | null }>(
      `SELECT DISTINCT timezone FROM ${this.t.messages} WHERE campaign_id = $1 AND state IN ('planned', 'sending')`,
      [campaignId],
    );
    return rows.map((r) => r.timezone);
  }

  async reserveSendSlot(projectId: string, now: number, perMinute: number, minSpacingMs: number): Promise<{ slot: number } | { retryAt: number }> {
    return this.tx(async (c) => {
      // Every runner of the project, on every machine, queues here; the lock is released at COMMIT, after which the
      // next holder's statements (each with a fresh snapshot) see this slot.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RATE_LOCK, projectId]);
      // Prune and count in one statement: the rows the DELETE removes are exactly those the count leaves out.
      const { rows } = await c.query<{ n: number; oldest: number | null; in_flight: number; last: number | null }>(
        `WITH pruned AS (
           DELETE FROM ${this.t.slots} WHERE project_id = $1 AND COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS}) <= $2
         )
         SELECT count(*)::integer AS n,
           MIN(COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS})) AS oldest,
           (count(*) FILTER (WHERE released_at IS NULL))::integer AS in_flight,
           MAX(reserved_at) AS last
         FROM ${this.t.slots} WHERE project_id = $1 AND COALESCE(released_at, reserved_at + ${SLOT_MAX_IN_FLIGHT_MS}) > $2`,
        [projectId, now - WINDOW_MS],
      );
      const live = rows[0]!;
      // Slots are kept on a nominal grid `minSpacingMs` apart, so a timer that wakes a little late does not push
      // every later send back: lateness is caught up (by at most one spacing, so idle time never allows a burst).
      const nominal = live.last === null ? now : Math.max(now - minSpacingMs, live.last + minSpacingMs);
      if (nominal > now) return { retryAt: nominal };
      if (live.n >= perMinute) {
        // Everything counted may still be in flight: poll soon; otherwise the oldest answer leaves the window.
        const retryAt = live.oldest !== null ? Math.max(now + 1, live.oldest + WINDOW_MS + 1) : now + 50;
        return { retryAt: live.in_flight === live.n ? Math.min(retryAt, now + 50) : retryAt };
      }
      const inserted = await c.query<{ id: number }>(
        `INSERT INTO ${this.t.slots} (project_id, reserved_at) VALUES ($1, $2) RETURNING id`,
        [projectId, nominal],
      );
      return { slot: inserted.rows[0]!.id };
      // Committed twice after a lost connection: one slot too many is counted, which only makes the window stricter.
    }, { retry: true });
  }

  async releaseSendSlot(slot: number, now: number): Promise<void> {
    await this.tx(async (c) => {
      // No WAL flush at this commit: if a server crash loses it, the slot counts as unanswered, i.e. until 180 s
      // after its reservation instead of 60 s after its answer. That only makes the window stricter.
      await c.query('SET LOCAL synchronous_commit TO OFF');
      await c.query(`UPDATE ${this.t.slots} SET released_at = $1 WHERE id = $2 AND released_at IS NULL`, [now, slot]);
    }, { retry: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}



function toReportRow(r: MessageRow): ReportRow {
  return {
    line: r.line,
    rawPhone: r.raw_phone,
    phone: r.phone,
    fields: JSON.parse(r.fields) as Record<string, string>,
    state: r.state,
    apiStatus: r.api_status,
    uuid: r.uuid,
    requestId: r.request_id,
    attempts: r.attempts,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    sentAt: r.first_sent_at,
    acceptedAt: r.accepted_at,
    deliveredAt: r.delivered_at,
    failedAt: r.failed_at,
    lastCheckedAt: r.last_checked_at,
    mediaFile: r.media_file,
    mediaSha256: r.media_sha256,
    variant: r.variant,
    device: r.device,
  };
}
