import { constants, createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse, type CsvError, type Info, type Options, type Parser } from 'csv-parse';
import { DecodeError, DecodeStream, decodeLenient, describeDecodeError, detectBom, ENCODING_NAMES, guessUtf16, type Decoding, type TextEncoding } from './encoding.js';
import { IngestError } from './errors.js';
import { columnList, excerpt, quoted } from './excerpt.js';
import { describeNonFile, describeOpenError, openErrorHint } from './file-kind.js';

export { IngestError, isIngestError } from './errors.js';
export type { TextEncoding } from './encoding.js';

/** The field delimiters a recipients CSV may use: comma, semicolon or tab. */
export type Delimiter = ',' | ';' | '\t';

/** Options for reading a recipients CSV. */
export interface RecipientCsvOptions {
  /** Path of the CSV file. */
  file: string;
  /** Field delimiter; detected from the header line when not given. */
  delimiter?: Delimiter | undefined;
  /** Header name of the column holding the phone number (`recipients.phone_column`). */
  phoneColumn: string;
  /**
   * The file's text encoding (`recipients.encoding`). When not given: the encoding of a byte-order mark, else
   * UTF-8, checked strictly. A byte-order mark wins over a declared encoding.
   */
  encoding?: TextEncoding | undefined;
  /**
   * Largest field accepted, in UTF-8 bytes. A bigger field stops the whole file: it is an unclosed quote, or not
   * a list of recipients.
   * @default 65536
   */
  maxFieldBytes?: number;
  /**
   * Most columns the header may have.
   * @default 1000
   */
  maxColumns?: number;
  /** Called once with the header, before the first row is yielded. */
  onHeader?: (header: CsvHeader) => void;
}

/** What the header line says about a CSV file. */
export interface CsvHeader {
  /** Column names in file order, trimmed. */
  columns: string[];
  /** The delimiter used to read the file. */
  delimiter: Delimiter;
  /** True when the delimiter was detected rather than given. */
  delimiterDetected: boolean;
  /** The encoding the file is read in, and how that was decided (`bom`, `declared` or `default`). */
  encoding: TextEncoding;
  encodingSource: Decoding['source'];
  /** Index of the phone column in `columns`. */
  phoneColumnIndex: number;
  /** 1-based line of the header (after any leading empty lines). */
  line: number;
}

/** One data row of the CSV with its fields by header name. */
export interface RecipientRecord {
  ok: true;
  /** 1-based physical line where the row starts, as an editor shows it. */
  line: number;
  /** Every column by header name (values trimmed of whitespace outside quotes). */
  fields: Record<string, string>;
  /** The phone column as written, before normalisation. */
  rawPhone: string;
}

/**
 * A data row that cannot be used as it is (for example a wrong number of fields). `error` is the reason without
 * the location; show it as `line ${line}: ${error}`.
 */
export interface RecipientRowError {
  ok: false;
  /** 1-based physical line where the row starts. */
  line: number;
  /** Human reason, e.g. `expected 4 fields as in the header, found 6 — check the delimiter or quotes`. */
  error: string;
  /** The fields that could be matched to header names by position, for reports. */
  fields?: Record<string, string>;
  /** The phone column as written, when the row has one. */
  rawPhone?: string;
}

/** A row of a recipients CSV: usable, or an error row. Rows never throw; file-level problems do. */
export type RecipientRow = RecipientRecord | RecipientRowError;

/** Default for `maxFieldBytes`: 64 KiB. */
export const DEFAULT_MAX_FIELD_BYTES = 64 * 1024;
/** Default for `maxColumns`: far more than any list of recipients has, far fewer than a runaway file. */
export const DEFAULT_MAX_COLUMNS = 1000;
const SNIFF_BYTES = 64 * 1024;

/**
 * Picks the delimiter of a header line: whichever of `,`, `;` and tab occurs most often outside quotes (on a
 * tie comma, then semicolon; comma for a single-column header with none). Tab is what Excel's "Unicode text"
 * uses.
 */
export function detectDelimiter(headerLine: string): Delimiter {
  let commas = 0;
  let semicolons = 0;
  let tabs = 0;
  let quoted = false;
  for (let i = 0; i < headerLine.length; i++) {
    const c = headerLine[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ',') commas++;
    else if (!quoted && c === ';') semicolons++;
    else if (!quoted && c === '\t') tabs++;
  }
  if (tabs > commas && tabs > semicolons) return '\t';
  return semicolons > commas ? ';' : ',';
}

