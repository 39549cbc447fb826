import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse, type CsvError, type Info, type Options, type Parser } from 'csv-parse';
import { IngestError } from './errors.js';

export { IngestError, isIngestError } from './errors.js';

/** The field delimiters a recipients CSV may use. */
export type Delimiter = ',' | ';';

/** Options for reading a recipients CSV. */
export interface RecipientCsvOptions {
  /** Path of the CSV file. */
  file: string;
  /** Field delimiter; detected from the header line when not given. */
  delimiter?: Delimiter | undefined;
  /** Header name of the column holding the phone number (`recipients.phone_column`). */
  phoneColumn: string;
  /**
   * Largest field accepted, in UTF-8 bytes. A bigger field almost always means a quote that opened a field and
   * was never closed, so it stops the whole file.
   * @default 65536
   */
  maxFieldBytes?: number;
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
const SNIFF_BYTES = 64 * 1024;

/**
 * Picks the delimiter of a header line: whichever of `,` and `;` occurs more often outside quotes (comma on a
 * tie, including a single-column header with neither).
 */
export function detectDelimiter(headerLine: string): Delimiter {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (let i = 0; i < headerLine.length; i++) {
    const c = headerLine[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ',') commas++;
    else if (!quoted && c === ';') semicolons++;
  }
  return semicolons > commas ? ';' : ',';
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
 * Streams the rows of a recipients CSV (csv-parse; the file is never read whole). Handles a UTF-8 BOM, CRLF or
 * LF, quoted fields with delimiters and newlines, comma or semicolon, and skips blank lines. Each row keeps the
 * physical line where it starts. A row with the wrong number of fields becomes an error row; problems with the
 * whole file (missing, empty, no phone column, unclosed quote, oversized field) throw IngestError.
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
  const name = basename(file);
  const sniff = await sniffCsv(file);
  const delimiter = options.delimiter ?? sniff.delimiter;
  const delimiterDetected = options.delimiter === undefined;

  const parser = parseFile(file, {
    bom: true,
    delimiter,
    relax_column_count: true,
    relax_quotes: true,
    // Empty lines come through as a record with one empty field and are skipped below, so every physical line is
    // accounted for without csv-parse's per-record `info` (which doubles its cost).
    skip_empty_lines: false,
    trim: true,
    // csv-parse counts characters of the whole row; each field is checked exactly below.
    max_record_size: maxFieldBytes * 4,
  });

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
        header = checkHeader(record, { file, name, line, delimiter, delimiterDetected, phoneColumn, sniff });
        width = header.columns.length;
        onHeader?.(header);
        if (headerOnly) return;
        continue;
      }
      checkFieldSizes(record, header, { file, name, line, maxFieldBytes });

      const columns = header.columns;
      if (record.length !== width) {
        const fields: Record<string, string> = {};
        const n = Math.min(record.length, width);
        for (let i = 0; i < n; i++) fields[columns[i]!] = record[i]!;
        const rawPhone = record[header.phoneColumnIndex];
        yield {
          ok: false,
          line,
          error: `expected ${width} field${width === 1 ? '' : 's'} as in the header, found ${record.length} — check the delimiter or quotes`,
          fields,
          ...(rawPhone === undefined ? {} : { rawPhone }),
        };
        continue;
      }
      const fields: Record<string, string> = {};
      for (let i = 0; i < width; i++) fields[columns[i]!] = record[i]!;
      yield { ok: true, line, fields, rawPhone: record[header.phoneColumnIndex]! };
    }
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw translateParseError(err, { file, name, startLine: previousEnd + 1, maxFieldBytes });
  } finally {
    parser.destroy();
  }
  if (header === undefined) {
    throw new IngestError(`${name} has no header row: expected a first line naming the columns, e.g. ${phoneColumn},name`, {
      file,
      hint: 'Add a header row to the CSV (the first line names the columns).',
    });
  }
}

/**
 * Counts the data rows of a CSV (quoted newlines and blank lines handled as `readRecipientRows` does), for
 * progress bars and estimates. Streams the file; does not validate it.
 */
