import cliProgress from 'cli-progress';
import { formatDuration } from '../core/duration.js';
import { safeText } from '../core/text.js';
import type { OutputFlags } from './flags.js';
import type { CliIo } from './io.js';
import { openLogFile as openSafeLogFile } from './log-file.js';

// JSON.stringify escapes C0 controls itself; C1 controls and bidi overrides are escaped too (the same JSON value).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const escapeJsonChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** How a command shows what the stages do. */
export type OutputMode = 'tty' | 'log' | 'json';

/** Verbosity chosen with --quiet / --verbose. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

/** Any stage event: a discriminated union member with a `type`. */
export interface StageEvent {
  type: string;
}

/** Picks the mode: NDJSON with --json, a progress bar on a terminal, log lines otherwise (cron, CI, pipes). */
export function chooseMode(io: CliIo, json: boolean): OutputMode {
  if (json) return 'json';
  return io.stderr.isTTY && !io.env.CI ? 'tty' : 'log';
}

/** Whether colour is wanted: a terminal, and no NO_COLOR (https://no-color.org). */
export function useColor(io: CliIo): boolean {
  return Boolean(io.stderr.isTTY) && (io.env.NO_COLOR === undefined || io.env.NO_COLOR === '');
}

/** The numbers a progress line shows. */
export interface ProgressView {
  done: number;
  total: number;
  accepted: number;
  failed: number;
  rejected: number;
  ratePerMinute: number;
  etaMs: number;
  label: string;
  /** Word before `accepted` (default `sent`); the sweep shows `delivered`. */
  acceptedLabel?: string;
}

/**
 * Turns stage events into what a person (or a program) sees: one NDJSON line per event with --json; a live bar on
 * a TTY; a log line every few seconds otherwise. Human text goes to stderr so stdout stays clean for data.
 */
export class EventOutput {
  private bar: cliProgress.SingleBar | undefined;
  private lastLogAt = 0;
  private readonly logEveryMs: number;
  private readonly logFile: NodeJS.WritableStream | undefined;

  constructor(
    private readonly io: CliIo,
    readonly mode: OutputMode,
    private readonly verbosity: Verbosity = 'normal',
    options: { logEveryMs?: number; logFile?: NodeJS.WritableStream } = {},
  ) {
    this.logEveryMs = options.logEveryMs ?? 5_000;
    this.logFile = options.logFile;
  }

  /** Writes one event as NDJSON (json mode) and to the log file, if any. */
  json(event: StageEvent): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...event }).replace(UNSAFE_IN_JSON, escapeJsonChar) + '\n';
    if (this.mode === 'json') this.io.stdout.write(line);
    this.logFile?.write(line);
  }

  /** A line for people: stderr, above the bar if one is showing. Suppressed by --quiet unless `important`. */
  line(raw: string, level: 'info' | 'important' | 'debug' = 'info'): void {
    if (this.mode === 'json') return;
    const text = safeText(raw, 20_000, { keepNewlines: true }); // no escape sequence from any source reaches the terminal
    if (level === 'debug' && this.verbosity !== 'verbose') return;
    if (level === 'info' && this.verbosity === 'quiet') return;
    if (this.bar) {
      this.bar.stop();
      this.io.stderr.write(text + '\n');
      this.bar.start(this.barTotal, this.barValue, this.barPayload);
    } else {
      this.io.stderr.write(text + '\n');
    }
  }

  private barTotal = 0;
  private barValue = 0;
  private barPayload: Record<string, unknown> = {};

  /** Shows progress: updates the bar, or logs a line at most every few seconds (always when `force`). */
  progress(view: ProgressView, force = false): void {
    if (this.mode === 'json') return;
    const payload = {
      accepted: view.accepted,
      failed: view.failed + view.rejected,
      rate: view.ratePerMinute.toFixed(1),
      etaText: formatDuration(view.etaMs),
      label: view.label,
      acceptedLabel: view.acceptedLabel ?? 'sent',
    };
    if (this.mode === 'tty' && this.verbosity !== 'quiet') {
      this.barTotal = view.total;
      this.barValue = view.done;
      this.barPayload = payload;
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            stream: this.io.stderr as NodeJS.WriteStream,
            format:
              '{label} {bar} {value}/{total} | {acceptedLabel} {accepted} | failed {failed} | {rate}/min | ETA {etaText}',
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(view.total, view.done, payload);
      } else {
        this.bar.setTotal(view.total);
        this.bar.update(view.done, payload);
      }
      return;
    }
    const now = Date.now();
    if (!force && now - this.lastLogAt < this.logEveryMs) return;
    this.lastLogAt = now;
    const stamp = new Date().toISOString().slice(11, 19);
    this.line(
      `[${stamp}] ${view.label}: ${view.done}/${view.total} | ${payload.acceptedLabel} ${view.accepted} | failed ${payload.failed} | ${payload.rate}/min | ETA ${payload.etaText}`,
    );
  }

  /** Removes the bar, leaving its last state on screen. */
  stopProgress(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }
}

/** The verbosity the flags ask for. */
export function verbosityOf(args: OutputFlags): Verbosity {
  return args.quiet ? 'quiet' : args.verbose ? 'verbose' : 'normal';
}

/**
 * Opens `--log-file` for appending (0600, tightened if looser), or undefined without the flag. A log that cannot be
 * written (disk full) warns once on stderr and stops logging; it never stops the command.
 */
export function openLogFile(path: string | undefined, io: CliIo): NodeJS.WritableStream | undefined {
  return path ? openSafeLogFile(path, (text) => io.stderr.write(text + '\n')) : undefined;
}

/** Builds the output for a command from its flags. */
export function outputFor(args: OutputFlags, io: CliIo): EventOutput {
  const logFile = openLogFile(args.logFile, io);
  return new EventOutput(io, chooseMode(io, args.json === true), verbosityOf(args), logFile ? { logFile } : {});
}