/** A delimiter as the campaign file writes it: `","`, `";"` or `tab`. */
export function showDelimiter(delimiter: Delimiter): string {
  return delimiter === '\t' ? 'tab' : `"${delimiter}"`;
}

/**
 * Reads the header of a recipients CSV without reading the rows: columns, delimiter (detected or given) and the
 * phone column's position. Throws IngestError for every file-level problem `readRecipientRows` would throw for
 * at its start.
 */
export async function inspectRecipientCsv(options: Omit<RecipientCsvOptions, 'onHeader'>): Promise<CsvHeader> {
  let header: CsvHeader | undefined;
  for await (const row of streamRows(options, (h) => (header = h), true)) void row;
  return header!;
}

/**
 * Streams the rows of a recipients CSV (csv-parse; the file is never read whole). Handles UTF-8 (with or without
 * BOM), UTF-16 with a BOM and a declared encoding, CRLF or LF, quoted fields with delimiters and newlines,
 * comma, semicolon or tab, and skips blank lines. Each row keeps the physical line where it starts. A row with
 * the wrong number of fields, or text already damaged (U+FFFD), becomes an error row; problems with the whole
 * file (missing, not a file, empty, bytes that do not decode, no phone column, unclosed quote, oversized field,
 * too many columns) throw IngestError.
 */
export function readRecipientRows(options: RecipientCsvOptions): AsyncGenerator<RecipientRow, void, undefined> {
  return streamRows(options, options.onHeader, false);
}

async function* streamRows(
  options: Omit<RecipientCsvOptions, 'onHeader'>,
  onHeader: ((header: CsvHeader) => void) | undefined,
  headerOnly: boolean,
): AsyncGenerator<RecipientRow, void, undefined> {
  const { file, phoneColumn } = options;
  const maxFieldBytes = options.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  const maxColumns = options.maxColumns ?? DEFAULT_MAX_COLUMNS;
  const name = excerpt(basename(file), 120);
  const sniff = await sniffCsv(file, undefined, { declared: options.encoding });
  const delimiter = options.delimiter ?? sniff.delimiter;
  const delimiterDetected = options.delimiter === undefined;
  const { decoding } = sniff;

  const { parser, decoder } = parseDecodedFile(
    file,
    {
      bom: true,
      delimiter,
      relax_column_count: true,
      relax_quotes: true,
      // Empty lines come through as a record with one empty field and are skipped below, so every physical line
      // is accounted for without csv-parse's per-record `info` (which doubles its cost).
      skip_empty_lines: false,
      trim: true,
      // csv-parse counts characters of the whole row; each field is checked exactly below.
      max_record_size: maxFieldBytes * 4,
    },
    decoding,
    // The header alone: small reads, so a resume does not parse the first 64 KiB of rows only to drop them.
    headerOnly ? { highWaterMark: 4096 } : undefined,
  );

  let header: CsvHeader | undefined;
  let width = 0;
  // Line accounting: each record starts on the line after the previous one ended, and ends as many lines later as
  // it holds newlines (csv-parse's own `info.lines` counts a CRLF inside a quoted field as two lines).
  let previousEnd = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      const line = previousEnd + 1;
      previousEnd = line + newlinesIn(record);
      if (isBlank(record)) continue;

      if (header === undefined) {
        header = checkHeader(record, { file, name, line, delimiter, delimiterDetected, phoneColumn, sniff, maxColumns });
        width = header.columns.length;
        onHeader?.(header);
        if (headerOnly) return;
        continue;
      }
      checkFieldSizes(record, header, { file, name, line, maxFieldBytes });

      const columns = header.columns;
      // Valid text that holds U+FFFD lost characters before it was saved here; it must not be sent as it is.
      const damaged = decoder.sawReplacement ? record.findIndex((f) => f.includes('\ufffd')) : -1;
      if (damaged >= 0) {
        yield errorRow(
          record,
          header,
          line,
          `column ${quoted(columns[damaged] ?? `#${damaged + 1}`, 40)} holds the replacement character \ufffd (U+FFFD): characters were lost before the file was saved; correct the text in the sheet and export it again`,
        );
        continue;
      }
      if (record.length !== width) {
        yield errorRow(record, header, line, `expected ${width} field${width === 1 ? '' : 's'} as in the header, found ${record.length} — check the delimiter or quotes`);
        continue;
      }
      const fields: Record<string, string> = {};
      for (let i = 0; i < width; i++) fields[columns[i]!] = record[i]!;
      yield { ok: true, line, fields, rawPhone: record[header.phoneColumnIndex]! };
    }
  } catch (err) {
    if (err instanceof IngestError) throw err;
    if (err instanceof DecodeError) throw await describeDecodeError(file, name, decoding, err, sniff.bomLength);
    throw await translateParseError(err, {
      file,
      name,
      startLine: previousEnd + 1,
      maxFieldBytes,
      maxColumns,
      decoding,
      bomLength: sniff.bomLength,
      delimiter,
      columns: header?.columns,
      headerPending: header === undefined,
    });
  } finally {
    parser.destroy();
  }
  if (header === undefined) {
    throw new IngestError(`${name} has no header row: expected a first line naming the columns, e.g. ${excerpt(phoneColumn, 40)},name`, {
      file,
      hint: 'Add a header row to the CSV (the first line names the columns).',
    });
  }
}

