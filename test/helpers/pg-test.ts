/**
 * PostgreSQL in a test file: the server of the run (`RK_TEST_PG_URL`, started by .ci/run or a globalSetup), or one
 * started for this file alone when none is given. `RK_TEST_POSTGRES=skip` skips the file's PostgreSQL tests, with a
 * line saying so; without it, a server that cannot start fails them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PG_SKIP_ENV, PG_URL_ENV, postgresSkipped, startPostgres, type RunningPostgres } from './postgres.js';

/** True when the PostgreSQL tests are to be skipped; says so once on stderr. */
export function skipPostgres(): boolean {
  const skip = postgresSkipped();
  if (skip) process.stderr.write(`PostgreSQL tests skipped: ${PG_SKIP_ENV}=skip\n`);
  return skip;
}

/** Adds `?schema=NAME` (or `&schema=`) to a server URL. */
export function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

/** The server for this file, and fresh schemas on it, all dropped after the file. */
export function usePostgres(): {
  /** The server's URL (no schema). */
  url(): string;
  /** A URL naming a new, empty schema of its own. */
  freshUrl(): string;
  /** Runs SQL as the server's superuser (for setting up and inspecting). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
} {
  let own: RunningPostgres | undefined;
  let base: string | undefined;
  let admin: pg.Client | undefined;
  const schemas: string[] = [];
  beforeAll(async () => {
    if (postgresSkipped()) return;
    base = process.env[PG_URL_ENV];
    if (!base) {
      own = await startPostgres();
      base = own.url;
    }
    admin = new pg.Client({ connectionString: base });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    if (admin) {
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await admin.end();
    }
    await own?.stop();
  }, 60_000);
  return {
    url: () => base!,
    freshUrl: () => {
      const schema = `rkt_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return withSchema(base!, schema);
    },
    sql: async (text, params = []) => (await admin!.query(text, params)).rows,
  };
}
