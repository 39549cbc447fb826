/**
 * Opening the SQLite state database: checks done before SQLite sees the file (so a directory or another
 * program's file is named as such and never touched), creation with mode 0600, a read-only mode that never
 * writes, and versioned migrations. Every failure is a StoreError (see errors.ts).
 */
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { storeError, storeErrorFrom, type StoreErrorContext } from './errors.js';
import { MIGRATIONS } from './schema.js';

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Checkpoint interval (pages) outside bulk writes: SQLite's default, so the write-ahead log stays near 4 MB while
 * sending. Planning raises it (see `BULK_WAL_AUTOCHECKPOINT`).
 */
export const WAL_AUTOCHECKPOINT = 1000;
/** Checkpoint the WAL every ~40 MB instead of every 4 MB while planning: a million-row plan fsyncs ten times, not a hundred. */
export const BULK_WAL_AUTOCHECKPOINT = 10_000;
/** After a checkpoint, the WAL file is cut back to this size, so a plan's 40 MB log does not stay on disk. */
const JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024;

/** How to open the database. */
export interface OpenDatabaseOptions {
  /** Open to read only: never create, chmod, migrate or write anything. */
  readOnly: boolean;
  durability: 'normal' | 'full';
  busyTimeoutMs: number;
}

/** Opens (creating 0600 and migrating when writing) the database at `path`; throws StoreError. */
export function openDatabase(path: string, options: OpenDatabaseOptions): Database.Database {
  const ctx: StoreErrorContext = { path, writing: !options.readOnly, busyTimeoutMs: options.busyTimeoutMs };
  if (path === ':memory:') return checkSchema(configure(new Database(path), options, ctx), false, ctx);
  checkFile(path, ctx);
  let db: Database.Database | undefined;
  try {
    if (options.readOnly) return checkSchema(openReadOnly(path, options.busyTimeoutMs, ctx), true, ctx);
    db = new Database(path, { timeout: options.busyTimeoutMs });
    // Refused before anything is written: switching to WAL would change another program's file.
    refuseForeign(db, ctx);
    return checkSchema(configure(db, options, ctx), false, ctx);
  } catch (error) {
    if (db?.open) db.close();
    throw storeErrorFrom(error, ctx);
  }
}

/**
 * Before SQLite opens anything: a directory, a file that does not start with SQLite's header, or a file that
 * cannot be read (or written, when writing) is reported as such and left untouched. A missing file is created
 * 0600 when writing.
 */
function checkFile(path: string, ctx: StoreErrorContext): void {
  try {
    let stat;
    try {
      stat = statSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (!ctx.writing) throw storeError('bad_path', ctx, { reason: 'there is no such file' });
    }
    if (stat?.isDirectory()) throw storeError('is_directory', ctx);
    if (stat === undefined) {
      mkdirSync(dirname(path), { recursive: true });
      try {
        // The mode is set here, once: an existing file keeps the mode its owner gave it.
        closeSync(openSync(path, 'wx', 0o600));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      return;
    }
    if (stat.size > 0) {
      const head = Buffer.alloc(SQLITE_HEADER.length);
      const readHead = (): void => {
        head.fill(0);
        const fd = openSync(path, 'r');
        try {
          readSync(fd, head, 0, head.length, 0);
        } finally {
          closeSync(fd);
        }
      };
      readHead();
      // Zeros: another process is creating this database right now (its first page is being written), as when
      // two `due` from cron start together. Give it a moment rather than calling its file "not a database".
      for (let tries = 0; tries < 40 && head.every((b) => b === 0); tries++) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
        readHead();
      }
      if (!head.equals(SQLITE_HEADER)) {
        throw storeError('not_a_database', ctx, { reason: 'it does not start with the header of an SQLite file' });
      }
    }
    if (ctx.writing) {
      accessSync(path, constants.W_OK);
      // SQLite creates the -wal and -shm files beside it when they are not there yet.
      if (!existsSync(`${path}-shm`)) accessSync(dirname(path), constants.W_OK);
    }
  } catch (error) {
    throw storeErrorFrom(error, ctx);
  }
}