/**
 * Counts the data rows of a CSV (quoted newlines and blank lines handled as `readRecipientRows` does), for
 * progress bars and estimates. Streams the file; does not validate it.
 */
export async function countDataRows(file: string, delimiter?: Delimiter, encoding?: TextEncoding): Promise<number> {
  const sniff = await sniffCsv(file, undefined, { declared: encoding });
  const { parser } = parseDecodedFile(
    file,
    { bom: true, delimiter: delimiter ?? sniff.delimiter, relax_column_count: true, relax_quotes: true, trim: true },
    sniff.decoding,
  );
  let rows = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!isBlank(record)) rows++;
    }
  } finally {
    parser.destroy();
  }
  return Math.max(0, rows - 1);
}

/**
 * Streams `file` through its decoder into csv-parse. A read or decoding error is passed on to the parser, which
 * `.pipe()` alone would not do, leaving a reader waiting forever. `decoder.sawReplacement` tells whether any
 * U+FFFD came through.
 */
export function parseDecodedFile(
  file: string,
  options: Options,
  decoding: Decoding,
  read?: { highWaterMark: number },
): { parser: Parser; decoder: DecodeStream } {
  const source = createReadStream(file, read);
  const decoder = new DecodeStream(decoding);
  const parser = parse(options);
  source.on('error', (err) => parser.destroy(err));
  decoder.on('error', (err) => parser.destroy(err));
  parser.on('close', () => {
    source.destroy();
    decoder.destroy();
  });
  source.pipe(decoder).pipe(parser);
  return { parser, decoder };
}

/** What the first bytes of a CSV file say. */
export interface CsvSniff {
  /** The first non-empty line, without BOM or line ending. */
  firstLine: string;
  /** The delimiter `detectDelimiter` picks for that line. */
  delimiter: Delimiter;
  /** How the file is to be decoded. */
  decoding: Decoding;
  /** Length of the byte-order mark the file starts with (0 without). */
  bomLength: number;
}

/** How `sniffCsv` decides the encoding. */
export interface SniffEncoding {
  /** The declared encoding; undefined: a byte-order mark, else UTF-8. */
  declared?: TextEncoding | undefined;
  /** The campaign key that declares it, for messages. @default 'recipients.encoding' */
  key?: string | undefined;
  /** See `Decoding.lenient` (suppression lists). */
  lenient?: boolean;
}

/**
 * Checks that `file` is a regular file it can read, reads its start (64 KiB at most), decides how to decode it,
 * and throws IngestError when it is missing, unreadable, not a regular file (a directory, FIFO, socket or device
 * is named as such and never read), empty, a workbook, binary, or UTF-16 without a byte-order mark nor a
 * declared encoding. `what` and `hint` word the "not found" error for the caller; with `allowEmpty` an empty
 * file is fine (its `firstLine` is empty).
 */
