import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { describeRateWindow, describeStore, type MakeStore } from './store-conformance.js';

/** A new SQLite file per test; `another` opens a second connection to it, as a second process would. */
const make: MakeStore = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rkb-conf-'));
  const path = join(dir, 'state.db');
  return {
    store: new SqliteStore(path),
    another: async () => new SqliteStore(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
};

describeStore('SqliteStore', make);
describeRateWindow('SqliteStore', make);
