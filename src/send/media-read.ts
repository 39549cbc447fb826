/**
 * Reads each row's own media file when the row is sent (issue 11), and refuses bytes other than the ones planned:
 * the file is read, re-hashed and compared with the SHA-256 the plan recorded. A changed or vanished file stops
 * the campaign with `MediaChangedError` (exit 5, as a changed CSV); `--replan` records the new hashes.
 *
 * Memory stays flat: files are read one at a time, and the bytes of files in flight are bounded by a budget
 * (a request holds its file until it is answered, since the body is signed and sent whole).
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { PlanChangedError } from '../plan/planner.js';
import { loadMedia, MediaError, type MediaType } from '../rk/media.js';
import type { MediaFile } from '../rk/types.js';
import type { OutgoingMessage } from '../store/types.js';

/** A row's file changed (or went away) between planning and sending. */
export class MediaChangedError extends PlanChangedError {
  override readonly foundWhileSending = true;

  constructor(
    /** The files, relative to the campaign folder. */
    readonly files: string[],
    detail: string,
  ) {
    super(['media'], detail);
    this.name = 'MediaChangedError';
  }
}

/** A row's media, read and checked; `release` gives its bytes back to the budget once the request settled. */
export interface RowMedia {
  media: MediaFile;
  release: () => void;
}

/** Returns the row's media, or undefined when the row has none; throws MediaChangedError. */
export type RowMediaReader = (msg: OutgoingMessage) => Promise<RowMedia | undefined>;

/** Bytes of per-row files held in memory at once, by default (one file always fits, however large). */
export const DEFAULT_MEDIA_BUDGET_BYTES = 32 * 1024 ** 2;

/** The reader of one campaign's per-row files. */
export function createRowMediaReader(options: {
  baseDir: string;
  type: MediaType;
  maxBytes: number | undefined;
  budgetBytes?: number;
}): RowMediaReader {
  const budget = options.budgetBytes ?? DEFAULT_MEDIA_BUDGET_BYTES;
  let held = 0;
  let reading: Promise<unknown> = Promise.resolve();
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  return async (msg) => {
    if (!msg.mediaFile || !msg.mediaSha256) return undefined;
    const file = msg.mediaFile;
    const planned = msg.mediaSha256;
    const abs = isAbsolute(file) ? file : resolve(options.baseDir, file);
    // One read at a time: the previous one finishes before this one starts.
    const turn = reading.then(async (): Promise<RowMedia> => {
      // Wait until the bytes in flight leave room (one file alone is always let through).
      while (held > 0 && held >= budget) await new Promise<void>((r) => waiters.push(r));
      let media: MediaFile;
      try {
        media = await loadMedia(abs, options.type, options.maxBytes);
      } catch (e) {
        const problem = e instanceof MediaError ? e.message : String(e);
        throw new MediaChangedError(
          [file],
          `The media file ${file} (line ${msg.line}) cannot be sent as planned: ${problem} Messages already sent stay sent; nothing else was sent for this campaign after it.`,
        );
      }
      const sha = createHash('sha256').update(media.data).digest('hex');
      if (sha !== planned) {
        throw new MediaChangedError(
          [file],
          `The media file ${file} (line ${msg.line}) changed after planning (SHA-256 was ${planned.slice(0, 12)}…, is ${sha.slice(0, 12)}…), ` +
            'so it was not sent with other bytes than planned. Messages already sent stay sent.',
        );
      }
      const size = media.data.length;
      held += size;
      let released = false;
      return {
        media,
        release: () => {
          if (released) return;
          released = true;
          held -= size;
          wake();
        },
      };
    });
    reading = turn.catch(() => undefined);
    return turn;
  };
}
