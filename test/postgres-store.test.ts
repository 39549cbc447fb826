import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/factory.js';
import { parseInt8, PostgresStore, PostgresStoreError } from '../src/store/postgres.js';
import { PG_MIGRATIONS } from '../src/store/postgres-schema.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { startPostgres, type RunningPostgres } from './helpers/postgres.js';
import { skipPostgres, usePostgres, withSchema } from './helpers/pg-test.js';

/** The URL with another password. */
function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const result = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(result).toBeInstanceOf(Error);
  return result as Error;
}

describe('parseInt8', () => {
  it('reads a bigint as an exact number, and refuses one beyond 2^53 instead of rounding it', () => {
    expect(parseInt8('0')).toBe(0);
    expect(parseInt8('1764547200000')).toBe(1764547200000);
    expect(parseInt8('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseInt8('9007199254740993')).toThrow(/beyond/);
  });
});

describe.skipIf(skipPostgres())('PostgresStore on a real server', () => {
  const server = usePostgres();

  describe('migrations', () => {
    it('runners opening a new schema at once create it once between them; opening again changes nothing', async () => {
      const url = server.freshUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
      const versions = await server.sql<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      await stores[0]!.ensureCampaign({ id: 'c', name: 'C', projectId: 'p', sourcePath: '/c', now: 1 });
      for (const s of stores) await s.close();
      const again = await PostgresStore.open(url);
      expect((await again.listCampaigns()).map((c) => c.id)).toEqual(['c']);
      await again.close();
      expect(await server.sql(`SELECT version FROM "${schema}".schema_migrations`)).toHaveLength(PG_MIGRATIONS.length);
    });

    it('the tables go in the default schema rk_broadcast when the URL names none', async () => {
      const store = await PostgresStore.open(server.url());
      expect(store.schema).toBe('rk_broadcast');
      const tables = await server.sql<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'rk_broadcast' AND c.relkind = 'r' ORDER BY 1`,
      );
      expect(tables.map((t) => t.relname)).toEqual(['campaigns', 'device_days', 'leases', 'messages', 'schema_migrations', 'send_slots']);
      await store.close();
      await server.sql('DROP SCHEMA rk_broadcast CASCADE');
    });

    it('a schema written by a newer rk-broadcast is refused with a clear message, and not changed', async () => {
      const url = server.freshUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      await (await PostgresStore.open(url)).close();
      await server.sql(`INSERT INTO "${schema}".schema_migrations (version) VALUES ($1)`, [PG_MIGRATIONS.length + 1]);
      const error = await failure(PostgresStore.open(url));
      expect(error).toBeInstanceOf(PostgresStoreError);
      expect(error.message).toContain(`was written by a newer rk-broadcast (schema version ${PG_MIGRATIONS.length + 1}; this version knows ${PG_MIGRATIONS.length})`);
      expect(error.message).toContain('It was not changed');
      expect((error as PostgresStoreError).hint).toMatch(/Upgrade rk-broadcast/);
      expect(await server.sql(`SELECT version FROM "${schema}".schema_migrations`)).toHaveLength(PG_MIGRATIONS.length + 1);
    });

    it('a schema holding another program\'s tables is refused and left alone', async () => {
      const url = server.freshUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      await server.sql(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".messages (x int)`);
      const error = await failure(PostgresStore.open(url));
      expect(error.message).toMatch(/holds tables of another program \(messages\)/);
      expect(await server.sql(`SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, [schema])).toHaveLength(1);
    });
  });

  describe('connections and secrets', () => {
    it('a wrong password fails with the redacted URL and never the password, in the message or the stack', async () => {
      const secret = 'Wr0ng-S3cret@x';
      const error = await failure(PostgresStore.open(withPassword(server.url(), secret)));
      expect(error).toBeInstanceOf(PostgresStoreError);
      expect((error as PostgresStoreError).code).toBe('28P01');
      expect(error.message).toMatch(/postgres:\/\/rkb:\*\*\*@127\.0\.0\.1:\d+\/postgres refused the login/);
      const all = `${error.message} ${(error as PostgresStoreError).hint} ${error.stack} ${inspect(error)}`;
      expect(all).not.toContain(secret);
      expect(all).not.toContain(encodeURIComponent(secret));
    });

    it('an unreachable server and a missing database are named as such', async () => {
      const port = new URL(server.url()).port;
      const closed = server.url().replace(`:${port}/`, ':1/');
      const unreachable = await failure(PostgresStore.open(closed));
      expect(unreachable).toBeInstanceOf(PostgresStoreError);
      expect(unreachable.message).toMatch(/^Cannot reach the PostgreSQL state database postgres:\/\/rkb:\*\*\*@127\.0\.0\.1:1\/postgres/);
      const missing = await failure(PostgresStore.open(server.url().replace(/\/postgres$/, '/no_such_db')));
      expect((missing as PostgresStoreError).code).toBe('3D000');
      expect(missing.message).toMatch(/does not exist/);
    });

    it('the store shows only the redacted URL: the password is in none of its fields', async () => {
      const store = await PostgresStore.open(server.freshUrl());
      await store.listCampaigns();
      const password = decodeURIComponent(new URL(server.url()).password);
      expect(store.target).toMatch(/^postgres:\/\/rkb:\*\*\*@127\.0\.0\.1:\d+\/postgres\?schema=rkt_/);
      // What a logger would print of the store (its pool and connections included).
      expect(inspect(store, { depth: Infinity })).not.toContain(password);
      expect(JSON.stringify(Object.entries(store).filter(([k]) => k !== 'pool'))).not.toContain(password);
      expect(JSON.stringify((store as unknown as { pool: { options: unknown } }).pool.options)).not.toContain(password);
      await store.close();
    });

    it('ids that PostgreSQL returns as bigint come back as numbers; one beyond 2^53 fails instead of leaking', async () => {
      const url = server.freshUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      const store = await PostgresStore.open(url);
      await server.sql(`ALTER TABLE "${schema}".send_slots ALTER COLUMN id RESTART WITH 9007199254740990`);
      const r = await store.reserveSendSlot('p', 1000, 10, 0);
      expect(r).toEqual({ slot: 9007199254740990 });
      await server.sql(`ALTER TABLE "${schema}".send_slots ALTER COLUMN id RESTART WITH 9007199254740993`);
      await expect(store.reserveSendSlot('p', 1000, 10, 0)).rejects.toThrow(/beyond what rk-broadcast stores/);
      await store.close();
    });

    it('a statement stuck behind another session\'s lock fails after the statement timeout with a clear message', async () => {
      const url = server.freshUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      const store = await PostgresStore.open(url, { statementTimeoutMs: 300 });
      const blocker = new pg.Client({ connectionString: server.url() });
      await blocker.connect();
      try {
        await blocker.query(`BEGIN; LOCK TABLE "${schema}".leases IN ACCESS EXCLUSIVE MODE`);
        const started = Date.now();
        const error = await failure(store.getLease('c'));
        expect(Date.now() - started).toBeLessThan(5000);
        expect(error).toBeInstanceOf(PostgresStoreError);
        expect(error.message).toMatch(/took longer than 0\.3 s/);
        await blocker.query('ROLLBACK');
        expect(await store.getLease('c')).toBeUndefined();
      } finally {
        await blocker.end();
        await store.close();
      }
    });

    it('connections the server terminated are replaced: the store carries on', async () => {
      const name = `rkt_term_${process.pid}`;
      const url = `${server.freshUrl()}&application_name=${name}`;
      const store = await PostgresStore.open(url);
      await store.ensureCampaign({ id: 'c', name: 'C', projectId: 'p', sourcePath: '/c', now: 1 });
      const killed = await server.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [name]);
      expect(killed.length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      expect((await store.getCampaign('c'))!.id).toBe('c');
      await store.close();
    });

    it('a connection that dies in the middle of a transaction fails that call, not the process; the store carries on', async () => {
      const store = await PostgresStore.open(server.freshUrl());
      const tx = (store as unknown as { tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> }).tx.bind(store);
      const error = await failure(
        tx(async (c) => {
          const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          await server.sql('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          // The connection's 'error' arrives now, while the client is checked out and between two statements.
          await new Promise((r) => setTimeout(r, 300));
          return c.query('SELECT 1');
        }),
      );
      expect(error).toBeInstanceOf(PostgresStoreError);
      expect(await store.listCampaigns()).toEqual([]);
      await store.close();
    });

    it('read-only: reads work, writes are refused, and a schema never written is named as such', async () => {
      const url = server.freshUrl();
      const fresh = await failure(PostgresStore.open(url, { readOnly: true }));
      expect(fresh.message).toMatch(/no rk-broadcast tables in schema rkt_\w+ yet/);
      const writer = await PostgresStore.open(url);
      await writer.ensureCampaign({ id: 'c', name: 'C', projectId: 'p', sourcePath: '/c', now: 1 });
      await writer.close();
      const reader = await openStore(url, { readOnly: true });
      expect(reader).toBeInstanceOf(PostgresStore);
      expect((reader as PostgresStore).readOnly).toBe(true);
      expect((await reader.getCampaign('c'))!.name).toBe('C');
      await expect(reader.updateCampaign('c', { name: 'X' }, 2)).rejects.toThrow(/read-only transaction/);
      await reader.close();
    });
  });

  describe('openStore', () => {
    it('a postgres URL opens PostgreSQL, migrated; anything else a SQLite file', async () => {
      const pgStore = await openStore(server.freshUrl());
      expect(pgStore).toBeInstanceOf(PostgresStore);
      expect(await pgStore.listCampaigns()).toEqual([]);
      await pgStore.close();
      const dir = mkdtempSync(join(tmpdir(), 'rkb-factory-'));
      try {
        const sqlite = await openStore(join(dir, 'state.db'), { durability: 'full' });
        expect(sqlite).toBeInstanceOf(SqliteStore);
        await sqlite.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('TLS by sslmode', () => {
    let tls: RunningPostgres | undefined;
    let certDir: string;
    beforeAll(async () => {
      // A self-signed certificate for a host name that is not 127.0.0.1: the CA checks out, the name does not.
      certDir = mkdtempSync(join(tmpdir(), 'rkb-tls-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rkb-test-server',
        '-addext', 'subjectAltName=DNS:rkb-test-server', '-keyout', join(certDir, 'server.key'), '-out', join(certDir, 'server.crt'),
      ], { stdio: 'ignore' });
      tls = await startPostgres({
        settings: { ssl: 'on' },
        dataFiles: {
          'server.crt': { content: readFileSync(join(certDir, 'server.crt'), 'utf8'), mode: 0o644 },
          'server.key': { content: readFileSync(join(certDir, 'server.key'), 'utf8'), mode: 0o600 },
        },
      });
    }, 120_000);
    afterAll(async () => {
      await tls?.stop();
      rmSync(certDir, { recursive: true, force: true });
    });

    async function usesTls(url: string): Promise<boolean> {
      const store = await PostgresStore.open(url);
      try {
        // The store's own connection: ask the server whether it is encrypted.
        const pool = (store as unknown as { pool: pg.Pool }).pool;
        const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        return rows[0]!.ssl;
      } finally {
        await store.close();
      }
    }

    it('disable and prefer connect in the clear; require encrypts; verify-ca checks the CA; verify-full also the host name', async () => {
      const url = (q: string) => withSchema(`${tls!.url}?${q}`, 'rkt_tls');
      const ca = join(certDir, 'server.crt');
      expect(await usesTls(url('sslmode=disable'))).toBe(false);
      expect(await usesTls(url('sslmode=prefer'))).toBe(false);
      expect(await usesTls(url('sslmode=require'))).toBe(true);
      // verify-ca: an unknown CA is refused; with the right one it connects, whatever the host name.
      await expect(PostgresStore.open(url('sslmode=verify-ca'))).rejects.toThrow(/self[- ]signed/i);
      expect(await usesTls(url(`sslmode=verify-ca&sslrootcert=${ca}`))).toBe(true);
      // verify-full: the certificate is for rkb-test-server, not 127.0.0.1.
      await expect(PostgresStore.open(url(`sslmode=verify-full&sslrootcert=${ca}`))).rejects.toThrow(/rkb-test-server|altnames|IP/i);
      await expect(PostgresStore.open(url('sslmode=require&sslrootcert=/nonexistent/ca.pem'))).rejects.toThrow(/Cannot read sslrootcert/);
    });
  });
});