export async function sniffCsv(
  file: string,
  wording: { what: string; hint: string; allowEmpty?: boolean } = {
    what: 'CSV file',
    hint: 'Check recipients.file in the campaign: paths are relative to the campaign file.',
  },
  encoding: SniffEncoding = {},
): Promise<CsvSniff> {
  const name = excerpt(basename(file), 120);
  let bytes: Buffer;
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below refuses it before any read.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new IngestError(
      code === 'ENOENT' ? `${wording.what} not found: ${file}` : `cannot read the ${wording.what} ${file}: ${describeOpenError(err)}`,
      { file, hint: openErrorHint(err, file) ?? wording.hint, cause: err },
    );
  }
  try {
    const info = await handle.stat();
    const kind = describeNonFile(info);
    if (kind !== undefined) {
      throw new IngestError(`the ${wording.what} ${file} is ${kind}, not a regular file`, {
        file,
        hint: `Give the path of a CSV file saved on disk: rk-broadcast reads it more than once (to check, to plan, to fingerprint), so it cannot read from a pipe, socket or device. ${wording.hint}`,
      });
    }
    const buffer = Buffer.alloc(Math.min(SNIFF_BYTES, info.size));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    bytes = buffer.subarray(0, bytesRead);
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(`cannot read the ${wording.what} ${file}: ${describeOpenError(err)}`, {
      file,
      hint: openErrorHint(err, file) ?? wording.hint,
      cause: err,
    });
  } finally {
    await handle.close();
  }
  const key = encoding.key ?? 'recipients.encoding';
  const csvHint = 'In Excel or Google Sheets, save or download the sheet as "CSV UTF-8 (comma delimited)".';
  const bom = detectBom(bytes);
  const decoding: Decoding = bom
    ? { encoding: bom.encoding, source: 'bom', key }
    : encoding.declared
      ? { encoding: encoding.declared, source: 'declared', key }
      : { encoding: 'utf-8', source: 'default', key: encoding.lenient ? undefined : key };
  if (encoding.lenient) decoding.lenient = true;
  const utf16 = decoding.encoding === 'utf-16le' || decoding.encoding === 'utf-16be';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    throw new IngestError(`${name} is a spreadsheet workbook (xlsx/ods zip), not a CSV`, { file, hint: csvHint });
  }
  if (bytes[0] === 0xd0 && bytes[1] === 0xcf && bytes[2] === 0x11 && bytes[3] === 0xe0) {
    throw new IngestError(`${name} is an Excel 97-2003 workbook (.xls), not a CSV`, { file, hint: csvHint });
  }
  if (utf16 && decoding.source === 'declared') {
    const looks = guessUtf16(bytes);
    if (looks !== decoding.encoding && bytes.length > 0) {
      throw new IngestError(
        `${key} is ${decoding.encoding} but ${name} does not look like ${ENCODING_NAMES[decoding.encoding]} text` +
          (looks ? ` (it looks like ${ENCODING_NAMES[looks]})` : ' (UTF-16 text of digits and Latin letters has a NUL byte in every other byte)'),
        { file, hint: looks ? `Set ${key.split('.').pop()}: ${looks}.` : `Remove encoding from ${key.split('.')[0]}: UTF-8, and UTF-16 with a byte-order mark, are read without it.` },
      );
    }
  }
  if (!utf16 && bytes.includes(0)) {
    const looks = guessUtf16(bytes);
    if (looks) {
      throw new IngestError(`${name} looks like ${ENCODING_NAMES[looks]} text without a byte-order mark`, {
        file,
        hint: encoding.lenient
          ? 'Save the sheet as "CSV UTF-8 (comma delimited)", or as "Unicode text" (which starts with a byte-order mark).'
          : `Save the sheet as "CSV UTF-8 (comma delimited)", or add \`encoding: ${looks}\` under ${key.split('.')[0]}: in the campaign.`,
      });
    }
    throw new IngestError(`${name} contains binary data (NUL bytes); expected a CSV text file`, { file, hint: csvHint });
  }
  let text = decodeLenient(bytes, decoding.encoding);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstLine = text.split(/\r\n|\n|\r/).find((l) => l.trim() !== '');
  const bomLength = bom?.length ?? 0;
  if (firstLine === undefined) {
    if (wording.allowEmpty) return { firstLine: '', delimiter: ',', decoding, bomLength };
    throw new IngestError(`${name} is empty: expected a header row and at least one recipient`, {
      file,
      hint: 'Export the recipient list again; the first line must name the columns, e.g. phone,name.',
    });
  }
  return { firstLine, delimiter: detectDelimiter(firstLine), decoding, bomLength };
}

