/**
 * A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary folder, owned by an
 * unprivileged user (`rkb_pg`, created if missing when running as root, since PostgreSQL refuses to run as root),
 * listening on 127.0.0.1 only on a free port, its unix socket in the same folder, password authentication, and
 * fsync off for speed. Debian's server binaries are found in /usr/lib/postgresql/<version>/bin (newest first).
 * Never uses a system cluster or service.
 *
 * Node built-ins only, so it also runs outside vitest:
 * - as a vitest globalSetup (`setup` / `teardown` below): one server per run, its URL in `RK_TEST_PG_URL`;
 * - as a command: `node postgres.js serve URL_FILE` starts one, writes its URL to URL_FILE, and stops and removes
 *   it on SIGTERM/SIGINT (used by .ci/run around the whole suite).
 *
 * `RK_TEST_PG_URL` set beforehand: that server is used and nothing is started. `RK_TEST_POSTGRES=skip`: the
 * PostgreSQL tests are skipped (they say so). Otherwise a server that cannot start fails the tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The environment variable holding the URL of the server the PostgreSQL tests use. */
export const PG_URL_ENV = 'RK_TEST_PG_URL';
/** `RK_TEST_POSTGRES=skip` skips the PostgreSQL tests (documented in the README). */
export const PG_SKIP_ENV = 'RK_TEST_POSTGRES';

/** The unprivileged user the server runs as when the tests run as root. */
const SERVER_USER = 'rkb_pg';
/** The superuser created by initdb; the tests connect as it. */
const DB_USER = 'rkb';

/** True when `RK_TEST_POSTGRES=skip`. */
export function postgresSkipped(): boolean {
  return process.env[PG_SKIP_ENV] === 'skip';
}

/** A running server. */
export interface RunningPostgres {
  /** `postgres://rkb:PASSWORD@127.0.0.1:PORT/postgres`. */
  url: string;
  port: number;
  /** The data folder's parent (socket, log, data). */
  dir: string;
  /** Stops the server (fast shutdown) and removes its folder. Idempotent. */
  stop(): Promise<void>;
  /** Restarts the server (fast shutdown: every session is ended), on the same port; resolves once it accepts connections. */
  restart(): void;
}

/** Options of `startPostgres`. */
export interface StartPostgresOptions {
  /**
   * `fsync`, `synchronous_commit` and `full_page_writes` off: nothing survives a power cut, which a test server
   * does not need. Benchmarks pass false to measure PostgreSQL as deployed.
   * @default true
   */
  fast?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** Files to put in the data folder before start (e.g. `server.crt`, `server.key` for TLS), owned by the server. */
  dataFiles?: Record<string, { content: string; mode: number }>;
}

/** The newest Debian PostgreSQL bin folder holding initdb, pg_ctl and postgres. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      `No PostgreSQL server binaries in ${root}/<version>/bin. Install them (apt-get install -y postgresql), ` +
        `or set ${PG_SKIP_ENV}=skip to skip the PostgreSQL tests.`,
    );
  }
  return join(root, versions[0]!, 'bin');
}

/** uid/gid to run the server as: ourselves, or (as root) the `rkb_pg` user, created if missing. */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (): { uid: number; gid: number } | undefined => {
    const r = spawnSync('id', ['-u', SERVER_USER], { encoding: 'utf8' });
    if (r.status !== 0) return undefined;
    const g = spawnSync('id', ['-g', SERVER_USER], { encoding: 'utf8' });
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  const found = lookup();
  if (found) return found;
  const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SERVER_USER], {
    encoding: 'utf8',
  });
  // Another process may have created it at the same moment: look again either way.
  const after = lookup();
  if (!after) throw new Error(`cannot create the user ${SERVER_USER} to run PostgreSQL as: ${made.stderr.trim()}`);
  return after;
}

/** A free TCP port on 127.0.0.1 (free now; a clash at start is retried with another). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts a throwaway server; see the module comment. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const who = serverIdentity();
  const dir = mkdtempSync(join(tmpdir(), 'rkb-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const password = randomBytes(18).toString('base64url');
  const own = (path: string): void => {
    if (who) chownSync(path, who.uid, who.gid);
  };
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(join(bin, cmd), args, {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
        ...(who ?? {}),
      });
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string };
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '';
      throw new Error(`${cmd} failed: ${(e.stderr || e.stdout || e.message).trim()}${tail ? `\n--- server log ---\n${tail}` : ''}`);
    }
  };
  try {
    own(dir);
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    own(pwfile);
    run('initdb', ['-D', data, '-U', DB_USER, '--pwfile', pwfile, '--auth', 'scram-sha-256', '--encoding', 'UTF8', '--locale', 'C.UTF-8', '--no-sync']);
    rmSync(pwfile);
    for (const [name, file] of Object.entries(options.dataFiles ?? {})) {
      writeFileSync(join(data, name), file.content, { mode: file.mode });
      own(join(data, name));
    }
    const fast = options.fast ?? true;
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      max_connections: '200',
      ...(fast ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
      ...options.settings,
    };
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const flags = [`-p ${port}`, ...Object.entries({ ...settings }).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
      try {
        run('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', flags]);
      } catch (error) {
        lastError = error;
        // Another process took the port between our check and the server's bind: try another.
        if (/could not bind|Address already in use/i.test(String(error))) continue;
        throw error;
      }
      let stopped = false;
      return {
        url: `postgres://${DB_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
        port,
        dir,
        restart() {
          run('pg_ctl', ['restart', '-D', data, '-l', log, '-m', 'fast', '-w', '-t', '60']);
        },
        async stop() {
          if (stopped) return;
          stopped = true;
          try {
            run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30']);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    }
    throw lastError;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

let shared: RunningPostgres | undefined;

/**
 * vitest globalSetup: unless `RK_TEST_PG_URL` is already set or the PostgreSQL tests are skipped, starts one server
 * for the whole run and exports its URL in `RK_TEST_PG_URL` (inherited by the test workers).
 */
export async function setup(): Promise<void> {
  if (process.env[PG_URL_ENV] || postgresSkipped()) return;
  shared = await startPostgres();
  process.env[PG_URL_ENV] = shared.url;
}

/** vitest globalSetup teardown: stops the server `setup` started. */
export async function teardown(): Promise<void> {
  await shared?.stop();
  shared = undefined;
}

/** `node postgres.js serve URL_FILE`: see the module comment. */
async function main(args: string[]): Promise<void> {
  if (args[0] !== 'serve' || !args[1]) {
    process.stderr.write('usage: node postgres.js serve URL_FILE\n');
    process.exit(2);
  }
  const server = await startPostgres();
  writeFileSync(args[1], server.url + '\n', { mode: 0o600 });
  process.stderr.write(`PostgreSQL for the tests: 127.0.0.1:${server.port}, data in ${server.dir}\n`);
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = (): void => {
    clearInterval(keepAlive);
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
