import { describe, expect, it } from 'vitest';
import { isStoreError } from '../src/store/errors.js';
import { postgresErrorKind, PostgresStore } from '../src/store/postgres.js';
import { skipPostgres, usePostgres } from './helpers/pg-test.js';

describe('PostgreSQL failures in the StoreError taxonomy', () => {
  it('maps the server and driver codes a user can cause to a kind, and leaves bugs alone', () => {
    const kinds = Object.fromEntries(
      [
        ['ECONNREFUSED', ''],
        ['57P01', 'terminating connection due to administrator command'],
        ['57P03', 'the database system is starting up'],
        ['08006', ''],
        ['28P01', ''],
        ['3D000', ''],
        ['57014', ''],
        ['40001', ''],
        ['40P01', ''],
        ['53300', ''],
        ['53100', 'could not extend file: No space left on device'],
        ['25006', 'cannot execute UPDATE in a read-only transaction'],
        ['23505', 'duplicate key'],
      ].map(([code, message]) => [code, postgresErrorKind(code, message!)]),
    );
    expect(kinds).toEqual({
      ECONNREFUSED: 'unreachable',
      '57P01': 'unreachable',
      '57P03': 'unreachable',
      '08006': 'unreachable',
      '28P01': 'auth',
      '3D000': 'no_database',
      '57014': 'timeout',
      '40001': 'busy',
      '40P01': 'busy',
      '53300': 'busy',
      '53100': 'full',
      '25006': 'read_only',
      '23505': undefined,
    });
    expect(postgresErrorKind(undefined, 'Connection terminated unexpectedly')).toBe('unreachable');
  });

  describe.skipIf(skipPostgres())('on a real server', () => {
    const server = usePostgres();
    it('a write refused by a read-only session is a temporary StoreError (exit 10), not an internal error', async () => {
      const url = server.freshUrl();
      await (await PostgresStore.open(url)).close();
      const reader = await PostgresStore.open(url, { readOnly: true });
      try {
        const error = await reader.updateCampaign('c', { name: 'x' }, 1).then(() => undefined, (e: unknown) => e);
        expect(isStoreError(error)).toBe(true);
        expect(error).toMatchObject({ kind: 'read_only', code: '25006', temporary: true });
        expect((error as Error).message).toMatch(/opened read-only/);
      } finally {
        await reader.close();
      }
    });
  });
});