function checkHeader(
  record: string[],
  ctx: {
    file: string;
    name: string;
    line: number;
    delimiter: Delimiter;
    delimiterDetected: boolean;
    phoneColumn: string;
    sniff: CsvSniff;
    maxColumns: number;
  },
): CsvHeader {
  const { file, name, line } = ctx;
  if (record.length > ctx.maxColumns) {
    throw new IngestError(
      `${name}: line ${line}: the header has ${record.length.toLocaleString('en-US')} columns; at most ${ctx.maxColumns.toLocaleString('en-US')} are read`,
      { file, line, hint: tooManyColumnsHint(ctx.maxColumns) },
    );
  }
  const columns = record.map((c) => c.trim());
  const emptyAt = columns.findIndex((c) => c === '');
  if (emptyAt >= 0) {
    throw new IngestError(`${name}: line ${line}: column ${emptyAt + 1} of the header has no name`, {
      file,
      line,
      hint: 'Give every column a name in the header row, or delete the empty column (often trailing delimiters left by a spreadsheet).',
    });
  }
  const seen = new Map<string, number>();
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!;
    const first = seen.get(c);
    if (first !== undefined) {
      throw new IngestError(
        `${name}: line ${line}: the header names column ${quoted(c, 40)} twice (columns ${first + 1} and ${i + 1})`,
        { file, line, column: c, hint: 'Rename one of them: every column needs a unique name so the template can refer to it.' },
      );
    }
    seen.set(c, i);
  }
  const phoneColumnIndex = columns.indexOf(ctx.phoneColumn);
  if (phoneColumnIndex < 0) {
    throw new IngestError(
      `recipients.phone_column is ${quoted(ctx.phoneColumn, 40)} but the header of ${name} has: ${columnList(columns)} — set phone_column to one of them`,
      { file, line, column: ctx.phoneColumn, hint: phoneColumnHint(columns, ctx) },
    );
  }
  const { encoding, source } = ctx.sniff.decoding;
  return {
    columns,
    delimiter: ctx.delimiter,
    delimiterDetected: ctx.delimiterDetected,
    encoding,
    encodingSource: source,
    phoneColumnIndex,
    line,
  };
}

function tooManyColumnsHint(maxColumns: number): string {
  return `Check that this is the list of recipients, one row per recipient with a header row naming the columns; delete the columns the campaign does not use (at most ${maxColumns.toLocaleString('en-US')}).`;
}

function phoneColumnHint(columns: string[], ctx: { delimiter: Delimiter; delimiterDetected: boolean; phoneColumn: string; sniff: CsvSniff }): string {
  const headerLine = ctx.sniff.firstLine;
  if (columns.length === 1) {
    const other = ([',', ';', '\t'] as const).find((d) => d !== ctx.delimiter && headerLine.includes(d));
    if (other !== undefined) {
      return ctx.delimiterDetected
        ? `The header splits into one column with ${showDelimiter(ctx.delimiter)}; set recipients.delimiter to ${showDelimiter(other)}.`
        : `recipients.delimiter is ${showDelimiter(ctx.delimiter)} but the header looks separated by ${showDelimiter(other)}: set delimiter to ${showDelimiter(other)} or remove it to detect it.`;
    }
    if (/[|^~]/.test(headerLine)) {
      return 'The header reads as a single column: the file seems to use another separator. Save it as CSV with commas or semicolons between the columns.';
    }
  }
  const close = columns.find((c) => c.toLowerCase() === ctx.phoneColumn.toLowerCase());
  if (close) return `Column names are case-sensitive: did you mean ${quoted(close, 40)}? Set recipients.phone_column: ${excerpt(close, 40)}`;
  return `Set recipients.phone_column in the campaign to the column that holds the WhatsApp numbers, e.g. phone_column: ${excerpt(columns[0] ?? 'phone', 40)}`;
}

const UNCLOSED_QUOTE_HINT =
  'Find the " without its closing " on that line (or the next ones) and close or remove it; a quote inside a quoted field is written as "".';

function longFieldHint(maxFieldBytes: number): string {
  return `A recipient's field is normally a few words: check that this is the list of recipients, and that no cell holds a pasted document or encoded data. Fields may be at most ${formatBytes(maxFieldBytes)}.`;
}

