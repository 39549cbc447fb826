import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { DEFAULT_BASE_URL } from '../rk/signing.js';

/** The environment as a plain read-only map (tests pass their own; only the CLI reads `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads `.env` from `cwd` (if present) under the real environment: variables already set win, so a cron line's
 * `RK_API_KEY=... rk-broadcast run` overrides the file.
 */
export function loadEnv(processEnv: Env, cwd: string): Env {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return processEnv;
  const fromFile = parseDotenv(readFileSync(file));
  return { ...fromFile, ...processEnv };
}

/** Credentials and endpoint for one RK Connect project. */
export interface ApiCredentials {
  apiKey: string;
  apiSecret: string;
  baseUrl: string;
}

/** A configuration problem found at the edge: names the key, what was expected and what was found. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint: string,
    /** The file it concerns, if any. */
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Resolves credentials from the environment. `names` lets a campaign point at other variables
 * (`api_key_env`, `api_secret_env`) for teams with several projects; values never come from campaign files.
 */
export function resolveCredentials(
  env: Env,
  names: { apiKeyEnv?: string | undefined; apiSecretEnv?: string | undefined } = {},
): ApiCredentials {
  const keyVar = names.apiKeyEnv ?? 'RK_API_KEY';
  const secretVar = names.apiSecretEnv ?? 'RK_API_SECRET';
  const apiKey = env[keyVar]?.trim();
  const apiSecret = env[secretVar]?.trim();
  const missing = [!apiKey && keyVar, !apiSecret && secretVar].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError(
      `Missing environment variable${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}: expected the RK Connect project's API key and secret, found nothing.`,
      `Set them in the environment or in a .env file in the working directory, e.g.\n  ${keyVar}=your_api_key\n  ${secretVar}=your_api_secret`,
    );
  }
  const baseUrl = (env.RK_BASE_URL?.trim() || DEFAULT_BASE_URL).replace(/\/+$/, '');
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('protocol');
  } catch {
    throw new ConfigError(
      `RK_BASE_URL is not a valid http(s) URL: found "${baseUrl}".`,
      `Use the API's base URL, e.g. ${DEFAULT_BASE_URL}`,
    );
  }
  return { apiKey: apiKey as string, apiSecret: apiSecret as string, baseUrl };
}

/**
 * Replaces every occurrence of the given secrets in `text` with a marker. Used on anything that may be printed
 * or stored (error messages, logs, reports).
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out;
}
