/**
 * The one place that turns a `--db` / `RK_BROADCAST_DB` value into a store: a `postgres://` or `postgresql://` URL
 * opens PostgreSQL, anything else is a SQLite file path as before. Commands and stages never construct a store
 * class themselves; they get a `Store` from here (`openStore` in src/cli/context.ts reads the flags and environment and calls this).
 */
import type { PostgresStoreOptions } from './postgres.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { Store } from './port.js';
import { isPostgresUrl } from './url.js';

/** Options for whichever store `target` names; each store takes the ones that apply to it. */
export interface OpenStoreOptions {
  /** Open to read only (`status`, `list`, `report`): nothing is created, migrated or written. */
  readOnly?: boolean;
  /** SQLite only: how commits are made durable. */
  durability?: SqliteStoreOptions['durability'];
  /** SQLite only: how long to wait for another process's lock. */
  busyTimeoutMs?: number;
  /** PostgreSQL only: pool size, timeouts (see PostgresStoreOptions). */
  postgres?: Omit<PostgresStoreOptions, 'readOnly'>;
}

/** Which kind of store a `--db` value names. */
export function storeKind(target: string): 'postgres' | 'sqlite' {
  return isPostgresUrl(target) ? 'postgres' : 'sqlite';
}

/**
 * Opens the store `target` names. PostgreSQL connects and migrates before this resolves, so a wrong password, an
 * unreachable host or a schema from a newer version fails here, with the password never in the message.
 */
export async function openStore(target: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (storeKind(target) === 'postgres') {
    // Loaded only when asked for: a SQLite user never loads the PostgreSQL driver.
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.open(target.trim(), { ...options.postgres, ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}) });
  }
  const sqlite: SqliteStoreOptions & { readOnly?: boolean } = {
    ...(options.durability !== undefined ? { durability: options.durability } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    // SqliteStore gains `readOnly` in another change; passed through as a field until the merge wires it.
    ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}),
  };
  return new SqliteStore(target, sqlite);
}
