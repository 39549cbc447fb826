import type { Env } from '../config/env.js';

/**
 * What a command may touch of the outside world. The CLI builds it from the process; nothing below `src/cli`
 * sees it.
 */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Environment after `.env` is merged in (real variables win). */
  env: Env;
  cwd: string;
}

/** Writes one line to stderr. */
export function errLine(io: CliIo, text = ''): void {
  io.stderr.write(text + '\n');
}

/** Writes one line to stdout. */
export function outLine(io: CliIo, text = ''): void {
  io.stdout.write(text + '\n');
}
