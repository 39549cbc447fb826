/**
 * PostgreSQL state-database URLs: `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE&schema=NAME`
 * (`postgresql://` too). Anything else given as `--db` is a SQLite path.
 *
 * The password is a secret: it is never part of a message, a log line or anything stored. Show a target with
 * `displayPostgresUrl` / `PostgresTarget.display` (`postgres://user:***@host/db`), and pass any text that might
 * quote a driver's error through `redactPassword` first.
 */

/** The TLS modes of libpq's `sslmode`, and what each means here (see `sslConfigFor` in postgres.ts). */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** The schema the tables live in unless `?schema=` names another. */
export const DEFAULT_SCHEMA = 'rk_broadcast';

/** Query parameters understood in a URL; any other is refused, so a typo does not silently do nothing. */
const KNOWN_PARAMS = ['schema', 'sslmode', 'sslrootcert', 'application_name', 'connect_timeout'] as const;

/** An unquoted-style SQL identifier: the schema name is always quoted in SQL, but kept to these characters. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Where a PostgreSQL state database is, parsed from its URL. */
export interface PostgresTarget {
  /** Host name or address (brackets of an IPv6 address removed); undefined: the driver's default (localhost). */
  host: string | undefined;
  port: number | undefined;
  user: string | undefined;
  /** Percent-decoded. Never print it; undefined: none in the URL (the driver may use PGPASSWORD). */
  password: string | undefined;
  database: string | undefined;
  /** Absent from the URL: `prefer` (libpq's default). */
  sslmode: SslMode;
  /** File with the CA certificate(s) to verify the server against (`verify-ca`, `verify-full`). */
  sslrootcert: string | undefined;
  /** The schema holding rk-broadcast's tables. */
  schema: string;
  applicationName: string | undefined;
  /** Seconds to wait for a connection (libpq's `connect_timeout`). */
  connectTimeoutSeconds: number | undefined;
  /** The URL with the password replaced by `***`: the only form ever shown. */
  display: string;
}

/** A URL that names PostgreSQL but cannot be used; the message never contains the password. */
export class PostgresUrlError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'PostgresUrlError';
  }
}

/** True when `target` is a PostgreSQL URL (`postgres://` or `postgresql://`, any case) rather than a SQLite path. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target.trim());
}

/**
 * The display form of any PostgreSQL URL, also of one that does not parse: everything between the user name and
 * the host is replaced by `***`, as is a `password=` parameter. Errs on the side of hiding too much.
 */
export function displayPostgresUrl(url: string): string {
  const m = /^([a-z]+:\/\/)(.*)$/is.exec(url.trim());
  if (!m) return '***';
  const [, scheme, rest] = m as unknown as [string, string, string];
  // The host follows the last `@`: a password may contain `@`, a host and a database name may not.
  const at = rest.lastIndexOf('@');
  let out = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    out = (colon >= 0 ? `${userinfo.slice(0, colon)}:***` : userinfo) + rest.slice(at);
  }
  out = out.replace(/([?&]password=)[^&]*/gi, '$1***');
  return scheme + out;
}

/** A `--db` value as it may be printed: a PostgreSQL URL with its password as `***`, a SQLite path as given. */
export function displayDbTarget(target: string): string {
  return isPostgresUrl(target) ? displayPostgresUrl(target) : target;
}

