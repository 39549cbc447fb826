// Text encodings of input CSVs. Spreadsheet programs write "CSV" in the Windows character set (Windows-1252) and
// "Unicode text" as UTF-16LE with a byte-order mark; Google Sheets and "CSV UTF-8" write UTF-8. Only what can be
// told apart reliably is detected: a byte-order mark, or else UTF-8 checked strictly byte by byte. Anything else
// must be declared (`recipients.encoding`); a file that does not decode is refused, never read with U+FFFD.
//
// Decoding is a Transform between the file and csv-parse, so it streams: UTF-8 passes through untouched after
// a native validity check (`buffer.isUtf8`); other encodings are decoded chunk by chunk and re-encoded as UTF-8
// for csv-parse. Node's own TextDecoder is not used for Windows-1252: from Node 20.18.3 / 22.13.0 it decodes it
// as ISO-8859-1 (bytes 0x80-0x9F come out as C1 controls instead of € – “ ” …; nodejs/node#60888), so that
// goes through iconv-lite, and UTF-16 through Buffer's native utf16le conversion plus a well-formedness check.
import { isAscii, isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import iconv from 'iconv-lite';
import { IngestError } from './errors.js';
import { excerpt } from './excerpt.js';

/** The encodings an input CSV can be read in. */
export const TEXT_ENCODINGS = ['utf-8', 'windows-1252', 'utf-16le', 'utf-16be'] as const;

/** An encoding an input CSV can be read in. */
export type TextEncoding = (typeof TEXT_ENCODINGS)[number];

/**
 * The values `recipients.encoding` accepts (lower case), and what each means. `latin1` and `iso-8859-1` are read
 * as Windows-1252, their superset, as browsers do (WHATWG Encoding): files labelled Latin-1 almost always hold
 * Windows-1252 punctuation such as – “ ” €. `auto` is the default: a byte-order mark, else UTF-8.
 */
export const ENCODING_LABELS: Readonly<Record<string, TextEncoding | 'auto'>> = {
  auto: 'auto',
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  latin1: 'windows-1252',
  'iso-8859-1': 'windows-1252',
  'utf-16le': 'utf-16le',
  'utf-16': 'utf-16le',
  'utf-16be': 'utf-16be',
};

/** How each encoding is named in messages. */
export const ENCODING_NAMES: Readonly<Record<TextEncoding, string>> = {
  'utf-8': 'UTF-8',
  'windows-1252': 'Windows-1252',
  'utf-16le': 'UTF-16LE',
  'utf-16be': 'UTF-16BE',
};

/** How one file is to be decoded, as decided from its first bytes and the campaign. */
export interface Decoding {
  encoding: TextEncoding;
  /** `bom`: the file starts with a byte-order mark; `declared`: the campaign says so; `default`: UTF-8. */
  source: 'bom' | 'declared' | 'default';
  /** For the encoding error's hint: the key that declares the encoding, when the file has one. */
  key?: string | undefined;
  /**
   * Invalid UTF-8 switches to Windows-1252 instead of failing. Only for files of which nothing but ASCII is used
   * (suppression lists: digits, `+ - ( ) .`, delimiters, quotes, line breaks), which read the same in both.
   */
  lenient?: boolean;
}

/** The byte-order mark at the start of `bytes`, if any. A BOM is decisive: it wins over a declared encoding. */
export function detectBom(bytes: Uint8Array): { encoding: TextEncoding; length: number } | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/**
 * Which byte order UTF-16 text without a BOM has, judged from where its NUL bytes are: text with ASCII digits
 * and letters has a NUL in the high byte of most code units. Undefined when it does not look like UTF-16.
 */
export function guessUtf16(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const n = Math.min(bytes.length, 4096) & ~1;
  if (n < 4) return undefined;
  let even = 0;
  let odd = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) even++;
    if (bytes[i + 1] === 0) odd++;
  }
  const units = n / 2;
  if (odd >= units * 0.3 && even <= units * 0.05) return 'utf-16le';
  if (even >= units * 0.3 && odd <= units * 0.05) return 'utf-16be';
  return undefined;
}

