/**
 * The one error taxonomy for failures of the state database. Every storage failure (SQLite's result codes, the
 * file system's errno codes) becomes exactly one `StoreError` kind in `storeErrorFrom`; callers ask the error
 * (`temporary`, `kind`), never SQLite's codes. A second store (PostgreSQL) maps its own failures to the same
 * kinds.
 */
import { statfsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What went wrong with the state database. */
export type StoreErrorKind =
  // Unavailable for now (exit 10): nothing saved is lost; the same command works again once the cause is gone.
  | 'full' // the disk (or quota) holding the database or its write-ahead log is full
  | 'busy' // another process holds a lock on it for longer than the busy timeout
  | 'read_only' // a write to a read-only file or disk
  | 'permission' // the file or its folder belongs to someone else
  | 'io' // another I/O error of the disk
  | 'older_schema' // opened read-only, but it needs an upgrade (a write) first
  | 'unreachable' // a database server that cannot be reached or dropped the connection (PostgreSQL)
  // Cannot be used (exit 11): running again will not help until the file itself is changed or replaced.
  | 'corrupt' // damaged or truncated
  | 'not_a_database' // not an SQLite file, or another program's SQLite file
  | 'is_directory' // the path names a directory
  | 'newer_schema' // written by a newer rk-broadcast
  | 'bad_path'; // the path cannot name a file (a parent is a file, name too long, ...)

const TEMPORARY: ReadonlySet<StoreErrorKind> = new Set(['full', 'busy', 'read_only', 'permission', 'io', 'older_schema', 'unreachable']);

/** `code` of a read-only open of a PostgreSQL database where rk-broadcast never wrote (no tables in its schema yet). */
export const NO_SCHEMA_CODE = 'NO_SCHEMA';

/** Fields a StoreError is built from. */
export interface StoreErrorInit {
  kind: StoreErrorKind;
  /** The database file. */
  path: string;
  /** What happened, naming the file. */
  message: string;
  /** What to do next. */
  hint: string;
  /** The underlying code, verbatim (`SQLITE_FULL`, `ENOSPC`, ...), when there was one. */
  code?: string;
  cause?: unknown;
}

/** A failure of the state database that a user can cause and fix: never a bug, never a stack trace. */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  readonly path: string;
  readonly hint: string;
  readonly code: string | undefined;

  constructor(init: StoreErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'StoreError';
    this.kind = init.kind;
    this.path = init.path;
    this.hint = init.hint;
    this.code = init.code;
  }

  /**
   * True when the database is only unavailable for now (full, busy, read-only, ...): everything saved is intact
   * and the same command succeeds once the cause is gone. False when the file cannot be used as it is.
   */
  get temporary(): boolean {
    return TEMPORARY.has(this.kind);
  }
}

/** True for any StoreError. */
export function isStoreError(value: unknown): value is StoreError {
  return value instanceof StoreError;
}

/** What `storeErrorFrom` needs to know about the operation that failed. */
export interface StoreErrorContext {
  /** The database file. */
  path: string;
  /** Whether the store was opened to write (a read-only open never writes). */
  writing: boolean;
  /** The busy timeout in force, for the message. */
  busyTimeoutMs?: number;
  /** Schema versions, for `newer_schema` / `older_schema`. */
  schema?: { found: number; known: number };
}

