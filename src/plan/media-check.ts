/**
 * Per-recipient media (issue 11): `media: "invoices/{{customer_id}}.pdf"` names each row's own file. At plan
 * time every row's file is checked here, cheaply (realpath, stat, the first bytes for the type, one streamed
 * pass for the SHA-256), once per distinct path however many rows share it. The sender reads and re-hashes each
 * file when its row is sent (src/send/media-read.ts).
 */
import { createHash } from 'node:crypto';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Campaign } from '../config/campaign.js';
import { formatSize } from '../core/size.js';
import { safeText } from '../core/text.js';
import { describeNonFile, describeOpenError } from '../ingest/file-kind.js';
import { DEFAULT_MEDIA_MAX_BYTES, judgeMediaFormat, MediaError, type MediaType } from '../rk/media.js';

/** What the check found for one file. `file` is the path relative to the campaign folder, with `/`. */
export type MediaCheck = { ok: true; file: string; sha256: string } | { ok: false; file: string; reason: string };

/** Distinct paths remembered; past it the cache starts again (memory stays flat for any number of files). */
const CACHE_LIMIT = 20_000;
/** Bytes read for the type sniff; a zip-based format (docx) that needs more is sniffed again from the file. */
const SNIFF_BYTES = 64 * 1024;

/** The path of `abs` as the user sees it: relative to the campaign folder, with `/`. */
export function mediaDisplayPath(baseDir: string, abs: string): string {
  const rel = relative(baseDir, abs);
  return (rel === '' ? abs : rel).split(sep).join('/');
}

/** Whether `path` is `dir` or inside it (both already absolute and normalised). */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  // `..` or `../x` leaves the folder; a name that merely starts with two dots (`..old/x.pdf`) does not.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Checks the per-row files of one campaign, caching per distinct path. */
export class MediaChecker {
  private readonly cache = new Map<string, Promise<MediaCheck>>();
  private readonly limit: number;
  private readonly realBase: Promise<string>;
  /** Read buffer, reused: checks run one after another (the planner awaits each row). */
  private buffer: Buffer | undefined;

  constructor(
    private readonly options: {
      baseDir: string;
      type: MediaType;
      /** `media_max_size`; undefined: the type's default. */
      maxBytes: number | undefined;
      /** `media_outside_folder: true`. */
      outsideAllowed: boolean;
    },
  ) {
    this.limit = options.maxBytes ?? DEFAULT_MEDIA_MAX_BYTES[options.type];
    this.realBase = realpath(options.baseDir).catch(() => options.baseDir);
  }

  /** The checker of a campaign with a per-row `media`, or undefined. */
  static of(campaign: Campaign): MediaChecker | undefined {
    if (campaign.mediaTemplate === undefined || campaign.type === 'text') return undefined;
    return new MediaChecker({
      baseDir: campaign.baseDir,
      type: campaign.type,
      maxBytes: campaign.mediaMaxBytes,
      outsideAllowed: campaign.mediaOutsideFolder === true,
    });
  }

  /** Checks the file a row's rendered `media` names (relative to the campaign folder, or absolute). */
  check(rendered: string): Promise<MediaCheck> {
    const abs = isAbsolute(rendered) ? resolve(rendered) : resolve(this.options.baseDir, rendered);
    let result = this.cache.get(abs);
    if (!result) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      result = this.checkUncached(abs);
      this.cache.set(abs, result);
    }
    return result;
  }

  private async checkUncached(abs: string): Promise<MediaCheck> {
    const { type, baseDir, outsideAllowed } = this.options;
    const file = safeText(mediaDisplayPath(baseDir, abs), 300);
    const bad = (problem: string): MediaCheck => ({ ok: false, file, reason: `media file ${file}${problem.startsWith('is ') ? ' ' : ': '}${problem}` });
    if (!outsideAllowed && !inside(baseDir, abs)) {
      return bad('is outside the campaign folder; keep the files in the folder of the campaign file, or set media_outside_folder: true');
    }
    let real: string;
    try {
      real = await realpath(abs);
    } catch (e) {
      return bad(describeOpenError(e) === 'not found' ? 'no such file' : describeOpenError(e));
    }
    if (!outsideAllowed && !inside(await this.realBase, real)) {
      return bad(`is a link to ${safeText(real, 300)}, outside the campaign folder; copy the file into the folder, or set media_outside_folder: true`);
    }
    let size: number;
    try {
      const info = await stat(real);
      const kind = describeNonFile(info);
      if (kind !== undefined) return bad(`is ${kind}, not a file`);
      size = info.size;
    } catch (e) {
      return bad(describeOpenError(e));
    }
    if (size === 0) return bad('is empty (0 bytes)');
    if (size > this.limit) {
      return bad(
        `is ${formatSize(size)} (${size.toLocaleString('en-US')} bytes); the limit for type "${type}" is ${formatSize(this.limit)} ` +
          `(${this.limit.toLocaleString('en-US')} bytes${this.options.maxBytes === undefined ? ', the default' : ', media_max_size'})`,
      );
    }
    const hash = createHash('sha256');
    // One handle and one reused buffer: a stream per file costs more than the read itself for small files.
    const buffer = (this.buffer ??= Buffer.allocUnsafe(SNIFF_BYTES));
    let handle: FileHandle | undefined;
    try {
      handle = await open(real, 'r');
      let read = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        const bytes = buffer.subarray(0, bytesRead);
        if (read === 0) {
          // Loaded on first use: a campaign without media (and a resume's start-up) never needs it (~70 ms).
          const { fileTypeFromBuffer, fileTypeFromFile } = await import('file-type');
          let detected = await fileTypeFromBuffer(bytes);
          if ((detected === undefined || detected.ext === 'zip' || detected.ext === 'cfb') && size > bytesRead) {
            detected = (await fileTypeFromFile(real)) ?? detected;
          }
          judgeMediaFormat(file, type, detected);
        }
        read += bytesRead;
        if (read > this.limit) return bad(`grew past the limit of ${formatSize(this.limit)} while it was read`);
        hash.update(bytes);
        if (bytesRead < buffer.length) break; // a short read of a regular file: its end
      }
    } catch (e) {
      if (e instanceof MediaError) {
        // The message starts with the file's name already.
        return { ok: false, file, reason: `media file ${e.message.replace(/ Nothing was sent\.$/, '')}` };
      }
      return bad(describeOpenError(e));
    } finally {
      await handle?.close();
    }
    return { ok: true, file, sha256: hash.digest('hex') };
  }
}
