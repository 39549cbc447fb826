import type { Argv } from 'yargs';
import { parseDurationText } from '../core/duration.js';
import { InputError } from './input-error.js';

/**
 * Flags shared by the commands, defined once, and the reading of flag values. This module is loaded for `--help`
 * and `--version`: it imports nothing heavy.
 */

/** `--db`: every command that reads or writes the state database. */
export interface DbFlag {
  db?: string;
}

/** The output flags of the commands that run stages and render their events (`run`, `sweep`, `due`). */
export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
}

/** Adds `--db`, with what it is for. */
export function withDbFlag(y: Argv, describe = 'State database (default: $RK_BROADCAST_DB, else .rk-broadcast/state.db)'): Argv {
  return y.option('db', { type: 'string', describe });
}

/** Adds `--json`, with what it prints. */
export function withJsonFlag(y: Argv, describe = 'Emit NDJSON events on stdout instead of human output'): Argv {
  return y.option('json', { type: 'boolean', default: false, describe });
}

/** Flags of the commands that run stages (`run`, `sweep`, `due`): database and every output flag. */
export function withCommonFlags(y: Argv): Argv {
  return withJsonFlag(withDbFlag(y))
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'Only warnings, errors and the summary' })
    .option('verbose', { type: 'boolean', describe: 'Also show retries and details' })
    .option('log-file', { type: 'string', describe: 'Also append every event as NDJSON to this file (for unattended runs)' })
    .conflicts('quiet', 'verbose');
}

/**
 * A yargs check that each of `flags` (camelCase keys), when given, is a whole number of at least `min` (default 1;
 * per flag in `minimum`).
 */
export function wholeNumbers(flags: readonly string[], minimum: Readonly<Record<string, number>> = {}) {
  return (a: Record<string, unknown>): true => {
    for (const k of flags) {
      const v = a[k] as number | undefined;
      const min = minimum[k] ?? 1;
      if (v !== undefined && (!Number.isInteger(v) || v < min)) {
        throw new Error(`--${k} must be a whole number${min === 0 ? '' : ` of at least ${min}`}, found ${String(v)}`);
      }
    }
    return true;
  };
}

/**
 * A duration flag (`--timeout 30m`) in milliseconds; undefined when not given. Anything that is not a positive
 * duration is bad input (exit 2) naming the flag, with `example` as the hint.
 */
export function parseDurationFlag(flag: string, text: string | undefined, example: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationText(text);
  if (ms !== undefined && ms > 0) return ms;
  throw new InputError(`${flag} expects a duration such as 30m, 2h or 1h30m; found "${text}".`, `e.g. ${example}`);
}