/** Builds the StoreError of one kind with its sentence and hint (the only place these texts are written). */
export function storeError(kind: StoreErrorKind, ctx: StoreErrorContext, detail?: { code?: string; cause?: unknown; reason?: string }): StoreError {
  const p = ctx.path;
  const dir = dirname(p);
  const resume = 'everything saved before is kept, and the same command resumes where it stopped';
  const texts: Record<StoreErrorKind, [string, string]> = {
    full: [
      `The disk holding the state database ${p} is full: the last change could not be saved.`,
      `Free some space there (df -h ${dir}), then run the same command again: ${resume}.`,
    ],
    busy: [
      `The state database ${p} is locked by another process` +
        (ctx.busyTimeoutMs !== undefined ? ` (waited ${ctx.busyTimeoutMs / 1000} s).` : '.'),
      `Another rk-broadcast, or a program such as sqlite3 or a backup tool, is holding it. Let it finish, then run the same command again: ${resume}.`,
    ],
    read_only: ctx.writing
      ? [
          `Cannot write the state database ${p}: the file or its disk is read-only.`,
          `Run where it can be written (remount the disk read-write, or copy ${p} and any ${p}-wal beside it and point --db at the copy); ${resume}. status, list and report can still read it as it is.`,
        ]
      : [
          `Cannot read the state database ${p} read-only${detail?.reason ? `: ${detail.reason}` : ''}.`,
          `Copy ${p} and ${p}-wal to a folder you can write and point --db at the copy, or run as the user who owns the folder.`,
        ],
    permission: [
      `No permission to ${ctx.writing ? 'write' : 'read'} the state database ${p} (or its folder ${dir}).`,
      `Run as the user who owns it, or change its owner or mode (ls -l ${p}); ${resume}.`,
    ],
    io: [
      `A disk error stopped the state database ${p}${detail?.code ? ` (${detail.code})` : ''}.`,
      `Check the disk (df -h ${dir}; the system log), then run the same command again: ${resume}.`,
    ],
    older_schema: [
      `The state database ${p} has an older layout (schema ${ctx.schema?.found ?? '?'}; this version uses ${ctx.schema?.known ?? '?'}), and reading it read-only cannot upgrade it.`,
      'Run a command that writes (rk-broadcast run CAMPAIGN, which upgrades it first) where the file can be written, or use the rk-broadcast version that wrote it.',
    ],
    unreachable: [
      `Cannot reach the state database ${p}${detail?.reason ? `: ${detail.reason}` : ''}.`,
      `Check that the database server is up and reachable, then run the same command again: ${resume}.`,
    ],
    corrupt: [
      `The state database ${p} is damaged${detail?.reason ? ` (${detail.reason})` : ''}: it may be a partial copy or the disk failed.`,
      `Keep the file: it is the only record of who was already messaged. Restore it from a backup, or check it with: sqlite3 ${p} "PRAGMA integrity_check". Starting over with a new --db would message everyone again.`,
    ],
    not_a_database: [
      `${p} is not an rk-broadcast state database${detail?.reason ? ` (${detail.reason})` : ''}. It was not changed.`,
      'Check --db (or RK_BROADCAST_DB): it names another file. The state database is the file the campaign was first run with (default .rk-broadcast/state.db).',
    ],
    is_directory: [
      `${p} is a directory, not the state database file.`,
      `Name the file, e.g. --db ${join(p, 'state.db')}.`,
    ],
    newer_schema: [
      `The state database ${p} was written by a newer rk-broadcast (schema ${ctx.schema?.found ?? '?'}; this version knows ${ctx.schema?.known ?? '?'}). It was not changed.`,
      'Upgrade rk-broadcast to use this database.',
    ],
    bad_path: [
      `Cannot open the state database ${p}${detail?.reason ? `: ${detail.reason}` : ''}.`,
      'Check the path given with --db (or RK_BROADCAST_DB): every folder in it must be a folder you can write.',
    ],
  };
  const [message, hint] = texts[kind];
  return new StoreError({
    kind,
    path: p,
    message,
    hint,
    ...(detail?.code !== undefined ? { code: detail.code } : {}),
    ...(detail?.cause !== undefined ? { cause: detail.cause } : {}),
  });
}

/** SQLite result codes (primary part of better-sqlite3's `SqliteError.code`) to kinds; see sqlite.org/rescode.html. */
const SQLITE_KINDS: Record<string, StoreErrorKind> = {
  SQLITE_FULL: 'full',
  SQLITE_BUSY: 'busy',
  SQLITE_LOCKED: 'busy',
  SQLITE_PROTOCOL: 'busy',
  SQLITE_READONLY: 'read_only',
  SQLITE_PERM: 'permission',
  SQLITE_AUTH: 'permission',
  SQLITE_CORRUPT: 'corrupt',
  SQLITE_NOTADB: 'not_a_database',
  SQLITE_IOERR: 'io',
  SQLITE_CANTOPEN: 'io',
};