function checkFieldSizes(record: string[], header: CsvHeader, ctx: { file: string; name: string; line: number; maxFieldBytes: number }): void {
  for (let i = 0; i < record.length; i++) {
    const value = record[i]!;
    // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair is 2 units, 4 bytes), so most fields need no count.
    if (value.length * 3 <= ctx.maxFieldBytes) continue;
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes <= ctx.maxFieldBytes) continue;
    const column = header.columns[i] ?? `#${i + 1}`;
    // Only a quoted field holds line breaks: many of them means a quote that was never closed.
    const multiline = value.includes('\n') || value.includes('\r');
    throw new IngestError(
      `${ctx.name}: line ${ctx.line}: the field in column ${quoted(column, 40)} is ${bytes.toLocaleString('en-US')} bytes, over the limit of ${formatBytes(ctx.maxFieldBytes)}`,
      {
        file: ctx.file,
        line: ctx.line,
        column,
        hint: multiline
          ? 'The field runs over several lines: a quote (") probably opens it and is never closed, so the following lines were read as one field. ' + UNCLOSED_QUOTE_HINT
          : longFieldHint(ctx.maxFieldBytes),
      },
    );
  }
}

interface ParseErrorContext {
  file: string;
  name: string;
  /** Line where the record being parsed starts. */
  startLine: number;
  maxFieldBytes: number;
  maxColumns: number;
  decoding: Decoding;
  /** Length of the file's byte-order mark. */
  bomLength: number;
  delimiter: Delimiter;
  /** The header's columns, once read. */
  columns: readonly string[] | undefined;
  /** The record being read is the header. */
  headerPending: boolean;
}

/**
 * Turns a csv-parse error into an IngestError that says what is wrong, code by code. The file is read again
 * (error path only) when a record outgrows `max_record_size`, to tell a runaway quoted field from a huge
 * unquoted field or a header with thousands of columns.
 */
export async function translateParseError(err: unknown, ctx: ParseErrorContext): Promise<IngestError> {
  const e = err as Partial<CsvError & Info> & { code?: string };
  const { file, name } = ctx;
  const line = ctx.startLine;
  const columnName = (index: number): string => quoted(ctx.columns?.[index] ?? `#${index + 1}`, 40);
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new IngestError(
        `${name}: line ${line}: a quoted field opens in the row starting here and is never closed (the file ends inside quotes at line ${e.lines})`,
        { file, line, hint: UNCLOSED_QUOTE_HINT, cause: err },
      );
    case 'CSV_MAX_RECORD_SIZE': {
      const limit = ctx.maxFieldBytes * 4;
      const found = await diagnoseLongRow(file, ctx.decoding, ctx.delimiter, line, limit, ctx.maxColumns, ctx.bomLength);
      switch (found.kind) {
        case 'columns':
          return new IngestError(
            `${name}: line ${line}: the ${ctx.headerPending ? 'header' : 'row'} has more than ${ctx.maxColumns.toLocaleString('en-US')} columns`,
            { file, line, hint: tooManyColumnsHint(ctx.maxColumns), cause: err },
          );
        case 'quote':
          return new IngestError(
            `${name}: line ${line}: a quote (") opens the field in column ${columnName(found.field)} and is not closed within the next ${found.lines.toLocaleString('en-US')} lines (${formatBytes(limit)})`,
            { file, line, hint: UNCLOSED_QUOTE_HINT, cause: err },
          );
        case 'field':
          return new IngestError(
            `${name}: line ${line}: the field in column ${columnName(found.field)} is over ${formatBytes(limit)} long, on one line (the limit is ${formatBytes(ctx.maxFieldBytes)})`,
            { file, line, hint: longFieldHint(ctx.maxFieldBytes), cause: err },
          );
        default:
          return new IngestError(`${name}: line ${line}: the row starting here is over ${formatBytes(limit)} long`, {
            file,
            line,
            hint: longFieldHint(ctx.maxFieldBytes),
            cause: err,
          });
      }
    }
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
    case 'CSV_INVALID_CLOSING_QUOTE':
      return new IngestError(`${name}: line ${e.lines ?? line}: text follows the closing quote of a field`, {
        file,
        line: e.lines ?? line,
        hint: 'A quoted field must end right after its closing quote: write "Budi ""Bud"" Santoso" for a quote inside a field.',
        cause: err,
      });
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
      return new IngestError(`${name}: line ${line}: the row has a different number of fields than the header`, {
        file,
        line,
        hint: `Check the delimiter (${showDelimiter(ctx.delimiter)}) and the quotes on that line.`,
        cause: err,
      });
    default:
      return new IngestError(`${name}: line ${e.lines ?? line}: cannot read the CSV (${excerpt(e.message ?? String(err), 160)})`, {
        file,
        line: e.lines ?? line,
        hint: `Check the file is a CSV with balanced quotes, in UTF-8 or the encoding set in the campaign.`,
        cause: err,
      });
  }
}

