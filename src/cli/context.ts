import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { ConfigError, type ApiCredentials, type Env } from '../config/env.js';
import { parseDurationText } from '../core/duration.js';
import { RkClient } from '../rk/client.js';
import type { RunTuning } from '../pipeline/run-and-sweep.js';
import type { BackoffOptions } from '../send/backoff.js';
import { openStore as openStoreAt, storeKind } from '../store/factory.js';
import { isStoreError, NO_SCHEMA_CODE } from '../store/errors.js';
import type { Store } from '../store/port.js';
import { displayPostgresUrl, isPostgresUrl } from '../store/url.js';
import type { CliIo } from './io.js';

/** Where the state database lives unless `--db` or `RK_BROADCAST_DB` says otherwise (relative to the cwd). */
export const DEFAULT_DB_PATH = '.rk-broadcast/state.db';

/**
 * `--db`, else `RK_BROADCAST_DB`, else `.rk-broadcast/state.db` in the working directory: a SQLite path made
 * absolute, or a `postgres://` / `postgresql://` URL as given (never shown as it is: see `describeDb`).
 */
function resolveDbPath(flag: string | undefined, io: { env: Env; cwd: string }): string {
  const chosen = flag ?? io.env.RK_BROADCAST_DB ?? DEFAULT_DB_PATH;
  if (isPostgresUrl(chosen)) return chosen.trim();
  return isAbsolute(chosen) ? chosen : join(io.cwd, chosen);
}

/** The state database as a message names it: the redacted URL, or the path relative to the working directory. */
export function describeDb(flag: string | undefined, io: { env: Env; cwd: string }): string {
  const target = resolveDbPath(flag, io);
  return isPostgresUrl(target) ? displayPostgresUrl(target) : relative(io.cwd, target) || target;
}

/**
 * Opens the state database named by the flags and environment, SQLite or PostgreSQL (the one place that chooses):
 * to write (created 0600 if missing, migrated), or with `readOnly` (status, list, report) without changing
 * anything. SQLite: `RK_DB_BUSY_TIMEOUT_MS` bounds the wait for another process's lock (default 5000),
 * `RK_DB_DURABILITY=full` fsyncs every commit. Throws StoreError.
 */
export async function openStore(flag: string | undefined, io: CliIo, options: { readOnly?: boolean } = {}): Promise<Store> {
  const busyTimeoutMs = positiveInt(io.env, 'RK_DB_BUSY_TIMEOUT_MS', 'a lock is waited for up to 5000 ms');
  const durability = io.env.RK_DB_DURABILITY?.trim();
  if (durability && durability !== 'normal' && durability !== 'full') {
    throw new ConfigError(
      `RK_DB_DURABILITY: expected normal or full, found ${JSON.stringify(durability)}.`,
      'Fix or unset RK_DB_DURABILITY (unset: normal, where a commit survives a crash of the process; full also survives a power cut).',
    );
  }
  return openStoreAt(resolveDbPath(flag, io), {
    ...(durability === 'full' ? { durability: 'full' } : {}),
    ...(busyTimeoutMs !== undefined ? { busyTimeoutMs } : {}),
    ...(options.readOnly ? { readOnly: true } : {}),
  });
}

/**
 * For commands that only read (status, list, report, validate): the store opened read-only, or undefined when
 * nothing was ever written there (no SQLite file; no rk-broadcast schema in the PostgreSQL database).
 */
export async function openStoreForReading(flag: string | undefined, io: CliIo): Promise<Store | undefined> {
  const target = resolveDbPath(flag, io);
  if (storeKind(target) === 'sqlite' && !existsSync(target)) return undefined;
  try {
    return await openStore(flag, io, { readOnly: true });
  } catch (error) {
    if (isStoreError(error) && error.code === NO_SCHEMA_CODE) return undefined;
    throw error;
  }
}

/**
 * The API client for a command. `RK_REQUEST_TIMEOUT_MS` bounds one whole request, from leaving to the last byte of
 * the answer (default 30 s, plus upload time for media at 1 Mbit/s), `RK_CONNECT_TIMEOUT_MS` the connection
 * (default 10 s), `RK_MAX_CONNECTIONS` the keep-alive pool (default 256).
 */
export function createClient(credentials: ApiCredentials, env: Env): RkClient {
  const timeout = positiveInt(env, 'RK_REQUEST_TIMEOUT_MS', 'a request may take 30000 ms');
  const connect = positiveInt(env, 'RK_CONNECT_TIMEOUT_MS', 'a connection may take 10000 ms');
  return new RkClient({
    ...credentials,
    // In-flight requests are bounded by the send concurrency (at most 256); the pool must not be the limit.
    connections: positiveInt(env, 'RK_MAX_CONNECTIONS', '256 connections') ?? 256,
    ...(timeout !== undefined ? { requestTimeoutMs: timeout } : {}),
    ...(connect !== undefined ? { connectTimeoutMs: connect } : {}),
  });
}

/**
 * A whole-number tuning variable (`RK_*_MS`, `RK_MAX_CONNECTIONS`, `RK_HEALTH_RATE`): unset or empty is undefined
 * (the default applies); anything but a positive whole number is refused rather than quietly ignored.
 * @throws ConfigError naming the variable, what it expects, what it found and the default that unsetting gives.
 */
