import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import { describeRateWindow, describeStore, type MakeStore } from './store-conformance.js';

/**
 * The per-state (and API status) counts the triggers keep (migration 6) against a count of the rows themselves: checked after
 * every conformance test, so every insert, delete and transition the suite makes is checked to keep them true.
 */
function expectCountsKept(path: string): void {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const kept = db.prepare('SELECT campaign_id, state, api_status, n FROM message_counts WHERE n <> 0 ORDER BY 1, 2, 3').all();
    const counted = db
      .prepare("SELECT campaign_id, state, COALESCE(api_status, '') AS api_status, COUNT(*) AS n FROM messages GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
      .all();
    expect(kept).toEqual(counted);
  } finally {
    db.close();
  }
}

/** A new SQLite file per test; `another` opens a second connection to it, as a second process would. */
const make: MakeStore = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-conf-'));
  const path = join(dir, 'state.db');
  return {
    store: new SqliteStore(path),
    another: async () => new SqliteStore(path),
    cleanup: async () => {
      try {
        expectCountsKept(path);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
};

describeStore('SqliteStore', make);
describeRateWindow('SqliteStore', make);