export async function countDataRows(file: string, delimiter?: Delimiter): Promise<number> {
  const sniff = await sniffCsv(file);
  const parser = parseFile(file, {
    bom: true,
    delimiter: delimiter ?? sniff.delimiter,
    relax_column_count: true,
    relax_quotes: true,
    trim: true,
  });
  let rows = 0;
  for await (const record of parser as AsyncIterable<string[]>) {
    if (!isBlank(record)) rows++;
  }
  return Math.max(0, rows - 1);
}

/**
 * Streams `file` through csv-parse. A read error (file removed, permissions) is passed on to the parser, which
 * `.pipe()` alone would not do, leaving a reader waiting forever.
 */
export function parseFile(file: string, options: Options): Parser {
  const source = createReadStream(file);
  const parser = parse(options);
  source.on('error', (err) => parser.destroy(err));
  parser.on('close', () => source.destroy());
  return source.pipe(parser);
}

/** What the first bytes of a CSV file say. */
export interface CsvSniff {
  /** The first non-empty line, without BOM or line ending. */
  firstLine: string;
  /** The delimiter `detectDelimiter` picks for that line. */
  delimiter: Delimiter;
}

/**
 * Reads the start of a CSV file (64 KiB at most) and throws IngestError when it is missing, empty, or not UTF-8
 * text at all (UTF-16, an xlsx workbook, binary). `what` and `hint` word the "not found" error for the caller;
 * with `allowEmpty` an empty file is fine (its `firstLine` is empty).
 */
export async function sniffCsv(
  file: string,
  wording: { what: string; hint: string; allowEmpty?: boolean } = {
    what: 'CSV file',
    hint: 'Check recipients.file in the campaign: paths are relative to the campaign file.',
  },
): Promise<CsvSniff> {
  const name = basename(file);
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    size = info.size;
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new IngestError(
      code === 'ENOENT' ? `${wording.what} not found: ${file}` : `cannot read the ${wording.what} ${file} (${code ?? String(err)})`,
      { file, hint: wording.hint, cause: err },
    );
  }
  const handle = await open(file, 'r');
  let bytes: Buffer;
  try {
    const buffer = Buffer.alloc(Math.min(SNIFF_BYTES, size));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    bytes = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const csvHint = 'In Excel or Google Sheets, save or download the sheet as "CSV UTF-8 (comma delimited)".';
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new IngestError(`${name} is UTF-16 text; expected a UTF-8 CSV`, { file, hint: csvHint });
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    throw new IngestError(`${name} is a spreadsheet workbook (xlsx/ods zip), not a CSV`, { file, hint: csvHint });
  }
  if (bytes.includes(0)) {
    throw new IngestError(`${name} contains binary data (NUL bytes); expected a UTF-8 CSV text file`, { file, hint: csvHint });
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstLine = text.split(/\r\n|\n|\r/).find((l) => l.trim() !== '');
  if (firstLine === undefined) {
    if (wording.allowEmpty) return { firstLine: '', delimiter: ',' };
    throw new IngestError(`${name} is empty: expected a header row and at least one recipient`, {
      file,
      hint: 'Export the recipient list again; the first line must name the columns, e.g. phone,name.',
    });
  }
  return { firstLine, delimiter: detectDelimiter(firstLine) };
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
  },
): CsvHeader {
  const { file, name, line } = ctx;
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
        `${name}: line ${line}: the header names column "${c}" twice (columns ${first + 1} and ${i + 1})`,
        { file, line, column: c, hint: 'Rename one of them: every column needs a unique name so the template can refer to it.' },
      );
    }
    seen.set(c, i);
  }
  const phoneColumnIndex = columns.indexOf(ctx.phoneColumn);
  if (phoneColumnIndex < 0) {
    throw new IngestError(
      `recipients.phone_column is "${ctx.phoneColumn}" but the header of ${name} has: ${columns.join(', ')} — set phone_column to one of them`,
      { file, line, column: ctx.phoneColumn, hint: phoneColumnHint(columns, ctx) },
    );
  }
  return { columns, delimiter: ctx.delimiter, delimiterDetected: ctx.delimiterDetected, phoneColumnIndex, line };
}

