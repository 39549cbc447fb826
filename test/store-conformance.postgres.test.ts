import { describe } from 'vitest';
import { PostgresStore } from '../src/store/postgres.js';
import { skipPostgres, usePostgres } from './helpers/pg-test.js';
import { describeRateWindow, describeStore, type MakeStore } from './store-conformance.js';

describe.skipIf(skipPostgres())('PostgresStore', () => {
  const pg = usePostgres();
  /** A new schema per test; `another` opens a second pool on it, as a second runner would. */
  const make: MakeStore = async () => {
    const url = pg.freshUrl();
    return { store: await PostgresStore.open(url), another: async () => PostgresStore.open(url) };
  };
  describeStore('PostgresStore', make);
  describeRateWindow('PostgresStore', make);
});
