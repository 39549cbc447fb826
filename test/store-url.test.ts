import { describe, expect, it } from 'vitest';
import { displayPostgresUrl, isPostgresUrl, parsePostgresUrl, PostgresUrlError, redactPassword } from '../src/store/url.js';
import { storeKind } from '../src/store/factory.js';

describe('PostgreSQL URLs', () => {
  it('recognises postgres:// and postgresql:// (any case); anything else is a SQLite path', () => {
    for (const u of ['postgres://h/db', 'postgresql://u@h/db', 'POSTGRES://h', ' postgres://h/db']) {
      expect(isPostgresUrl(u)).toBe(true);
      expect(storeKind(u)).toBe('postgres');
    }
    for (const p of ['state.db', '.rk-broadcast/state.db', '/var/lib/rk/postgres.db', 'postgres.db', 'postgres:/x', ':memory:']) {
      expect(isPostgresUrl(p)).toBe(false);
      expect(storeKind(p)).toBe('sqlite');
    }
  });

  it('parses user, password, host, port, database, sslmode, schema and the other known parameters', () => {
    const t = parsePostgresUrl('postgresql://rk%20user:p%40ss%3Aw%2Frd@db.example.com:6543/rk%2Dstate?sslmode=verify-full&schema=team_a&sslrootcert=/etc/ca.pem&application_name=runner-1&connect_timeout=5');
    expect(t).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'rk user',
      password: 'p@ss:w/rd',
      database: 'rk-state',
      sslmode: 'verify-full',
      sslrootcert: '/etc/ca.pem',
      schema: 'team_a',
      applicationName: 'runner-1',
      connectTimeoutSeconds: 5,
      display: 'postgresql://rk%20user:***@db.example.com:6543/rk-state?schema=team_a',
    });
  });

  it('defaults: schema rk_broadcast, sslmode prefer; no user, password, port or database', () => {
    expect(parsePostgresUrl('postgres://localhost')).toMatchObject({
      host: 'localhost', port: undefined, user: undefined, password: undefined, database: undefined, sslmode: 'prefer', schema: 'rk_broadcast',
      display: 'postgres://localhost/',
    });
    expect(parsePostgresUrl('postgres://u@[::1]:5433/db')).toMatchObject({ host: '::1', port: 5433, display: 'postgres://u@[::1]:5433/db' });
    // An unencoded @ in the password: the host follows the last one.
    expect(parsePostgresUrl('postgres://u:p@ss@h/db')).toMatchObject({ password: 'p@ss', host: 'h', display: 'postgres://u:***@h/db' });
  });

  it('refuses what it cannot use, naming the problem, never the password', () => {
    const cases: [string, RegExp][] = [
      ['postgres://u:s3cr3t/x@h/db', /not a valid URL/],
      ['postgres://u:s3cr3t@h/db?sslmode=sometimes', /sslmode=sometimes/],
      ['postgres://u:s3cr3t@h/db?schema=bad-name', /schema=bad-name/],
      ['postgres://u:s3cr3t@h/db?sslmod=require', /parameter "sslmod"/],
      ['postgres://u@h/db?password=s3cr3t', /gives the password as a parameter/],
      ['postgres://u:s3cr3t@h1,h2/db', /several hosts/],
      ['postgres://u:s3cr3t@h/db/extra', /after the database name/],
      ['postgres://u:s3cr3t@h/db?connect_timeout=soon', /connect_timeout=soon/],
      ['postgres://u:s3cr3t@h/db#frag', /"#"/],
      ['postgres://u:s3%ZZcr3t@h/db', /broken %-escape/],
    ];
    for (const [url, message] of cases) {
      let error: unknown;
      try {
        parsePostgresUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(PostgresUrlError);
      const e = error as PostgresUrlError;
      expect(e.message, url).toMatch(message);
      expect(e.hint.length).toBeGreaterThan(10);
      expect(`${e.message} ${e.hint} ${e.stack}`, url).not.toMatch(/s3cr3t|s3%ZZcr3t/);
    }
  });

  it('the display form hides the password of any URL, also one that does not parse', () => {
    expect(displayPostgresUrl('postgres://u:s3cr3t@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(displayPostgresUrl('postgres://u:s3/cr#3t@h/db?sslmode=require')).toBe('postgres://u:***@h/db?sslmode=require');
    expect(displayPostgresUrl('postgres://u@h/db?password=s3cr3t&schema=x')).toBe('postgres://u@h/db?password=***&schema=x');
    expect(displayPostgresUrl('postgres://h/db')).toBe('postgres://h/db');
    expect(displayPostgresUrl('garbage s3cr3t')).toBe('***');
  });

  it('redactPassword removes the password, plain and %-encoded, from any text', () => {
    expect(redactPassword('auth failed for p@ss and p%40ss', 'p@ss')).toBe('auth failed for *** and ***');
    expect(redactPassword('nothing here', undefined)).toBe('nothing here');
    expect(redactPassword('nothing here', '')).toBe('nothing here');
  });
});