type LongRow =
  | { kind: 'columns' }
  | { kind: 'quote'; field: number; lines: number }
  | { kind: 'field'; field: number }
  | { kind: 'unknown' };

/**
 * Reads the record starting at `startLine` again, up to `limit` characters, with a small quote-aware scanner, and
 * says why it is so long: more than `maxColumns` fields, a quoted field that runs over many lines, or one long
 * field.
 */
async function diagnoseLongRow(
  file: string,
  decoding: Decoding,
  delimiter: Delimiter,
  startLine: number,
  limit: number,
  maxColumns: number,
  bomLength: number,
): Promise<LongRow> {
  const delim = delimiter.charCodeAt(0);
  const source = createReadStream(file, { start: bomLength });
  const stream = source.pipe(new DecodeStream(decoding));
  let line = 1;
  let previousCr = false;
  let skipLf = false;
  let scanning = startLine <= 1;
  let fields = 1;
  let fieldChars = 0;
  let fieldBlank = true;
  let inQuotes = false;
  let justClosed = false;
  let quoteField = 0;
  let lines = 0;
  let chars = 0;
  let longest = 0;
  let longestField = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (!scanning) {
          if (b === 0x0a && previousCr) {
            previousCr = false;
            continue;
          }
          if (b === 0x0a || b === 0x0d) {
            line++;
            previousCr = b === 0x0d;
            if (line >= startLine) {
              scanning = true;
              skipLf = previousCr; // the LF of a CRLF belongs to the break before the record
            }
          } else previousCr = false;
          continue;
        }
        if (skipLf) {
          skipLf = false;
          if (b === 0x0a) continue;
        }
        const starts = (b & 0xc0) !== 0x80; // UTF-8: one character per non-continuation byte
        if (starts) chars++;
        if (inQuotes) {
          if (b === 0x22) {
            inQuotes = false;
            justClosed = true;
            continue;
          }
          if (b === 0x0a || b === 0x0d) lines++;
          if (starts) fieldChars++;
        } else {
          const reopened = justClosed && b === 0x22;
          justClosed = false;
          if (b === delim) {
            fields++;
            if (fields > maxColumns) return { kind: 'columns' };
            fieldChars = 0;
            fieldBlank = true;
            continue;
          }
          if (b === 0x0a || b === 0x0d) return { kind: 'unknown' };
          if (b === 0x22 && (fieldBlank || reopened)) {
            inQuotes = true;
            if (!reopened) quoteField = fields - 1;
            fieldBlank = false;
            continue;
          }
          if (b !== 0x20 && b !== 0x09) fieldBlank = false;
          if (starts) fieldChars++;
        }
        if (fieldChars > longest) {
          longest = fieldChars;
          longestField = fields - 1;
        }
        if (chars > limit) {
          if (inQuotes && lines > 0) return { kind: 'quote', field: quoteField, lines };
          return { kind: 'field', field: longestField };
        }
      }
    }
    return inQuotes ? { kind: 'quote', field: quoteField, lines } : { kind: 'unknown' };
  } catch {
    return { kind: 'unknown' };
  } finally {
    source.destroy();
    stream.destroy();
  }
}

/** An error row keeping the fields that can be matched to header names by position, for reports. */
function errorRow(record: string[], header: CsvHeader, line: number, error: string): RecipientRowError {
  const fields: Record<string, string> = {};
  const n = Math.min(record.length, header.columns.length);
  for (let i = 0; i < n; i++) fields[header.columns[i]!] = record[i]!;
  const rawPhone = record[header.phoneColumnIndex];
  return { ok: false, line, error, fields, ...(rawPhone === undefined ? {} : { rawPhone }) };
}

function newlinesIn(record: string[]): number {
  let n = 0;
  for (const field of record) {
    if (field.length === 0) continue;
    if (field.indexOf('\n') < 0 && field.indexOf('\r') < 0) continue;
    for (let i = 0; i < field.length; i++) {
      const c = field.charCodeAt(i);
      if (c === 10) n++;
      else if (c === 13) {
        n++;
        if (field.charCodeAt(i + 1) === 10) i++;
      }
    }
  }
  return n;
}

function isBlank(record: string[]): boolean {
  for (const f of record) if (f !== '') return false;
  return true;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 ? `${Math.round((bytes / 1024) * 10) / 10} KiB` : `${bytes} bytes`;
}
