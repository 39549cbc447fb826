import { isAbsolute, join } from 'node:path';
import type { Env } from '../config/env.js';
import { SqliteStore } from '../store/sqlite.js';
import type { CliIo } from './io.js';

/** Where the state database lives unless `--db` or `RK_BROADCAST_DB` says otherwise (relative to the cwd). */
export const DEFAULT_DB_PATH = '.rk-broadcast/state.db';

/** `--db`, else `RK_BROADCAST_DB`, else `.rk-broadcast/state.db` in the working directory. */
export function resolveDbPath(flag: string | undefined, io: { env: Env; cwd: string }): string {
  const chosen = flag ?? io.env.RK_BROADCAST_DB ?? DEFAULT_DB_PATH;
  return isAbsolute(chosen) ? chosen : join(io.cwd, chosen);
}

/** Opens the state database named by the flags and environment (created 0600 if missing). */
export function openStore(flag: string | undefined, io: CliIo): SqliteStore {
  return new SqliteStore(resolveDbPath(flag, io), io.env.RK_DB_DURABILITY === 'full' ? { durability: 'full' } : {});
}
