import { Writable } from 'node:stream';
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
  /**
   * Ends the process at once with a code: given by the launcher (`bin/rk-broadcast.js`) and used only on a second
   * stop signal, when what is in flight must not be waited for. Left out in-process (tests): the command is
   * aborted and returns instead.
   */
  exit?: (code: number) => void;
}

/** Writes one line to stderr. */
export function errLine(io: CliIo, text = ''): void {
  io.stderr.write(text + '\n');
}

/** Writes one line to stdout. */
export function outLine(io: CliIo, text = ''): void {
  io.stdout.write(text + '\n');
}

/** The same io, with every stderr line prefixed (stdout stays clean for NDJSON). */
export function prefixedIo(io: CliIo, prefix: string): CliIo {
  let atLineStart = true;
  const stderr = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = chunk.toString();
      let out = '';
      for (const ch of text.split(/(?<=\n)/)) {
        if (ch === '') continue;
        out += (atLineStart ? prefix : '') + ch;
        atLineStart = ch.endsWith('\n');
      }
      io.stderr.write(out);
      callback();
    },
  });
  return { ...io, stderr };
}