function phoneColumnHint(columns: string[], ctx: { delimiter: Delimiter; delimiterDetected: boolean; phoneColumn: string; sniff: CsvSniff }): string {
  const other: Delimiter = ctx.delimiter === ',' ? ';' : ',';
  const headerLine = ctx.sniff.firstLine;
  if (columns.length === 1) {
    if (headerLine.includes('\t')) {
      return 'The file looks tab-separated; save it as CSV with commas or semicolons between the columns.';
    }
    if (headerLine.includes(other)) {
      return ctx.delimiterDetected
        ? `The header splits into one column with "${ctx.delimiter}"; set recipients.delimiter to "${other}".`
        : `recipients.delimiter is "${ctx.delimiter}" but the header looks separated by "${other}": set delimiter to "${other}" or remove it to detect it.`;
    }
    if (/[|^~]/.test(headerLine)) {
      return 'The header reads as a single column: the file seems to use another separator. Save it as CSV with commas or semicolons between the columns.';
    }
  }
  const close = columns.find((c) => c.toLowerCase() === ctx.phoneColumn.toLowerCase());
  if (close) return `Column names are case-sensitive: did you mean "${close}"? Set recipients.phone_column: ${close}`;
  return `Set recipients.phone_column in the campaign to the column that holds the WhatsApp numbers, e.g. phone_column: ${columns[0] ?? 'phone'}`;
}

function checkFieldSizes(record: string[], header: CsvHeader, ctx: { file: string; name: string; line: number; maxFieldBytes: number }): void {
  for (let i = 0; i < record.length; i++) {
    const value = record[i]!;
    // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair is 2 units, 4 bytes), so most fields need no count.
    if (value.length * 3 <= ctx.maxFieldBytes) continue;
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes <= ctx.maxFieldBytes) continue;
    const column = header.columns[i] ?? `#${i + 1}`;
    throw new IngestError(
      `${ctx.name}: line ${ctx.line}: the field in column "${column}" is ${bytes.toLocaleString('en-US')} bytes, over the limit of ${formatBytes(ctx.maxFieldBytes)}`,
      {
        file: ctx.file,
        line: ctx.line,
        column,
        hint: 'This usually means a quote (") opens a field and is never closed, so the following lines were read as one field. Check the quotes around that line.',
      },
    );
  }
}

function translateParseError(
  err: unknown,
  ctx: { file: string; name: string; startLine: number; maxFieldBytes: number },
): IngestError {
  const e = err as Partial<CsvError & Info> & { code?: string };
  const { file, name } = ctx;
  const start: number | undefined = ctx.startLine;
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new IngestError(
        `${name}: line ${start}: a quoted field opens in the row starting here and is never closed (the file ends inside quotes at line ${e.lines})`,
        {
          file,
          ...(start === undefined ? {} : { line: start }),
          hint: 'Find the " without its closing " on that line (or the next ones) and close or remove it; a quote inside a quoted field is written as "".',
          cause: err,
        },
      );
    case 'CSV_MAX_RECORD_SIZE':
      return new IngestError(`${name}: line ${start}: the row starting here is over ${formatBytes(ctx.maxFieldBytes * 4)} long`, {
        file,
        ...(start === undefined ? {} : { line: start }),
        hint: 'This usually means a quote (") opens a field and is never closed, so the following lines were read as one field. Check the quotes around that line.',
        cause: err,
      });
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
    case 'CSV_INVALID_CLOSING_QUOTE':
      return new IngestError(`${name}: line ${e.lines}: text follows the closing quote of a field`, {
        file,
        ...(e.lines === undefined ? {} : { line: e.lines }),
        hint: 'A quoted field must end right after its closing quote: write "Budi ""Bud"" Santoso" for a quote inside a field.',
        cause: err,
      });
    default:
      return new IngestError(
        `${name}${e.lines === undefined ? '' : `: line ${e.lines}`}: cannot read the CSV (${e.message ?? String(err)})`,
        {
          file,
          ...(e.lines === undefined ? {} : { line: e.lines }),
          hint: 'Check the file is a UTF-8 CSV with balanced quotes.',
          cause: err,
        },
      );
  }
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