/**
 * Parses a PostgreSQL URL. Throws PostgresUrlError naming what is wrong (the display form only, never the
 * password) and what to write instead.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const display = displayPostgresUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new PostgresUrlError(
      `The database URL ${display} is not a valid URL.`,
      'Write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE; in the user name and password, write @ as %40, : as %3A, / as %2F, ? as %3F and # as %23.',
    );
  }
  if (!isPostgresUrl(url)) {
    throw new PostgresUrlError(`${display} is not a PostgreSQL URL.`, 'It must start with postgres:// or postgresql://.');
  }
  if (parsed.hash !== '') {
    throw new PostgresUrlError(
      `The database URL ${display} has a "#" in it.`,
      'If the password contains #, write it as %23.',
    );
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new PostgresUrlError(`The ${what} in the database URL ${display} has a broken %-escape.`, 'Write % itself as %25.');
    }
  };
  const host = parsed.hostname === '' ? undefined : parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host !== undefined && host.includes(',')) {
    throw new PostgresUrlError(`The database URL ${display} names several hosts.`, 'Give one host; put a connection pooler or a virtual IP in front of replicas.');
  }
  const port = parsed.port === '' ? undefined : Number(parsed.port);
  const path = parsed.pathname.replace(/^\//, '');
  if (path.includes('/')) {
    throw new PostgresUrlError(
      `The database URL ${display} has a "/" after the database name.`,
      'Write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE (if the password contains /, write it as %2F).',
    );
  }
  const params = new Map<string, string>();
  for (const [key, value] of parsed.searchParams) {
    if (key === 'password' || key === 'user') {
      throw new PostgresUrlError(
        `The database URL ${display} gives the ${key} as a parameter.`,
        `Put it before the host (postgres://USER:PASSWORD@HOST/DATABASE), or leave the password out and set PGPASSWORD.`,
      );
    }
    if (!(KNOWN_PARAMS as readonly string[]).includes(key)) {
      throw new PostgresUrlError(
        `The database URL ${display} has the parameter "${key}", which rk-broadcast does not know.`,
        `Known parameters: ${KNOWN_PARAMS.join(', ')}.`,
      );
    }
    params.set(key, value);
  }
  const sslmode = (params.get('sslmode') ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    throw new PostgresUrlError(
      `The database URL ${display} has sslmode=${params.get('sslmode')}.`,
      `Use one of ${SSL_MODES.join(', ')} (require for TLS, verify-full to also check the server's certificate and name).`,
    );
  }
  const schema = params.get('schema') ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw new PostgresUrlError(
      `The database URL ${display} has schema=${schema}.`,
      'A schema name is a letter or _ followed by up to 62 letters, digits or _ (e.g. rk_broadcast, team_a).',
    );
  }
  const timeout = params.get('connect_timeout');
  const connectTimeoutSeconds = timeout === undefined ? undefined : Number(timeout);
  if (connectTimeoutSeconds !== undefined && !(Number.isInteger(connectTimeoutSeconds) && connectTimeoutSeconds > 0)) {
    throw new PostgresUrlError(`The database URL ${display} has connect_timeout=${timeout}.`, 'Give a whole number of seconds, e.g. connect_timeout=10.');
  }
  const user = parsed.username === '' ? undefined : decode(parsed.username, 'user name');
  const password = parsed.password === '' ? undefined : decode(parsed.password, 'password');
  const database = path === '' ? undefined : decode(path, 'database name');
  return {
    host,
    port,
    user,
    password,
    database,
    sslmode,
    sslrootcert: params.get('sslrootcert'),
    schema,
    applicationName: params.get('application_name'),
    connectTimeoutSeconds,
    display: displayFor(parsed.protocol, user, password !== undefined, host, port, database, params.get('schema')),
  };
}

function displayFor(
  protocol: string,
  user: string | undefined,
  hasPassword: boolean,
  host: string | undefined,
  port: number | undefined,
  database: string | undefined,
  schema: string | undefined,
): string {
  const auth = user === undefined ? (hasPassword ? ':***@' : '') : `${encodeURIComponent(user)}${hasPassword ? ':***' : ''}@`;
  const hostPart = host === undefined ? '' : host.includes(':') ? `[${host}]` : host;
  return (
    `${protocol}//${auth}${hostPart}${port === undefined ? '' : `:${port}`}/${database === undefined ? '' : encodeURIComponent(database)}` +
    (schema === undefined ? '' : `?schema=${schema}`)
  );
}

/**
 * `text` with every occurrence of `password` (as given, and %-encoded as it would appear in a URL) replaced by
 * `***`. For messages built from a driver's errors, which rk-broadcast does not control.
 */
export function redactPassword(text: string, password: string | undefined): string {
  if (password === undefined || password === '') return text;
  let out = text;
  for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('***');
  return out;
}
