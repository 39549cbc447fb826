import { ConfigError, redact } from '../config/env.js';
import { safeText } from '../core/text.js';
import { EXIT } from '../core/exit-codes.js';
import { isRkError, type RkError } from '../rk/errors.js';
import { IngestError } from '../ingest/errors.js';
import { CampaignLockedError } from '../pipeline/run.js';
import { PlanChangedError, PlanInputError } from '../plan/planner.js';
import { TemplateError } from '../render/template.js';
import { ScheduleRefusedError } from '../schedule/gate.js';
import { MediaError } from '../rk/media.js';
import { InputError } from './input-error.js';
import { errLine, outLine, type CliIo } from './io.js';
import { isStoreError } from '../store/errors.js';
import { LeaseLostError } from '../store/types.js';

export { InputError };

/** What a failed command prints, in human or JSON form. */
export interface CliFailure {
  /** `auth`, `quota`, `validation`, ... for API errors; `config`, `media`, `input` or `internal` otherwise. */
  kind: string;
  /** The API's code, verbatim, when there was one. */
  code: string | null;
  message: string;
  hint: string;
  exitCode: number;
}

/** Exit code for an RK Connect failure: auth 3, quota 4, the API's validation 2, a device that cannot send 13, anything else 1. */
export function exitCodeForRkError(error: RkError): number {
  switch (error.kind) {
    case 'auth':
      return EXIT.auth;
    case 'quota':
      return EXIT.quota;
    case 'validation':
      return EXIT.invalidInput;
    case 'device':
      return EXIT.noDevice;
    default:
      return EXIT.internal;
  }
}

/** Turns anything a command may throw into what it prints and the exit code. */
export function describeFailure(error: unknown): CliFailure {
  if (error instanceof ScheduleRefusedError) {
    return {
      kind: 'schedule',
      code: error.refusal === 'late' ? 'TOO_LATE' : 'ENDED',
      message: error.message,
      hint: error.hint,
      exitCode: EXIT.scheduleRefused,
    };
  }
  if (isRkError(error)) {
    return { kind: error.kind, code: error.code ?? null, message: error.message, hint: error.hint, exitCode: exitCodeForRkError(error) };
  }
  if (error instanceof ConfigError) {
    return { kind: 'config', code: null, message: error.message, hint: error.hint, exitCode: EXIT.invalidInput };
  }
  if (error instanceof MediaError) {
    return { kind: 'media', code: null, message: error.message, hint: error.hint, exitCode: EXIT.invalidInput };
  }
  if (error instanceof IngestError || error instanceof TemplateError || error instanceof PlanInputError) {
    return { kind: 'input', code: null, message: error.message, hint: error.hint, exitCode: EXIT.invalidInput };
  }
  if (error instanceof PlanChangedError) {
    return {
      kind: 'plan_changed',
      code: null,
      message: error.message,
      hint:
        (error.foundWhileSending ? 'Nothing more was sent for this campaign. ' : 'Nothing was sent. ') +
        'To send the new version to the recipients not yet messaged, run again with --replan ' +
        '(messages already sent are never touched). To keep the old plan, restore the original files.',
      exitCode: EXIT.planChanged,
    };
  }
  if (error instanceof CampaignLockedError) {
    return {
      kind: 'locked',
      code: null,
      message: error.message,
      hint: 'Wait for it to finish (rk-broadcast status CAMPAIGN shows progress). If that process is gone, its lock is taken over automatically about a minute after its last heartbeat.',
      exitCode: EXIT.locked,
    };
  }
  if (error instanceof LeaseLostError) {
    return {
      kind: 'lease_lost',
      code: null,
      message: error.message,
      hint:
        'Nothing to fix if another runner took it over: it finishes the campaign (rk-broadcast status CAMPAIGN shows who). ' +
        'If this machine pauses or loses the database for long, raise RK_LEASE_TIMEOUT (default 60s).',
      exitCode: EXIT.leaseLost,
    };
  }
  if (isStoreError(error)) {
    // `code` is the taxonomy's kind (FULL, BUSY, CORRUPT, ...), documented with exit codes 10 and 11.
    const exitCode = error.temporary ? EXIT.storeUnavailable : EXIT.storeUnusable;
    return { kind: 'store', code: error.kind.toUpperCase(), message: error.message, hint: error.hint, exitCode };
  }
  if (error instanceof InputError) {
    return { kind: 'input', code: null, message: error.message, hint: error.hint, exitCode: EXIT.invalidInput };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    kind: 'internal',
    code: null,
    message: `Unexpected error: ${message}`,
    hint: 'This is a bug in rk-broadcast; please report it with the command you ran (without secrets).',
    exitCode: EXIT.internal,
  };
}

/**
 * Prints a failure, every text redacted against `secrets`: with `json`, one object `{ ok: false, error, ...extra }`
 * on stdout; otherwise the message, the API's code and the hint on stderr, followed by `notes`.
 */
export function printFailure(
  io: CliIo,
  command: string,
  failure: CliFailure,
  options: { json: boolean; secrets: readonly string[]; extra?: Record<string, unknown>; notes?: readonly string[] },
): void {
  const clean = (text: string) => safeText(redact(text, options.secrets), 20_000, { keepNewlines: true });
  if (options.json) {
    const error = { kind: failure.kind, code: failure.code, message: clean(failure.message), hint: clean(failure.hint) };
    outLine(io, JSON.stringify({ ok: false, error, ...options.extra }));
    return;
  }
  errLine(io, `rk-broadcast ${command}: ${clean(failure.message)}`);
  if (failure.code !== null) errLine(io, `  code: ${clean(failure.code)}`);
  errLine(io, `  hint: ${clean(failure.hint)}`);
  for (const note of options.notes ?? []) errLine(io, `  ${clean(note)}`);
}