/** Decodes the start of a file leniently, for sniffing the header line (errors are caught while streaming). */
export function decodeLenient(bytes: Buffer, encoding: TextEncoding): string {
  switch (encoding) {
    case 'utf-8':
      return bytes.toString('utf8');
    case 'windows-1252':
      return iconv.decode(bytes, 'windows-1252');
    case 'utf-16le':
      return bytes.subarray(0, bytes.length & ~1).toString('utf16le');
    case 'utf-16be':
      return Buffer.from(bytes.subarray(0, bytes.length & ~1)).swap16().toString('utf16le');
  }
}

/** What went wrong decoding a file, at which byte. */
export type DecodeProblem = 'invalid-utf-8' | 'not-windows-1252' | 'looks-utf-8' | 'invalid-utf-16' | 'truncated-utf-16';

/** A file that does not decode in its encoding; `offset` is the file offset of the first bad byte. */
export class DecodeError extends Error {
  constructor(
    readonly problem: DecodeProblem,
    readonly offset: number,
  ) {
    super(`${problem} at byte ${offset}`);
    this.name = 'DecodeError';
  }
}

const REPLACEMENT_UTF8 = Buffer.from([0xef, 0xbf, 0xbd]);
const EMPTY = Buffer.alloc(0);

/**
 * Streams a file's bytes out as UTF-8, decoding `decoding.encoding` strictly: the first byte that is not valid
 * in it fails the stream with a DecodeError. Output chunks always end on a whole character.
 */
export class DecodeStream extends Transform {
  /** Set once a U+FFFD has come through: text already damaged before the file was saved (it is valid UTF-8). */
  sawReplacement = false;
  private mode: TextEncoding;
  /** File offset of the next byte to arrive. */
  private offset = 0;
  /** An incomplete character held back from the end of the previous chunk. */
  private tail: Buffer | undefined;
  /** Windows-1252 declared: non-ASCII bytes seen that are not UTF-8, so the declaration is not a mistake. */
  private legacyConfirmed = false;
  private lookalikeTail: Buffer | undefined;
  private bomChecked = false;

