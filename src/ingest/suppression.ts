import { basename } from 'node:path';
import { DEFAULT_MAX_COLUMNS, DEFAULT_MAX_FIELD_BYTES, IngestError, parseDecodedFile, sniffCsv, translateParseError } from './csv.js';
import { DecodeError, describeDecodeError } from './encoding.js';
import { columnList, excerpt } from './excerpt.js';
import type { CountryCode } from './phone.js';

/** A line of a suppression file that held no usable number. */
export interface SuppressionProblem {
  file: string;
  /** 1-based physical line. */
  line: number;
  reason: string;
}

/** The numbers never to message, normalised like recipients. */
export interface Suppression {
  numbers: Set<string>;
  /** Lines that held no valid number (ignored). */
  invalidLines: number;
  /** The first few of those lines, for a warning. */
  problems: SuppressionProblem[];
}

/** Options for `loadSuppression`. */
export interface SuppressionOptions {
  /**
   * Header names accepted for the number column, tried in order (case-insensitive).
   * @default ['phone']
   */
  phoneColumns?: readonly string[];
  /**
   * How many problem lines to keep in `problems`.
   * @default 20
   */
  keepProblems?: number;
}

/**
 * Reads opt-out lists: each file a CSV with a `phone` column (or one of `phoneColumns`), or a single column of
 * numbers with no header (a first line that is not a valid number is taken as a header). Numbers are normalised
 * with `normalisePhone`; lines without a valid number are ignored and counted. Throws IngestError for a missing
 * file, one that is not a regular file, or a multi-column file without a phone column.
 *
 * Encoding: a byte-order mark (UTF-8, UTF-16LE/BE, e.g. Excel's "Unicode text") is followed; otherwise the file
 * is read as UTF-8 and, from the first byte that is not UTF-8 on, as Windows-1252. That guess is safe here and
 * only here: nothing but ASCII is used from these files (the header word, digits, `+ - ( ) .`, spaces,
 * delimiters, quotes, line breaks), and those bytes mean the same in UTF-8, Windows-1252 and Latin-1, so a
 * spreadsheet's legacy "CSV" suppresses exactly the same numbers. Their text is never sent.
 */
export async function loadSuppression(
  files: readonly string[],
  defaultCountry: CountryCode,
  options: SuppressionOptions = {},
): Promise<Suppression> {
  const wanted = (options.phoneColumns ?? ['phone']).map((c) => c.toLowerCase());
  const keep = options.keepProblems ?? 20;
  const result: Suppression = { numbers: new Set(), invalidLines: 0, problems: [] };
  const problem = (p: SuppressionProblem): void => {
    result.invalidLines++;
    if (result.problems.length < keep) result.problems.push(p);
  };
  if (files.length === 0) return result;
  // Loaded here: a campaign without suppression lists (and a resume's start-up) does not need the phone library.
  const { normalisePhone } = await import('./phone.js');

  for (const file of files) {
    const name = excerpt(basename(file), 120);
    const sniff = await sniffCsv(
      file,
      {
        what: 'suppression list',
        allowEmpty: true,
        hint: 'Check the suppress list in the campaign: paths are relative to the campaign file.',
      },
      { lenient: true },
    );
    const { delimiter, decoding } = sniff;
    const { parser } = parseDecodedFile(
      file,
      { bom: true, delimiter, relax_column_count: true, relax_quotes: true, trim: true, max_record_size: DEFAULT_MAX_FIELD_BYTES * 4 },
      decoding,
    );
    let phoneIndex: number | undefined;
    let previousEnd = 0;
    try {
      for await (const record of parser as AsyncIterable<string[]>) {
        // Empty lines arrive as one empty field, so each record starts right after the previous one.
        const line = previousEnd + 1;
        previousEnd = line + record.reduce((n, f) => n + (f.match(/\r\n|\r|\n/g)?.length ?? 0), 0);
        if (record.every((f) => f === '')) continue;

        if (phoneIndex === undefined) {
          const named = record.findIndex((c) => wanted.includes(c.toLowerCase()));
          if (named >= 0) {
            phoneIndex = named;
            continue;
          }
          if (record.length > 1) {
            throw new IngestError(
              `suppression list ${name} has no ${wanted.join(' or ')} column; its header has: ${columnList(record)}`,
              {
                file,
                line,
                hint: `Name the column with the numbers "phone", or keep only one column of numbers in the file.`,
              },
            );
          }
          phoneIndex = 0;
          // A single column: its first line is data when it is a number, else a header of any name.
          if (!normalisePhone(record[0]!, defaultCountry).ok) continue;
        }
        const raw = record[phoneIndex] ?? '';
        const normalised = normalisePhone(raw, defaultCountry);
        if (normalised.ok) result.numbers.add(normalised.phone);
        else problem({ file, line, reason: normalised.reason });
      }
    } catch (err) {
      if (err instanceof IngestError) throw err;
      const label = `suppression list ${name}`;
      if (err instanceof DecodeError) throw await describeDecodeError(file, label, decoding, err, sniff.bomLength);
      throw await translateParseError(err, {
        file,
        name: label,
        startLine: previousEnd + 1,
        maxFieldBytes: DEFAULT_MAX_FIELD_BYTES,
        maxColumns: DEFAULT_MAX_COLUMNS,
        decoding,
        bomLength: sniff.bomLength,
        delimiter,
        columns: undefined,
        headerPending: phoneIndex === undefined,
      });
    } finally {
      parser.destroy();
    }
  }
  return result;
}