/** File-system errno codes to kinds. */
const ERRNO_KINDS: Record<string, StoreErrorKind> = {
  ENOSPC: 'full',
  EDQUOT: 'full',
  EROFS: 'read_only',
  EACCES: 'permission',
  EPERM: 'permission',
  EISDIR: 'is_directory',
  ENOTDIR: 'bad_path',
  ENOENT: 'bad_path',
  ENAMETOOLONG: 'bad_path',
  ELOOP: 'bad_path',
  EIO: 'io',
};

/**
 * Translates a failure of a store operation into a StoreError when it is a storage failure (SQLite's
 * `SqliteError` or a file-system error); anything else (a guarded transition that found another state, a bug)
 * is returned as it was. Idempotent: a StoreError is returned unchanged.
 */
export function storeErrorFrom(error: unknown, ctx: StoreErrorContext): unknown {
  if (error instanceof StoreError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  if (error.name === 'SqliteError') {
    const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
    let kind = SQLITE_KINDS[primary];
    if (kind === undefined) return error;
    // SQLite says "disk I/O error" or "unable to open" for several causes: ask the file system which one.
    if (code === 'SQLITE_IOERR_SHORT_READ') kind = 'corrupt';
    else if (kind === 'io') kind = ioCause(ctx.path) ?? 'io';
    return storeError(kind, ctx, { code, cause: error, reason: error.message });
  }
  const kind = ERRNO_KINDS[code];
  if (kind === undefined) return error;
  return storeError(kind, ctx, { code, cause: error, reason: (error as NodeJS.ErrnoException).message });
}

/** The likely cause of an SQLITE_IOERR or SQLITE_CANTOPEN, found by looking at the file and its disk. */
function ioCause(path: string): StoreErrorKind | undefined {
  try {
    if (statSync(path).isDirectory()) return 'is_directory';
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'EACCES') return 'permission';
    if (errno === 'ENOTDIR') return 'bad_path';
  }
  try {
    // A full disk shows up as a failed write, truncate or shared-memory resize rather than SQLITE_FULL.
    const fs = statfsSync(dirname(path));
    if (fs.bavail === 0 || fs.bfree === 0) return 'full';
  } catch {
    // No answer from the file system: keep the generic kind.
  }
  return undefined;
}

/**
 * Makes every method of a store class translate storage failures (see `storeErrorFrom`), whether it throws,
 * rejects, or fails while its async iterable is read. Applied once to the class's prototype, so a method added
 * later is covered without anyone remembering to wrap it.
 */
export function translateStoreErrors<T extends object>(proto: T, translate: (self: T, error: unknown) => unknown): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (!descriptor || typeof descriptor.value !== 'function') continue;
    const original = descriptor.value as (this: T, ...args: unknown[]) => unknown;
    const wrapped = function (this: T, ...args: unknown[]): unknown {
      let result: unknown;
      try {
        result = original.apply(this, args);
      } catch (error) {
        throw translate(this, error);
      }
      if (isThenable(result)) {
        return result.then(undefined, (error: unknown) => {
          throw translate(this, error);
        });
      }
      if (isAsyncIterator(result)) return translatingIterator(result, (error) => translate(this, error));
      return result;
    };
    Object.defineProperty(proto, name, { ...descriptor, value: wrapped });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function isAsyncIterator(value: unknown): value is AsyncIterableIterator<unknown> {
  const v = value as { next?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  return typeof v?.next === 'function' && typeof v[Symbol.asyncIterator] === 'function';
}

function translatingIterator<V>(inner: AsyncIterableIterator<V>, translate: (error: unknown) => unknown): AsyncIterableIterator<V> {
  const guard = async <R>(step: () => Promise<R>): Promise<R> => {
    try {
      return await step();
    } catch (error) {
      throw translate(error);
    }
  };
  return {
    next: (...args: [] | [unknown]) => guard(() => inner.next(...args)),
    return: (value?: unknown) => guard(async () => (inner.return ? inner.return(value) : { done: true as const, value: undefined as V })),
    throw: (error?: unknown) => guard(async () => {
      if (inner.throw) return inner.throw(error);
      throw error;
    }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
