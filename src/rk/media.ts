import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { formatSize } from '../core/size.js';
import type { MediaFile, MessageType } from './types.js';

/** A media message type (everything but `text`). */
export type MediaType = Exclude<MessageType, 'text'>;

/** A media file that cannot be sent: names the file, what was expected and what was found. */
export class MediaError extends Error {
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint: string,
    /** The path as given. */
    readonly file: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/**
 * The largest file sent per message type unless the campaign's `media_max_size` says otherwise. The RK Connect
 * documentation states no limit; these are WhatsApp's own (image 5 MB, video and audio 16 MB, document 100 MB),
 * which a WhatsApp gateway cannot exceed. Binary megabytes (1 MB = 1,048,576 bytes).
 */
export const DEFAULT_MEDIA_MAX_BYTES: Readonly<Record<MediaType, number>> = Object.freeze({
  image: 5 * 1024 ** 2,
  video: 16 * 1024 ** 2,
  audio: 16 * 1024 ** 2,
  document: 100 * 1024 ** 2,
});

/** One format RK Connect accepts. */
interface AcceptedFormat {
  /** The name used in messages and as the canonical extension. */
  name: string;
  /** The message type this format may be sent as. */
  type: MediaType;
  /** MIME type sent in the multipart part. */
  contentType: string;
  /** File extensions that already fit this format (lower case, without dot). */
  extensions: readonly string[];
}

/** The documented list: jpeg, png, webp, pdf, doc, docx, mp4, mp3, ogg. */
const ACCEPTED: readonly AcceptedFormat[] = [
  { name: 'jpeg', type: 'image', contentType: 'image/jpeg', extensions: ['jpg', 'jpeg', 'jpe', 'jfif'] },
  { name: 'png', type: 'image', contentType: 'image/png', extensions: ['png'] },
  { name: 'webp', type: 'image', contentType: 'image/webp', extensions: ['webp'] },
  { name: 'pdf', type: 'document', contentType: 'application/pdf', extensions: ['pdf'] },
  { name: 'doc', type: 'document', contentType: 'application/msword', extensions: ['doc'] },
  {
    name: 'docx',
    type: 'document',
    contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    extensions: ['docx'],
  },
  { name: 'mp4', type: 'video', contentType: 'video/mp4', extensions: ['mp4'] },
  { name: 'mp3', type: 'audio', contentType: 'audio/mpeg', extensions: ['mp3'] },
  { name: 'ogg', type: 'audio', contentType: 'audio/ogg', extensions: ['ogg', 'oga', 'opus'] },
];

/** Human names for formats people commonly try to send, for error messages. */
const DESCRIPTIONS: Record<string, string> = {
  gif: 'a GIF image',
  jpg: 'a JPEG image',
  png: 'a PNG image',
  webp: 'a WebP image',
  bmp: 'a BMP image',
  tif: 'a TIFF image',
  heic: 'a HEIC image',
  avif: 'an AVIF image',
  svg: 'an SVG image',
  pdf: 'a PDF document',
  docx: 'a Word document (docx)',
  doc: 'a Word 97-2003 document (doc)',
  xlsx: 'an Excel workbook (xlsx)',
  pptx: 'a PowerPoint presentation (pptx)',
  cfb: 'a Microsoft compound file (xls, ppt, msi or similar, not a .doc)',
  zip: 'a ZIP archive',
  mp4: 'an MP4 video',
  mov: 'a QuickTime video',
  m4v: 'an M4V video',
  webm: 'a WebM video',
  '3gp': 'a 3GP video',
  mkv: 'a Matroska video',
  mp3: 'an MP3 audio file',
  m4a: 'an M4A audio file',
  wav: 'a WAV audio file',
  aac: 'an AAC audio file',
  flac: 'a FLAC audio file',
  opus: 'an Ogg Opus audio file',
  ogg: 'an Ogg Vorbis audio file',
  oga: 'an Ogg audio file',
  ogv: 'an Ogg video',
};

/** Formats accepted for one message type, e.g. `jpeg, png or webp`. */
function acceptedFor(type: MediaType): string {
  const names = ACCEPTED.filter((f) => f.type === type).map((f) => f.name);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : (names[0] ?? '');
}

/** Maps what file-type found onto an accepted format, if it is one. */
function acceptedFormat(detectedExt: string, detectedMime: string, fileExt: string): AcceptedFormat | undefined {
  const byName = (name: string) => ACCEPTED.find((f) => f.name === name);
  if (detectedExt === 'jpg') return byName('jpeg');
  // file-type reports a legacy Word file only as its container (cfb); the extension tells a .doc from an .xls.
  if (detectedExt === 'cfb') return fileExt === 'doc' ? byName('doc') : undefined;
  // Ogg Vorbis, Opus, FLAC-in-Ogg and Speex all carry `audio/ogg`; Ogg video does not.
  if (detectedMime.startsWith('audio/ogg')) return byName('ogg');
  return byName(detectedExt);
}

/**
 * Reads a media file and checks, by its content (not its name), that RK Connect accepts it for `type`:
 * jpeg, png or webp for `image`; pdf, doc or docx for `document`; mp4 for `video`; mp3 or ogg for `audio`.
 * Call it once before sending; the result (the file's one copy in memory) can be sent to any number of recipients.
 *
 * The size is checked first, from the file system, so an oversized file is refused before it is read or sent:
 * at most `maxBytes`, by default `DEFAULT_MEDIA_MAX_BYTES[type]`.
 *
 * @throws MediaError when the file is missing, too large, empty, of an unknown or unaccepted format, or of a
 *   format that belongs to another message type (a pdf sent as `image`).
 */
export async function loadMedia(path: string, type: MediaType, maxBytes?: number): Promise<MediaFile> {
  const limit = maxBytes ?? DEFAULT_MEDIA_MAX_BYTES[type];
  const tooLarge = (size: number): MediaError =>
    new MediaError(
      `${path} is ${formatSize(size)} (${size.toLocaleString('en-US')} bytes); the limit for type "${type}" is ` +
        `${formatSize(limit)} (${limit.toLocaleString('en-US')} bytes${maxBytes === undefined ? ', the default' : ', media_max_size'}). Nothing was sent.`,
      'Send a smaller file (compress it, or share a link in the text instead). If RK Connect accepts larger files for ' +
        `your project, raise media_max_size in the campaign file, e.g. media_max_size: ${Math.ceil(size / 1024 ** 2)}MB.`,
      path,
    );
  let data: Buffer;
  try {
    const info = await stat(path);
    // A FIFO or device would block the read (or never end): only a regular file is ever opened.
    if (!info.isFile()) {
      throw new MediaError(
        `${path}: is a ${info.isDirectory() ? 'directory' : info.isFIFO() ? 'named pipe (FIFO)' : 'device or socket'}, not a file. Expected a ${acceptedFor(type)} file for type "${type}".`,
        'Point media at the file itself.',
        path,
      );
    }
    if (info.size > limit) throw tooLarge(info.size); // before reading a byte of it
    data = await readFile(path);
    // The file may have grown since stat.
    if (data.length > limit) throw tooLarge(data.length);
  } catch (cause) {
    if (cause instanceof MediaError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read (${code ?? String(cause)})`;
    throw new MediaError(
      `${path}: ${what}. Expected a ${acceptedFor(type)} file for type "${type}".`,
      'Check the path (relative paths are resolved against the campaign file, or the working directory for `send`).',
      path,
    );
  }
  if (data.length === 0) {
    throw new MediaError(
      `${path} is empty (0 bytes); RK Connect accepts ${acceptedFor(type)} for type "${type}".`,
      'Export the file again; an empty file cannot be sent.',
      path,
    );
  }

  // Loaded on first use: a text campaign never needs it (~70 ms of start-up).
  const { fileTypeFromBuffer } = await import('file-type');
  const format = judgeMediaFormat(path, type, await fileTypeFromBuffer(data));
  const fileExt = extname(path).slice(1).toLowerCase();
  // Keep the user's file name (recipients see it for documents), but make its extension agree with the content.
  const name = basename(path);
  const filename = format.extensions.includes(fileExt) ? name : `${name}.${format.extensions[0]}`;
  return { filename, contentType: format.contentType, data };
}

/**
 * Checks what file-type detected in a file's content against `type` (the checks of `loadMedia`, shared with the
 * per-row check at plan time, which sniffs only the file's first bytes) and returns the accepted format.
 * @throws MediaError naming the file, what it is and what `type` accepts.
 */
export function judgeMediaFormat(
  path: string,
  type: MediaType,
  detected: { ext: string; mime: string } | undefined,
): { name: string; type: MediaType; contentType: string; extensions: readonly string[] } {
  const fileExt = extname(path).slice(1).toLowerCase();
  if (!detected) {
    throw new MediaError(
      `${path} is not a recognisable media file (its content matches no known format, e.g. plain text); RK Connect accepts ${acceptedFor(type)} for type "${type}".`,
      `Use a real ${acceptedFor(type)} file; renaming a file does not change its format.`,
      path,
    );
  }

  const format = acceptedFormat(detected.ext, detected.mime, fileExt);
  const found = `${DESCRIPTIONS[detected.ext] ?? `a ${detected.ext.toUpperCase()} file`} (${detected.mime})`;
  if (!format) {
    throw new MediaError(
      `${path} is ${found}; RK Connect accepts ${acceptedFor(type)} for type "${type}".`,
      `Convert it to ${acceptedFor(type)} first.`,
      path,
    );
  }
  if (format.type !== type) {
    throw new MediaError(
      `${path} is ${found}; RK Connect accepts ${acceptedFor(type)} for type "${type}".`,
      `Send it as type "${format.type}", or use a ${acceptedFor(type)} file for type "${type}".`,
      path,
    );
  }

  return format;
}