  constructor(private readonly decoding: Decoding) {
    super();
    this.mode = decoding.encoding;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.run(chunk, false, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.run(EMPTY, true, callback);
  }

  private run(chunk: Buffer, end: boolean, callback: TransformCallback): void {
    let out: Buffer;
    try {
      out = this.decode(chunk, end);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (out.length > 0) this.push(out);
    callback();
  }

  private decode(chunk: Buffer, end: boolean): Buffer {
    const held = this.tail;
    this.tail = undefined;
    const start = this.offset - (held?.length ?? 0);
    this.offset += chunk.length;
    const buf = held === undefined ? chunk : Buffer.concat([held, chunk]);
    if (this.mode === 'utf-8') return this.utf8(buf, start, end);
    if (this.mode === 'windows-1252') return this.windows1252(buf, start);
    return this.utf16(buf, start, end);
  }

  private utf8(buf: Buffer, start: number, end: boolean): Buffer {
    const cut = end ? buf.length : completeUtf8Length(buf);
    if (cut < buf.length) this.tail = Buffer.from(buf.subarray(cut));
    const body = cut === buf.length ? buf : buf.subarray(0, cut);
    if (!isUtf8(body)) {
      const bad = Math.max(0, firstInvalidUtf8(body));
      if (this.decoding.lenient) {
        this.mode = 'windows-1252';
        this.tail = undefined;
        return Buffer.concat([body.subarray(0, bad), this.windows1252(buf.subarray(bad), start + bad)]);
      }
      throw new DecodeError('invalid-utf-8', start + bad);
    }
    if (!this.sawReplacement && body.includes(REPLACEMENT_UTF8)) this.sawReplacement = true;
    return body;
  }

  private windows1252(buf: Buffer, start: number): Buffer {
    const text = iconv.decode(buf, 'windows-1252');
    if (!this.decoding.lenient) {
      // First: UTF-8 misdeclared can also hold bytes Windows-1252 lacks (” is E2 80 9D), and that is the better news.
      if (this.decoding.source === 'declared' && !this.legacyConfirmed) this.checkNotUtf8(buf, start);
      // iconv-lite maps the five bytes Windows-1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) to U+FFFD.
      const undefinedAt = text.indexOf('\ufffd');
      if (undefinedAt >= 0) throw new DecodeError('not-windows-1252', start + undefinedAt);
    }
    return Buffer.from(text, 'utf8');
  }

  /**
   * Declared Windows-1252, but the non-ASCII bytes form valid UTF-8: the declaration is wrong (real Windows-1252
   * text almost never does: "é " is E9 20, invalid UTF-8), and reading it would send "JosÃ©" for "José".
   */
  private checkNotUtf8(buf: Buffer, start: number): void {
    const lead = this.lookalikeTail;
    this.lookalikeTail = undefined;
    const joined = lead === undefined ? buf : Buffer.concat([lead, buf]);
    const joinedStart = start - (lead?.length ?? 0);
    if (isAscii(joined)) return;
    const cut = completeUtf8Length(joined);
    const body = joined.subarray(0, cut);
    if (isAscii(body)) {
      this.lookalikeTail = Buffer.from(joined.subarray(cut));
      return;
    }
    if (isUtf8(body)) throw new DecodeError('looks-utf-8', joinedStart + body.findIndex((b) => b >= 0x80));
    this.legacyConfirmed = true;
  }

  private utf16(buf: Buffer, start: number, end: boolean): Buffer {
    const be = this.mode === 'utf-16be';
    let n = buf.length & ~1;
    if (!end && n >= 2) {
      // Hold a high surrogate back until its low half arrives with the next chunk.
      const last = be ? buf.readUInt16BE(n - 2) : buf.readUInt16LE(n - 2);
      if (last >= 0xd800 && last <= 0xdbff) n -= 2;
    }
    if (!end && n < buf.length) this.tail = Buffer.from(buf.subarray(n));
    const units = be ? Buffer.from(buf.subarray(0, n)).swap16() : buf.subarray(0, n);
    let text = units.toString('utf16le');
    let skipped = 0;
    if (!this.bomChecked) {
      this.bomChecked = n > 0 || end;
      if (start === 0 && text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
        skipped = 1;
      }
    }
    const lone = firstLoneSurrogate(text);
    if (lone >= 0) throw new DecodeError('invalid-utf-16', start + 2 * (lone + skipped));
    if (end && n < buf.length) throw new DecodeError('truncated-utf-16', start + n);
    if (!this.sawReplacement && text.includes('\ufffd')) this.sawReplacement = true;
    return Buffer.from(text, 'utf8');
  }
}

/** Length of `buf` without an incomplete UTF-8 sequence at its end (invalid bytes are left for the check). */
function completeUtf8Length(buf: Buffer): number {
  let i = buf.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return buf.length;
  const lead = buf[i]!;
  const needs = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return buf.length - i < needs ? i : buf.length;
}

/** Index of the first byte that starts an invalid or truncated UTF-8 sequence (WHATWG UTF-8 decoder), or -1. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let needs: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) needs = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      needs = 2;
      if (b === 0xe0) lower = 0xa0;
      if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      needs = 3;
      if (b === 0xf0) lower = 0x90;
      if (b === 0xf4) upper = 0x8f;
    } else return i;
    for (let k = 1; k <= needs; k++) {
      const c = buf[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lower || c > upper : c < 0x80 || c > 0xbf) return i;
    }
    i += needs + 1;
  }
  return -1;
}

/** Index of the first unpaired surrogate in `text`, or -1. */
function firstLoneSurrogate(text: string): number {
  // String.prototype.isWellFormed (ES2024, native in Node 20) answers the common case without a JS loop; the
  // project's lib is ES2023, hence the cast.
  if ((text as unknown as { isWellFormed(): boolean }).isWellFormed()) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

/** Where a byte offset is, as an editor shows it, and the bytes of its line around it. */
interface Position {
  line: number;
  /** 1-based character column of the byte on its line. */
  column: number;
  /** Bytes of the line before the offset (at most 240; `cut` when the line starts earlier). */
  before: Buffer;
  cut: boolean;
  /** Bytes from the offset to the end of the line (at most 160). */
  after: Buffer;
}

/**
 * Finds the line and column of `offset` in `file` by reading it again up to there (error path only): line breaks
 * are LF, CR or CRLF code units of `encoding`, columns count characters. `bomLength` bytes at the start are not
 * part of the first line.
 */
async function locate(file: string, encoding: TextEncoding, offset: number, bomLength: number): Promise<Position> {
  const width = encoding === 'utf-16le' || encoding === 'utf-16be' ? 2 : 1;
  const be = encoding === 'utf-16be';
  let line = 1;
  let column = 1;
  let lineStart = bomLength;
  let position = 0;
  let previousCr = false;
  let pending: Buffer | undefined;
  if (offset > bomLength) {
    for await (const raw of createReadStream(file, { start: bomLength, end: offset - 1 }) as AsyncIterable<Buffer>) {
      const chunk = pending === undefined ? raw : Buffer.concat([pending, raw]);
      const usable = chunk.length - (chunk.length % width);
      pending = usable < chunk.length ? Buffer.from(chunk.subarray(usable)) : undefined;
      for (let i = 0; i < usable; i += width) {
        const unit = width === 1 ? chunk[i]! : be ? chunk.readUInt16BE(i) : chunk.readUInt16LE(i);
        if (unit === 0x0a || unit === 0x0d) {
          if (!(unit === 0x0a && previousCr)) line++;
          previousCr = unit === 0x0d;
          column = 1;
          lineStart = bomLength + position + i + width;
          continue;
        }
        previousCr = false;
        // Count characters, not bytes: UTF-8 continuation bytes and UTF-16 low surrogates start none.
        if (encoding === 'utf-8' ? (unit & 0xc0) !== 0x80 : !(width === 2 && unit >= 0xdc00 && unit <= 0xdfff)) column++;
      }
      position += usable;
    }
  }
  const from = Math.max(lineStart, offset - 240);
  const handle = await open(file, 'r');
  try {
    const window = Buffer.alloc(Math.max(0, offset - from) + 160);
    const { bytesRead } = await handle.read(window, 0, window.length, from);
    const bytes = window.subarray(0, bytesRead);
    const split = Math.min(Math.max(0, offset - from), bytes.length);
    let end = split;
    while (end + width <= bytes.length) {
      const unit = width === 1 ? bytes[end]! : be ? bytes.readUInt16BE(end) : bytes.readUInt16LE(end);
      if (unit === 0x0a || unit === 0x0d) break;
      end += width;
    }
    if (end + width > bytes.length) end = bytes.length;
    return { line, column, before: bytes.subarray(0, split), cut: from > lineStart, after: bytes.subarray(split, end) };
  } finally {
    await handle.close();
  }
}

/** UTF-8 for display: valid text as it is, each invalid sequence as `\xNN` (never U+FFFD). */
function showUtf8(bytes: Buffer): string {
  let out = '';
  let rest = bytes;
  for (;;) {
    const bad = firstInvalidUtf8(rest);
    if (bad < 0) return out + rest.toString('utf8');
    const n = Math.max(1, invalidSequenceLength(rest.subarray(bad)));
    out += rest.subarray(0, bad).toString('utf8') + hexBytes(rest.subarray(bad, bad + n));
    rest = rest.subarray(bad + n);
  }
}

/** `\x96`, or `\xed\xa0` for the bytes of a broken sequence, as shown in messages. */
function hexBytes(bytes: Uint8Array): string {
  return [...bytes].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

/**
 * A bounded, sanitised view of a line around a position: up to 40 characters before it (`…` when the line starts
 * earlier), `marker` as given (the bad bytes in hex), then up to 40 characters after it (escapes count whole).
 */
function around(before: string, marker: string, after: string, cut: boolean): string {
  const chars = [...before];
  const lead = cut || chars.length > 40 ? '…' : '';
  return `${lead}${excerpt(chars.slice(-40).join(''), 40)}${marker}${excerpt(after, 40)}`;
}

/**
 * The IngestError for a file that does not decode: names the file, line and column, quotes a bounded and
 * sanitised excerpt of the line, and says what to do. `label` names the file in the message (`promo.csv` or
 * `suppression list optout.csv`); `bomLength` is the length of the file's byte-order mark, if any.
 */
export async function describeDecodeError(
  file: string,
  label: string,
  decoding: Decoding,
  err: DecodeError,
  bomLength = 0,
): Promise<IngestError> {
  const pos = await locate(file, decoding.encoding, err.offset, bomLength);
  const where = `${label}: line ${pos.line}, column ${pos.column}`;
  const name = ENCODING_NAMES[decoding.encoding];
  const key = decoding.key;
  const section = key?.split('.')[0];
  const declared = decoding.source === 'declared' && key !== undefined ? ` (${key} is ${decoding.encoding})` : '';
  const details = { file, line: pos.line };
  const cp1252 = (bytes: Buffer): string => iconv.decode(bytes, 'windows-1252');
  switch (err.problem) {
    case 'invalid-utf-8': {
      const n = invalidSequenceLength(pos.after);
      const shown = around(showUtf8(pos.before), hexBytes(pos.after.subarray(0, n)), showUtf8(pos.after.subarray(n)), pos.cut);
      const legacy = around(cp1252(pos.before), '', cp1252(pos.after), pos.cut);
      return new IngestError(
        `${where}: ${n > 1 ? 'bytes' : 'byte'} ${byteNames(pos.after.subarray(0, n))} ${n > 1 ? 'are' : 'is'} not valid UTF-8${declared}, so the file is not UTF-8 text: "${shown}" (read as Windows-1252: "${legacy}")`,
        {
          ...details,
          hint:
            'Spreadsheet programs often save "CSV" in the Windows character set. Save the sheet again as "CSV UTF-8 (Comma delimited)" ' +
            '(Excel) or download it as CSV (Google Sheets)' +
            (section === undefined
              ? '.'
              : `; or, if the Windows-1252 reading above is right, add \`encoding: windows-1252\` under ${section}: in the campaign.`),
        },
      );
    }
    case 'not-windows-1252': {
      const shown = around(cp1252(pos.before), hexBytes(pos.after.subarray(0, 1)), cp1252(pos.after.subarray(1)), pos.cut);
      return new IngestError(`${where}: byte ${byteNames(pos.after.subarray(0, 1))} is not a character in ${name}${declared}: "${shown}"`, {
        ...details,
        hint: `The file is in another character set. Save it as "CSV UTF-8 (Comma delimited)" and remove encoding from ${section ?? 'the campaign'}.`,
      });
    }
    case 'looks-utf-8': {
      const asUtf8 = around(pos.before.toString('utf8'), '', pos.after.toString('utf8'), pos.cut);
      const asLegacy = around(cp1252(pos.before), '', cp1252(pos.after), pos.cut);
      return new IngestError(
        `${label}: line ${pos.line}: ${key ?? 'the encoding'} is ${decoding.encoding} but the file is UTF-8 text: the line reads "${asUtf8}" as UTF-8 and "${asLegacy}" as ${name}`,
        { ...details, hint: `Remove encoding: ${decoding.encoding} from ${section ?? 'the campaign'}: UTF-8 is read without it.` },
      );
    }
    case 'invalid-utf-16':
    case 'truncated-utf-16': {
      const what =
        err.problem === 'truncated-utf-16'
          ? `the file ends in the middle of a ${name} character (an odd number of bytes)`
          : `a broken ${name} character (a lone surrogate, bytes ${byteNames(pos.after.subarray(0, 2))})`;
      const shown = around(decodeLenient(pos.before, decoding.encoding), hexBytes(pos.after.subarray(0, 2)), decodeLenient(pos.after.subarray(2), decoding.encoding), pos.cut);
      return new IngestError(`${where}: ${what}${declared}, so the file is damaged or not ${name}: "${shown}"`, {
        ...details,
        hint:
          'Export the sheet again, preferably as "CSV UTF-8 (Comma delimited)"' +
          (decoding.source === 'declared' ? `, and check ${key ?? 'the declared encoding'}.` : '.'),
      });
    }
  }
}

/** `0x96`, or `0xE2 0x82` for a broken sequence, as named in sentences. */
function byteNames(bytes: Uint8Array): string {
  return [...bytes].map((b) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`).join(' ');
}

/** Length of the invalid UTF-8 sequence at the start of `bytes`: a lead byte and the continuations it took. */
function invalidSequenceLength(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  let n = 1;
  while (bytes[0]! >= 0xc0 && n < 4 && n < bytes.length && (bytes[n]! & 0xc0) === 0x80) n++;
  return n;
}