/** Connection settings; with WAL and the steady-state checkpoint interval when writing. */
function configure(db: Database.Database, options: OpenDatabaseOptions, ctx: StoreErrorContext): Database.Database {
  try {
    // 32 MiB of page cache: the request-id index of a million-row plan is written in hash order.
    db.pragma('cache_size = -32000');
    if (options.readOnly) return db;
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT}`);
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    return db;
  } catch (error) {
    db.close();
    throw storeErrorFrom(error, ctx);
  }
}

/** SQLite's answers when a read-only connection cannot use the WAL's shared memory (no -shm, and none can be made). */
const NO_SHARED_MEMORY = /^SQLITE_(CANTOPEN|READONLY_CANTINIT|READONLY_CANTLOCK|READONLY_RECOVERY|READONLY_DIRECTORY)/;

/**
 * A read-only connection. A WAL database needs its -shm file; on a read-only disk, or in a folder of another user,
 * SQLite can neither use nor create it. If there is no write-ahead log with unsaved pages, the main file holds
 * everything, so a copy of it in memory is read instead (memory ≈ the file's size; only in this case).
 */
function openReadOnly(path: string, busyTimeoutMs: number, ctx: StoreErrorContext): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  try {
    db.pragma('user_version', { simple: true });
    db.pragma('cache_size = -32000');
    return db;
  } catch (error) {
    db.close();
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !NO_SHARED_MEMORY.test(code)) throw error;
    const wal = `${path}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      throw storeError('read_only', ctx, {
        code,
        cause: error,
        reason: `its write-ahead log ${wal} holds changes that only a process able to write to ${dirname(path)} can read`,
      });
    }
    const image = readFileSync(path);
    // The header says WAL (bytes 18-19 = 2); an in-memory copy must be in rollback mode to be opened.
    if (image.length >= 20) image[18] = image[19] = 1;
    return new Database(image, { readonly: true });
  }
}

/**
 * Refuses another program's SQLite file and one from a newer rk-broadcast, reading only. Returns the version.
 */
function refuseForeign(db: Database.Database, ctx: StoreErrorContext): number {
  const known = MIGRATIONS.length;
  // One snapshot for both reads: another process's first migration committing between them would make a new
  // rk-broadcast database look like another program's (version 0, tables present).
  const { version, tables } = db.transaction(() => ({
    version: db.pragma('user_version', { simple: true }) as number,
    tables: (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name),
  }))();
  const foreign = (version === 0 && tables.length > 0) || (version > known && !tables.includes('campaigns'));
  if (foreign) throw storeError('not_a_database', ctx, { reason: 'it is the SQLite database of another program' });
  if (version > known) throw storeError('newer_schema', { ...ctx, schema: { found: version, known } });
  return version;
}

/**
 * Checks the layout and, when writing, migrates an older one. Read-only, an empty database reads as an empty store
 * (in memory), and an older layout is refused.
 */
function checkSchema(db: Database.Database, readOnly: boolean, ctx: StoreErrorContext): Database.Database {
  const known = MIGRATIONS.length;
  const version = refuseForeign(db, ctx);
  if (version === known) return db;
  if (readOnly) {
    if (version !== 0) throw storeError('older_schema', { ...ctx, schema: { found: version, known } });
    // Never written (created by a run that stopped at once): nothing to read, so read nothing.
    db.close();
    const empty = new Database(':memory:');
    migrate(empty);
    return empty;
  }
  migrate(db);
  return db;
}

/**
 * Applies the migrations the database lacks, each in its own transaction that reads the version again: two
 * processes opening a new database at once each apply a migration at most once between them.
 */
function migrate(db: Database.Database): void {
  const step = db.transaction((): boolean => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version >= MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[version]!);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  while (step.immediate()) {
    // one migration applied; look for the next
  }
}