function positiveInt(env: Env, name: string, unsetMeans: string): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value.trim());
  if (Number.isSafeInteger(n) && n > 0) return n;
  throw new ConfigError(
    `${name}: expected a positive whole number, found ${JSON.stringify(value)}.`,
    `Fix or unset ${name} (unset: ${unsetMeans}).`,
  );
}

/**
 * Retry delays from the environment: `RK_RETRY_BASE_MS` (delay before the 2nd attempt, doubling after; default
 * 1000) and `RK_RETRY_MAX_MS` (cap; default 60000).
 */
export function retryBackoffFrom(env: Env): BackoffOptions | undefined {
  const baseMs = positiveInt(env, 'RK_RETRY_BASE_MS', '1000 ms before the second attempt');
  const maxMs = positiveInt(env, 'RK_RETRY_MAX_MS', 'retries wait at most 60000 ms');
  if (baseMs === undefined && maxMs === undefined) return undefined;
  return { ...(baseMs !== undefined ? { baseMs } : {}), ...(maxMs !== undefined ? { maxMs } : {}) };
}

/** `RK_SUPPRESSION_CHECK_MS`: how often a running campaign looks for changed suppression lists (default 30000). */
export function suppressionCheckFrom(env: Env): { suppressionCheckMs?: number } {
  const ms = positiveInt(env, 'RK_SUPPRESSION_CHECK_MS', 'suppression lists are checked every 30000 ms');
  return ms === undefined ? {} : { suppressionCheckMs: ms };
}

/**
 * `RK_MAX_RATE_LIMIT_PAUSE`: the longest pause a 429's Retry-After may impose on a run, as a duration (`5m`, `1h`;
 * `0s` stops at the first 429 that asks to wait). Unset: the sender's default (5 minutes).
 * @throws ConfigError for a value that is not a duration from 0s to 7d.
 */
export function maxRateLimitPauseFrom(env: Env): number | undefined {
  const text = env.RK_MAX_RATE_LIMIT_PAUSE?.trim();
  if (text === undefined || text === '') return undefined;
  const ms = parseDurationText(text);
  if (ms === undefined || ms > 7 * 86_400_000) {
    throw new ConfigError(
      `RK_MAX_RATE_LIMIT_PAUSE: expected a duration from 0s to 7d, e.g. 5m or 2h, found ${JSON.stringify(text)}.`,
      'Fix or unset RK_MAX_RATE_LIMIT_PAUSE (unset: a run pauses at most 5 minutes for a 429, then stops with exit 12).',
    );
  }
  return ms;
}

/** Heartbeats per lease timeout: a runner misses five in a row before another may take its campaign over. */
const HEARTBEATS_PER_LEASE = 6;

/**
 * `RK_LEASE_TIMEOUT`: how long a campaign's run lock (lease) lives without a heartbeat before another runner, on
 * this machine or another, takes the campaign over (a duration from 1s to 1h; default 60s). Heartbeats come at a
 * sixth of it. A runner frozen longer than this finds its lease gone and stops that campaign (exit 15).
 * @throws ConfigError for a value that is not such a duration.
 */
export function leaseTimingFrom(env: Env): { leaseStaleMs?: number; heartbeatMs?: number } {
  const text = env.RK_LEASE_TIMEOUT?.trim();
  if (text === undefined || text === '') return {};
  const ms = parseDurationText(text);
  if (ms === undefined || ms < 1000 || ms > 3_600_000) {
    throw new ConfigError(
      `RK_LEASE_TIMEOUT: expected a duration from 1s to 1h, e.g. 30s or 2m, found ${JSON.stringify(text)}.`,
      'Fix or unset RK_LEASE_TIMEOUT (unset: a campaign whose runner stopped heartbeating is taken over after 60s).',
    );
  }
  return { leaseStaleMs: ms, heartbeatMs: Math.max(100, Math.floor(ms / HEARTBEATS_PER_LEASE)) };
}

/** Every setting from the environment that tunes a run, for `run` and `due` alike. */
export function runTuningFrom(env: Env): RunTuning {
  const backoff = retryBackoffFrom(env);
  const maxRateLimitPauseMs = maxRateLimitPauseFrom(env);
  const healthCheck = positiveInt(env, 'RK_HEALTH_CHECK_MS', 'the health breaker checks every 5000 ms');
  const healthRate = positiveInt(env, 'RK_HEALTH_RATE', 'at most 120 status calls a minute');
  return {
    ...(backoff ? { backoff } : {}),
    ...suppressionCheckFrom(env),
    ...(maxRateLimitPauseMs !== undefined ? { maxRateLimitPauseMs } : {}),
    // Issue 12: how often (default 5000 ms) and how fast (default 120/min, the sweep's rate) the health breaker asks.
    ...(healthCheck !== undefined || healthRate !== undefined
      ? { healthTuning: { ...(healthCheck !== undefined ? { checkEveryMs: healthCheck } : {}), ...(healthRate !== undefined ? { ratePerMinute: healthRate } : {}) } }
      : {}),
    ...leaseTimingFrom(env),
  };
}
